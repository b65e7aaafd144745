"""The only I/O: the Kubernetes API and the Prometheus HTTP API."""
