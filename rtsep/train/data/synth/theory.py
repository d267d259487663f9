"""Keys, scales and chord progressions for the synthetic songs.

Pitches are MIDI note numbers (60 = C4); pitch classes are 0..11 (0 = C).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODES = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
}

#: Progressions as 0-based scale degrees, one chord per slot, per mode.
PROGRESSIONS = {
    "major": [(0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 3), (0, 3, 0, 4), (5, 3, 0, 4),
              (0, 2, 3, 4), (0, 4, 5, 2, 3, 0, 3, 4), (1, 4, 0, 0), (0, 0, 3, 4),
              (3, 4, 0, 5), (0, 3, 5, 4)],
    "minor": [(0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (5, 6, 0, 0),
              (0, 5, 3, 4), (0, 2, 6, 5)],
    "dorian": [(0, 3), (0, 6, 3, 0), (0, 3, 0, 6)],
    "mixolydian": [(0, 6, 3, 0), (0, 3, 6, 3), (0, 6, 0, 3)],
}

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


@dataclass(frozen=True)
class Key:
    """A tonic pitch class and a mode name from :data:`MODES`."""

    tonic_pc: int
    mode: str

    @property
    def scale_pcs(self) -> tuple[int, ...]:
        return tuple((self.tonic_pc + step) % 12 for step in MODES[self.mode])

    def __str__(self) -> str:
        return f"{NOTE_NAMES[self.tonic_pc]} {self.mode}"

    def chord(self, degree: int, seventh: bool = False, major_dominant: bool = False
              ) -> tuple[int, ...]:
        """Diatonic triad (or seventh chord) on ``degree``: pitch classes, root first.

        ``major_dominant`` raises the third of a minor-mode v chord (harmonic minor V).
        """
        steps = MODES[self.mode]
        n = len(steps)
        idx = [degree, degree + 2, degree + 4] + ([degree + 6] if seventh else [])
        pcs = [(self.tonic_pc + steps[i % n]) % 12 for i in idx]
        if major_dominant and self.mode == "minor" and degree % n == 4:
            pcs[1] = (pcs[1] + 1) % 12
        return tuple(pcs)

    def in_scale(self, pitch: int) -> bool:
        return pitch % 12 in self.scale_pcs

    def scale_pitches(self, low: int, high: int) -> np.ndarray:
        """All scale pitches in ``[low, high]`` (MIDI), ascending, ``int64``."""
        pcs = set(self.scale_pcs)
        return np.array([p for p in range(low, high + 1) if p % 12 in pcs], dtype=np.int64)


@dataclass(frozen=True)
class Chord:
    """A chord held from ``start_beat`` for ``n_beats``; ``pcs`` root first."""

    start_beat: float
    n_beats: float
    pcs: tuple[int, ...]

    @property
    def root_pc(self) -> int:
        return self.pcs[0]

    @property
    def end_beat(self) -> float:
        return self.start_beat + self.n_beats

    def voicing(self, low: int, n_notes: int) -> list[int]:
        """Close voicing of ``n_notes`` chord tones, the lowest at or above ``low``."""
        notes: list[int] = []
        for k in range(n_notes):
            pc = self.pcs[k % len(self.pcs)]
            base = notes[-1] + 1 if notes else low
            notes.append(base + (pc - base) % 12)
        return notes


def nearest_in(pitch: float, allowed: np.ndarray) -> int:
    """The element of ``allowed`` (MIDI pitches) closest to ``pitch``."""
    return int(allowed[np.argmin(np.abs(allowed - pitch))])


def pitches_of(pcs, low: int, high: int) -> np.ndarray:
    """All pitches in ``[low, high]`` whose pitch class is in ``pcs``."""
    pcs = set(pcs)
    return np.array([p for p in range(low, high + 1) if p % 12 in pcs], dtype=np.int64)
