"""Run every benchmark in ``bench/`` (each ``*_bench.py``, in name order) one after the other: ``make bench``.

Each benchmark prints its own table and writes ``bench/results/<name>.json``; run one alone to pass it options.
Exit status: 0 when every benchmark finished, else the first non-zero status.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main() -> int:
    status = 0
    for script in sorted(BENCH.glob("*_bench.py")):
        print(f"=== {script.name}", flush=True)
        started = time.perf_counter()
        code = subprocess.run([sys.executable, str(script)], cwd=BENCH.parent).returncode
        print(f"=== {script.name}: exit {code} after {time.perf_counter() - started:.0f} s\n", flush=True)
        status = status or code
    return status


if __name__ == "__main__":
    sys.exit(main())
