"""MIDI control of live monitoring (python-rtmidi).

Default map (MIDI channel: any):

* CC 7 (channel volume) -> vocal level; CC 11 (expression) -> instrumental level.
  Value 0 is silence; 1..127 map linearly in dB from -60 dB to +6 dB (0 dB is
  value 115.5, so 115 or 116 is about unity).
* note 60 (middle C) toggles the vocal mute; note 62 toggles "solo vocals" (the
  instrumental muted, the vocals unmuted; toggling it off restores the
  instrumental's mute); note 64 toggles bypass (the dry input, delayed by the
  same latency). Only note-ons with velocity > 0 act.
* Key (the song's transposition, karaoke style): note 65 one semitone down, note 67
  one semitone up, note 69 back to the key the command line gave; CC 14 as a knob,
  0..127 over -12..+12 semitones in whole steps (64 is no change). A MIDI key move
  shifts the instrumental and the vocals together (each from its command-line key,
  ``--key-semitones`` / ``--vocals-key-semitones``), limited to +-12 semitones.
* CC 15 -> separation strength (how much of what the model is unsure of goes to
  the vocals; see ``rtsep monitor --strength``): 0..127 on a log scale over
  0.25..4, 64 is 1 (the model's mask as it is).

Levels, the key and the strength knobs use soft takeover (pickup): a knob moves its
parameter only once it has come within ``pickup_tolerance`` values of the
parameter's current position, or crossed it. It picks up again after anything
else (the command line, MIDI learn) changed the parameter, so a knob that sits
elsewhere never makes the level jump.

MIDI learn (``--midi-learn``): the next CC moved becomes the vocal level, then
the next *different* CC the instrumental level (the targets in
:data:`LEARN_TARGETS`, in that order). The learned map replaces those targets'
old CCs and is saved to ``--midi-map FILE`` when given.

Map files are JSON: ``{"version": 1, "channel": null | 1..16,
"cc": {"7": "vocals_level", ...}, "notes": {"60": "vocals_mute", ...}}``.

Nothing here touches the audio thread: a message only sets atomic targets on
the block processor's :class:`rtsep._core.Parameters` (gains, mutes, bypass and
keys, ramped on the audio side; the strength from the next STFT hop). Malformed
messages (empty, truncated or too long, data bytes >= 128, status bytes out of
range, sysex) are ignored and counted in ``n_ignored``; valid messages the map
does not use are counted in ``n_unmapped``.
"""

from __future__ import annotations

import collections
import json
import math
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from rtsep.errors import UserError

LEVEL_TARGETS = ("vocals_level", "instrumental_level")
KEY_TARGET = "key"
STRENGTH_TARGET = "strength"
CC_TARGETS = LEVEL_TARGETS + (KEY_TARGET, STRENGTH_TARGET)
NOTE_ACTIONS = ("vocals_mute", "vocals_solo", "bypass", "key_down", "key_up", "key_reset")
LEARN_TARGETS = ("vocals_level", "instrumental_level")
#: Names map files written before rtsep spoke of "vocals" everywhere still use; read as these.
OLD_NAMES = {"vocal_level": "vocals_level", "vocal_mute": "vocals_mute", "vocal_solo": "vocals_solo"}
MIN_DB = -60.0
MAX_DB = 6.0
MAX_KEY_MOVE = 12  # semitones either way (the core's limit)
MAX_STRENGTH_OCTAVES = 2.0  # the strength knob spans 2^-2..2^2 (the core's range)
MAP_VERSION = 1

# Data bytes of each channel message kind (status & 0xF0).
_N_DATA_BYTES = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}


def cc_to_gain(value: int) -> float:
    """CC value 0..127 -> linear gain: 0 -> 0, 1..127 -> -60..+6 dB."""
    if value <= 0:
        return 0.0
    db = MIN_DB + (min(value, 127) - 1) * (MAX_DB - MIN_DB) / 126.0
    return 10.0 ** (db / 20.0)


def cc_to_key(value: int) -> int:
    """CC value 0..127 -> a key move in whole semitones, -12..+12 (64 -> 0)."""
    return max(-MAX_KEY_MOVE, min(MAX_KEY_MOVE, round((min(max(value, 0), 127) - 64) * MAX_KEY_MOVE / 63.0)))


def key_to_cc(semitones: float) -> float:
    """Inverse of :func:`cc_to_key` as a real number in [0, 127]."""
    return min(127.0, max(0.0, 64.0 + semitones * 63.0 / MAX_KEY_MOVE))


def cc_to_strength(value: int) -> float:
    """CC value 0..127 -> separation strength, 2^-2..2^2 on a log scale (64 -> 1; 0 and
    1 both give the minimum)."""
    octaves = (min(max(value, 1), 127) - 64) * MAX_STRENGTH_OCTAVES / 63.0
    return 2.0 ** octaves


def strength_to_cc(strength: float) -> float:
    """Inverse of :func:`cc_to_strength` as a real number in [1, 127]."""
    return min(127.0, max(1.0, 64.0 + math.log2(strength) * 63.0 / MAX_STRENGTH_OCTAVES))


def gain_to_cc(gain: float) -> float:
    """Inverse of :func:`cc_to_gain` as a real number in [0, 127]."""
    if gain <= 0.0:
        return 0.0
    db = 20.0 * math.log10(gain)
    return min(127.0, max(0.0, 1.0 + (db - MIN_DB) * 126.0 / (MAX_DB - MIN_DB)))


@dataclass
class MidiMap:
    """Which CC drives which level and which note toggles what.

    ``cc``: ``{cc_number: target}`` with targets in :data:`CC_TARGETS`;
    ``notes``: ``{note_number: action}`` with actions in :data:`NOTE_ACTIONS`;
    ``channel``: 0-based MIDI channel to listen to, or None for any.
    """

    cc: dict[int, str] = field(default_factory=dict)
    notes: dict[int, str] = field(default_factory=dict)
    channel: int | None = None

    @classmethod
    def default(cls) -> "MidiMap":
        return cls(cc={7: "vocals_level", 11: "instrumental_level", 14: KEY_TARGET, 15: STRENGTH_TARGET},
                   notes={60: "vocals_mute", 62: "vocals_solo", 64: "bypass",
                          65: "key_down", 67: "key_up", 69: "key_reset"})

    def to_dict(self) -> dict:
        return {"version": MAP_VERSION,
                "channel": None if self.channel is None else self.channel + 1,
                "cc": {str(k): v for k, v in sorted(self.cc.items())},
                "notes": {str(k): v for k, v in sorted(self.notes.items())}}

    @classmethod
    def from_dict(cls, data: dict, source: str = "MIDI map") -> "MidiMap":
        def bad(what: str) -> UserError:
            return UserError(f"{source}: {what}")

        if not isinstance(data, dict):
            raise bad("expected a JSON object")
        if data.get("version", MAP_VERSION) != MAP_VERSION:
            raise bad(f"unsupported version {data.get('version')!r} (expected {MAP_VERSION})")
        channel = data.get("channel")
        if channel is not None and (not isinstance(channel, int) or not 1 <= channel <= 16):
            raise bad(f"channel must be null or 1..16, got {channel!r}")

        def numbered(key: str, allowed: tuple[str, ...]) -> dict[int, str]:
            table = data.get(key, {})
            if not isinstance(table, dict):
                raise bad(f"{key!r} must be an object")
            out = {}
            for number, name in table.items():
                try:
                    n = int(number)
                except (TypeError, ValueError):
                    raise bad(f"{key} key {number!r} is not a number") from None
                if not 0 <= n <= 127:
                    raise bad(f"{key} number {n} is out of range 0..127")
                name = OLD_NAMES.get(name, name)
                if name not in allowed:
                    raise bad(f"{key} {n}: unknown target {name!r} (choose {', '.join(allowed)})")
                out[n] = name
            return out

        return cls(cc=numbered("cc", CC_TARGETS), notes=numbered("notes", NOTE_ACTIONS),
                   channel=None if channel is None else channel - 1)

    @classmethod
    def load(cls, path: str | Path) -> "MidiMap":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise UserError(f"{path}: no such MIDI map file (create one with --midi-learn)") from None
        except (OSError, ValueError) as exc:
            raise UserError(f"{path}: cannot read the MIDI map ({str(exc).splitlines()[0]})") from None
        return cls.from_dict(data, str(path))

    def save(self, path: str | Path) -> None:
        path = Path(path)
        try:
            path.write_text(json.dumps(self.to_dict(), indent=1) + "\n")
        except OSError as exc:
            raise UserError(f"{path}: cannot write the MIDI map ({exc.strerror})") from None


@dataclass
class _Knob:
    """Soft takeover (pickup) state of one absolute knob."""

    picked: bool = False
    last_cc: int | None = None
    last_set: float | None = None  # the parameter's value as the knob last stored it

    def moved_elsewhere(self, current: float) -> None:
        """Drop the pickup if the parameter is no longer what the knob last set."""
        if self.last_set is not None and current != self.last_set:
            self.picked = False

    def takes(self, value: int, position: float, tolerance: float) -> bool:
        """Whether the knob, now at ``value``, moves its parameter, which sits at
        ``position`` on the CC scale: once it has come within ``tolerance`` of it or
        crossed it since it last moved, and from then on until :meth:`drop`."""
        if not self.picked:
            last = self.last_cc
            crossed = last is not None and (last - position) * (value - position) <= 0
            self.picked = abs(value - position) <= tolerance or crossed
        self.last_cc = value
        return self.picked

    def drop(self, forget_position: bool = False) -> None:
        """The parameter changed elsewhere: the knob has to pick it up again."""
        self.picked = False
        if forget_position:
            self.last_cc = None


class MidiController:
    """Turns MIDI messages into control changes on ``params``.

    ``params``: the live block processor's :class:`rtsep._core.Parameters` (float
    ``vocals_gain_db``, ``instrumental_gain_db``, ``key_semitones``,
    ``vocals_key_semitones``, ``strength``; bool ``vocals_muted``, ``instrumental_muted``,
    ``bypass``). Its keys when the controller is made are the keys a MIDI move
    starts from and ``key_reset`` returns to.
    :meth:`handle` runs on the MIDI thread and never blocks on audio; the
    counters and :attr:`events` (log lines for the main thread) may be read from
    any thread.
    """

    def __init__(self, params, midi_map: MidiMap | None = None, *, learn: bool = False,
                 pickup_tolerance: float = 2.0) -> None:
        self.params = params
        self._base_keys = (float(params.key_semitones), float(params.vocals_key_semitones))
        self.key_move = 0  # semitones MIDI has moved the song's key by
        self._knobs = {t: _Knob() for t in CC_TARGETS}
        self.map = midi_map if midi_map is not None else MidiMap.default()
        self.pickup_tolerance = float(pickup_tolerance)
        self.n_messages = 0
        self.n_applied = 0
        self.n_ignored = 0
        self.n_unmapped = 0
        self.n_pickup_waits = 0
        self.events: collections.deque[str] = collections.deque(maxlen=256)
        self._learn_queue = list(LEARN_TARGETS) if learn else []
        self.learned: list[tuple[int, str]] = []
        self._solo_saved_instrumental_muted: bool | None = None
        self._lock = threading.Lock()  # MIDI thread vs. set_level from the main thread

    # -- state ---------------------------------------------------------------------

    @property
    def learning(self) -> bool:
        return bool(self._learn_queue)

    def stats(self) -> dict:
        return {"n_messages": self.n_messages, "n_applied": self.n_applied,
                "n_ignored": self.n_ignored, "n_unmapped": self.n_unmapped,
                "n_pickup_waits": self.n_pickup_waits,
                "learned": {str(cc): target for cc, target in self.learned},
                "learning": self.learning, "key_move_semitones": self.key_move,
                "strength": float(self.params.strength)}

    def _gain(self, target: str) -> float:
        """The target's linear gain (0 at or below the parameters' silence floor)."""
        db = float(self.params.vocals_gain_db if target == "vocals_level"
                   else self.params.instrumental_gain_db)
        return 0.0 if db <= self.params.min_gain_db else 10.0 ** (db / 20.0)

    def _set_gain(self, target: str, gain: float) -> None:
        db = 20.0 * math.log10(gain) if gain > 0.0 else -math.inf
        if target == "vocals_level":
            self.params.vocals_gain_db = db
        else:
            self.params.instrumental_gain_db = db
        self._knobs[target].last_set = self._gain(target)  # as stored (float32)

    def set_level(self, target: str, gain: float) -> None:
        """Set a level from outside MIDI; the knob has to pick it up again."""
        with self._lock:
            self._set_gain(target, gain)
            self._knobs[target].drop()

    # -- messages ------------------------------------------------------------------

    def on_rtmidi(self, event, data=None) -> None:
        """python-rtmidi callback: ``event = (message, delta_time_s)``."""
        try:
            self.handle(event[0])
        except Exception as exc:  # never let a bad message kill the MIDI thread
            self.n_ignored += 1
            self.events.append(f"MIDI message {event!r} ignored ({type(exc).__name__}: {exc})")

    def handle(self, message) -> bool:
        """Apply one raw MIDI message (a sequence of byte values). True if it acted."""
        self.n_messages += 1
        kind = self._classify(message)
        if kind is None:
            self.n_ignored += 1
            return False
        status = message[0]
        if kind == "system" or (self.map.channel is not None and (status & 0x0F) != self.map.channel):
            self.n_unmapped += 1
            return False
        with self._lock:
            if kind == 0xB0:
                acted = self._control_change(int(message[1]), int(message[2]), status & 0x0F)
            elif kind == 0x90 and message[2] > 0:
                acted = self._note_on(int(message[1]))
            else:
                acted = False
        if acted:
            self.n_applied += 1
        else:
            self.n_unmapped += 1
        return acted

    @staticmethod
    def _classify(message):
        """0xB0-style kind for a well-formed channel message, 'system', or None (garbage)."""
        try:
            values = [int(b) for b in message]
        except (TypeError, ValueError):
            return None
        if not values or any(b < 0 or b > 0xFF for b in values):
            return None
        status = values[0]
        if status < 0x80:
            return None  # data byte without a status (or a running-status fragment)
        if status >= 0xF0:
            if status in (0xF0, 0xF7):
                return None  # sysex is not used for control
            return "system" if len(values) <= 3 and all(b < 0x80 for b in values[1:]) else None
        kind = status & 0xF0
        if len(values) != 1 + _N_DATA_BYTES[kind] or any(b >= 0x80 for b in values[1:]):
            return None  # truncated, too long, or a data byte out of range
        return kind

    def _control_change(self, cc: int, value: int, channel: int) -> bool:
        if self._learn_queue:
            return self._learn(cc, channel)
        target = self.map.cc.get(cc)
        if target is None:
            return False
        if target == KEY_TARGET:
            return self._key_knob(value)
        if target == STRENGTH_TARGET:
            return self._strength_knob(value)
        current_gain = self._gain(target)
        self._knobs[target].moved_elsewhere(current_gain)
        if not self._takes(target, value, gain_to_cc(current_gain)):
            return False
        self._set_gain(target, cc_to_gain(value))
        return True

    def _takes(self, target: str, value: int, position: float) -> bool:
        """Soft takeover of ``target``'s knob (see :class:`_Knob`); counts the waits."""
        if self._knobs[target].takes(value, position, self.pickup_tolerance):
            return True
        self.n_pickup_waits += 1
        return False

    def _learn(self, cc: int, channel: int) -> bool:
        if any(cc == learned_cc for learned_cc, _ in self.learned):
            return False  # the knob just learned is still moving
        target = self._learn_queue.pop(0)
        self.map.cc = {k: v for k, v in self.map.cc.items() if v != target and k != cc}
        self.map.cc[cc] = target
        self.learned.append((cc, target))
        self._knobs[target].drop(forget_position=True)
        self.events.append(f"MIDI learn: CC {cc} (channel {channel + 1}) -> {target}")
        if not self._learn_queue:
            self.events.append("MIDI learn: done")
        return True

    def _move_key(self, move: int, why: str) -> bool:
        """Set the song's key move (clamped)."""
        move = max(-MAX_KEY_MOVE, min(MAX_KEY_MOVE, int(move)))
        base_key, base_vocals = self._base_keys
        clamp = lambda v: max(-float(MAX_KEY_MOVE), min(float(MAX_KEY_MOVE), v))  # noqa: E731
        self.params.key_semitones = clamp(base_key + move)
        self.params.vocals_key_semitones = clamp(base_vocals + move)
        if move != self.key_move or why != "knob":
            self.events.append(f"key {move:+d} semitones ({why})")
        self.key_move = move
        return True

    def _key_knob(self, value: int) -> bool:
        if not self._takes(KEY_TARGET, value, key_to_cc(self.key_move)):
            return False
        return self._move_key(cc_to_key(value), "knob")

    def _strength_knob(self, value: int) -> bool:
        current = float(self.params.strength)
        self._knobs[STRENGTH_TARGET].moved_elsewhere(current)
        if not self._takes(STRENGTH_TARGET, value, strength_to_cc(current)):
            return False
        self.params.strength = cc_to_strength(value)
        self._knobs[STRENGTH_TARGET].last_set = float(self.params.strength)  # as stored (float32)
        return True

    def _note_on(self, note: int) -> bool:
        action = self.map.notes.get(note)
        c = self.params
        if action in ("key_down", "key_up", "key_reset"):
            self._knobs[KEY_TARGET].drop()  # the knob has to pick the new key up
            move = {"key_down": self.key_move - 1, "key_up": self.key_move + 1, "key_reset": 0}[action]
            return self._move_key(move, action.replace("_", " "))
        if action == "vocals_mute":
            c.vocals_muted = not c.vocals_muted
            self.events.append(f"vocals {'muted' if c.vocals_muted else 'unmuted'}")
        elif action == "vocals_solo":
            if self._solo_saved_instrumental_muted is None:
                self._solo_saved_instrumental_muted = bool(c.instrumental_muted)
                c.vocals_muted = False
                c.instrumental_muted = True
                self.events.append("solo vocals on")
            else:
                c.instrumental_muted = self._solo_saved_instrumental_muted
                self._solo_saved_instrumental_muted = None
                self.events.append("solo vocals off")
        elif action == "bypass":
            c.bypass = not c.bypass
            self.events.append(f"bypass {'on' if c.bypass else 'off'}")
        else:
            return False
        return True


# ---- ports --------------------------------------------------------------------------


def choose_api(prefer_jack: bool):
    """The rtmidi API to use: JACK MIDI when the audio runs on JACK (and rtmidi
    has it), otherwise the platform's native API (ALSA, CoreMIDI, WinMM)."""
    import rtmidi

    compiled = list(rtmidi.get_compiled_api())
    if prefer_jack and rtmidi.API_UNIX_JACK in compiled:
        return rtmidi.API_UNIX_JACK
    for api in (rtmidi.API_LINUX_ALSA, rtmidi.API_MACOSX_CORE, rtmidi.API_WINDOWS_MM):
        if api in compiled:
            return api
    if rtmidi.API_UNIX_JACK in compiled:
        return rtmidi.API_UNIX_JACK
    raise UserError("python-rtmidi was built without a usable MIDI API")


def api_name(api) -> str:
    import rtmidi

    return rtmidi.get_api_display_name(api)


def list_midi_inputs(api) -> list[str]:
    """Names of the MIDI ports an input can connect to with ``api``."""
    import rtmidi

    try:
        probe = rtmidi.MidiIn(api, "rtsep-probe")
    except rtmidi.SystemError as exc:
        raise UserError(f"MIDI ({api_name(api)}) is not available: {exc}") from None
    try:
        return list(probe.get_ports())
    finally:
        probe.delete()


class MidiInput:
    """An open MIDI input feeding a :class:`MidiController` (callback-based)."""

    def __init__(self, spec: str, controller: MidiController, api, client_name: str = "rtsep-midi"):
        import rtmidi

        try:
            self._midi_in = rtmidi.MidiIn(api, client_name)
        except rtmidi.SystemError as exc:
            raise UserError(f"MIDI ({api_name(api)}) is not available: {exc}") from None
        try:
            ports = list(self._midi_in.get_ports())
            index = _find_port(spec, ports, api)
            self.port_name = ports[index]
            self.api = api
            # sysex arrives so that it can be counted as ignored, not dropped unseen.
            self._midi_in.ignore_types(sysex=False, timing=True, active_sense=True)
            self._midi_in.set_callback(controller.on_rtmidi)
            try:
                self._midi_in.open_port(index, "control")
            except rtmidi.SystemError as exc:
                raise UserError(f"cannot open MIDI port {self.port_name!r}: {exc}") from None
        except BaseException:
            # Close the MIDI client (on JACK, a client that vanishes without closing
            # stalls a synchronous server until it times out).
            self._midi_in.delete()
            self._midi_in = None
            raise

    def close(self) -> None:
        if self._midi_in is not None:
            self._midi_in.cancel_callback()
            self._midi_in.close_port()
            self._midi_in.delete()
            self._midi_in = None


def _find_port(spec: str, ports: list[str], api) -> int:
    hint = f"see `rtsep devices --midi` ({api_name(api)} ports: {', '.join(ports) or 'none'})"
    text = str(spec).strip()
    if text.isdigit():
        index = int(text)
        if index >= len(ports):
            raise UserError(f"no MIDI input port {index}; {hint}")
        return index
    matches = [i for i, name in enumerate(ports) if text.lower() in name.lower()]
    if not matches:
        raise UserError(f"no MIDI input port matches {text!r}; {hint}")
    if len(matches) > 1:
        raise UserError(f"MIDI port {text!r} is ambiguous ({', '.join(ports[i] for i in matches)}); "
                        "pass its index")
    return matches[0]


def print_events(controller: MidiController, stream=sys.stderr) -> None:
    """Print (and drop) the controller's pending event lines."""
    while controller.events:
        print(f"rtsep monitor: {controller.events.popleft()}", file=stream)
