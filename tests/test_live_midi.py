"""MIDI control: the default map, soft takeover, learn, garbage, map files.

Messages are fed to the controller as python-rtmidi delivers them, and act on
the real Parameters of a live bridge's block processor (the JACK test sends them
through a real MIDI port).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from rtsep import _core
from rtsep.engine import NativeIdentityRunner, Separator
from rtsep.errors import UserError
from rtsep.live.midi import (MidiController, MidiMap, cc_to_gain, gain_to_cc)


def make_bridge(mode="mix", margin=272):
    separator = Separator(NativeIdentityRunner(), max_block_samples=1024)
    return _core.LiveBridge(separator.block, 2, 2, [0, 1], [0, 1], mode, margin)


def make_params():
    return make_bridge().parameters


def gain(db: float) -> float:
    """A Parameters gain in dB as the linear gain the processor applies."""
    return 0.0 if db <= _core.Parameters.min_gain_db else 10.0 ** (db / 20.0)


def test_cc_gain_law():
    assert cc_to_gain(0) == 0.0
    assert cc_to_gain(1) == pytest.approx(10 ** (-60 / 20))
    assert cc_to_gain(127) == pytest.approx(10 ** (6 / 20))
    for value in range(1, 128):
        assert gain_to_cc(cc_to_gain(value)) == pytest.approx(value)
    assert 115 < gain_to_cc(1.0) < 116


def test_cc7_picks_up_before_moving_the_vocal_level():
    p = make_params()
    ctl = MidiController(p)
    assert not ctl.handle([0xB0, 7, 20])  # knob far below 0 dB: no jump
    assert gain(p.vocals_gain_db) == 1.0 and ctl.n_pickup_waits == 1
    assert not ctl.handle([0xB0, 7, 60])
    assert ctl.handle([0xB0, 7, 116])  # crossed unity: picked up
    assert gain(p.vocals_gain_db) == pytest.approx(cc_to_gain(116), rel=1e-6)
    assert ctl.handle([0xB0, 7, 64])
    assert gain(p.vocals_gain_db) == pytest.approx(cc_to_gain(64), rel=1e-6)
    assert gain(p.instrumental_gain_db) == 1.0


def test_pickup_within_tolerance_and_again_after_an_outside_change():
    p = make_params()
    ctl = MidiController(p)
    assert ctl.handle([0xB1, 11, 114])  # 1.5 values from unity: within tolerance, any channel
    assert gain(p.instrumental_gain_db) == pytest.approx(cc_to_gain(114), rel=1e-6)
    ctl.set_level("instrumental_level", 0.01)  # e.g. the command line
    assert not ctl.handle([0xB0, 11, 100])
    assert gain(p.instrumental_gain_db) == pytest.approx(0.01)
    p.instrumental_gain_db = -6.0  # changed behind the controller's back
    position = gain_to_cc(gain(-6.0))
    assert ctl.handle([0xB0, 11, round(position)])
    assert gain(p.instrumental_gain_db) == pytest.approx(cc_to_gain(round(position)), rel=1e-6)


def test_notes_toggle_mute_solo_and_bypass():
    p = make_params()
    ctl = MidiController(p)
    assert ctl.handle([0x90, 60, 100]) and p.vocals_muted
    assert not ctl.handle([0x80, 60, 0]) and p.vocals_muted  # note-off: nothing
    assert not ctl.handle([0x90, 60, 0]) and p.vocals_muted  # velocity 0 = note-off
    assert ctl.handle([0x90, 60, 1]) and not p.vocals_muted
    p.instrumental_muted = False
    assert ctl.handle([0x90, 62, 90])
    assert p.instrumental_muted and not p.vocals_muted
    assert ctl.handle([0x90, 62, 90])
    assert not p.instrumental_muted
    assert ctl.handle([0x90, 64, 90]) and p.bypass
    assert ctl.handle([0x90, 64, 90]) and not p.bypass
    assert ctl.stats()["n_applied"] == 6 and ctl.stats()["n_unmapped"] == 2


@pytest.mark.parametrize("message", [
    [], [0x07], [0xB0, 7], [0xB0, 7, 200], [0xB0, 7, 1, 2], [0x90, 60],
    [0xF0, 0x7D, 0x01, 0xF7], [0xF7], [0xB0, 300, 1], [-1, 7, 1], ["x", 7, 1], None,
])
def test_garbage_is_ignored_and_counted(message):
    p = make_params()
    ctl = MidiController(p)
    assert ctl.handle(message) is False
    assert ctl.n_ignored == 1 and ctl.n_applied == 0
    assert gain(p.vocals_gain_db) == 1.0 and not p.vocals_muted and not p.bypass


def test_rtmidi_callback_never_raises():
    ctl = MidiController(make_params())
    ctl.on_rtmidi(None)  # not even a (message, delta) pair
    ctl.on_rtmidi(([0xB0, 7, 999], 0.0))
    assert ctl.n_ignored == 2


def test_unmapped_and_other_channel_messages_are_counted_apart():
    p = make_params()
    ctl = MidiController(p, MidiMap(cc={7: "vocals_level"}, channel=0))
    assert not ctl.handle([0xC0, 5])  # program change
    assert not ctl.handle([0xB0, 1, 64])  # unmapped CC
    assert not ctl.handle([0xB3, 7, 116])  # mapped CC on another channel
    assert not ctl.handle([0xF8])  # clock
    assert ctl.n_unmapped == 4 and ctl.n_ignored == 0
    assert gain(p.vocals_gain_db) == 1.0


def test_learn_assigns_the_next_ccs_in_order():
    p = make_params()
    ctl = MidiController(p, learn=True)
    assert ctl.learning
    assert ctl.handle([0xB2, 21, 0])  # learns; does not move the level
    assert gain(p.vocals_gain_db) == 1.0
    assert not ctl.handle([0xB2, 21, 5])  # the same knob still moving
    assert ctl.handle([0xB2, 22, 3])
    assert not ctl.learning
    # The key and strength knobs are kept.
    assert ctl.map.cc == {21: "vocals_level", 22: "instrumental_level", 14: "key", 15: "strength"}
    assert ctl.learned == [(21, "vocals_level"), (22, "instrumental_level")]
    assert ctl.map.notes == MidiMap.default().notes
    # Learned knobs pick up like any other.
    assert not ctl.handle([0xB0, 21, 10])
    assert ctl.handle([0xB0, 21, 115]) and ctl.handle([0xB0, 21, 1])
    assert gain(p.vocals_gain_db) == pytest.approx(10 ** (-3), rel=1e-5)
    assert any("CC 21" in e for e in ctl.events)


def test_map_round_trip_and_bad_files(tmp_path):
    path = tmp_path / "map.json"
    m = MidiMap(cc={21: "vocals_level", 7: "instrumental_level"}, notes={36: "bypass"}, channel=9)
    m.save(path)
    data = json.loads(path.read_text())
    assert data == {"version": 1, "channel": 10, "cc": {"7": "instrumental_level", "21": "vocals_level"},
                    "notes": {"36": "bypass"}}
    assert MidiMap.load(path) == m
    # A map file of an older rtsep ("vocal_*" names) still loads, under today's names.
    path.write_text('{"version": 1, "cc": {"7": "vocal_level"}, "notes": {"60": "vocal_mute", "62": "vocal_solo"}}')
    old = MidiMap.load(path)
    assert old.cc == {7: "vocals_level"} and old.notes == {60: "vocals_mute", 62: "vocals_solo"}
    cases = {
        "{": "cannot read the MIDI map",
        '{"cc": {"7": "volume"}}': "unknown target 'volume'",
        '{"cc": {"300": "vocals_level"}}': "out of range",
        '{"channel": 17}': "channel must be null or 1..16",
        '{"version": 2}': "unsupported version",
        '[1]': "expected a JSON object",
    }
    for text, message in cases.items():
        path.write_text(text)
        with pytest.raises(UserError, match=message):
            MidiMap.load(path)
    with pytest.raises(UserError, match="no such MIDI map"):
        MidiMap.load(tmp_path / "missing.json")


def test_gain_change_from_midi_is_smoothed_on_the_audio_side():
    # The identity model (vocals = input) on a worker played from this thread.
    bridge = make_bridge(mode="vocals", margin=200)
    ctl = MidiController(bridge.parameters)
    x = np.full((128, 2), 0.5, np.float32)
    out = np.zeros((128, 2), np.float32)
    buf, a, b = (np.zeros((2, 128), np.float32) for _ in range(3))
    levels = []
    for k in range(40):
        if k == 10:
            ctl.handle([0xB0, 7, 115])
            ctl.handle([0xB0, 7, 0])  # straight to silence
        bridge.process(x, out)
        n = bridge.pop_input(buf)
        bridge.processor.process(buf[:, :n], a[:, :n], b[:, :n])
        bridge.push_output(a[:, :n], b[:, :n])
        levels.append(out[:, 0].copy())
    y = np.concatenate(levels)
    assert bridge.stats()["n_missed_blocks"] == 0
    # Gains act on the processor's output: a change reaches the device a margin later.
    change = 10 * 128 + bridge.margin_samples
    assert y[change - 1] == pytest.approx(0.5, abs=1e-5) and y[-1] == 0.0
    assert np.abs(np.diff(y[change - 200:])).max() <= 0.5 / 960 * 1.01  # 20 ms ramp, never a jump


def test_key_notes_and_knob_move_both_keys_from_the_command_line_keys():
    from rtsep.live.midi import cc_to_key, key_to_cc

    assert cc_to_key(64) == 0 and cc_to_key(0) == -12 and cc_to_key(127) == 12
    for move in range(-12, 13):
        assert cc_to_key(round(key_to_cc(move))) == move
    keys = make_params()
    keys.key_semitones, keys.vocals_key_semitones = 2.0, 0.0  # as --key-semitones 2 gives
    ctl = MidiController(keys)
    assert ctl.handle([0x90, 67, 100]) and ctl.handle([0x90, 67, 100])  # key up twice
    assert (keys.key_semitones, keys.vocals_key_semitones) == (4.0, 2.0)
    assert ctl.handle([0x90, 65, 90])  # key down
    assert (keys.key_semitones, keys.vocals_key_semitones) == (3.0, 1.0)
    assert not ctl.handle([0x90, 65, 0])  # note-on velocity 0 is a note-off
    assert keys.key_semitones == 3.0
    # The knob sits at -12 while the key move is +1: no jump until it comes near.
    assert not ctl.handle([0xB0, 14, 0])
    assert keys.key_semitones == 3.0 and ctl.n_pickup_waits == 1
    assert ctl.handle([0xB0, 14, 70])  # crossed +1's position (69.25): picked up
    assert ctl.key_move == cc_to_key(70) == 1
    assert ctl.handle([0xB0, 14, 127])  # +12: the instrumental's 2 + 12 is held at +12
    assert (keys.key_semitones, keys.vocals_key_semitones) == (12.0, 12.0)
    assert ctl.handle([0x90, 69, 100])  # reset: back to the command line's keys
    assert (keys.key_semitones, keys.vocals_key_semitones) == (2.0, 0.0)
    assert any("key +0 semitones (key reset)" in e for e in ctl.events)
    for _ in range(30):
        ctl.handle([0x90, 65, 100])
    assert ctl.key_move == -12 and keys.key_semitones == -10.0 and keys.vocals_key_semitones == -12.0
    assert ctl.stats()["key_move_semitones"] == -12


def test_strength_knob_picks_up_and_spans_the_core_range():
    from rtsep.live.midi import cc_to_strength, strength_to_cc

    p = make_params()
    assert cc_to_strength(64) == 1.0 and cc_to_strength(127) == 4.0
    assert cc_to_strength(1) == cc_to_strength(0) == 0.25 == p.min_strength
    for value in range(1, 128):
        assert round(strength_to_cc(cc_to_strength(value))) == value
    p.strength = 2.0  # as --strength 2 gives: the knob has to come near 95.5 first
    ctl = MidiController(p)
    assert not ctl.handle([0xB0, 15, 10])
    assert p.strength == 2.0 and ctl.n_pickup_waits == 1
    assert ctl.handle([0xB0, 15, 100])  # crossed: picked up
    assert p.strength == pytest.approx(cc_to_strength(100), rel=1e-6)
    assert ctl.handle([0xB0, 15, 64]) and p.strength == 1.0
    p.strength = 3.0  # set elsewhere: pick up again
    assert not ctl.handle([0xB0, 15, 60]) and p.strength == 3.0
    assert ctl.stats()["strength"] == 3.0
