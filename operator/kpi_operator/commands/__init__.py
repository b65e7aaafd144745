"""One module per ``kpi-operator`` subcommand; each has ``add_parser(subparsers)`` and ``run(args) -> int``."""
