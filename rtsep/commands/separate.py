"""Separate audio files into vocals and instrumental with the streaming engine.

Writes ``OUTDIR/<name>/vocals.wav`` and ``OUTDIR/<name>/instrumental.wav``
(32-bit float WAV, the input's sample rate and channel count, time-aligned
with the input: the engine's latency is removed). Files run through the same
block-by-block engine as live monitoring. Any format and rate soundfile reads:
44.1 and 48 kHz run natively, other rates are resampled (soxr) to the nearer
model rate and back. Mono files are separated as centred stereo and written
mono; files with more than two channels are separated in channel pairs.
``--key-semitones`` / ``--vocals-key-semitones`` transpose the outputs (the written
files stay time-aligned: a key change adds no latency); ``--strength`` trades how much
voice is left in the instrumental against how much of the instrumental goes with it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from rtsep.commands.keys import add_key_arguments, add_strength_argument
from rtsep.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="audio files to separate")
    parser.add_argument("-o", "--outdir", default="separated", help="output folder (default: separated)")
    parser.add_argument("--model", help="model file (default: the shipped models/rtsep-default.onnx; "
                                        "'identity' for the test processor)")
    parser.add_argument("--backend", default="auto", help="runtime backend (default: auto)")
    parser.add_argument("--latency", choices=("default", "low"), default="default", help="latency mode")
    parser.add_argument("--block-size", type=int, default=4096, help="engine block size in samples")
    add_key_arguments(parser)
    add_strength_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def read_audio_file(path: Path) -> tuple[np.ndarray, int]:
    """``(n_channels, n_samples)`` float32 and the rate; one-line errors for bad files."""
    import soundfile as sf

    if not path.exists():
        raise UserError(f"{path}: no such file")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for corrupt/unknown files
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{path}: cannot read audio ({msg})") from None
    if data.shape[0] == 0:
        raise UserError(f"{path}: the file holds no samples")
    _refuse_truncated(path, data.shape[0], int(rate))
    return np.ascontiguousarray(data.T), int(rate)


#: libsndfile's header log reports a data chunk longer than the file as "data : N (should be M)".
_SHORT_CHUNK = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


def _refuse_truncated(path: Path, n_frames_read: int, rate_hz: int) -> None:
    """A file cut short (its header promises more audio than it holds) is an error, not a
    shorter song: libsndfile reads what is there and notes the mismatch in its log."""
    import soundfile as sf

    info = sf.info(str(path))
    found = _SHORT_CHUNK.search(info.extra_info or "")
    if found is None:
        return
    promised_bytes, present_bytes = int(found.group(1)), int(found.group(2))
    if promised_bytes <= present_bytes:
        return
    promised_s = n_frames_read / rate_hz * promised_bytes / max(present_bytes, 1)
    raise UserError(f"{path}: the file is truncated: its header promises {promised_s:.2f} s of audio, "
                    f"only {n_frames_read / rate_hz:.3f} s ({n_frames_read} frames) are present")


def run(args: argparse.Namespace) -> int:
    import soundfile as sf

    from rtsep.engine import Separator, nearest_model_rate, separate_array

    separators: dict = {}

    def get(rate_hz: int) -> Separator:
        if rate_hz not in separators:
            sep = Separator.from_model(args.model, backend=args.backend,
                                       latency_mode=args.latency, sample_rate_hz=rate_hz)
            sep.block.parameters.key_semitones = args.key_semitones
            sep.block.parameters.vocals_key_semitones = args.vocals_key_semitones
            sep.block.parameters.strength = args.strength
            sep.reset()  # a stream starts in its key (no fade in)
            separators[rate_hz] = sep
        return separators[rate_hz]

    outdir = Path(args.outdir)
    for name in args.files:
        path = Path(name)
        audio, rate = read_audio_file(path)
        n_bad = int(np.count_nonzero(~np.isfinite(audio)))
        if n_bad:
            print(f"{path}: {n_bad} NaN/Inf samples replaced by 0", file=sys.stderr)
            audio = np.nan_to_num(audio, nan=0.0, posinf=0.0, neginf=0.0)
        get(nearest_model_rate(rate))
        if not args.quiet:
            print(f"{path} ({audio.shape[0]} ch, {rate} Hz, {audio.shape[1] / rate:.1f} s)", file=sys.stderr)
        vocals, instrumental = separate_array(audio, rate, separators, block_samples=args.block_size,
                                               progress=not args.quiet)
        dest = outdir / path.stem
        dest.mkdir(parents=True, exist_ok=True)
        sf.write(dest / "vocals.wav", vocals.T, rate, subtype="FLOAT")
        sf.write(dest / "instrumental.wav", instrumental.T, rate, subtype="FLOAT")
        print(dest)
    return 0
