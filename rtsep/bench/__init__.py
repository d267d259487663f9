"""``rtsep bench``: latency and compute benchmarks, side by side with the alternatives.

>>> from pathlib import Path
>>> from rtsep.bench import BenchOptions, run_bench, write_all
>>> result = run_bench(BenchOptions(quick=True))
>>> write_all(result, Path("benchmarks/results"))

Parts: algorithmic latency per mode and sample rate (:mod:`.latency`); the
measured delay through a private JACK server (:mod:`.jackdelay`); compute per
hop of the whole engine per backend and mode (:mod:`.compute`); deadline misses
over a sustained, simulated real-time schedule, idle and loaded
(:mod:`.schedule`); and the alternatives on the same audio: the naive
sliding-window use of the sequence model (:mod:`.naive`) and offline separators
(:mod:`.peers`). :mod:`.report` writes JSON, markdown and PNG plots.
:mod:`.timing` holds the timing/percentile helpers the scripts in
``benchmarks/`` share.
"""

from rtsep.bench.report import write_all
from rtsep.bench.suite import PARTS, BenchOptions, run_bench

__all__ = ["PARTS", "BenchOptions", "run_bench", "write_all"]
