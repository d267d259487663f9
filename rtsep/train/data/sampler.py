"""Training segments drawn from stem songs, augmented like MUSDB trainers.

A source's :meth:`SegmentSource.sample` returns ``(mix, vocals)``, both
``float32`` ``(2, segment_samples)``, with ``mix == vocals + accompaniment``
exactly (the mix is computed last, in float32, from the final stems) and the
mix peak-normalised to a random level (peak <= 1.0).

Segments are continuous audio read from one place in a song (never
zero-padded chunks stitched together). Most segments hold singing; a fraction
``p_no_vocals`` hold none: either a naturally instrumental stretch of a song or
a stretch whose vocal stem is muted (the accompaniment alone is still a
song's real accompaniment).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from rtsep.train.data.audio import db_to_gain, peak, rms
from rtsep.train.data.songs import (StemSong, band_limit, input_samples, read_segment,
                                    segment_bandwidth_hz)

@dataclass
class Example:
    """One training segment: ``mix``, ``vocals``, ``accompaniment`` ``float32``
    ``(2, segment_samples)`` with ``mix == vocals + accompaniment`` exactly;
    ``bandwidth_hz``: the highest frequency any of them holds (the loss leaves the
    bins above it out); ``teacher``: a teacher's vocals estimate of this very mix
    (same scale), or None."""

    mix: np.ndarray
    vocals: np.ndarray
    accompaniment: np.ndarray
    bandwidth_hz: float
    teacher: np.ndarray | None = None


def _match_bandwidth(v: np.ndarray, bw_v: float, a: np.ndarray, bw_a: float,
                     sample_rate_hz: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Low-pass the wider-band stem to the narrower one's band: the whole example is
    band-limited, so the mixture never shows highs that only one stem has."""
    if bw_v < bw_a:
        a = band_limit(a, sample_rate_hz, bw_v)
    elif bw_a < bw_v:
        v = band_limit(v, sample_rate_hz, bw_a)
    return v, a, min(bw_v, bw_a)


#: A mix whose peak is below this (before normalisation) counts as silence and is redrawn.
MIN_MIX_PEAK = 1e-4
_MAX_ATTEMPTS = 50


@dataclass(frozen=True)
class Augmentation:
    """How segments are picked and altered. Ranges are (low, high), uniform.

    * ``p_no_vocals``: fraction of segments with no singing at all;
    * ``p_natural_silence``: of those, the fraction taken from a stretch where
      the song itself has no vocals (when it has one), rather than muting them;
    * ``p_remix``: vocals of one song over the accompaniment of another
      (tempo not aligned);
    * ``vocals_gain_db`` / ``accompaniment_gain_db``: random gain per stem;
    * ``p_channel_swap``: per stem, swap left and right;
    * ``p_speed`` / ``speed_range``: resample-based speed (tempo and pitch) change;
    * ``peak_db``: the normalised mix peak, dBFS (at most 0);
    * ``p_eq``: per stem, a random tone change (low shelf, presence peak, high
      shelf, each within ``eq_gain_db``): microphones, rooms and mixes other
      than the training songs' (e.g. raw, unprocessed tracks);
    * ``p_drive`` / ``drive_db``: per stem, saturation (a tanh waveshaper driven by
      ``drive_db``, level restored afterwards): gritty rock vocals, overdriven
      guitars and buses that the clean training productions lack;
    * ``p_natural``: fraction of sung segments kept as the song's own mix (no remix,
      per-stem tone, saturation, gain or swap; one common gain): the segments for
      which a teacher's estimate of that mix is a valid target;
    * ``p_band_limit`` / ``band_limit_hz``: fraction of the other segments whose
      whole example (both stems) is low-passed at a random frequency in that range
      (whole Hz), the loss leaving the bins above out as for MIR-1K's 8-kHz clips:
      so that a missing top octave (old, phone-like or heavily coded recordings,
      MIR-1K) stops being a cue for what is singing;
    * ``p_stack`` / ``stack_gain_db``: fraction of remixed or altered sung segments (not
      the natural ones) whose accompaniment gets a second accompaniment segment, from any
      song of the same accompaniment source, added at a gain in that range relative to
      it: denser backings (two arrangements at once, as in full rock and pop productions)
      in which the voice has more to compete with in every band;
    * ``active_rel_db`` / ``silent_rel_db``: a 100 ms hop of vocals is active
      above (silent below) this level relative to the song's loud vocal level
      (95th percentile of its hop levels); ``min_active_fraction`` of a vocal
      segment's hops must be active.
    """

    p_no_vocals: float = 0.1
    p_natural_silence: float = 0.5
    p_remix: float = 0.25
    vocals_gain_db: tuple[float, float] = (-6.0, 6.0)
    accompaniment_gain_db: tuple[float, float] = (-6.0, 6.0)
    p_channel_swap: float = 0.5
    p_speed: float = 0.5
    speed_range: tuple[float, float] = (0.94, 1.06)
    peak_db: tuple[float, float] = (-20.0, -0.5)
    p_eq: float = 0.5
    eq_gain_db: float = 6.0
    p_drive: float = 0.0
    drive_db: tuple[float, float] = (3.0, 18.0)
    p_natural: float = 0.0
    p_band_limit: float = 0.0
    band_limit_hz: tuple[float, float] = (4000.0, 11025.0)
    p_stack: float = 0.0
    stack_gain_db: tuple[float, float] = (-9.0, 0.0)
    active_rel_db: float = -30.0
    silent_rel_db: float = -55.0
    min_active_fraction: float = 0.5

    def __post_init__(self) -> None:
        for name in ("p_no_vocals", "p_natural_silence", "p_remix", "p_channel_swap", "p_speed",
                     "p_eq", "p_drive", "p_natural", "p_band_limit", "p_stack"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"Augmentation.{name} must be in [0, 1], got {value}")
        if self.peak_db[1] > 0.0 or self.peak_db[0] > self.peak_db[1]:
            raise ValueError(f"Augmentation.peak_db must be (low, high) <= 0 dBFS, got {self.peak_db}")
        if not 0.0 <= self.drive_db[0] <= self.drive_db[1] <= 40.0:
            raise ValueError(f"Augmentation.drive_db must be (low, high) within [0, 40] dB, "
                             f"got {self.drive_db}")
        if not 1000.0 <= self.band_limit_hz[0] <= self.band_limit_hz[1] <= 24000.0:
            raise ValueError(f"Augmentation.band_limit_hz must be (low, high) within [1000, 24000] Hz, "
                             f"got {self.band_limit_hz}")
        if not -40.0 <= self.stack_gain_db[0] <= self.stack_gain_db[1] <= 6.0:
            raise ValueError(f"Augmentation.stack_gain_db must be (low, high) within [-40, 6] dB, "
                             f"got {self.stack_gain_db}")
        if not 0.5 <= self.speed_range[0] <= self.speed_range[1] <= 2.0:
            raise ValueError(
                f"Augmentation.speed_range must be within [0.5, 2], got {self.speed_range}")

    @classmethod
    def validation(cls) -> "Augmentation":
        """Plain segments for validation: no remix, gains, swaps or speed change."""
        return cls(p_remix=0.0, vocals_gain_db=(0.0, 0.0), accompaniment_gain_db=(0.0, 0.0),
                   p_channel_swap=0.0, p_speed=0.0, peak_db=(-12.0, -1.0), p_eq=0.0,
                   p_drive=0.0)

    def with_(self, **changes) -> "Augmentation":
        return replace(self, **changes)


class _SongIndex:
    """Per-song candidate start hops for vocal and silent segments."""

    def __init__(self, song: StemSong, window_hops: int, aug: Augmentation):
        self.song = song
        self.vocal_starts = np.zeros(0, dtype=np.int64)
        self.silent_starts = np.zeros(0, dtype=np.int64)
        act = song.activity_db
        if act is None:
            return
        n_starts = len(act) - window_hops + 1
        if n_starts <= 0:
            return
        reference_db = float(np.percentile(act, 95))
        if reference_db <= -90.0:  # an instrumental song: every stretch is silent
            self.silent_starts = np.arange(n_starts)
            return
        active = np.concatenate([[0], np.cumsum(act > reference_db + aug.active_rel_db)])
        loud = np.concatenate([[0], np.cumsum(act > reference_db + aug.silent_rel_db)])
        n_active = active[window_hops:] - active[:-window_hops]
        n_loud = loud[window_hops:] - loud[:-window_hops]
        self.vocal_starts = np.flatnonzero(n_active >= aug.min_active_fraction * window_hops)
        self.silent_starts = np.flatnonzero(n_loud == 0)


class _Source:
    """What every segment source offers on top of its ``sample_example``: the example as
    arrays. ``mix == vocals + accompaniment`` exactly; ``max |mix| <= 1``; each array is
    ``float32`` ``(2, segment_samples)``."""

    def sample_example(self, rng: np.random.Generator) -> Example:
        raise NotImplementedError

    def sample_stems(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One segment as ``(mix, vocals, accompaniment)``."""
        ex = self.sample_example(rng)
        return ex.mix, ex.vocals, ex.accompaniment

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One segment as ``(mix, vocals)``; the accompaniment is ``mix - vocals``."""
        mix, vocals, _ = self.sample_stems(rng)
        return mix, vocals


class SegmentSource(_Source):
    """Augmented training segments from a list of :class:`StemSong`.

    ``sample_rate_hz``: output rate (songs are resampled per segment when
    theirs differs); ``segment_samples``: output length.
    """

    def __init__(self, songs: list[StemSong], sample_rate_hz: int, segment_samples: int,
                 augmentation: Augmentation | None = None, name: str = "segments"):
        if not songs:
            raise ValueError(f"{name}: no songs to sample from")
        if segment_samples <= 0:
            raise ValueError(f"segment_samples must be positive, got {segment_samples}")
        self.songs = list(songs)
        self.sample_rate_hz = int(sample_rate_hz)
        self.segment_samples = int(segment_samples)
        self.augmentation = augmentation or Augmentation()
        self.name = name
        aug = self.augmentation
        max_speed = aug.speed_range[1] if aug.p_speed > 0 else 1.0
        self._index = []
        for song in self.songs:
            n_in = input_samples(segment_samples, song.sample_rate_hz, sample_rate_hz, max_speed)
            hop = song.activity_hop_samples
            if n_in > song.n_samples:
                raise ValueError(f"{name}: song {song.name!r} ({song.seconds:.1f} s) is shorter "
                                 f"than one segment ({segment_samples} samples)")
            # +1 hop: a segment starts anywhere inside its first hop.
            self._index.append(_SongIndex(song, -(-n_in // hop) + 1, aug))
        n_vocal = np.array([len(ix.vocal_starts) for ix in self._index], dtype=np.float64)
        n_silent = np.array([len(ix.silent_starts) for ix in self._index], dtype=np.float64)
        lengths = np.array([s.n_samples for s in self.songs], dtype=np.float64)
        self._p_vocal = n_vocal / n_vocal.sum() if n_vocal.sum() > 0 else None
        self._p_silent = n_silent / n_silent.sum() if n_silent.sum() > 0 else None
        self._p_any = lengths / lengths.sum()
        self._lazy_activity = any(s.activity_db is None for s in self.songs)

    def __repr__(self) -> str:
        return (f"SegmentSource({self.name!r}, {len(self.songs)} songs, {self.sample_rate_hz} Hz, "
                f"{self.segment_samples} samples)")

    # -- picking ------------------------------------------------------------------------
    def _speed(self, rng: np.random.Generator) -> float:
        aug = self.augmentation
        if aug.p_speed > 0 and rng.random() < aug.p_speed:
            return float(rng.uniform(*aug.speed_range))
        return 1.0

    def _start_in(self, rng, song: StemSong, hops: np.ndarray | None, speed: float) -> int:
        n_in = input_samples(self.segment_samples, song.sample_rate_hz, self.sample_rate_hz, speed)
        last = song.n_samples - n_in
        if hops is None or len(hops) == 0:
            return int(rng.integers(0, last + 1))
        hop = song.activity_hop_samples
        start = int(hops[rng.integers(len(hops))]) * hop + int(rng.integers(hop))
        return min(start, last)

    def _read(self, rng, index: int, hops, speed, vocals=True, accompaniment=True,
              teacher=False) -> tuple:
        """Stems of a segment of song ``index`` (see :func:`read_segment`), then its bandwidth."""
        song = self.songs[index]
        start = self._start_in(rng, song, hops, speed)
        return (*read_segment(song, start, self.segment_samples, self.sample_rate_hz, speed,
                              vocals, accompaniment, teacher),
                segment_bandwidth_hz(song, self.sample_rate_hz, speed))

    def _pick_vocal_song(self, rng) -> tuple[int, np.ndarray | None]:
        if self._p_vocal is not None:
            i = int(rng.choice(len(self.songs), p=self._p_vocal))
            return i, self._index[i].vocal_starts
        # activity unknown (lazy songs): accept segments whose vocals are audible
        return int(rng.choice(len(self.songs), p=self._p_any)), None

    def _vocal_segment(self, rng) -> Example:
        """A sung segment, not yet finished (mix is None until :func:`finish`)."""
        aug = self.augmentation
        speed = self._speed(rng)
        i, hops = self._pick_vocal_song(rng)
        if aug.p_natural > 0 and rng.random() < aug.p_natural:
            with_teacher = self.songs[i].teacher is not None
            v, a, *t, bw = self._read(rng, i, hops, speed, teacher=with_teacher)
            return Example(None, v, a, bw, t[0] if t else None)
        if aug.p_remix > 0 and len(self.songs) > 1 and rng.random() < aug.p_remix:
            j = int(rng.choice(len(self.songs) - 1))
            j += j >= i
            v, _, bw_v = self._read(rng, i, hops, speed, accompaniment=False)
            _, a, bw_a = self._read(rng, j, None, self._speed(rng), vocals=False)
            a, bw_a = stack_accompaniment(a, bw_a, self, aug, rng)
            return Example(None, *_match_bandwidth(v, bw_v, a, bw_a, self.sample_rate_hz))
        v, a, bw = self._read(rng, i, hops, speed)
        a, bw_a = stack_accompaniment(a, bw, self, aug, rng)
        return Example(None, *_match_bandwidth(v, bw, a, bw_a, self.sample_rate_hz))

    def _instrumental_segment(self, rng) -> Example:
        aug = self.augmentation
        speed = self._speed(rng)
        if self._p_silent is not None and rng.random() < aug.p_natural_silence:
            i = int(rng.choice(len(self.songs), p=self._p_silent))
            v, a, bw = self._read(rng, i, self._index[i].silent_starts, speed)
            return Example(None, v, a, bw)
        i = int(rng.choice(len(self.songs), p=self._p_any))
        _, a, bw = self._read(rng, i, None, speed, vocals=False)
        return Example(None, np.zeros_like(a), a, bw)

    # -- public -------------------------------------------------------------------------
    def sample_example(self, rng: np.random.Generator) -> Example:
        """One finished segment (:class:`Example`): ``max |mix| <= 1``."""
        aug = self.augmentation
        for _ in range(_MAX_ATTEMPTS):
            want_vocals = not (rng.random() < aug.p_no_vocals)
            pick = self._vocal_segment(rng) if want_vocals else self._instrumental_segment(rng)
            if want_vocals and self._lazy_activity and peak(pick.vocals) < MIN_MIX_PEAK:
                continue
            out = finish_example(pick, aug, rng, self.sample_rate_hz)
            if out is not None:
                return out
        raise RuntimeError(f"{self.name}: no audible segment found in {_MAX_ATTEMPTS} attempts")

    def vocal_stem(self, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """The raw vocals of a sung segment (no gains, swaps or normalisation) and their
        bandwidth (Hz)."""
        speed = self._speed(rng)
        i, hops = self._pick_vocal_song(rng)
        v, _, bw = self._read(rng, i, hops, speed, accompaniment=False)
        return v, bw

    def accompaniment_stem(self, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        """The raw accompaniment of a segment anywhere in a song (vocals left out) and its
        bandwidth (Hz)."""
        i = int(rng.choice(len(self.songs), p=self._p_any))
        _, a, bw = self._read(rng, i, None, self._speed(rng), vocals=False)
        return a, bw


def random_eq(x: np.ndarray, rng: np.random.Generator, sample_rate_hz: int, max_db: float
              ) -> np.ndarray:
    """``x`` ``(2, n)`` through a random low shelf, presence peak and high shelf
    (pedalboard biquads), each within +-``max_db``; float32, same shape."""
    import pedalboard as pb

    board = pb.Pedalboard([
        pb.LowShelfFilter(float(rng.uniform(80, 400)), float(rng.uniform(-max_db, max_db))),
        pb.PeakFilter(float(rng.uniform(600, 5000)), float(rng.uniform(-max_db, max_db)),
                      float(rng.uniform(0.4, 1.5))),
        pb.HighShelfFilter(float(rng.uniform(2500, 10000)), float(rng.uniform(-max_db, max_db))),
    ])
    return board(np.ascontiguousarray(x, dtype=np.float32), float(sample_rate_hz)).astype(
        np.float32, copy=False)


def random_drive(x: np.ndarray, rng: np.random.Generator, sample_rate_hz: int,
                 drive_db: tuple[float, float]) -> np.ndarray:
    """``x`` ``(2, n)`` through a tanh waveshaper (pedalboard ``Distortion``) driven by a
    random gain in ``drive_db``, then scaled back to its RMS level; float32, same shape."""
    import pedalboard as pb

    x = np.ascontiguousarray(x, dtype=np.float32)
    before = rms(x)
    if before <= 0.0:
        return x
    y = pb.Pedalboard([pb.Distortion(float(rng.uniform(*drive_db)))])(x, float(sample_rate_hz))
    after = rms(y)
    return (y * np.float32(before / after)).astype(np.float32, copy=False) if after > 0 else x


def stack_accompaniment(a: np.ndarray, bandwidth_hz: float, source: "SegmentSource",
                        aug: Augmentation, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """With probability ``aug.p_stack``: ``a`` plus a second accompaniment segment of
    ``source`` at a random gain in ``aug.stack_gain_db`` relative to ``a``'s level (RMS);
    the pair's bandwidth is the narrower one's (the wider is low-passed to it)."""
    if not (aug.p_stack > 0 and rng.random() < aug.p_stack):
        return a, bandwidth_hz
    b, bw_b = source.accompaniment_stem(rng)
    level_a, level_b = rms(a), rms(b)
    if level_a <= 0.0 or level_b <= 0.0:
        return a, bandwidth_hz
    a, b, bw = _match_bandwidth(a, bandwidth_hz, b, bw_b, source.sample_rate_hz)
    gain = db_to_gain(rng.uniform(*aug.stack_gain_db)) * level_a / level_b
    return (a + b * np.float32(gain)).astype(np.float32, copy=False), bw


def finish_example(pick: Example, aug: Augmentation, rng: np.random.Generator,
                   sample_rate_hz: int = 44100) -> Example | None:
    """Tone changes, saturation, gains, channel swaps and peak normalisation of a picked
    pair of stems (a natural pick, one with a teacher, gets a common gain and swap only,
    so the teacher's estimate stays the estimate of its mix). None when the mix is silent."""
    v, a, t = pick.vocals, pick.accompaniment, pick.teacher
    if t is not None:
        if rng.random() < aug.p_channel_swap:
            v, a, t = v[::-1], a[::-1], t[::-1]
        mix_peak = peak(v + a)
        if mix_peak < MIN_MIX_PEAK:
            return None
        mix, v, a, t = normalise(v, a, db_to_gain(rng.uniform(*aug.peak_db)) / mix_peak, t)
        return Example(mix, v, a, pick.bandwidth_hz, t)
    bandwidth = pick.bandwidth_hz
    if aug.p_band_limit > 0 and rng.random() < aug.p_band_limit:
        cut = float(round(rng.uniform(*aug.band_limit_hz)))
        if cut < bandwidth:
            v, a = band_limit(v, sample_rate_hz, cut), band_limit(a, sample_rate_hz, cut)
            bandwidth = cut
    out = finish(v, a, aug, rng, sample_rate_hz)
    return None if out is None else Example(*out, bandwidth)


def finish(v: np.ndarray, a: np.ndarray, aug: Augmentation, rng: np.random.Generator,
           sample_rate_hz: int = 44100):
    """Tone changes, saturation, gains, channel swaps and peak normalisation of a picked pair
    of stems.

    Returns ``(mix, vocals, accompaniment)``, or None when the mix is silent.
    """
    if aug.p_eq > 0 and rng.random() < aug.p_eq:
        v = random_eq(v, rng, sample_rate_hz, aug.eq_gain_db)
    if aug.p_eq > 0 and rng.random() < aug.p_eq:
        a = random_eq(a, rng, sample_rate_hz, aug.eq_gain_db)
    if aug.p_drive > 0 and rng.random() < aug.p_drive:
        v = random_drive(v, rng, sample_rate_hz, aug.drive_db)
    if aug.p_drive > 0 and rng.random() < aug.p_drive:
        a = random_drive(a, rng, sample_rate_hz, aug.drive_db)
    v = v * np.float32(db_to_gain(rng.uniform(*aug.vocals_gain_db)))
    a = a * np.float32(db_to_gain(rng.uniform(*aug.accompaniment_gain_db)))
    if rng.random() < aug.p_channel_swap:
        v = v[::-1]
    if rng.random() < aug.p_channel_swap:
        a = a[::-1]
    mix_peak = peak(v + a)
    if mix_peak < MIN_MIX_PEAK:
        return None
    return normalise(v, a, db_to_gain(rng.uniform(*aug.peak_db)) / mix_peak)


def normalise(vocals: np.ndarray, accompaniment: np.ndarray, gain: float, *others: np.ndarray
              ) -> tuple[np.ndarray, ...]:
    """Scale both stems (and ``others``, e.g. a teacher estimate) by ``gain`` and return
    ``(mix, vocals, accompaniment, *others)``.

    The mix is the float32 sum of the scaled stems, so it equals their sum
    exactly. The gain is lowered when needed so that no stem or mix exceeds 1.0.
    """
    v = np.ascontiguousarray(vocals * np.float32(gain), dtype=np.float32)
    a = np.ascontiguousarray(accompaniment * np.float32(gain), dtype=np.float32)
    rest = [np.ascontiguousarray(o * np.float32(gain), dtype=np.float32) for o in others]
    mix = v + a
    top = max(peak(mix), peak(v), peak(a))
    if top > 1.0:
        shrink = np.float32(0.999 / top)
        v *= shrink
        a *= shrink
        for o in rest:
            o *= shrink
        mix = v + a
    return (mix, v, a, *rest)


class MixedSource(_Source):
    """Draws each segment from one of several sources, chosen with ``weights``."""

    def __init__(self, sources: list, weights: list[float] | None = None, name: str = "mixed"):
        if not sources:
            raise ValueError("MixedSource needs at least one source")
        w = np.ones(len(sources)) if weights is None else np.asarray(weights, dtype=np.float64)
        if w.shape != (len(sources),) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"weights must be {len(sources)} non-negative numbers, got {weights}")
        self.sources = list(sources)
        self.weights = w / w.sum()
        self.name = name
        self.sample_rate_hz = sources[0].sample_rate_hz
        self.segment_samples = sources[0].segment_samples

    def __repr__(self) -> str:
        parts = ", ".join(f"{s!r}: {w:.2f}" for s, w in zip(self.sources, self.weights))
        return f"MixedSource({parts})"

    def sample_example(self, rng: np.random.Generator) -> Example:
        """An :class:`Example` from a randomly chosen source."""
        k = int(rng.choice(len(self.sources), p=self.weights))
        return self.sources[k].sample_example(rng)


class CrossSource(_Source):
    """Vocals of one source's songs over the accompaniment of another's.

    The cross-song remix of :class:`SegmentSource`, across sources: real singing
    over synthetic band arrangements (rock, country, reggae, ...) that the real
    songs lack, or synthetic singing over real productions. Tempo and key are
    not aligned (as in MUSDB trainers' random remixing). Augmentation (gains,
    swaps, peak) is ``vocal_source``'s.
    """

    def __init__(self, vocal_source: SegmentSource, accompaniment_source: SegmentSource,
                 name: str = "cross"):
        if (vocal_source.sample_rate_hz != accompaniment_source.sample_rate_hz
                or vocal_source.segment_samples != accompaniment_source.segment_samples):
            raise ValueError(f"{name}: sources differ in rate or segment length")
        self.vocal_source = vocal_source
        self.accompaniment_source = accompaniment_source
        self.name = name
        self.sample_rate_hz = vocal_source.sample_rate_hz
        self.segment_samples = vocal_source.segment_samples

    def __repr__(self) -> str:
        return f"CrossSource({self.vocal_source.name} over {self.accompaniment_source.name})"

    def sample_example(self, rng: np.random.Generator) -> Example:
        """An :class:`Example` that holds singing; band-limited to the narrower source."""
        aug = self.vocal_source.augmentation
        for _ in range(_MAX_ATTEMPTS):
            v, bw_v = self.vocal_source.vocal_stem(rng)
            if peak(v) < MIN_MIX_PEAK:
                continue
            a, bw_a = self.accompaniment_source.accompaniment_stem(rng)
            a, bw_a = stack_accompaniment(a, bw_a, self.accompaniment_source, aug, rng)
            v, a, bw = _match_bandwidth(v, bw_v, a, bw_a, self.sample_rate_hz)
            out = finish(v, a, aug, rng, self.sample_rate_hz)
            if out is not None:
                return Example(*out, bw)
        raise RuntimeError(f"{self.name}: no audible segment found in {_MAX_ATTEMPTS} attempts")
