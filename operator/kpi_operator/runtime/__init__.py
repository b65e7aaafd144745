"""The operator process: its state, the kopf handlers, the evaluation loop, the gate loop, configuration and
telemetry. Everything that decides lives in the pure packages below (``reconcile``, ``evaluation``, ``gate``);
this package reads, calls them, and writes through ``adapters``.
"""
