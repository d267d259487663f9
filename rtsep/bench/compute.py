"""Compute per hop of the whole streaming engine, per backend and latency mode.

One call of :meth:`rtsep.engine.Separator.process_into` with exactly one hop
of audio does everything the live worker does per hop: push the block into the
C++ HopEngine, analysis STFT, the model step, mask application, overlap-add
iSTFT and the vocals/instrumental split. Each call is timed; the model step
alone is timed separately so the engine's own share can be read off. In the
default latency mode each backend is timed once more with a key change on
(:data:`BENCH_KEYS`: the band and the voice transposed, both pitch shifters and the
second inverse STFT running every hop).
"""

from __future__ import annotations

import numpy as np

from rtsep.bench.timing import summarize, time_each, time_steps


#: The key change timed per backend: (instrumental, vocals) semitones.
BENCH_KEYS = (3.0, -2.0)


def engine_hop_times(separator, audio: np.ndarray, n_hops: int, n_warmup: int) -> np.ndarray:
    """Seconds per one-hop :meth:`Separator.process_into` call, ``float64 (n_hops,)``.

    ``audio``: ``float32 (2, n_samples)``, fed hop by hop and wrapped around
    when it runs out. The separator is reset first.
    """
    hop = separator.geometry.hop_samples
    n_audio_hops = audio.shape[1] // hop
    if n_audio_hops < 1:
        raise ValueError(f"audio has {audio.shape[1]} samples, fewer than one hop ({hop})")
    vocals = np.empty((2, hop), dtype=np.float32)
    instrumental = np.empty((2, hop), dtype=np.float32)
    blocks = [audio[:, k * hop:(k + 1) * hop] for k in range(n_audio_hops)]
    separator.reset()
    process_into = separator.process_into
    return time_each(lambda k: process_into(blocks[k % n_audio_hops], vocals, instrumental),
                     n_hops, n_warmup)


def cdf_points(times_s: np.ndarray) -> list[list[float]]:
    """Empirical CDF of ``times_s`` as ``[[percentile, ms], ...]``, finer in the tail."""
    qs = np.concatenate([np.arange(0.0, 99.0, 1.0), [99.0, 99.5, 99.8, 99.9, 99.95, 99.99, 100.0]])
    ms = np.percentile(np.asarray(times_s) * 1e3, qs)
    return [[float(q), round(float(v), 5)] for q, v in zip(qs, ms)]


def usable_backends(model_path, backends=None) -> tuple[list[str], dict[str, str]]:
    """``(names, skipped)``: the backends that can run ``model_path`` here (in
    :data:`rtsep.runtime.BACKENDS` order, or ``backends`` if given) and
    ``{name: reason}`` for the others."""
    from pathlib import Path

    from rtsep.runtime import BACKENDS, SUFFIX_OF_FORMAT, format_of, available_backends, inspect

    model_file = inspect(model_path)
    wanted = list(backends) if backends else list(BACKENDS)
    status = available_backends(check_torch_cuda=True)
    names, skipped = [], {}
    for name in wanted:
        if name not in status:
            skipped[name] = "unknown backend"
            continue
        fmt = format_of(name)
        sibling = Path(model_file.path).with_suffix(SUFFIX_OF_FORMAT[fmt])
        if status[name] is not None:
            skipped[name] = status[name]
        elif model_file.format != fmt and not sibling.is_file():
            skipped[name] = f"needs a {fmt} export ({sibling.name} not found)"
        else:
            names.append(name)
    return names, skipped


def compute_per_hop(model_path, audio: np.ndarray, *, backends=None, latency_modes=("default", "low"),
                    sample_rates_hz=(44100, 48000), n_hops: int = 20000, n_warmup: int = 200,
                    n_threads: int = 1, log=lambda msg: None) -> dict:
    """Time the whole engine and the model step alone for each backend x latency mode.

    Returns ``{"n_threads", "rows": [...], "skipped": {backend: reason}}``; a row
    holds ``backend``, ``latency_mode``, ``latency_samples``, ``hop_samples``,
    ``engine`` and ``model_step`` (each :func:`rtsep.bench.timing.summarize`,
    times in ms, shares of the hop period per sample rate) and
    ``engine_times_ms`` (every engine call, for the plots).
    """
    from rtsep.engine import Separator
    from rtsep.offline import stft
    from rtsep.runtime import load

    names, skipped = usable_backends(model_path, backends)
    rows = []
    frames = None
    for backend in names:
        for mode in latency_modes:
            try:
                runner = load(model_path, backend=backend, latency_mode=mode,
                              sample_rate_hz=max(sample_rates_hz), n_threads=n_threads)
            except Exception as exc:  # noqa: BLE001 - a backend that fails to load is reported, not fatal
                skipped[backend] = f"failed to load: {str(exc).splitlines()[0]}"
                break
            geometry = runner.geometry
            if frames is None:
                frames = np.ascontiguousarray(stft(audio[:, :600 * geometry.hop_samples], geometry))
            separator = Separator(runner, max_block_samples=max(8192, geometry.hop_samples))
            step_s = time_steps(runner, frames, min(n_hops, 5000), min(n_warmup, 100))
            for keys in ((0.0, 0.0), BENCH_KEYS) if mode == "default" else ((0.0, 0.0),):
                separator.block.parameters.key_semitones = keys[0]
                separator.block.parameters.vocals_key_semitones = keys[1]
                key = "off" if keys == (0.0, 0.0) else f"{keys[0]:+g} / {keys[1]:+g}"
                log(f"compute per hop: {backend} {mode}, key {key}: {n_hops} hops")
                engine_s = engine_hop_times(separator, audio, n_hops, n_warmup)
                rows.append({
                    "backend": backend, "latency_mode": mode, "key": key,
                    "latency_samples": separator.latency_samples,
                    "hop_samples": geometry.hop_samples,
                    "engine": summarize(engine_s, geometry.hop_samples, sample_rates_hz),
                    "model_step": summarize(step_s, geometry.hop_samples, sample_rates_hz),
                    "engine_cdf": cdf_points(engine_s),
                    "_engine_times_s": engine_s,
                })
            del separator, runner
    return {"n_threads": n_threads, "rows": rows, "skipped": skipped}
