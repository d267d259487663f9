"""Where the model runs (:func:`choose_schedule`: in the callback or on a worker) and
the native bridge that carries it (:func:`make_bridge`)."""

from __future__ import annotations

import time

from rtsep.errors import UserError
from rtsep.live.options import (FALLBACK_RAMP_MS, INLINE_BUDGET, MAX_WORKER_CHUNK_SAMPLES,
                                DevicePlan, MonitorOptions)

def make_bridge(opts: MonitorOptions, plan: DevicePlan, processor, schedule: str):
    """The native bridge over ``processor`` and its timing: ``(bridge, timing dict)``.

    ``processor``: the stereo :class:`rtsep._core.BlockProcessor` that makes the
    output; its parameters become the live controls (gains from ``opts``).
    ``schedule`` ``inline``: the callback runs it (a natively stepped model): no
    margin, the latency is the engine's. ``worker``: the margin is one device block
    plus the safety. Worker output arrives a device block at a time, and fading to
    the fallback needs ``ramp`` samples in hand, so the worker may deliver a block
    ``1 + (safety - ramp) // block`` blocks after it came in without a miss
    (``worker_deadline_blocks``).
    """
    from rtsep import _core

    rate, block = plan.rate_hz, plan.block_samples
    run_inline = schedule == "inline"
    if run_inline:  # the callback processes every block itself: the worker's rings stay empty
        safety = ramp = margin = 0
        chunk = min(max(1024, block), processor.max_block_samples)
        input_ring = chunk
    else:
        safety = round(opts.safety_ms * 1e-3 * rate)
        ramp = max(1, min(round(FALLBACK_RAMP_MS * 1e-3 * rate), safety))
        safety = max(safety, ramp)
        margin = block + safety
        chunk, input_ring = max(1024, block), 4 * rate
    # Set before the bridge, whose construction resets the processor: the stream starts
    # at these gains instead of ramping into them.
    processor.parameters.vocals_gain_db = opts.vocals_gain_db
    processor.parameters.instrumental_gain_db = opts.instrumental_gain_db
    bridge = _core.LiveBridge(
        processor, n_device_input_channels=plan.n_device_input_channels,
        n_device_output_channels=plan.n_device_output_channels,
        input_channels=plan.input_channels, output_channels=plan.output_channels, mode=opts.mode,
        margin_samples=margin, fallback_ramp_samples=max(1, ramp), max_chunk_frames=chunk,
        input_ring_frames=input_ring, record_ring_frames=2 * rate if opts.record else 0,
        inline=run_inline)
    total = bridge.total_latency_samples
    timing = {
        "schedule": schedule,
        "engine_latency_samples": bridge.engine_latency_samples, "margin_samples": margin,
        "safety_samples": safety, "fallback_ramp_samples": ramp,
        "worker_deadline_blocks": None if run_inline else 1 + (safety - ramp) // block,
        "total_latency_samples": total, "total_latency_ms": 1000.0 * total / rate,
    }
    return bridge, timing


def measure_callback_time(separator, block_samples: int, n_callbacks: int = 400) -> float:
    """p99 time (s) of one callback's separation at ``block_samples``: the separator's
    block processor on noise, one device block at a time; then reset."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((2, block_samples))).astype(np.float32)
    v, i = np.empty_like(x), np.empty_like(x)
    times = []
    for _ in range(n_callbacks):
        t0 = time.perf_counter()
        separator.process_into(x, v, i)
        times.append(time.perf_counter() - t0)
    separator.reset()
    return float(np.percentile(times, 99))


def choose_schedule(opts: MonitorOptions, separator, plan: DevicePlan) -> tuple[str, str]:
    """``(schedule, why)``: ``inline`` or ``worker`` for ``opts.schedule``.

    Inline needs a model stepped natively (the native model, or the identity test model;
    the callback must not wait for Python). ``auto`` picks it when the measured p99 time
    of one callback's separation is at most :data:`INLINE_BUDGET` of the block period.
    """
    backend = getattr(separator.runner, "backend", "")
    if getattr(separator.runner, "native_model", None) is None:
        if opts.schedule == "inline":
            raise UserError(f"--schedule inline needs the native model (a .rtsepw file, --backend "
                            f"native); the {backend} backend runs Python, which the audio callback "
                            "must not wait for")
        return "worker", f"the {backend} backend runs Python, which the audio callback must not wait for"
    if opts.schedule == "worker":
        return "worker", "asked for (--schedule worker)"
    period_s = plan.block_samples / plan.rate_hz
    p99 = measure_callback_time(separator, min(plan.block_samples, MAX_WORKER_CHUNK_SAMPLES))
    share = p99 / period_s
    measured = (f"measured p99 {1e3 * p99:.2f} ms per {plan.block_samples}-sample callback = "
                f"{100 * share:.0f}% of its {1e3 * period_s:.2f} ms period")
    if opts.schedule == "inline":
        return "inline", f"asked for (--schedule inline); {measured}"
    if share <= INLINE_BUDGET:
        return "inline", f"{measured} (inline up to {100 * INLINE_BUDGET:.0f}%)"
    return "worker", f"{measured}: above {100 * INLINE_BUDGET:.0f}%, so a worker thread"
