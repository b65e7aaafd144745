"""kpi-operator: KPI and SLO custom resources turned into Prometheus rules, live status and canary gates.

The package is laid out as the pipeline it implements (see DESIGN.md section 2):
``api`` (the contract) -> ``rules`` / ``budget`` / ``gate`` (pure planning) -> ``adapters`` (the only I/O)
-> ``handlers`` (kopf wiring) and ``cli`` (the command).
"""

__version__ = "0.1.0"
