"""Stand-ins for a cluster and a monitored service, for the demo, the tests and the benchmarks.

This is a distribution of its own (``kpi-operator-devtools``) so that the operator's wheel and image never carry
them: they pull in kmock (pinned, and reached into through its internals) and start local servers, none of which
the operator needs to run. Nothing in ``kpi_operator`` imports this package; ``kpi-operator demo`` loads it only
when it is installed.

``kube_emulator``: a stateful Kubernetes API over HTTP (kmock-based) that enforces this project's CRDs.
``deployment_controller``: kube-controller-manager's Deployment controller, for ``kube_emulator`` (opt-in).
``rule_sync``: prometheus-operator's job, done locally: PrometheusRules become rule files of a Prometheus.
``prometheus_server``: a real Prometheus server (Debian's ``prometheus`` package) as a child process.
``synthetic_exporter``: an HTTP service's metrics with the error ratio and latency the caller chooses.
``demo``: ``kpi-operator demo``, the whole loop on one machine, narrated.
"""
