"""The full ``rtsep bench`` run that fills benchmarks/RESULTS.md and benchmarks/results/.

Same as ``rtsep bench --out benchmarks/results --results-md benchmarks/RESULTS.md``;
extra arguments are passed on (e.g. ``--quick``, ``--duration 60``, ``--skip peers``).
Takes about 25 minutes; give it the machine to itself (no training, no ``nice``).

    python benchmarks/run_bench.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from rtsep.cli import main

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    sys.exit(main(["bench", "--out", str(HERE / "results"), "--results-md", str(HERE / "RESULTS.md"),
                   *sys.argv[1:]]))
