"""Tests of what ships: the kustomize base, the Helm chart, the GitOps health checks and the image's install step."""
