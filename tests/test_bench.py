"""`rtsep bench`: the quick run end to end, and the pieces it is built from.

No timing target is asserted (the machine may be busy); what is asserted is
structure, sanity (positive, ordered times; counts within bounds) and exact
latency arithmetic: the algorithmic latency equals the geometry's, and the
engine measured through a real JACK server adds exactly ``latency_samples``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rtsep.bench.jackdelay import (estimate_delay, jack_unavailable_reason, make_stimulus,
                                   xrun_sources)
from rtsep.bench.naive import latency_to_keep_up
from rtsep.bench.report import END_MARKER, START_MARKER, update_results_md
from rtsep.bench.timing import percentiles_ms, summarize
from rtsep.config import StftGeometry

ROOT = Path(__file__).resolve().parents[1]


def _check_summary(s: dict) -> None:
    assert s["p50_ms"] > 0
    assert s["p50_ms"] <= s["p99_ms"] <= s["p99_9_ms"] <= s["max_ms"]
    for rate in ("44100", "48000"):
        pr = s["per_rate"][rate]
        assert pr["hop_period_ms"] > 0 and pr["rtf"] > 0


@pytest.mark.slow
def test_quick_run_writes_sane_results(tmp_path):
    shipped = ROOT / "models" / "rtsep-default.onnx"
    if not shipped.is_file() and importlib.util.find_spec("torch") is None:
        pytest.skip("no shipped model and no torch to export a random-init one (train extra)")
    out = tmp_path / "results"
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# results\n\n## Model section\n\nkeep me\n")
    done = subprocess.run([sys.executable, "-m", "rtsep", "bench", "--quick", "--out", str(out),
                           "--results-md", str(results_md)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "### Algorithmic latency" in done.stdout

    for name in ("bench.json", "bench.md", "compute_per_hop_cdf.png", "latency_breakdown.png"):
        assert (out / name).stat().st_size > 0, name
    text = results_md.read_text()
    assert "keep me" in text and START_MARKER in text and END_MARKER in text

    r = json.loads((out / "bench.json").read_text())
    for key in ("meta", "model", "audio", "hop_samples", "algorithmic_latency", "compute_per_hop",
                "naive", "jack_delay", "deadline_misses", "alternatives", "targets",
                "scheduling_margin"):
        assert key in r, key
    assert r["meta"]["quick"] is True

    n_fft, hop = 1024, r["hop_samples"]
    assert {(row["latency_mode"], row["sample_rate_hz"]) for row in r["algorithmic_latency"]} == {
        (m, rate) for m in ("default", "low") for rate in (44100, 48000)}
    for row in r["algorithmic_latency"]:
        g = StftGeometry(row["n_fft"], row["hop_samples"], row["latency_mode"])
        assert row["latency_samples"] == g.latency_samples
        assert row["latency_ms"] == pytest.approx(1e3 * g.latency_samples / row["sample_rate_hz"])

    rows = r["compute_per_hop"]["rows"]
    assert any(row["backend"] == "onnx-cpu" for row in rows)
    for row in rows:
        assert row["latency_samples"] == StftGeometry(n_fft, hop, row["latency_mode"]).latency_samples
        _check_summary(row["engine"])
        _check_summary(row["model_step"])
        cdf_ms = [ms for _, ms in row["engine_cdf"]]
        assert cdf_ms == sorted(cdf_ms)

    if r["naive"].get("rows"):
        naive = r["naive"]["rows"][0]
        assert naive["n_window_frames"] == round(1.0 * 48000 / hop)
        _check_summary(naive["engine"])
        assert naive["check_max_abs_diff"] <= 1e-4

    jack = r["jack_delay"]
    if jack_unavailable_reason() is None:
        assert jack["skipped"] is None
        measured = [row for row in jack["rows"] if not row.get("skipped")]
        loop = [row for row in measured if row["dut"] == "loopback"]
        engine = [row for row in measured if row["dut"] == "engine"]
        assert loop and engine
        for row in loop:
            assert row["measured_samples"] == row["baseline_samples"]
        for row in engine:  # exact: the engine in a JACK callback adds latency_samples
            want = StftGeometry(n_fft, hop, row["latency_mode"]).latency_samples
            assert row["added_samples"] == row["expected_samples"] == want
            assert row["agrees"] is True
        for row in (row for row in measured if row["dut"] == "monitor"):
            assert row["added_samples"] > 0 and row["schedule"] == "worker"
        for row in (row for row in measured if row["dut"] == "monitor-inline"):
            # exact: inline, the monitor adds the engine's latency and nothing else
            assert row["schedule"] == "inline"
            assert row["added_samples"] == row["expected_samples"] == row["engine_latency_samples"]
    else:
        assert jack["skipped"] == jack_unavailable_reason()

    runs = r["deadline_misses"]["runs"]
    assert runs and runs[0]["load"] == "idle"
    run = runs[0]
    assert run["n_blocks"] > 0
    counts = [run["misses"][m]["n_misses"] for m in sorted(run["misses"], key=int)]
    assert all(0 <= c <= run["n_blocks"] for c in counts)
    assert counts == sorted(counts, reverse=True)  # a larger margin never misses more
    assert run["compute_ms"]["p50_ms"] > 0

    assert r["targets"] and all(t["met"] in (True, False, None) for t in r["targets"])
    assert r["alternatives"]["rows"][0]["approach"].startswith("rtsep streaming")


def test_estimate_delay_finds_the_exact_lag():
    x = make_stimulus(48000, lead_s=0.05, burst_s=0.1, tail_s=0.05)[0]
    for lag in (0, 1, 127, 510, 783):
        y = np.zeros_like(x)
        y[lag:] = x[:len(x) - lag]
        got, peak = estimate_delay(x, y, max_lag=2000)
        assert got == lag
        assert peak == pytest.approx(1.0, abs=0.02)


def test_latency_to_keep_up():
    fits = latency_to_keep_up(compute_ms=1.0, hop_period_ms=5.0, algorithmic_ms=10.0)
    assert fits == {"hops_per_run": 1, "keeps_up_every_hop": True, "extra_ms": 1.0,
                    "needed_latency_ms": 11.0}
    slow = latency_to_keep_up(compute_ms=12.0, hop_period_ms=5.0, algorithmic_ms=10.0)
    assert slow["hops_per_run"] == 3 and not slow["keeps_up_every_hop"]
    assert slow["needed_latency_ms"] == pytest.approx(10.0 + 2 * 5.0 + 12.0)


def test_summaries_are_in_ms_and_shares_of_the_hop():
    times_s = np.array([0.001, 0.002, 0.003, 0.004])
    s = summarize(times_s, hop_samples=480, sample_rates_hz=[48000])
    assert s["n_calls"] == s["n_steps"] == 4
    assert s["max_ms"] == pytest.approx(4.0) and s["mean_ms"] == pytest.approx(2.5)
    assert s["per_rate"]["48000"]["hop_period_ms"] == pytest.approx(10.0)
    assert s["per_rate"]["48000"]["max_share"] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="no timings"):
        percentiles_ms(np.array([]))


def test_results_md_section_is_replaced_not_duplicated(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text(f"# r\n\n## other\n\nstays\n\n{START_MARKER}\nold\n{END_MARKER}\n\n## after\n")
    update_results_md(path, "new table\n")
    update_results_md(path, "newer table\n")
    text = path.read_text()
    assert text.count(START_MARKER) == 1 and text.count(END_MARKER) == 1
    assert "newer table" in text and "old" not in text and "new table" not in text
    assert "stays" in text and "## after" in text
    fresh = tmp_path / "NEW.md"
    update_results_md(fresh, "t\n")
    assert fresh.read_text().startswith("# rtsep benchmark results")


def test_schedule_simulation_counts_every_block():
    from rtsep.bench.schedule import simulate_schedule
    from rtsep.engine import IdentityRunner, Separator

    separator = Separator(IdentityRunner("low", 48000), max_block_samples=1024)
    audio = (0.1 * np.random.default_rng(0).standard_normal((2, 48000))).astype(np.float32)
    run = simulate_schedule(separator, audio, block_samples=128, duration_s=0.3,
                            margins_samples=(256, 128, 272))
    assert run["n_blocks"] == int(0.3 * 48000) // 128
    assert list(run["misses"]) == ["128", "256", "272"]
    assert run["misses"]["128"]["n_misses"] >= run["misses"]["256"]["n_misses"] \
        >= run["misses"]["272"]["n_misses"] >= 0
    assert run["misses"]["272"]["margin_ms"] == pytest.approx(1e3 * 272 / 48000, abs=1e-6)
    assert run["compute_ms"]["n_calls"] == run["n_blocks"]  # the worker finished every block
    with pytest.raises(ValueError, match="block_samples"):
        simulate_schedule(separator, audio, block_samples=0, duration_s=0.1)


def test_bad_options_give_one_line_errors():
    from rtsep.bench.suite import BenchOptions
    from rtsep.errors import UserError

    with pytest.raises(UserError, match="unknown part"):
        BenchOptions(skip=frozenset({"nonsense"})).resolved()
    with pytest.raises(UserError, match="--duration"):
        BenchOptions(duration_s=0).resolved()


def test_xrun_sources_reads_who_jackd_blamed():
    """jack2's log lines, as the dummy server printed them in a soak turn."""
    log = ("jackdmp 1.9.21\n"
           "JackTimedDriver::Process XRun = 337 usec\n"
           "JackEngine::XRun: client = rtsep-bench-monitor-20804 was not finished, state = Triggered\n"
           "JackEngine::XRun: client = rtsep-bench-player was not finished, state = Triggered\n"
           "JackEngine::XRun: client = rtsep-bench-monitor-20804 was not finished, state = Triggered\n"
           "JackEngine::XRun: client = a2j was not finished, state = Running\n")
    roles = {"rtsep-bench-monitor-20804": "monitor", "rtsep-bench-player": "player"}
    assert xrun_sources(log, roles) == {"driver_late": 1, "other": 1, "monitor": 2, "player": 1}
    assert xrun_sources("", roles) == {"driver_late": 0, "other": 0, "monitor": 0, "player": 0}


def test_native_timing_needs_only_the_native_file(tmp_path):
    """An ONNX model with a .rtsepw beside it is timed on the native backend even with no
    TorchScript file there (the bench used to ask for a .pt before timing native)."""
    import shutil

    from rtsep.bench.compute import usable_backends

    for suffix in (".onnx", ".rtsepw"):
        shutil.copy(ROOT / "models" / f"rtsep-default{suffix}", tmp_path / f"m{suffix}")
    names, skipped = usable_backends(tmp_path / "m.onnx", ["onnx-cpu", "native", "torchscript-cpu"])
    assert names[:2] == ["onnx-cpu", "native"], skipped
    assert "torchscript-cpu" not in names and "torchscript-cpu" in skipped
    (tmp_path / "m.rtsepw").unlink()
    names, skipped = usable_backends(tmp_path / "m.onnx", ["native"])
    assert names == [] and "m.rtsepw" in skipped["native"]
