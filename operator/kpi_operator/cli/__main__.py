"""``python -m kpi_operator.cli``: the same as the ``kpi-operator`` script."""

import sys

from .main import main

sys.exit(main())
