"""kpi-operator: KPI and SLO custom resources turned into Prometheus rules, live status and canary gates.

The package is laid out as the pipeline it implements, and an import-linter ``layers`` contract in
``pyproject.toml`` keeps the direction of imports: ``cli`` > ``runtime`` > ``adapters`` > ``reconcile`` |
``evaluation`` | ``gate`` | ``interop`` > ``rules`` > ``api``.

- ``api``: the contract: spec and status models, conditions, loading. ``rules``: model -> rule groups ->
  PrometheusRule, and the record names. ``reconcile``: body -> rule, status, Events. ``evaluation``: samples ->
  status, and each cycle's writes. ``gate``: verdict -> state -> patch. ``interop``: Sloth / OpenSLO / Pyrra.
  All pure: no client, no I/O.
- ``adapters``: the only I/O (Kubernetes API, Prometheus API). ``runtime``: the operator process (kopf handlers,
  the evaluation and gate loops, configuration, telemetry). ``cli``: the ``kpi-operator`` command.
"""

__version__ = "0.1.0"
