"""``kpi-operator demo``: the whole loop on one machine, narrated (needs Debian's ``prometheus`` and the
``demo`` extra). See ``runner.run_demo``."""
