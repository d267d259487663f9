"""Algorithmic songs: form, chords, an arrangement as MIDI, and a vocal melody.

:func:`compose` turns a random generator into a :class:`Composition`: a style
(rock, pop, country, reggae, ballad, electronic), a key and tempo, sections
(instrumental intro/break/outro, sung verse/chorus), a chord per bar (or half
bar), a ``pretty_midi.PrettyMIDI`` accompaniment (drums, bass, comping, pads,
arpeggios, a lead instrument that plays in instrumental sections and answers
the singer), and the vocal parts as phrases of notes with syllables: the lead
melody (in the singer's range, chord tones on strong beats, phrases separated
by rests) and optional backing vocals (harmony lines, sustained "ooh" chords,
echoes), which count as vocals.

Times are seconds from the song's start; pitches are MIDI numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rtsep.train.data.synth.theory import PROGRESSIONS, Chord, Key, nearest_in, pitches_of

STYLES = ("rock", "pop", "country", "reggae", "ballad", "electronic")

# GM programs (0-based) per style and role; voice-like programs (choir, voice
# oohs, solo vox, space voice) are never used: they would teach the model that
# singing-like sounds are accompaniment.
STYLE_SPECS: dict[str, dict] = {
    "rock": dict(tempo=(96, 152), modes=("major", "mixolydian", "minor"), kits=(0, 16, 8),
                 bass=(33, 34), comp=(29, 30, 29, 27), keys=(18, 16, 0), pad=(48, 50),
                 arp=(27, 25), lead=(30, 29, 81, 65, 66), swing=(0.0, 0.0)),
    "pop": dict(tempo=(88, 128), modes=("major", "major", "minor"), kits=(0, 24, 25),
                bass=(33, 38, 39, 34), comp=(0, 4, 5, 27, 25), keys=(0, 4, 5), pad=(48, 50, 89, 90),
                arp=(80, 81, 11, 12, 46, 28), lead=(65, 56, 81, 73, 61, 62), swing=(0.0, 0.15)),
    "country": dict(tempo=(90, 140), modes=("major", "major", "mixolydian"), kits=(0, 40),
                    bass=(32, 33), comp=(25, 25, 24), keys=(0, 1), pad=(48, 49),
                    arp=(24, 26, 46), lead=(40, 110, 22, 25, 26), swing=(0.0, 0.3)),
    "reggae": dict(tempo=(68, 96), modes=("major", "minor", "dorian"), kits=(0, 8),
                   bass=(33, 38, 32), comp=(27, 28, 26), keys=(16, 17), pad=(48, 16),
                   arp=(11, 12), lead=(65, 66, 56, 61, 57), swing=(0.1, 0.4)),
    "ballad": dict(tempo=(60, 86), modes=("major", "minor", "major"), kits=(40, 32, 0),
                   bass=(32, 33, 35), comp=(0, 1, 4, 24), keys=(0, 4), pad=(48, 49, 89, 94),
                   arp=(24, 46, 0), lead=(73, 71, 40, 65, 42, 68), swing=(0.0, 0.0)),
    "electronic": dict(tempo=(110, 132), modes=("minor", "minor", "dorian", "major"),
                       kits=(24, 25, 0), bass=(38, 39, 87), comp=(4, 5, 90, 81),
                       keys=(4, 5, 80), pad=(89, 90, 94, 95), arp=(80, 81, 84, 11),
                       lead=(80, 81, 84, 62), swing=(0.0, 0.0)),
}

# GM percussion keys.
KICK, SIDE_STICK, SNARE, CLAP, HAT, PEDAL_HAT, OPEN_HAT = 36, 37, 38, 39, 42, 44, 46
CRASH, RIDE, TAMBOURINE, COWBELL, SHAKER = 49, 51, 54, 56, 70
TOMS = (50, 48, 47, 45, 43, 41)

ONSETS = ("", "", "", "p", "t", "k", "b", "d", "g", "m", "n", "l", "r", "s", "sh", "f",
          "h", "w", "y", "v", "z")
VOWELS = ("a", "a", "e", "i", "o", "u", "ae", "uh", "ih", "oo", "ei", "ai", "ou")
CODAS = ("", "", "", "", "n", "s", "t", "m", "l")
WORDS = ("love", "night", "heart", "time", "away", "baby", "dream", "light", "fire", "home",
         "never", "always", "feel", "know", "run", "stay", "hold", "fall", "rise", "sky",
         "rain", "sun", "down", "road", "river", "golden", "tonight", "forever", "alone",
         "together", "remember", "morning", "shadow", "dancing", "calling", "open", "slowly",
         "brighter", "over", "again", "believe", "tomorrow", "yesterday", "whisper", "ocean",
         "silver", "city", "summer", "winter", "wonder", "maybe", "only", "little", "hey",
         "oh", "yeah", "la", "na", "my", "you", "me", "we", "and", "the", "in", "on", "so")


@dataclass
class Section:
    """A stretch of bars; ``vocals`` says whether the lead sings in it."""

    name: str
    start_bar: int
    n_bars: int
    vocals: bool
    energy: float  # 0..1, scales velocities and how many parts play


@dataclass
class VocalNote:
    """One sung note: times in s, ``pitch`` MIDI, ``velocity`` 0..1, syllable parts."""

    start_s: float
    end_s: float
    pitch: float
    velocity: float
    onset: str = ""   # consonant before the vowel ("" for none or a melisma)
    vowel: str = "a"
    coda: str = ""    # consonant after the vowel
    new_syllable: bool = True


@dataclass
class Phrase:
    """A run of sung notes without a rest longer than a breath."""

    notes: list[VocalNote]
    words: list[str] = field(default_factory=list)

    @property
    def start_s(self) -> float:
        return self.notes[0].start_s

    @property
    def end_s(self) -> float:
        return self.notes[-1].end_s


@dataclass
class Part:
    """One accompaniment instrument: its MIDI notes, pan (-1..1) and role."""

    role: str      # drums | bass | comp | keys | pad | arp | lead
    instrument: object  # pretty_midi.Instrument
    pan: float
    level_db: float


@dataclass
class Composition:
    """Everything decided before any audio is rendered (see module docstring)."""

    style: str
    key: Key
    tempo_bpm: float
    beats_per_bar: int
    swing: float
    sections: list[Section]
    chords: list[Chord]
    parts: list[Part]
    lead_range: tuple[int, int]
    melody: list[Phrase]
    backing: list[tuple[str, list[Phrase]]]
    duration_s: float

    @property
    def beat_s(self) -> float:
        return 60.0 / self.tempo_bpm

    @property
    def bar_s(self) -> float:
        return self.beats_per_bar * self.beat_s

    @property
    def n_bars(self) -> int:
        return sum(s.n_bars for s in self.sections)

    def midi(self):
        """The accompaniment as a ``pretty_midi.PrettyMIDI`` (for inspection or export)."""
        import pretty_midi

        pm = pretty_midi.PrettyMIDI(initial_tempo=self.tempo_bpm)
        pm.instruments.extend(p.instrument for p in self.parts)
        return pm

    def vocal_sections_s(self) -> list[tuple[float, float]]:
        return [(s.start_bar * self.bar_s, (s.start_bar + s.n_bars) * self.bar_s)
                for s in self.sections if s.vocals]


# ---------------------------------------------------------------------------------------
# Form and harmony


def _form(rng: np.random.Generator, n_bars: int, instrumental: bool) -> list[Section]:
    """Sections covering ``n_bars`` bars; instrumental stretches are >= 2 bars."""
    plans = [
        [("intro", 2, False), ("verse", 4, True), ("chorus", 4, True), ("break", 2, False),
         ("chorus", 4, True), ("outro", 2, False)],
        [("verse", 4, True), ("chorus", 4, True), ("break", 4, False), ("verse", 4, True)],
        [("intro", 4, False), ("verse", 8, True), ("chorus", 4, True)],
        [("intro", 2, False), ("chorus", 4, True), ("verse", 4, True), ("break", 2, False),
         ("chorus", 4, True)],
        [("verse", 4, True), ("verse", 4, True), ("break", 2, False), ("chorus", 4, True),
         ("outro", 2, False)],
        [("intro", 2, False), ("verse", 4, True), ("break", 2, False), ("verse", 4, True),
         ("chorus", 4, True)],
    ]
    plan = plans[int(rng.integers(len(plans)))]
    sections, bar = [], 0
    for name, length, sung in plan:
        if bar >= n_bars:
            break
        length = min(length, n_bars - bar)
        if n_bars - bar - length == 1:  # never leave a lone bar at the end
            length += 1
        energy = {"intro": 0.45, "verse": 0.6, "chorus": 0.9, "break": 0.8, "outro": 0.5}[name]
        energy = float(np.clip(energy + rng.normal(0.0, 0.08), 0.25, 1.0))
        sections.append(Section(name, bar, length, sung and not instrumental, energy))
        bar += length
    if bar < n_bars:  # pad with one more sung section
        sections.append(Section("chorus", bar, n_bars - bar, not instrumental, 0.9))
    if all(s.vocals for s in sections) and sections[0].n_bars >= 4:
        # Every song gets an instrumental stretch: the first two bars become an intro.
        first = sections[0]
        sections[0] = Section(first.name, 2, first.n_bars - 2, True, first.energy)
        sections.insert(0, Section("intro", 0, 2, False, 0.45))
    return sections


def _chords(rng, key: Key, sections: list[Section], beats_per_bar: int, style: str
            ) -> list[Chord]:
    """One chord per bar (sometimes two), a progression per section type, looped."""
    progs = PROGRESSIONS[key.mode]
    per_type: dict[str, tuple] = {}
    sevenths = style in ("pop", "ballad", "reggae") and rng.random() < 0.5
    half_bars = style in ("pop", "ballad", "country") and rng.random() < 0.3
    chords = []
    for sec in sections:
        kind = "chorus" if sec.name in ("chorus", "outro") else "verse"
        if kind not in per_type:
            per_type[kind] = progs[int(rng.integers(len(progs)))]
        prog = per_type[kind]
        slot_beats = beats_per_bar / 2 if (half_bars and sec.name == "chorus") else beats_per_bar
        n_slots = int(round(sec.n_bars * beats_per_bar / slot_beats))
        for k in range(n_slots):
            degree = prog[k % len(prog)]
            pcs = key.chord(degree, seventh=sevenths and rng.random() < 0.6,
                            major_dominant=rng.random() < 0.5)
            chords.append(Chord(sec.start_bar * beats_per_bar + k * slot_beats, slot_beats, pcs))
    return chords


def chord_at(chords: list[Chord], beat: float) -> Chord:
    for c in chords:
        if c.start_beat <= beat < c.end_beat:
            return c
    return chords[-1]


# ---------------------------------------------------------------------------------------
# Accompaniment


class _Timing:
    """Beat -> seconds with swing on off-beat eighths and a little human jitter."""

    def __init__(self, rng, tempo_bpm: float, swing: float, jitter_s: float):
        self.rng, self.beat_s, self.swing, self.jitter_s = rng, 60.0 / tempo_bpm, swing, jitter_s

    def __call__(self, beat: float, human: bool = True) -> float:
        frac = beat % 1.0
        if abs(frac - 0.5) < 1e-6:
            beat += self.swing / 6.0  # swing 1 = triplet feel (off-beat at 2/3)
        t = beat * self.beat_s
        if human and self.jitter_s > 0:
            t += float(self.rng.normal(0.0, self.jitter_s))
        return max(t, 0.0)


def _note(inst, timing, start_beat, n_beats, pitch, velocity, legato=0.92):
    import pretty_midi

    start = timing(start_beat)
    end = max(timing(start_beat + n_beats * legato, human=False), start + 0.03)
    inst.notes.append(pretty_midi.Note(int(np.clip(velocity, 1, 127)), int(pitch), start, end))


def _drum_part(rng, style, sections, bpb, timing, program):
    import pretty_midi

    inst = pretty_midi.Instrument(program=program, is_drum=True, name="drums")
    steps = 4 * bpb  # sixteenth steps per bar
    variant = int(rng.integers(3))
    for sec in sections:
        if sec.name == "intro" and rng.random() < 0.4:
            continue
        e = sec.energy
        for bar in range(sec.start_bar, sec.start_bar + sec.n_bars):
            hits: list[tuple[int, int, float]] = []  # (step, key, velocity)
            half = bpb // 2 * 4
            if style == "reggae":
                hits += [(half, KICK, 100), (half, SIDE_STICK, 90)]
                if variant == 2:
                    hits += [(s, KICK, 95) for s in range(0, steps, 4)]
                hits += [(s, HAT, 70 if s % 4 else 85) for s in range(0, steps, 2)]
            elif style == "electronic":
                hits += [(s, KICK, 110) for s in range(0, steps, 4)]
                hits += [(s, CLAP if variant else SNARE, 100) for s in range(4, steps, 8)]
                hits += [(s, OPEN_HAT, 80) for s in range(2, steps, 4)]
                if e > 0.7:
                    hits += [(s, HAT, 60 + 15 * (s % 2 == 0)) for s in range(0, steps)]
            elif style == "ballad":
                hits += [(0, KICK, 85), (half + 2, KICK, 70)]
                hits += [(s, SIDE_STICK if e < 0.7 else SNARE, 80) for s in range(4, steps, 8)]
                hits += [(s, RIDE if variant else HAT, 60) for s in range(0, steps, 2)]
            else:  # rock, pop, country
                kick_steps = [0, half] + ([half - 2] if variant == 1 else []) + \
                    ([steps - 2] if variant == 2 else [])
                if style == "pop" and variant == 0:
                    kick_steps = list(range(0, steps, 4))
                hits += [(s, KICK, 105) for s in kick_steps]
                snare = SIDE_STICK if (style == "country" and e < 0.7) else SNARE
                hits += [(s, snare, 105) for s in range(4, steps, 8)]
                if style == "pop" and rng.random() < 0.5:
                    hits += [(s, CLAP, 90) for s in range(4, steps, 8)]
                top = RIDE if (sec.name == "chorus" and style == "rock" and variant) else HAT
                sixteenth = style == "pop" and variant != 1
                hits += [(s, top, 70 + 20 * (s % 4 == 0))
                         for s in range(0, steps, 1 if sixteenth else 2)]
                if style == "country":
                    hits += [(s, TAMBOURINE, 60) for s in range(4, steps, 8)]
            if bar == sec.start_bar and sec.name in ("chorus", "break") and style != "reggae":
                hits.append((0, CRASH, 100))
            if bar == sec.start_bar + sec.n_bars - 1 and rng.random() < 0.5 and style != "electronic":
                # A fill over the last beat: sixteenths down the toms.
                hits = [h for h in hits if h[0] < steps - 4]
                toms = TOMS[int(rng.integers(0, 3)):][:4]
                hits += [(steps - 4 + k, toms[k % len(toms)], 95) for k in range(4)]
            for step, key_, vel in hits:
                v = vel * (0.6 + 0.45 * e) + rng.normal(0.0, 6.0)
                _note(inst, timing, bar * bpb + step / 4.0, 0.25, key_, v, legato=1.0)
    return inst


def _bass_part(rng, style, sections, chords, bpb, timing, program):
    import pretty_midi

    inst = pretty_midi.Instrument(program=program, name="bass")
    pattern = int(rng.integers(3))
    for ch in chords:
        sec = _section_at(sections, ch.start_beat / bpb)
        if sec.name == "intro" and rng.random() < 0.3:
            continue
        root = 28 + (ch.root_pc - 28) % 12
        if root < 33:
            root += 12
        fifth = root + 7
        n = ch.n_beats
        events: list[tuple[float, float, int]] = []  # (beat offset, length, pitch)
        if style == "rock":
            events = [(b / 2, 0.5, root) for b in range(int(n * 2))]
        elif style == "country":
            # Boom-chick: root on beat 1, the fifth (below when it fits) on beat 3.
            low_fifth = fifth - 12 if fifth - 12 >= 28 else fifth
            events = [(b, 1.0, root if (b // 2) % 2 == 0 else low_fifth) for b in range(0, int(n), 2)]
            if pattern:  # a pushier line: octaves or fifths on the off beats too
                events += [(b + 1, 1.0, root + 12 if pattern == 1 else fifth)
                           for b in range(0, int(n) - 1, 2)]
        elif style == "reggae":
            riff = [(0, 1.0, root), (1.5, 0.5, root), (2, 0.5, fifth), (2.75, 0.25, root + 12),
                    (3, 0.75, fifth)]
            events = [e for e in riff if e[0] < n]
        elif style == "ballad":
            events = [(0, min(n, 2.0), root)] + ([(2, n - 2, fifth)] if n > 2 else [])
        elif style == "electronic":
            if pattern == 0:
                events = [(b + 0.5, 0.5, root) for b in range(int(n))]
            else:
                events = [(b / 4, 0.25, root + 12 * (b % 4 == 2)) for b in range(int(n * 4))
                          if b % 4 != 0 or pattern == 1]
        else:  # pop
            grid = [0, 0.75, 1.5, 2, 2.75, 3.5] if pattern else [0, 1, 1.5, 2, 3, 3.5]
            events = [(g, 0.5, root + 12 * (k % 3 == 2 and pattern == 2)) for k, g in enumerate(grid)
                      if g < n]
        for off, length, pitch in events:
            vel = 95 * (0.7 + 0.35 * sec.energy) + rng.normal(0, 5)
            _note(inst, timing, ch.start_beat + off, length, pitch, vel)
    return inst


def _section_at(sections, bar: float) -> Section:
    for s in sections:
        if s.start_bar <= bar < s.start_bar + s.n_bars:
            return s
    return sections[-1]


def _comp_part(rng, style, sections, chords, bpb, timing, program, role):
    """Chords: power chords, strums, skanks, stabs or broken chords by style."""
    import pretty_midi

    inst = pretty_midi.Instrument(program=program, name=role)
    guitar = 24 <= program <= 31
    low = 40 + int(rng.integers(0, 8)) if guitar else 52 + int(rng.integers(0, 6))
    pattern = int(rng.integers(3))
    for ch in chords:
        sec = _section_at(sections, ch.start_beat / bpb)
        if sec.name == "intro" and role != "comp" and rng.random() < 0.5:
            continue
        n = ch.n_beats
        if program in (29, 30) or (style == "rock" and guitar):
            root = low + (ch.root_pc - low) % 12
            voicing = [root, root + 7, root + 12]
        else:
            voicing = ch.voicing(low, 3 + int(rng.integers(0, 2)))
        vel = 80 * (0.65 + 0.4 * sec.energy)
        if style == "reggae":
            hits = [(b + 0.5, 0.3) for b in range(int(n))] if pattern else \
                [(b, 0.35) for b in range(1, int(n), 2)]
        elif style == "country":
            hits = [(b, 0.9) for b in range(1, int(n), 2)] + ([(b + 0.5, 0.4) for b in range(int(n))]
                                                              if pattern == 2 else [])
        elif style == "rock":
            hits = [(b / 2, 0.45) for b in range(int(n * 2))] if pattern else [(0, n)]
        elif style == "ballad":
            # Broken chord: eighths through the voicing, up then down.
            seq = voicing + voicing[-2:0:-1]
            for k in range(int(n * 2)):
                _note(inst, timing, ch.start_beat + k / 2, 1.0, seq[k % len(seq)],
                      vel * 0.9 + rng.normal(0, 6), legato=1.4)
            continue
        elif style == "electronic":
            hits = [(0, n)] if pattern == 0 else [(b / 2, 0.4) for b in range(int(n * 2)) if b % 3 != 2]
        else:  # pop
            hits = [(0, 1.4), (1.5, 0.9), (2.5, 1.4)] if pattern else [(0, n)]
            hits = [h for h in hits if h[0] < n]
        strum = 0.012 if guitar else 0.0
        for off, length in hits:
            for k, pitch in enumerate(voicing):
                start = ch.start_beat + off + k * strum / timing.beat_s
                _note(inst, timing, start, length, pitch, vel + rng.normal(0, 5))
    return inst


def _pad_part(rng, sections, chords, bpb, timing, program):
    import pretty_midi

    inst = pretty_midi.Instrument(program=program, name="pad")
    low = 55 + int(rng.integers(0, 6))
    only_chorus = rng.random() < 0.5
    for ch in chords:
        sec = _section_at(sections, ch.start_beat / bpb)
        if only_chorus and sec.name not in ("chorus", "outro"):
            continue
        for pitch in ch.voicing(low, 3):
            _note(inst, timing, ch.start_beat, ch.n_beats, pitch, 70 * (0.7 + 0.3 * sec.energy),
                  legato=1.0)
    return inst


def _arp_part(rng, sections, chords, bpb, timing, program):
    import pretty_midi

    inst = pretty_midi.Instrument(program=program, name="arp")
    low = 60 + int(rng.integers(0, 8))
    rate = 4 if rng.random() < 0.5 else 2  # notes per beat
    shape = int(rng.integers(3))
    for ch in chords:
        sec = _section_at(sections, ch.start_beat / bpb)
        if sec.energy < 0.5 and rng.random() < 0.5:
            continue
        tones = ch.voicing(low, 4)
        seq = {0: tones, 1: tones[::-1], 2: tones + tones[-2:0:-1]}[shape]
        for k in range(int(ch.n_beats * rate)):
            _note(inst, timing, ch.start_beat + k / rate, 1.0 / rate, seq[k % len(seq)],
                  72 + rng.normal(0, 6), legato=0.8)
    return inst


def _line(rng, key: Key, chords, start_beat: float, n_beats: float, low: int, high: int,
          rhythm_menu, rest_p: float, prev: float | None = None
          ) -> list[tuple[float, float, int]]:
    """A melodic line: ``(start_beat, n_beats, pitch)`` notes, chord tones on strong beats."""
    scale = key.scale_pitches(low, high)
    center = (low + high) / 2.0
    beat, notes = start_beat, []
    idx = int(np.argmin(np.abs(scale - (prev if prev is not None else center + rng.normal(0, 2)))))
    end = start_beat + n_beats
    while beat < end - 0.24:
        length = float(rhythm_menu[int(rng.integers(len(rhythm_menu)))])
        length = min(length, end - beat)
        if notes and rng.random() < rest_p:
            beat += 0.5
            continue
        step = int(rng.choice([-4, -3, -2, -1, 0, 1, 2, 3, 4],
                              p=[0.03, 0.05, 0.12, 0.27, 0.1, 0.27, 0.1, 0.04, 0.02]))
        if scale[idx] > center + 5 and step > 0 or scale[idx] < center - 5 and step < 0:
            step = -step
        idx = int(np.clip(idx + step, 0, len(scale) - 1))
        pitch = int(scale[idx])
        strong = abs(beat - round(beat)) < 1e-6 and (int(round(beat)) % 2 == 0 or length >= 1.0)
        if strong or beat + length >= end - 0.24:
            tones = pitches_of(chord_at(chords, beat).pcs, low, high)
            if len(tones):
                pitch = nearest_in(pitch, tones)
                idx = int(np.argmin(np.abs(scale - pitch)))
        notes.append((beat, length, pitch))
        beat += length
    return notes


def _lead_part(rng, key, sections, chords, bpb, timing, program, melody_gaps):
    """A lead instrument: solos in instrumental sections, fills in the singer's rests."""
    import pretty_midi

    inst = pretty_midi.Instrument(program=program, name="lead")
    low = 55 + int(rng.integers(0, 10))
    high = low + 17
    menu = (0.5, 0.5, 1.0, 0.25, 0.25, 1.5, 2.0)
    for sec in sections:
        if sec.vocals:
            continue
        if rng.random() < 0.25:
            continue
        line = _line(rng, key, chords, sec.start_bar * bpb + 0.0, sec.n_bars * bpb - 0.5,
                     low, high, menu, rest_p=0.12)
        for beat, length, pitch in line:
            _note(inst, timing, beat, length, pitch, 88 + rng.normal(0, 8))
    fill_p = 0.4 if rng.random() < 0.5 else 0.0
    for gap_start, gap_len in melody_gaps:
        if gap_len >= 1.5 and rng.random() < fill_p:
            line = _line(rng, key, chords, gap_start + 0.25, gap_len - 0.5, low, high,
                         (0.5, 0.25, 0.5, 1.0), rest_p=0.1)
            for beat, length, pitch in line:
                _note(inst, timing, beat, length, pitch, 78 + rng.normal(0, 8))
    return inst


# ---------------------------------------------------------------------------------------
# Vocal melody


def _syllable(rng) -> tuple[str, str]:
    return (ONSETS[int(rng.integers(len(ONSETS)))], VOWELS[int(rng.integers(len(VOWELS)))])


def _melody(rng, key: Key, sections, chords, bpb, tempo_bpm, lead_range, style
            ) -> tuple[list[Phrase], list[tuple[float, float]]]:
    """Lead phrases and the rests between them (``(start_beat, n_beats)``)."""
    beat_s = 60.0 / tempo_bpm
    low, high = lead_range
    slow = tempo_bpm < 90
    menu = (0.5, 0.5, 1.0, 1.0, 0.25, 1.5, 2.0) if slow else (0.5, 0.5, 0.5, 1.0, 1.0, 1.5, 2.0)
    phrases: list[Phrase] = []
    gaps: list[tuple[float, float]] = []
    prev_pitch = None
    for sec in sections:
        if not sec.vocals:
            continue
        phrase_bars = 2 if sec.n_bars >= 2 and rng.random() < 0.7 else 1
        template = None
        for p0 in range(sec.start_bar, sec.start_bar + sec.n_bars, phrase_bars):
            n_bars = min(phrase_bars, sec.start_bar + sec.n_bars - p0)
            lead_in = float(rng.choice([0.0, 0.0, 0.5, 1.0, -0.5]))
            if p0 == 0:  # no pick-up before the song starts
                lead_in = max(lead_in, 0.0)
            rest_end = float(rng.choice([1.0, 1.5, 2.0, 2.5]))
            start = p0 * bpb + lead_in
            length = n_bars * bpb - lead_in - rest_end
            if length < 1.0:
                continue
            if template is not None and rng.random() < 0.6:
                # Repeat the previous phrase's rhythm (and shape) over the new chords.
                offset = start - template[0][0]
                notes = []
                for beat, n_beats, pitch in template:
                    b = beat + offset
                    if b >= start + length:
                        break
                    tones = pitches_of(chord_at(chords, b).pcs, low, high)
                    strong = abs(b - round(b)) < 1e-6
                    p = nearest_in(pitch, tones) if strong and len(tones) else pitch
                    if not key.in_scale(p):
                        p = nearest_in(p, key.scale_pitches(low, high))
                    notes.append((b, n_beats, p))
            else:
                notes = _line(rng, key, chords, start, length, low, high, menu, rest_p=0.06,
                              prev=prev_pitch)
                template = notes
            if not notes:
                continue
            # The phrase-final note is held.
            b, n, p = notes[-1]
            notes[-1] = (b, max(n, min(2.0, start + length + rest_end * 0.6 - b)), p)
            vnotes = []
            for k, (b, n, p) in enumerate(notes):
                new = k == 0 or rng.random() < 0.85
                onset, vowel = _syllable(rng) if new else ("", vnotes[-1].vowel)
                dur = n
                vel = float(np.clip(0.55 + 0.4 * sec.energy + rng.normal(0, 0.06), 0.2, 1.0))
                vnotes.append(VocalNote(b * beat_s, (b + max(dur, 0.2)) * beat_s, float(p), vel,
                                        onset, vowel, new_syllable=new))
            vnotes[-1].coda = CODAS[int(rng.integers(len(CODAS)))]
            n_words = max(1, sum(v.new_syllable for v in vnotes) // 2)
            words = [WORDS[int(rng.integers(len(WORDS)))] for _ in range(n_words)]
            phrases.append(Phrase(vnotes, words))
            prev_pitch = notes[-1][2]
            gaps.append((notes[-1][0] + notes[-1][1], p0 * bpb + n_bars * bpb
                         - (notes[-1][0] + notes[-1][1])))
    return phrases, gaps


def _backing(rng, key, sections, chords, bpb, beat_s, melody, lead_range
             ) -> list[tuple[str, list[Phrase]]]:
    """Backing vocal parts (counted as vocals): harmony, ooh-chords, echoes."""
    parts = []
    low, high = lead_range
    if melody and rng.random() < 0.35:
        steps = int(rng.choice([2, -2, 2, 5]))  # diatonic third above/below, or a sixth
        scale = key.scale_pitches(low - 12, high + 12)
        harmony = []
        for ph in melody:
            sec = _section_at(sections, ph.start_s / (bpb * beat_s))
            if sec.name != "chorus" and rng.random() < 0.6:
                continue
            notes = []
            for n in ph.notes:
                i = int(np.argmin(np.abs(scale - n.pitch)))
                j = int(np.clip(i + steps, 0, len(scale) - 1))
                notes.append(VocalNote(n.start_s, n.end_s, float(scale[j]), n.velocity * 0.8,
                                       n.onset, n.vowel, n.coda, n.new_syllable))
            harmony.append(Phrase(notes, ph.words))
        if harmony:
            parts.append(("harmony", harmony))
    if rng.random() < 0.3:
        # Sustained chord tones, one monophonic line per voice of the voicing.
        lines: list[list[Phrase]] = [[], [], []]
        vlow = max(low - 5, 45)
        vowel = str(rng.choice(["oo", "a", "o", "u"]))
        for ch in chords:
            sec = _section_at(sections, ch.start_beat / bpb)
            if sec.name not in ("chorus", "outro"):
                continue
            for line, pitch in zip(lines, ch.voicing(vlow, 3)):
                note = VocalNote(ch.start_beat * beat_s + 0.02, (ch.end_beat - 0.15) * beat_s,
                                 float(pitch), 0.5, "", vowel)
                line.append(Phrase([note]))
        for line in lines:
            if line:
                parts.append(("ooh", line))
    if melody and rng.random() < 0.2:
        echoes = []
        for ph in melody:
            tail = ph.notes[-min(3, len(ph.notes)):]
            shift = 1.0 * bpb * beat_s / 2
            notes = [VocalNote(n.start_s + shift, n.end_s + shift, n.pitch + 12 * (rng.random() < 0.3),
                               n.velocity * 0.7, n.onset, n.vowel, n.coda, n.new_syllable)
                     for n in tail]
            echoes.append(Phrase(notes))
        parts.append(("echo", echoes))
    return parts


# ---------------------------------------------------------------------------------------


def compose(rng: np.random.Generator, seconds: float, lead_range: tuple[int, int],
            style: str | None = None, instrumental: bool = False) -> Composition:
    """A song of about ``seconds`` (whole bars) for a singer with MIDI range ``lead_range``."""
    style = style or STYLES[int(rng.integers(len(STYLES)))]
    if style not in STYLE_SPECS:
        raise ValueError(f"unknown style {style!r}; choose one of {STYLES}")
    spec = STYLE_SPECS[style]
    pick = lambda options: int(options[int(rng.integers(len(options)))])  # noqa: E731
    tempo = float(rng.uniform(*spec["tempo"]))
    bpb = 3 if (style in ("ballad", "country") and rng.random() < 0.15) else 4
    key = Key(int(rng.integers(12)), str(spec["modes"][int(rng.integers(len(spec["modes"])))]))
    swing = float(rng.uniform(*spec["swing"]))
    bar_s = bpb * 60.0 / tempo
    n_bars = max(4, int(round(seconds / bar_s)))
    sections = _form(rng, n_bars, instrumental)
    chords = _chords(rng, key, sections, bpb, style)
    timing = _Timing(rng, tempo, swing, jitter_s=0.006 if style != "electronic" else 0.0)
    melody, gaps = _melody(rng, key, sections, chords, bpb, tempo, lead_range, style)
    parts = [Part("drums", _drum_part(rng, style, sections, bpb, timing, pick(spec["kits"])),
                  0.0, 0.0),
             Part("bass", _bass_part(rng, style, sections, chords, bpb, timing, pick(spec["bass"])),
                  float(rng.normal(0, 0.05)), -1.0)]
    comp_pan = float(rng.choice([-1, 1]) * rng.uniform(0.2, 0.6))
    parts.append(Part("comp", _comp_part(rng, style, sections, chords, bpb, timing,
                                         pick(spec["comp"]), "comp"), comp_pan, -3.0))
    if rng.random() < 0.5:
        parts.append(Part("keys", _comp_part(rng, style, sections, chords, bpb, timing,
                                             pick(spec["keys"]), "keys"),
                          -comp_pan * rng.uniform(0.5, 1.0), -6.0))
    if rng.random() < 0.5:
        parts.append(Part("pad", _pad_part(rng, sections, chords, bpb, timing, pick(spec["pad"])),
                          0.0, -9.0))
    if rng.random() < 0.45:
        parts.append(Part("arp", _arp_part(rng, sections, chords, bpb, timing, pick(spec["arp"])),
                          float(rng.uniform(-0.7, 0.7)), -9.0))
    if rng.random() < 0.8:
        parts.append(Part("lead", _lead_part(rng, key, sections, chords, bpb, timing,
                                             pick(spec["lead"]), gaps),
                          float(rng.uniform(-0.4, 0.4)), -3.0))
    backing = _backing(rng, key, sections, chords, bpb, 60.0 / tempo, melody, lead_range) \
        if melody else []
    return Composition(style, key, tempo, bpb, swing, sections, chords, parts, lead_range,
                       melody, backing, n_bars * bar_s)
