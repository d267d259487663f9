"""Synthetic songs with exactly known stems (see :mod:`.song` for the recipe).

* :func:`render_song` renders one song deterministically from (split, seed, index);
* :func:`heldout_synthetic` yields held-out songs for evaluation;
* :mod:`.cache` pre-renders songs to disk and reads them back (:class:`SynthSongs`).

Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

#: Held-out evaluation songs use indices from here on, so they never coincide
#: with the (also held-out) validation songs of the cache.
HELDOUT_INDEX_OFFSET = 1_000_000


def heldout_synthetic(n_items: int, sample_rate_hz: int = 44100, seconds: float = 20.0,
                      seed: int = 0, data_root=None
                      ) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``n_items`` held-out songs as ``(name, mix, vocals, accompaniment)``.

    Each array is ``float32`` ``(2, round(seconds * sample_rate_hz))`` with
    ``mix == vocals + accompaniment`` exactly. The songs come from the held-out
    pools (singers, seed recordings, samples and random streams disjoint from
    training; see :mod:`rtsep.train.data.synth.pools`); about 6% have no vocals.
    Rendered on the fly (about a second per song).
    """
    from rtsep.train.data.synth.song import render_song

    if n_items < 0:
        raise ValueError(f"n_items must be >= 0, got {n_items}")
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    n = int(round(seconds * sample_rate_hz))
    for i in range(n_items):
        song = render_song("valid", seed, HELDOUT_INDEX_OFFSET + i, sample_rate_hz,
                           seconds=seconds, data_root=data_root)
        vocals = np.zeros((2, n), dtype=np.float32)
        accompaniment = np.zeros((2, n), dtype=np.float32)
        m = min(n, song.vocals.shape[1])
        vocals[:, :m] = song.vocals[:, :m]
        accompaniment[:, :m] = song.accompaniment[:, :m]
        name = f"synth-heldout-{seed}-{i:03d}-{song.meta['style']}"
        yield name, vocals + accompaniment, vocals, accompaniment


def render_song(*args, **kwargs):
    """See :func:`rtsep.train.data.synth.song.render_song`."""
    from rtsep.train.data.synth.song import render_song as _render

    return _render(*args, **kwargs)


__all__ = ["HELDOUT_INDEX_OFFSET", "heldout_synthetic", "render_song"]
