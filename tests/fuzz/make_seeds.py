"""Write the seed corpora of the fuzz targets (tests/fuzz/README.md).

Usage: python3 tests/fuzz/make_seeds.py OUT_DIR [--shipped models/rtsep-default.rtsepw]

OUT_DIR/model/: tiny native models exported from small random CausalUNets (a few KB
each, so that each execution is fast), the regression inputs of the fuzz findings
(CRC-valid files whose time_kernel or channel count is 16,777,219), and truncations
of the shipped model with their CRC recomputed (the parser then fails at a tensor
boundary deep in the table rather than at the checksum).
OUT_DIR/wav/: small WAV files of every kind the C example reads (16-bit PCM, 32-bit
float, WAVE_FORMAT_EXTENSIBLE, mono and stereo, an odd-sized extra chunk).
"""

from __future__ import annotations

import argparse
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
HUGE = 16_777_219


def tiny_models() -> dict[str, dict]:
    """{name: tensors} of small random models, each a different architecture."""
    from rtsep.config import StftGeometry
    from rtsep.model.export_native import random_model_tensors
    from rtsep.model.unet import UNetConfig

    configs = {
        "tiny128": (UNetConfig(n_fft=128, n_single_bins=16, band_width_bins=6, channels=(4, 6),
                               time_kernel=2, gru_hidden=8), StftGeometry(128, 32)),
        "tiny64": (UNetConfig(n_fft=64, n_single_bins=8, band_width_bins=5, channels=(3,),
                              time_kernel=1, gru_hidden=4), StftGeometry(64, 16)),
        "tiny128k3": (UNetConfig(n_fft=128, n_single_bins=16, band_width_bins=6, channels=(2, 3),
                                 time_kernel=3, gru_hidden=2), StftGeometry(128, 24)),
    }
    return {name: random_model_tensors(cfg, geometry, seed=i)
            for i, (name, (cfg, geometry)) in enumerate(configs.items())}


def tiny_ensemble() -> dict:
    """A native file of three tiny128-sized members (config.n_members, weights.members.<j>.)."""
    import torch

    from rtsep.config import StftGeometry
    from rtsep.model.ensemble import MaskEnsemble
    from rtsep.model.export_native import native_tensors
    from rtsep.model.unet import CausalUNet, UNetConfig

    cfg = UNetConfig(n_fft=128, n_single_bins=16, band_width_bins=6, channels=(4, 6),
                     time_kernel=2, gru_hidden=8)
    with torch.random.fork_rng():
        torch.manual_seed(7)
        ens = MaskEnsemble([CausalUNet(cfg) for _ in range(3)]).eval()
    return native_tensors(ens, StftGeometry(128, 32), (44100, 48000))


def with_crc(body: bytes) -> bytes:
    """``body`` (a file without its CRC, or with a stale one cut off) plus its CRC-32."""
    return body + struct.pack("<I", zlib.crc32(body))


def model_seeds(shipped: Path | None) -> dict[str, bytes]:
    from rtsep.runtime.rtsepw import native_file_bytes

    seeds = {}
    for name, tensors in tiny_models().items():
        seeds[f"{name}.rtsepw"] = native_file_bytes(dict(tensors), {"file_format": "native"})
    seeds["tiny128-ensemble3.rtsepw"] = native_file_bytes(tiny_ensemble(), {"file_format": "native"})
    tensors = tiny_models()["tiny128"]
    for key, value in (("config.time_kernel", [HUGE]), ("config.channels", [4, HUGE])):
        hostile = dict(tensors, **{key: np.array(value, dtype=np.int32)})
        seeds[f"regression-{key.split('.')[1]}-{HUGE}.rtsepw"] = native_file_bytes(
            hostile, {"file_format": "native"})
    if shipped is not None and shipped.is_file():
        # The shipped file's tensor table cut short at several points, behind a minimal
        # metadata block (the C++ parser does not read the JSON; the seeds stay small).
        data = shipped.read_bytes()
        (n_json,) = struct.unpack_from("<I", data, 12)
        table = data[16 + n_json:-4]
        head = data[:8] + data[8:12] + struct.pack("<I", 2) + b"{}"
        for n in (0, 4, 100, 700, 3000, 20000, 60000):
            if n < len(table):
                seeds[f"shipped-table{n}.rtsepw"] = with_crc(head + table[:n])
    return seeds


def wav_bytes(n_channels: int, fmt: str, n_frames: int = 37, extra_chunk: bool = False) -> bytes:
    rng = np.random.default_rng(n_channels * 7 + n_frames)
    x = rng.uniform(-1, 1, (n_frames, n_channels))
    if fmt == "pcm16":
        data, code, bits = (x * 32767).astype("<i2").tobytes(), 1, 16
    else:
        data, code, bits = x.astype("<f4").tobytes(), 3, 32
    rate, align = 48000, n_channels * bits // 8
    if fmt == "extensible":
        fmt_body = struct.pack("<HHIIHHHHI", 0xFFFE, n_channels, rate, rate * align, align, bits,
                               22, bits, (1 << n_channels) - 1) + struct.pack("<H", 3) + bytes(14)
    else:
        fmt_body = struct.pack("<HHIIHH", code, n_channels, rate, rate * align, align, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt_body)) + fmt_body
    if extra_chunk:
        chunks += b"LIST" + struct.pack("<I", 3) + b"abc\x00"
    chunks += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def wav_seeds() -> dict[str, bytes]:
    return {
        "mono16.wav": wav_bytes(1, "pcm16"),
        "stereo16.wav": wav_bytes(2, "pcm16", extra_chunk=True),
        "stereo-float.wav": wav_bytes(2, "float"),
        "mono-extensible.wav": wav_bytes(1, "extensible", n_frames=5),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--shipped", type=Path, default=ROOT / "models" / "rtsep-default.rtsepw")
    args = parser.parse_args(argv)
    for sub, seeds in (("model", model_seeds(args.shipped)), ("wav", wav_seeds())):
        folder = args.out_dir / sub
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in seeds.items():
            (folder / name).write_bytes(data)
        print(f"{folder}: {len(seeds)} seeds", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
