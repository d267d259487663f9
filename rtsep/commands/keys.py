"""The output options that ``rtsep separate`` and ``rtsep monitor`` share: the key
changes and the separation strength (``rtsep eval`` takes the strength too)."""

from __future__ import annotations

import argparse

from rtsep.config import MAX_STRENGTH, MIN_STRENGTH, check_key_semitones, check_strength


def semitones(text: str) -> float:
    """argparse type: a number of semitones within +-MAX_KEY_SEMITONES (fractions are cents)."""
    try:
        return check_key_semitones(text)  # argparse names the option itself
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_key_arguments(group) -> None:
    """--key-semitones and --vocals-key-semitones on a parser or argument group."""
    group.add_argument("--key-semitones", type=semitones, default=0.0, metavar="N",
                       help="transpose the instrumental by N semitones (-12..12, fractions are "
                            "cents; default 0: off), at no extra latency")
    group.add_argument("--vocals-key-semitones", type=semitones, default=0.0, metavar="N",
                       help="transpose the vocals by N semitones, keeping their formants "
                            "(default 0: off)")


def strength(text: str) -> float:
    """argparse type: a separation strength within MIN_STRENGTH..MAX_STRENGTH."""
    try:
        return check_strength(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def strengths(text: str) -> tuple[float, ...]:
    """argparse type: a comma list of separation strengths (at least one)."""
    values = tuple(strength(part) for part in text.split(",") if part.strip())
    if not values:
        raise argparse.ArgumentTypeError("expected at least one strength")
    return values


def add_strength_argument(group) -> None:
    """--strength on a parser or argument group."""
    group.add_argument("--strength", type=strength, default=1.0, metavar="S",
                       help=f"separation strength, {MIN_STRENGTH:g}..{MAX_STRENGTH:g} (default 1: the "
                            "model's mask as it is): every mask value m becomes m^(1/S), so above 1 "
                            "less of the voice is left in the instrumental and more of the "
                            "instrumental goes into the vocals where the model is unsure; below 1 "
                            "the reverse. The outputs still sum to the input")
