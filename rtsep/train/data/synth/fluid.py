"""Render ``pretty_midi`` instruments with FluidSynth (pyfluidsynth, float output).

A :class:`FluidSession` is a fresh synthesiser (the soundfont's samples load on
demand, so a session costs a few milliseconds); render one song's instruments
in one session, in a fixed order. FluidSynth keeps state between notes that a
reset does not clear (voice filters, the first preset load), so a song is
reproducible only from a fresh synthesiser. Events are quantised to
FluidSynth's 64-sample block (its block cursor then stays aligned), its own
reverb and chorus are off (effects are added later, per stem), and samples are
written as float (the 16-bit writer dithers with a process-global random state).
"""

from __future__ import annotations

import ctypes
import os

import numpy as np

#: The General MIDI soundfont used for every render.
DEFAULT_SF2 = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
_BLOCK = 64
_FLUSH_SAMPLES = 4096


class FluidSession:
    """A fresh FluidSynth at ``sample_rate_hz``; use as a context manager, then
    :meth:`render` each instrument of a song in order."""

    def __init__(self, sample_rate_hz: int, sf2_path: str = DEFAULT_SF2):
        import fluidsynth

        if not os.path.isfile(sf2_path):
            raise FileNotFoundError(f"soundfont not found: {sf2_path} (install fluid-soundfont-gm)")
        self._fl = fluidsynth
        settings = {"synth.reverb.active": 0, "synth.chorus.active": 0, "synth.polyphony": 512,
                    "synth.dynamic-sample-loading": 1}
        self.synth = fluidsynth.Synth(gain=0.5, samplerate=float(sample_rate_hz), **settings)
        self.sample_rate_hz = sample_rate_hz
        self.sfid = self.synth.sfload(sf2_path)
        if self.sfid < 0:
            raise RuntimeError(f"FluidSynth could not load {sf2_path}")
        self._write = fluidsynth.cfunc(
            "fluid_synth_write_float", ctypes.c_int, ("synth", ctypes.c_void_p, 1),
            ("len", ctypes.c_int, 1), ("lout", ctypes.c_void_p, 1), ("loff", ctypes.c_int, 1),
            ("lincr", ctypes.c_int, 1), ("rout", ctypes.c_void_p, 1), ("roff", ctypes.c_int, 1),
            ("rincr", ctypes.c_int, 1))
        self._fx_switches = [
            fluidsynth.cfunc(name, ctypes.c_int, ("synth", ctypes.c_void_p, 1),
                             ("fx_group", ctypes.c_int, 1), ("on", ctypes.c_int, 1))
            for name in ("fluid_synth_reverb_on", "fluid_synth_chorus_on")]

    def __enter__(self) -> "FluidSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.synth is not None:
            self.synth.delete()
            self.synth = None

    def _write_block(self, buf: np.ndarray, pos: int, n: int) -> None:
        # buf is (n_samples, 2) float32, interleaved: left at offset 0, right at 1, stride 2.
        ptr = buf[pos:].ctypes.data
        self._write(self.synth.synth, n, ptr, 0, 2, ptr, 1, 2)

    def _reset(self) -> None:
        for chan in range(16):
            self._fl.fluid_synth_all_sounds_off(self.synth.synth, chan)
        self.synth.system_reset()
        for switch in self._fx_switches:
            if switch is not None:
                switch(self.synth.synth, -1, 0)
        junk = np.zeros((_FLUSH_SAMPLES, 2), dtype=np.float32)
        self._write_block(junk, 0, _FLUSH_SAMPLES)

    def render(self, instrument, n_samples: int, pan: float = 0.0) -> np.ndarray:
        """One instrument as ``float32`` ``(2, n_samples)``; ``pan`` -1..1 via CC10."""
        sr = self.sample_rate_hz
        n_total = -(-n_samples // _BLOCK) * _BLOCK
        self._reset()
        chan = 9 if instrument.is_drum else 0
        bank = 128 if instrument.is_drum else 0
        self.synth.program_select(chan, self.sfid, bank, int(instrument.program))
        self.synth.cc(chan, 7, 100)
        self.synth.cc(chan, 10, int(np.clip(round(64 + 63 * pan), 0, 127)))
        self.synth.cc(chan, 91, 0)
        self.synth.cc(chan, 93, 0)
        events = []  # (sample, order, kind, a, b): note-offs sort before note-ons
        quant = lambda t: min(int(round(t * sr / _BLOCK)) * _BLOCK, n_total)  # noqa: E731
        for note in instrument.notes:
            start, end = quant(note.start), quant(note.end)
            if end <= start:
                end = start + _BLOCK
            events.append((start, 1, "on", note.pitch, note.velocity))
            events.append((end, 0, "off", note.pitch, 0))
        for bend in instrument.pitch_bends:
            events.append((quant(bend.time), 2, "bend", bend.pitch, 0))
        for cc in instrument.control_changes:
            events.append((quant(cc.time), 2, "cc", cc.number, cc.value))
        events.sort(key=lambda e: (e[0], e[1]))
        buf = np.zeros((n_total, 2), dtype=np.float32)
        pos = 0
        for sample, _, kind, a, b in events:
            if sample >= n_total:
                break
            if sample > pos:
                self._write_block(buf, pos, sample - pos)
                pos = sample
            if kind == "on":
                self.synth.noteon(chan, a, b)
            elif kind == "off":
                self.synth.noteoff(chan, a)
            elif kind == "bend":
                self.synth.pitch_bend(chan, a)
            else:
                self.synth.cc(chan, a, b)
        if pos < n_total:
            self._write_block(buf, pos, n_total - pos)
        return np.ascontiguousarray(buf[:n_samples].T)


def render_instrument(instrument, sample_rate_hz: int, n_samples: int, pan: float = 0.0,
                      sf2_path: str = DEFAULT_SF2) -> np.ndarray:
    """Render one ``pretty_midi.Instrument`` alone in a fresh session.

    Returns ``float32`` ``(2, n_samples)``.
    """
    with FluidSession(sample_rate_hz, sf2_path) as session:
        return session.render(instrument, n_samples, pan)
