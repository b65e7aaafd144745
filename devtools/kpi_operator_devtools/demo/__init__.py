"""``kpi-operator demo``: the whole loop on one machine, narrated (needs Debian's ``prometheus``). See
``runner.run_demo``."""
