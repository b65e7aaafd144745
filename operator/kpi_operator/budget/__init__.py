"""Pure evaluation: PromQL the operator reads, and samples -> KPI state, error budget, burn rates. No I/O."""
