"""Local stand-ins for a cluster, for the demo and the end-to-end tests (needs the ``demo`` extra: kmock).

``kube_emulator``: a stateful Kubernetes API over HTTP (kmock-based) that enforces this project's CRDs.
``rule_sync``: prometheus-operator's job, done locally: PrometheusRules become rule files of a Prometheus.
Nothing here is used by the operator itself.
"""
