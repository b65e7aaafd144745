"""The only I/O: the Kubernetes API, the Prometheus HTTP API, and local Prometheus processes."""
