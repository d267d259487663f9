"""The key-change options that ``rtsep separate`` and ``rtsep monitor`` share."""

from __future__ import annotations

import argparse
import math

from rtsep.config import MAX_KEY_SEMITONES


def semitones(text: str) -> float:
    """argparse type: a number of semitones within +-MAX_KEY_SEMITONES (fractions are cents)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of semitones") from None
    if not math.isfinite(value) or abs(value) > MAX_KEY_SEMITONES:
        raise argparse.ArgumentTypeError(f"{text} is outside -{MAX_KEY_SEMITONES:g}..+{MAX_KEY_SEMITONES:g} semitones")
    return value


def add_key_arguments(group) -> None:
    """--key-semitones and --vocals-key-semitones on a parser or argument group."""
    group.add_argument("--key-semitones", type=semitones, default=0.0, metavar="N",
                       help="transpose the instrumental by N semitones (-12..12, fractions are "
                            "cents; default 0: off), at no extra latency")
    group.add_argument("--vocals-key-semitones", type=semitones, default=0.0, metavar="N",
                       help="transpose the vocals by N semitones, keeping their formants "
                            "(default 0: off)")
