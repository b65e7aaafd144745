"""The ``kpi-operator`` command: the same core as the operator, without a cluster.

``main`` builds the parser from one module per subcommand (each has ``add_parser(subparsers)`` and
``run(args) -> int``); ``inputs`` reads files and directories, ``render`` is the YAML writer.
"""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
