"""STFT geometry and windows: the single source of truth for latency.

Array layout used everywhere in rtsep (Python and C++):

* audio: ``float32`` array of shape ``(n_channels, n_samples)``, C-contiguous
  (planar: one row per channel);
* STFT frames: ``complex64`` array of shape ``(n_frames, n_channels, n_bins)``
  with ``n_bins = n_fft // 2 + 1``.

Windows are asymmetric (low-delay STFT, after Mauler & Martin 2007): a long
analysis window gives frequency resolution, and a short synthesis window,
non-zero only over the last ``support`` samples of the frame, bounds the delay.
The product ``analysis * synthesis`` overlap-adds to exactly one at the hop, so
an identity mask reconstructs the input.

Latency is derived from the windows, never typed in:

* streaming delay of STFT -> iSTFT (``feed`` style, output returned as hops
  complete): ``support - hop`` samples, where ``support`` counts from the first
  non-zero synthesis sample to the end of the frame;
* fixed in/out block engine (any host block size, same output): the streaming
  delay plus ``hop - 1`` samples, i.e. ``support - 1`` samples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

LATENCY_MODES = ("default", "low")
#: What the two outputs carry, in the C ABI's order (RTSEP_MODE_*): a mode's number
#: is its index. Every face (CLI, rtsep.Processor, C ABI, LV2) uses these names.
MODES = ("both", "mix", "vocals", "instrumental")
#: Gains at or below MIN_GAIN_DB are silence; gains above MAX_GAIN_DB are refused
#: (every face: the C ABI, rtsep.Processor, rtsep monitor and its MIDI control).
MIN_GAIN_DB = -120.0
MAX_GAIN_DB = 24.0
#: A key change (``key_semitones``, ``vocals_key_semitones``) is within +-this (the core's).
MAX_KEY_SEMITONES = 12.0
#: Separation strength: every mask value m becomes m^(1/strength); 1 leaves the model's
#: mask as it is (the core's range; every face checks it with :func:`check_strength`).
MIN_STRENGTH = 0.25
MAX_STRENGTH = 4.0


def check_key_semitones(value, what: str | None = None) -> float:
    """``value`` as a key change in semitones, or ValueError (prefixed with ``what``, when
    given): every face (``rtsep.Processor``, ``--key-semitones`` of separate and monitor)
    checks it here."""
    prefix = f"{what}: " if what else ""
    try:
        st = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{prefix}{value!r} is not a number of semitones") from None
    if not abs(st) <= MAX_KEY_SEMITONES:
        raise ValueError(f"{prefix}{value} is outside -{MAX_KEY_SEMITONES:g}..+{MAX_KEY_SEMITONES:g} semitones")
    return st


def check_strength(value, what: str | None = None) -> float:
    """``value`` as a separation strength, or ValueError (prefixed with ``what``, when
    given): every face (``rtsep.Processor``, ``--strength`` of separate, monitor and
    eval, the MIDI control) checks it here."""
    prefix = f"{what}: " if what else ""
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{prefix}{value!r} is not a strength") from None
    if not MIN_STRENGTH <= s <= MAX_STRENGTH:  # NaN too
        raise ValueError(f"{prefix}{value} is outside {MIN_STRENGTH:g}..{MAX_STRENGTH:g}")
    return s


def check_gain_db(value, what: str | None = None) -> float:
    """``value`` as a gain in dB (-inf and anything at or below MIN_GAIN_DB: silence), or
    ValueError (prefixed with ``what``, when given): every face (``rtsep.Processor``,
    ``--vocals-gain-db`` and ``--instrumental-gain-db`` of monitor) checks it here."""
    prefix = f"{what}: " if what else ""
    try:
        db = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{prefix}{value!r} is not a gain in dB") from None
    if not db <= MAX_GAIN_DB:  # NaN too
        raise ValueError(f"{prefix}{value} dB is out of range (must be <= {MAX_GAIN_DB:g} dB, "
                         "or -inf for silence)")
    return db

#: Length of every gain/mode ramp and of the bypass cross-fade, ms (the core's).
RAMP_MS = 20.0
SUPPORTED_SAMPLE_RATES_HZ = (44100, 48000)
#: Length of the raised-cosine tapers of the low-latency synthesis window.
LOW_LATENCY_TAPER_SAMPLES = 32


def analysis_window(n_fft: int, hop_samples: int) -> np.ndarray:
    """Long asymmetric analysis window, ``float32`` of shape ``(n_fft,)``.

    A sqrt-Hann rise over ``n_fft - hop`` samples, then a sqrt-Hann fall over
    the last ``hop`` samples.
    """
    n_rise = n_fft - hop_samples
    rise = np.sqrt(0.5 - 0.5 * np.cos(np.pi * np.arange(n_rise) / n_rise))
    fall = np.sqrt(0.5 + 0.5 * np.cos(np.pi * np.arange(hop_samples) / hop_samples))
    return np.concatenate([rise, fall]).astype(np.float32)


def _target_product(n_fft: int, hop_samples: int, mode: str) -> np.ndarray:
    """The analysis*synthesis product: overlap-adds to one at ``hop_samples``."""
    target = np.zeros(n_fft, dtype=np.float64)
    if mode == "default":
        support = 2 * hop_samples
        m = np.arange(support)
        target[n_fft - support:] = 0.5 - 0.5 * np.cos(2.0 * np.pi * m / support)
    elif mode == "low":
        taper = LOW_LATENCY_TAPER_SAMPLES
        support = hop_samples + taper
        j = np.arange(taper)
        seg = np.ones(support)
        seg[:taper] = np.sin(0.5 * np.pi * (j + 0.5) / taper) ** 2
        seg[-taper:] = np.cos(0.5 * np.pi * (j + 0.5) / taper) ** 2
        target[n_fft - support:] = seg
    else:
        raise ValueError(f"unknown latency mode {mode!r}; choose one of {LATENCY_MODES}")
    return target


def synthesis_window(n_fft: int, hop_samples: int, mode: str = "default") -> np.ndarray:
    """Short synthesis window for ``mode``, ``float32`` of shape ``(n_fft,)``."""
    w_a = analysis_window(n_fft, hop_samples).astype(np.float64)
    target = _target_product(n_fft, hop_samples, mode)
    w_s = np.zeros(n_fft, dtype=np.float64)
    nz = target > 0
    w_s[nz] = target[nz] / w_a[nz]
    return w_s.astype(np.float32)


def synthesis_support_samples(window: np.ndarray) -> int:
    """Samples from the first non-zero synthesis sample to the frame's end."""
    nonzero = np.flatnonzero(np.asarray(window) != 0.0)
    if nonzero.size == 0:
        raise ValueError("synthesis window is all zeros")
    return int(len(window) - nonzero[0])


def _check_windowable(n_fft: int, hop_samples: int, mode: str) -> None:
    """Raise ValueError unless ``mode``'s synthesis window exists and is finite for
    this geometry: its support must fit inside the frame where the analysis window
    is non-zero (the analysis window is zero only at sample 0)."""
    if mode == "default":
        support = 2 * hop_samples
        ok = support <= n_fft  # the product is zero at its first sample
    else:
        support = hop_samples + LOW_LATENCY_TAPER_SAMPLES
        ok = support < n_fft
    if not ok:
        raise ValueError(
            f"cannot window n_fft={n_fft}, hop_samples={hop_samples}: the {mode!r} latency "
            f"mode's synthesis window spans {support} samples, which needs n_fft > {support} "
            f"(use a larger n_fft or a smaller hop)")
    with np.errstate(all="raise"):
        try:
            window = synthesis_window(n_fft, hop_samples, mode)
        except (FloatingPointError, ValueError) as exc:
            raise ValueError(f"cannot window n_fft={n_fft}, hop_samples={hop_samples} in the "
                             f"{mode!r} latency mode ({exc})") from None
    if not np.all(np.isfinite(window)) or synthesis_support_samples(window) <= hop_samples:
        raise ValueError(f"cannot window n_fft={n_fft}, hop_samples={hop_samples}: the {mode!r} "
                         f"synthesis window is not finite or is shorter than the hop")


@dataclass(frozen=True)
class StftGeometry:
    """STFT geometry of one latency mode. Sample-rate independent."""

    n_fft: int = 1024
    hop_samples: int = 256
    latency_mode: str = "default"

    def __post_init__(self) -> None:
        if self.latency_mode not in LATENCY_MODES:
            raise ValueError(
                f"unknown latency mode {self.latency_mode!r}; choose one of {LATENCY_MODES}")
        if self.n_fft & (self.n_fft - 1) or self.n_fft < 16:
            raise ValueError(f"n_fft must be a power of two >= 16, got {self.n_fft}")
        if not 0 < self.hop_samples <= self.n_fft // 2:
            raise ValueError(f"hop_samples must be in (0, n_fft/2], got {self.hop_samples}")
        # Every latency mode is checked, not only this one: a model file carries the
        # synthesis windows of all of them.
        for mode in LATENCY_MODES:
            _check_windowable(self.n_fft, self.hop_samples, mode)

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    def analysis_window(self) -> np.ndarray:
        return analysis_window(self.n_fft, self.hop_samples)

    def synthesis_window(self) -> np.ndarray:
        return synthesis_window(self.n_fft, self.hop_samples, self.latency_mode)

    @property
    def stream_delay_samples(self) -> int:
        """Delay of feed-style STFT -> iSTFT (output returned as hops complete)."""
        return synthesis_support_samples(self.synthesis_window()) - self.hop_samples

    @property
    def latency_samples(self) -> int:
        """Delay of the fixed in/out block engine, for any host block size."""
        return self.stream_delay_samples + self.hop_samples - 1

    def latency_ms(self, sample_rate_hz: int) -> float:
        return 1000.0 * self.latency_samples / sample_rate_hz

    def with_mode(self, latency_mode: str) -> "StftGeometry":
        return StftGeometry(self.n_fft, self.hop_samples, latency_mode)

    def to_dict(self) -> dict:
        return asdict(self)
