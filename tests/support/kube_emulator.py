"""The emulated Kubernetes API for tests; it lives in the devtools distribution (``kpi_operator_devtools``) because
the demo and the benchmarks run it too. ``python -m support.kube_emulator`` still starts it in a process of its own."""

from kpi_operator_devtools.kube_emulator import *  # noqa: F401,F403
from kpi_operator_devtools.kube_emulator import ApiError, KubeEmulator, load_crds, main  # noqa: F401

if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
