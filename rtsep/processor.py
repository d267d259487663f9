"""Embedding API: rtsep as a block processor inside your own audio host.

:class:`Processor` follows the plugin lifecycle: construct with a model,
``prepare(sample_rate_hz, max_block_size, n_channels)``, then ``process``
blocks of any size up to the maximum, ``reset()`` between streams. It is the
same engine as ``rtsep separate`` and live monitoring (a C++ HopEngine driven
by a :mod:`rtsep.runtime` runner, one STFT hop at a time), followed by the
core's click-free mixers for the output mode, gains and bypass. The output is
the input delayed by exactly :attr:`Processor.latency_samples`, whatever the
block sizes, and the delay never changes (bypass included).

Audio is ``float32 (n_channels, n_samples)`` with contiguous rows (planar, as
everywhere in rtsep); ``n_channels`` is 1 or 2 (mono is separated as centred
stereo and the outputs are the channel average, like ``rtsep separate``).

Outputs by :attr:`Processor.mode` (``g_v``/``g_i``: the gains in dB as linear factors)::

    "both"          (g_v * vocals, g_i * instrumental)        (default)
    "mix"           (m, m) with m = g_v * vocals + g_i * instrumental
    "vocals"        (g_v * vocals, g_v * vocals)
    "instrumental"  (g_i * instrumental, g_i * instrumental)

``vocals + instrumental`` equals the delayed input (while no key change is on).
:attr:`Processor.key_semitones` transposes the instrumental and
:attr:`Processor.vocals_key_semitones` the vocals (formants kept), by up to
:data:`MAX_KEY_SEMITONES` either way, fractions allowed (cents), at no extra latency;
at 0 the output is exactly what it is without them. Bypass cross-fades both
outputs to the dry input delayed by the same latency. Every change of gain,
mode or bypass is ramped over :data:`RAMP_MS` (20 ms, as in every face), so none clicks;
a key switched on or off cross-fades over the same time, and a move from one key to
another keeps the phase.

:attr:`Processor.strength` (:data:`MIN_STRENGTH` to :data:`MAX_STRENGTH`, default 1)
reshapes the model's vocal mask m into m^(1/strength) before synthesis: above 1 less of
the voice is left in the instrumental (karaoke), at the cost of more of the instrumental
going into the vocals where the model is unsure; below 1 the reverse. The outputs still
sum to the input. It takes effect from the next STFT hop.

Threads: call ``prepare``, ``process`` and ``reset`` from one thread at a time
(your audio or worker thread). The parameter properties (``vocals_gain_db``,
``instrumental_gain_db``, ``mode``, ``bypass``, ``key_semitones``,
``vocals_key_semitones``, ``strength``) are safe to set from any
thread at any time: each assignment is atomic and is applied, ramped, at the
start of the next block.

Example: a stream of your own with sounddevice (a Python callback shares the
GIL with the rest of your program; for live use under load prefer ``rtsep
monitor``, whose device callback is native)::

    import numpy as np, sounddevice as sd
    from rtsep import Processor

    proc = Processor("models/rtsep-default.onnx")
    proc.prepare(48000, max_block_size=512, n_channels=2)
    proc.mode = "instrumental"                       # karaoke
    x = np.zeros((2, 512), np.float32)
    a = np.zeros((2, 512), np.float32)
    b = np.zeros((2, 512), np.float32)

    def callback(indata, outdata, frames, time, status):
        np.copyto(x[:, :frames], indata.T)           # interleaved -> planar, no allocation
        proc.process(x[:, :frames], a[:, :frames], b[:, :frames])
        outdata[:] = a[:, :frames].T

    with sd.Stream(samplerate=48000, blocksize=512, channels=2, dtype="float32",
                   callback=callback):
        input("playing; Enter stops")

Example: a pedalboard-style chain, block by block (pedalboard's effects keep
their state across calls with ``reset=False``)::

    from pedalboard import Pedalboard, HighpassFilter, Compressor
    pre, post = Pedalboard([HighpassFilter(80)]), Pedalboard([Compressor()])
    proc.prepare(48000, 4096, 2)
    for block in blocks:                              # float32 (2, n <= 4096)
        vocals, instrumental = proc.process(pre(block, 48000, reset=False))
        out = post(instrumental, 48000, reset=False)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rtsep.config import (MAX_GAIN_DB, MAX_KEY_SEMITONES, MAX_STRENGTH, MIN_GAIN_DB, MIN_STRENGTH, MODES,
                          RAMP_MS, StftGeometry, check_gain_db, check_key_semitones, check_strength)
from rtsep.errors import UserError



class Processor:
    """Vocal/instrumental separation as a block processor (see the module docstring).

    Args:
        model: an exported model (``.onnx``, TorchScript ``.pt`` or native ``.rtsepw``),
            ``"identity"`` (the test processor: vocals = the input), or None for the
            shipped ``models/rtsep-default.onnx``.
        backend: runtime backend (``"auto"``, ``"onnx-cpu"``, ``"native"``, ...; see
            :mod:`rtsep.runtime`).
        latency_mode: ``"default"`` or ``"low"``.

    The model file is read and validated here (so :attr:`latency_samples` is
    known before :meth:`prepare`); the inference session is created by
    :meth:`prepare` (once per sample rate). The work is done by the C++ block
    processor that the C ABI, the LV2 plugin and ``rtsep monitor`` run too.
    """

    def __init__(self, model: str | Path | None = None, *, backend: str = "auto",
                 latency_mode: str = "default"):
        from rtsep import _core
        from rtsep.engine import IDENTITY_MODEL, default_model_path

        self._backend = backend
        self._latency_mode = latency_mode
        if model is not None and str(model) == IDENTITY_MODEL:
            self._model = IDENTITY_MODEL
            self._geometry = StftGeometry(latency_mode=latency_mode)
        else:
            from rtsep import runtime

            path = Path(model) if model is not None else default_model_path()
            if model is None and not path.exists():
                raise UserError(f"the shipped model {path} is missing; pass a model path "
                                "(or 'identity' to test the machinery)")
            self._model = path
            self._geometry = runtime.inspect(path).geometry(latency_mode)
        self._runners: dict[int, object] = {}
        self._params = _core.Parameters()  # shared with every prepared block processor
        self._block = None
        self._runner = None
        self._sample_rate_hz = 0
        self._max_block_size = 0
        self._n_channels = 0

    # -- lifecycle -----------------------------------------------------------------

    def prepare(self, sample_rate_hz: int, max_block_size: int, n_channels: int) -> None:
        """Configure for a stream and reset it; allocates (call off the audio thread).

        ``sample_rate_hz`` must be one the model lists (44100 or 48000);
        ``max_block_size`` >= 1 is the longest block :meth:`process` will get;
        ``n_channels`` is 1 or 2. Raises :class:`UserError` subclasses or ValueError.
        """
        from rtsep.engine import block_processor, load_runner

        for name, value in (("sample_rate_hz", sample_rate_hz), ("max_block_size", max_block_size),
                            ("n_channels", n_channels)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if n_channels not in (1, 2):
            raise ValueError(f"n_channels must be 1 (mono) or 2 (stereo), got {n_channels}; "
                             "split other layouts into pairs")
        sample_rate_hz, max_block_size = int(sample_rate_hz), int(max_block_size)
        self._block = None
        runner = self._runners.get(sample_rate_hz)
        if runner is None:
            runner = load_runner(self._model, backend=self._backend,
                                 latency_mode=self._latency_mode, sample_rate_hz=sample_rate_hz)
            self._runners[sample_rate_hz] = runner
        self._block = block_processor(runner, max_block_samples=max_block_size,
                                      n_channels=int(n_channels), parameters=self._params)
        self._runner = runner
        self._geometry = runner.geometry
        self._sample_rate_hz = sample_rate_hz
        self._max_block_size = max_block_size
        self._n_channels = int(n_channels)

    def reset(self) -> None:
        """Back to the start of a stream: delay lines silent, model state zeroed,
        parameter ramps jumped to their targets. Does not allocate."""
        self._require_prepared("reset").reset()

    def process(self, block: np.ndarray, vocals_out: np.ndarray | None = None,
                instrumental_out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Process one block; returns the two outputs (see the module docstring for modes).

        ``block``: ``float32 (n_channels, n)`` with ``n <= max_block_size``, rows
        contiguous (``x[:, a:b]`` slices are fine). Without output arrays, two new
        ``float32 (n_channels, n)`` arrays are returned; with them (writeable,
        same shape, may be the input itself), they are filled and returned and
        nothing is allocated. Delay: :attr:`latency_samples`.
        """
        proc = self._require_prepared("process")
        n = self._check_block(block)
        if vocals_out is None and instrumental_out is None:
            vocals_out = np.empty((self._n_channels, n), dtype=np.float32)
            instrumental_out = np.empty((self._n_channels, n), dtype=np.float32)
        else:
            self._check_output(vocals_out, "vocals_out", n)
            self._check_output(instrumental_out, "instrumental_out", n)
        proc.process(block, vocals_out, instrumental_out)
        return vocals_out, instrumental_out

    # -- parameters (any thread) ---------------------------------------------------------

    @property
    def vocals_gain_db(self) -> float:
        return self._params.vocals_gain_db

    @vocals_gain_db.setter
    def vocals_gain_db(self, value: float) -> None:
        self._params.vocals_gain_db = check_gain_db(value, "vocals_gain_db")

    @property
    def instrumental_gain_db(self) -> float:
        return self._params.instrumental_gain_db

    @instrumental_gain_db.setter
    def instrumental_gain_db(self, value: float) -> None:
        self._params.instrumental_gain_db = check_gain_db(value, "instrumental_gain_db")

    @property
    def mode(self) -> str:
        """``"both"``, ``"mix"``, ``"vocals"`` or ``"instrumental"``."""
        return MODES[self._params.mode]

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}; got {value!r}")
        self._params.mode = MODES.index(value)

    @property
    def bypass(self) -> bool:
        return self._params.bypass

    @bypass.setter
    def bypass(self, value: bool) -> None:
        if not isinstance(value, (bool, np.bool_)) and value not in (0, 1):
            raise ValueError(f"bypass must be True or False, got {value!r}")
        self._params.bypass = bool(value)

    @property
    def key_semitones(self) -> float:
        """The instrumental's key change in semitones (0: off)."""
        return self._params.key_semitones

    @key_semitones.setter
    def key_semitones(self, value: float) -> None:
        self._params.key_semitones = check_key_semitones(value, "key_semitones")

    @property
    def vocals_key_semitones(self) -> float:
        """The vocals' key change in semitones (0: off); formants are kept."""
        return self._params.vocals_key_semitones

    @vocals_key_semitones.setter
    def vocals_key_semitones(self, value: float) -> None:
        self._params.vocals_key_semitones = check_key_semitones(value, "vocals_key_semitones")

    @property
    def strength(self) -> float:
        """Separation strength (1: the model's mask as it is; see the module docstring)."""
        return self._params.strength

    @strength.setter
    def strength(self, value: float) -> None:
        self._params.strength = check_strength(value, "strength")

    # -- read-only state -----------------------------------------------------------------

    @property
    def latency_samples(self) -> int:
        """Input-to-output delay in samples, for any block size (bypass included)."""
        return self._block.latency_samples if self._block is not None else self._geometry.latency_samples

    @property
    def geometry(self) -> StftGeometry:
        return self._geometry

    @property
    def sample_rate_hz(self) -> int:
        return self._sample_rate_hz

    @property
    def max_block_size(self) -> int:
        return self._max_block_size

    @property
    def n_channels(self) -> int:
        return self._n_channels

    @property
    def ramp_samples(self) -> int:
        """Length of the parameter ramps and the bypass cross-fade at the prepared rate."""
        return self._require_prepared("ramp_samples").ramp_samples

    @property
    def n_frames_processed(self) -> int:
        """STFT frames run through the model since the last prepare/reset."""
        return self._block.n_frames_processed if self._block is not None else 0

    @property
    def n_nonfinite_replaced(self) -> int:
        """NaN/Inf input samples replaced by 0 since the last prepare/reset."""
        return self._block.n_nonfinite_replaced if self._block is not None else 0

    @property
    def runner(self):
        """The runtime runner of the prepared sample rate (backend, metadata)."""
        self._require_prepared("runner")
        return self._runner

    # -- internals -----------------------------------------------------------------------

    def _require_prepared(self, what: str):
        if self._block is None:
            raise RuntimeError(f"Processor.{what}() before prepare(sample_rate_hz, "
                               "max_block_size, n_channels)")
        return self._block

    def _check_block(self, block) -> int:
        if not isinstance(block, np.ndarray):
            raise TypeError(f"block must be a numpy float32 array, got {type(block).__name__}")
        if block.dtype != np.float32:
            raise TypeError(f"block must have dtype float32, got {block.dtype} "
                            "(convert once with block.astype(np.float32))")
        if block.ndim != 2 or block.shape[0] != self._n_channels:
            raise ValueError(f"block must have shape ({self._n_channels}, n_samples) as prepared, "
                             f"got {block.shape}")
        n = block.shape[1]
        if n > self._max_block_size:
            raise ValueError(f"block of {n} samples > max_block_size {self._max_block_size} "
                             "(prepare with a larger maximum, or split the block)")
        return n

    def _check_output(self, out, name: str, n: int) -> None:
        if (not isinstance(out, np.ndarray) or out.dtype != np.float32
                or out.shape != (self._n_channels, n) or not out.flags.writeable):
            raise ValueError(f"{name} must be a writeable float32 array of shape "
                             f"({self._n_channels}, {n}), got "
                             f"{getattr(out, 'dtype', type(out).__name__)} {getattr(out, 'shape', '')}")

    def __repr__(self) -> str:
        state = (f"sample_rate_hz={self._sample_rate_hz}, max_block_size={self._max_block_size}, "
                 f"n_channels={self._n_channels}" if self._block is not None else "unprepared")
        return (f"Processor(model={str(self._model)!r}, latency_mode={self._latency_mode!r}, "
                f"latency_samples={self.latency_samples}, {state}, mode={self.mode!r}, "
                f"vocals_gain_db={self.vocals_gain_db:g}, "
                f"instrumental_gain_db={self.instrumental_gain_db:g}, bypass={self.bypass}, "
                f"key_semitones={self.key_semitones:g}, vocals_key_semitones={self.vocals_key_semitones:g}, "
                f"strength={self.strength:g})")

__all__ = ["MAX_GAIN_DB", "MAX_KEY_SEMITONES", "MAX_STRENGTH", "MIN_GAIN_DB", "MIN_STRENGTH", "MODES",
           "Processor", "RAMP_MS"]
