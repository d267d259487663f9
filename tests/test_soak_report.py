"""benchmarks/soak.py's bookkeeping: the turn order, how a run's turns add up, the verdict
and the report. The hour itself runs outside CI (two hours); these check the arithmetic
that turns its counters into the bar, on hand-made turn records."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def soak():
    spec = importlib.util.spec_from_file_location("soak_script", ROOT / "benchmarks" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _turn(soak, turn: int, run: str, *, misses=0, xruns=0, rss=(100, 100, 100), gap=3.0,
          response_hist=(10, 2), misses_list=()):
    rss_kib = [(60.0 * i, kib) for i, kib in enumerate(rss)]
    return {"turn": turn, "run": run, "start_s": 600.0 * turn, "duration_s": 600.0,
            "n_blocks": 1000, "n_misses": misses, "n_xruns": xruns, "block_samples": 128,
            "xrun_sources": {"driver_late": 1, "other": 0, "monitor": xruns, "player": 2},
            "sample_rate_hz": 48000, "latency_mode": "default", "backend": "native",
            "schedule": "worker", "total_latency_samples": 1022, "margin_samples": 608,
            "load": "stress-ng --cpu 1", "jack_realtime": True, "host_steal_share": 0.0,
            "worker": {"load": 0.1 * (turn + 1), "max_chunk_load": 1.0 + turn,
                       "scheduling": "SCHED_FIFO 10"},
            "timing": {"histogram_bin_ms": 0.25, "period_ms": 2.67, "deadline_ms": 10.7,
                       "response_histogram": list(response_hist),
                       "callback_gap_histogram": [0, 5], "n_callbacks": 1000,
                       "n_responses": 1000, "n_response_dropped": 0, "n_late_callbacks": 1,
                       "n_misses_recorded": len(misses_list),
                       "n_misses_host_irregular": len(misses_list), "n_misses_regular_host": 0,
                       "max_callback_gap_ms": gap, "max_response_ms": 0.4,
                       "misses": list(misses_list)},
            "rss_kib": rss_kib, "rss_check": soak.rss_check(rss_kib, 600.0)}


def test_turns_alternate_in_abba_pairs(soak):
    assert soak.turn_order(3) == ["rtsep", "identity control", "identity control", "rtsep",
                                  "rtsep", "identity control"]
    order = soak.turn_order(6)
    assert order.count("rtsep") == order.count("identity control") == 6
    # Each run's mean position is the same: a drift over the session falls on both alike.
    mean = {n: sum(i for i, x in enumerate(order) if x == n) / 6 for n in soak.RUNS}
    assert mean["rtsep"] == mean["identity control"]


def test_merge_sums_counters_and_histograms_and_judges_memory_per_process(soak):
    miss = {"callback": 5, "t_s": 1.0, "gap_ms": 0.05, "available_frames": 128, "n_frames": 128,
            "host_irregular": True}
    turns = [_turn(soak, 0, "rtsep", xruns=4, gap=3.0),
             _turn(soak, 3, "rtsep", misses=1, xruns=7, gap=9.5, rss=(100, 200, 300, 300),
                   response_hist=(0, 0, 0, 1), misses_list=[miss])]
    got = soak.merge_turns(turns)
    assert (got["n_misses"], got["n_xruns"], got["n_blocks"], got["duration_s"]) == (1, 11, 2000, 1200.0)
    assert got["timing"]["response_histogram"] == [10, 2, 0, 1]
    assert got["timing"]["max_callback_gap_ms"] == 9.5
    assert got["timing"]["misses"] == [dict(miss, turn=3)]
    assert got["timing"]["response_p999_ms"] == 1.0  # the one slow response is in the top 0.1 %
    assert got["worker"]["load"] == pytest.approx((0.1 + 0.4) / 2)
    assert got["xrun_sources"] == {"driver_late": 2, "other": 0, "monitor": 11, "player": 4}
    # Memory: samples from minute 1 on, per process; the second grew by 100 KiB after minute 1.
    assert got["rss_check"]["spread_kib"] == 100 and got["rss_check"]["n_processes"] == 2
    assert got["rss_check"]["flat"] is True
    turns[1] = _turn(soak, 3, "rtsep", rss=(100, 200, 2000))
    assert soak.merge_turns(turns)["rss_check"]["flat"] is False


def test_verdict_and_report_from_json(soak, tmp_path):
    runs = {"rtsep": soak.merge_turns([_turn(soak, 0, "rtsep", xruns=3),
                                       _turn(soak, 3, "rtsep", xruns=2)]),
            "identity control": soak.merge_turns([_turn(soak, 1, "identity control", xruns=4),
                                                  _turn(soak, 2, "identity control", xruns=1)])}
    assert soak.verdict(runs) == {"zero_misses": True, "xruns_within_control": True,
                                  "rss_flat": True}
    result = {"date": "2026-12-05 15:00 UTC", "minutes": 20, "turns": 2, "block_samples": 128,
              "schedule": "worker", "realtime_server": True, "safety_ms": 10.0,
              "audio": "a song", "runs": runs, "verdict": {}}
    src = tmp_path / "in.json"
    src.write_text(json.dumps(result))
    md = tmp_path / "RESULTS.md"
    md.write_text("# Results\n\nbefore\n")
    out = tmp_path / "out"
    assert soak.main(["--from-json", str(src), "--out", str(out), "--results-md", str(md)]) == 0
    text = md.read_text()
    assert text.startswith("# Results\n\nbefore\n") and "<!-- soak:start -->" in text
    assert "in 2 turns of 10 minutes" in text and "--safety-ms 10" in text
    assert "| 4 | rtsep | 30 | 0 | 2 |" in text  # the per-turn table, in turn order
    assert "rtsep: monitor late 5, player late 4, driver late 2" in text
    assert (out / "soak.png").stat().st_size > 0
    # One more xrun for the model than the control: the bar fails and the exit says so.
    result["runs"]["rtsep"]["n_xruns"] = 6
    src.write_text(json.dumps(result))
    assert soak.main(["--from-json", str(src), "--out", str(out)]) == 1
