"""Separation metrics, shared by ``rtsep eval``, ``rtsep demo`` and the benchmarks.

``museval_scores``: BSS Eval v4 (``museval``; the MUSDB18 / SiSEC 2018 convention:
the "images" variant with time-invariant 512-tap filters on 1-s windows, median over
the windows where no reference or estimate is silent): SDR and SIR of the vocals and
of the accompaniment (the instrumental). ``framewise_sdr_db``: ``fast_bss_eval``'s
SDR fitted afresh on every 1-s frame. ``instrumental_leak_db``: the vocal estimate's
energy on the instrumental passages of a sung clip. ``band_recall``: how much of the
true vocals the estimate keeps, per frequency band.
"""

from __future__ import annotations

import numpy as np

#: A 1-s scoring window whose reference has less energy than this per sample (summed
#: over channels; -80 dBFS) is skipped by both SDRs.
SILENT_WINDOW_ENERGY = 1e-8
#: Largest SDR reported (dB), as fast_bss_eval's clamp: a perfect estimate is not +inf.
SDR_CAP_DB = 60.0
#: Frequency bands (Hz) of :func:`band_recall`.
RECALL_BANDS_HZ = ((0, 250), (250, 500), (500, 1000), (1000, 2000), (2000, 4000), (4000, 8000),
                   (8000, None))


def museval_scores(refs: tuple[np.ndarray, np.ndarray], ests: tuple[np.ndarray, np.ndarray],
                   sample_rate_hz: int) -> dict[str, float]:
    """BSS Eval v4 (``museval``, 1-s windows, median) of two estimated stems.

    ``refs`` and ``ests``: (vocals, accompaniment), each ``(n_channels, n_samples)``.
    Returns ``vocals_sdr_db``, ``accompaniment_sdr_db``, ``vocals_sir_db`` and
    ``accompaniment_sir_db``: the SIR of the accompaniment is how far the voice left
    in the instrumental is below it, what a karaoke singer hears.
    Windows are skipped where museval skips them (a reference or an estimate is all
    zeros) and also where a stem's reference is near silent (the rule of
    :func:`framewise_sdr_db`): real stems are rarely exact zeros between phrases,
    and the SDR of a -80 dBFS breath is no measure of a separation. NaN for a stem
    whose windows are all skipped, or when an estimate is all zeros (which BSS Eval
    cannot decompose)."""
    try:
        import museval
    except RuntimeError as exc:  # museval imports musdb -> stempeg, which needs ffmpeg
        raise ImportError(f"museval (BSS Eval v4) cannot be imported: {str(exc).splitlines()[0]} "
                          "(install ffmpeg)") from exc

    keys = ("vocals_sdr_db", "accompaniment_sdr_db", "vocals_sir_db", "accompaniment_sir_db")
    nan = {k: float("nan") for k in keys}
    if any(not np.any(e) for e in ests):
        return nan
    win = sample_rate_hz
    n = min(min(r.shape[1] for r in refs), min(e.shape[1] for e in ests)) // win * win
    if n == 0:
        return nan
    ref = np.stack([r[:, :n].T for r in refs]).astype(np.float64)
    est = np.stack([e[:, :n].T for e in ests]).astype(np.float64)
    sdr, _isr, sir, _sar = museval.evaluate(ref, est, win=win, hop=win)
    energy = np.sum(ref.reshape(len(refs), n // win, win * ref.shape[2]) ** 2, axis=2)
    out = {}
    for name, values in (("sdr", sdr), ("sir", sir)):
        v = np.minimum(np.asarray(values, dtype=np.float64), SDR_CAP_DB)  # a perfect window is +inf
        v = np.where(energy[:, :v.shape[1]] < SILENT_WINDOW_ENERGY * win, np.nan, v)
        med = [float(np.nanmedian(x)) if not np.all(np.isnan(x)) else float("nan") for x in v]
        out[f"vocals_{name}_db"], out[f"accompaniment_{name}_db"] = med
    return out


def museval_sdr_db(refs: tuple[np.ndarray, np.ndarray], ests: tuple[np.ndarray, np.ndarray],
                   sample_rate_hz: int) -> tuple[float, float]:
    """``(vocals SDR, accompaniment SDR)`` of :func:`museval_scores`."""
    s = museval_scores(refs, ests, sample_rate_hz)
    return s["vocals_sdr_db"], s["accompaniment_sdr_db"]


def instrumental_leak_db(mix: np.ndarray, vocals: np.ndarray, est_vocals: np.ndarray,
                         sample_rate_hz: int) -> float:
    """Vocal leak on the instrumental passages of a sung clip: over the 1-s windows whose
    true vocals are more than 40 dB below the mixture (or silent), the energy of the
    vocal estimate relative to the mixture's (dB, lower is better). NaN without such
    windows."""
    win = sample_rate_hz
    n = min(mix.shape[1], vocals.shape[1], est_vocals.shape[1]) // win * win
    if n == 0:
        return float("nan")

    def window_energy(x):
        return np.sum(x[:, :n].astype(np.float64).reshape(x.shape[0], n // win, win) ** 2, axis=(0, 2))

    e_mix, e_voc, e_est = window_energy(mix), window_energy(vocals), window_energy(est_vocals)
    quiet = (e_voc < 1e-4 * e_mix) & (e_mix > SILENT_WINDOW_ENERGY * win)
    if not np.any(quiet):
        return float("nan")
    return float(10 * np.log10((e_est[quiet].sum() + 1e-20) / e_mix[quiet].sum()))


def framewise_sdr_db(ref: np.ndarray, est: np.ndarray, sample_rate_hz: int) -> float:
    """Median over 1-s frames of the BSS Eval SDR of ``est`` against ``ref``, with
    a distortion filter fitted afresh in every frame (``fast_bss_eval``).

    ``ref``, ``est``: ``(n_channels, n_samples)``. Both channels count as one
    multichannel source (as museval does). NaN when every frame is silent.
    """
    import fast_bss_eval

    win = sample_rate_hz
    n = min(ref.shape[1], est.shape[1]) // win * win
    vals = []
    for s in range(0, n, win):
        r = ref[:, s:s + win].astype(np.float64)
        e = est[:, s:s + win].astype(np.float64)
        if np.sum(r ** 2) < SILENT_WINDOW_ENERGY * win:
            continue
        # Treat the stereo pair as one source: concatenate the channels in time.
        vals.append(float(fast_bss_eval.sdr(r.reshape(1, -1), e.reshape(1, -1), filter_length=512,
                                            clamp_db=SDR_CAP_DB)[0]))
    return float(np.median(vals)) if vals else float("nan")


def band_label(low: int, high: int | None) -> str:
    k = lambda f: f"{f // 1000}k" if f >= 1000 else str(f)  # noqa: E731
    return f"{k(low)}-{k(high)}" if high else f"{k(low)}+"


def band_recall(ref: np.ndarray, est: np.ndarray, sample_rate_hz: int) -> dict[str, float]:
    """How much of the true vocals ``ref`` the estimate ``est`` keeps, per frequency band.

    Per band of :data:`RECALL_BANDS_HZ`: the least-squares gain of ``est`` on ``ref``
    over the band's STFT bins (2048-sample frames), ``Re<E, V> / <V, V>``, all channels
    and frames: 1 keeps the vocals whole, 0 drops them (an accompaniment leak, being
    uncorrelated with the vocals, adds nothing on average). NaN for a band without vocals.
    """
    from scipy.signal import stft as sp_stft

    n = min(ref.shape[1], est.shape[1])
    f, _, v = sp_stft(ref[:, :n].astype(np.float64), fs=sample_rate_hz, nperseg=2048)
    _, _, e = sp_stft(est[:, :n].astype(np.float64), fs=sample_rate_hz, nperseg=2048)
    out = {}
    for low, high in RECALL_BANDS_HZ:
        b = (f >= low) & (f < (high or np.inf))
        power = float(np.sum(np.abs(v[:, b]) ** 2))
        out[band_label(low, high)] = (float(np.real(np.sum(e[:, b] * np.conj(v[:, b])))) / power
                                      if power > 1e-12 * n else float("nan"))
    return out


def energy_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2) + 1e-12))
