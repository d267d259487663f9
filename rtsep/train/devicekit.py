"""Training on a lent GPU machine that can reach nothing and takes 64 MiB a call.

The GPU machine (see the device tool's README) starts bare: no network, no
``../shared``, a Python 3.12 with PyTorch, numpy and scipy but without soundfile,
soxr or pedalboard, and at most 64 MiB of files travel with each call (the
repository itself counts). Everything ``rtsep train --data all`` reads must
therefore be carried in pieces, and the synthetic songs (13 GB of float stems
here, and a renderer whose dependencies are not there) as a sample coded in Ogg
Vorbis. This module does both ends:

``python -m rtsep.train.devicekit pack`` (here, with network to PyPI) writes
``.devkit/p1 .. pN`` (git-ignored), each part under ``--part-mib``:

* ``p1/wheels``: soundfile, cffi, pycparser, soxr and pedalboard for CPython 3.12
  on manylinux x86-64 (downloaded with pip);
* the real training stems as they are (the CC0 album, the MIR-1K training
  singers; files copied, not re-coded), spread over the parts;
* ``--synth-train`` / ``--synth-valid`` pre-rendered synthetic songs from the
  cache, each stem coded as Ogg Vorbis (``--vorbis-level``), with its metadata;
* with ``--teacher``: the Spleeter teacher's cached vocals (``rtsep make-data
  --teacher``) for every training song in the kit (CC0, MIR-1K, the carried
  synthetic songs), Vorbis-coded with their exact length and scale, so that
  ``rtsep train --teacher-weight`` runs there without Spleeter;
* ``part.json`` in every part: the kit's id, the number of parts, and every file
  with its size and sha256.

``python -m rtsep.train.devicekit run --kit .devkit --out DIR -- <rtsep train
arguments>`` (there) checks that every part of one kit arrived intact (one line
naming the missing or damaged parts otherwise), lays the data out as a data
root and a cache (synthetic songs decoded back into the cache's ``.npz`` form,
teacher targets decoded into the cache's teacher folder), then runs ``rtsep
train`` with ``--data-root``, ``--cache-dir`` and ``--run-dir
DIR/run`` set, on CUDA unless ``--device`` says otherwise.

The device calls, one part per call, back to back (a machine stays warm for
only 30 s after a call and keeps the ignored paths already carried while warm)::

    carry [".devkit/p1"]:  true
    carry [".devkit/p2"]:  true
    ...
    carry [".devkit/pN"]:
        python3 -m pip install -q --no-index --no-deps --target /tmp/site \\
            .devkit/p1/wheels/*.whl && PYTHONPATH=/tmp/site:. PYTHONUNBUFFERED=1 \\
            python3 -m rtsep.train.devicekit run --kit .devkit --out $OUT \\
            -- --data all --schedule-minutes 6 --minutes 7 ...

``pack`` prints these calls for the kit it wrote. If the machine went back
between calls, ``run`` names the parts that are missing: carry them again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from rtsep.train.ship import sha256

#: The packages the trainer imports that the GPU machine's image lacks (its list:
#: the device tool's KINDS.md), for the machine's CPython 3.12.
WHEELS = ("soundfile", "cffi", "pycparser", "soxr", "pedalboard")
WHEEL_PYTHON = "3.12"
WHEEL_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                   "manylinux2014_x86_64")
#: Real training stems under the data root that the trainer's ``--data all`` reads.
REAL_TRAIN = (Path("real-train") / "everythingisremixed", Path("real-train") / "mir1k")
KIT_FORMAT = "rtsep-devicekit"
#: What travels besides a part: the repository's tracked files (about 20 MB).
DEFAULT_PART_MIB = 40.0


class KitError(Exception):
    """A kit cannot be written or is incomplete; the message is one line."""


def _real_files(data_root: Path) -> list[tuple[Path, str]]:
    """``(source, path in the kit)`` for every real training stem."""
    out = []
    for sub in REAL_TRAIN:
        folder = data_root / sub
        if not folder.is_dir():
            raise KitError(f"real training stems not found at {folder}")
        for f in sorted(folder.glob("*/*")):
            if f.is_file() and f.stem in ("vocals", "accompaniment"):
                out.append((f, (Path("data") / f.relative_to(data_root)).as_posix()))
    return out


#: Frames per write when coding Vorbis: libsndfile 1.2.2 crashes (SIGSEGV) when one write
#: hands its Vorbis encoder a few million frames at once (a 5-minute stereo song).
VORBIS_CHUNK_FRAMES = 1 << 16


def _write_vorbis(dest: Path, audio: np.ndarray, sample_rate_hz: int, level: float) -> None:
    """``audio`` (``(C, n)`` float32, within [-1, 1]) to an Ogg Vorbis file, in chunks."""
    import soundfile as sf

    with sf.SoundFile(dest, "w", int(sample_rate_hz), audio.shape[0], format="OGG",
                      subtype="VORBIS", compression_level=level) as f:
        for i in range(0, audio.shape[1], VORBIS_CHUNK_FRAMES):
            f.write(np.ascontiguousarray(audio[:, i:i + VORBIS_CHUNK_FRAMES].T))


def _code_synth(cache_dir: Path, split: str, n: int, level: float, stage: Path,
                songs: list | None = None) -> list[tuple[Path, str]]:
    """Code ``n`` cached synthetic songs of ``split`` as Ogg Vorbis into ``stage``
    (the songs themselves are appended to ``songs`` if given)."""
    from tqdm import tqdm

    from rtsep.train.data.synth.cache import NpzSong, split_dir

    if n == 0:
        return []
    paths = sorted(split_dir(cache_dir, split).glob("[0-9]*.npz"))
    if len(paths) < n:
        raise KitError(f"{len(paths)} synthetic {split} songs in {cache_dir}/synth/{split}, "
                       f"{n} asked for: render more with `rtsep make-data`")
    out = []
    for path in tqdm(paths[:n], desc=f"coding synth/{split}", unit="song", file=sys.stderr):
        song = NpzSong(path)
        if songs is not None:
            songs.append(song)
        folder = Path("synth") / split / path.stem
        (stage / folder).mkdir(parents=True, exist_ok=True)
        for stem in ("vocals", "accompaniment"):
            audio = np.asarray(getattr(song, stem), dtype=np.float32)
            dest = stage / folder / f"{stem}.ogg"
            _write_vorbis(dest, np.clip(audio, -1.0, 1.0), song.sample_rate_hz, level)
            out.append((dest, (folder / f"{stem}.ogg").as_posix()))
        meta = stage / folder / "meta.json"
        meta.write_text(json.dumps({"sample_rate_hz": song.sample_rate_hz,
                                    "n_samples": int(np.shape(song.vocals)[1]), "meta": song.meta}))
        out.append((meta, (folder / "meta.json").as_posix()))
    return out


#: Headroom of a Vorbis-coded teacher target: its peak is scaled to this (and back).
TEACHER_PEAK = 0.9
#: A teacher target whose channels differ by at most this much (RMS, relative: -50 dB)
#: is coded as their mean, once: Spleeter's two outputs for a mono clip differ by about
#: -60 dB, far below what Vorbis itself changes.
TEACHER_MONO_RATIO = 10 ** (-50 / 20)


def _code_teacher(cache_dir: Path, sets: list[tuple[str, list]], level: float,
                  stage: Path) -> list[tuple[Path, str]]:
    """Code the cached teacher vocals of every song in ``sets`` (``(set name, songs)``,
    named as :func:`rtsep.train.teacher.attach_teacher` names them) as Ogg Vorbis at the
    song's rate, mono where the channels agree to -50 dB, with a JSON of the exact shape
    and the scale it was coded at. A missing or mis-shaped target is an error: the kit
    would otherwise make the trainer run Spleeter, which the GPU machine lacks."""
    from tqdm import tqdm

    from rtsep.train.teacher import teacher_path

    out = []
    for set_name, songs in sets:
        for song in tqdm(songs, desc=f"coding teacher/{set_name}", unit="song", file=sys.stderr):
            key = song.name.replace("/", "_")
            path = teacher_path(cache_dir, set_name, key)
            shape = tuple(np.shape(song.vocals))
            target = np.load(path, mmap_mode="r") if path.is_file() else None
            if target is None or target.shape != shape:
                raise KitError(f"no teacher target of shape {shape} for {set_name} song "
                               f"{song.name} at {path}: fill the cache with `rtsep make-data "
                               f"--teacher` first, or pack without --teacher")
            target = np.asarray(target, dtype=np.float32)
            peak = float(np.abs(target).max()) if target.size else 0.0
            if not np.isfinite(peak):
                raise KitError(f"teacher target {path} holds NaN or Inf")
            scale = peak / TEACHER_PEAK if peak > TEACHER_PEAK else 1.0
            rms = float(np.sqrt(np.mean(np.square(target, dtype=np.float64)))) if target.size else 0.0
            mono = target.shape[0] > 1 and float(np.sqrt(np.mean(np.square(
                target - target[:1], dtype=np.float64)))) <= TEACHER_MONO_RATIO * rms
            coded = (target.mean(axis=0, keepdims=True) if mono else target) / scale
            folder = Path("teacher") / set_name
            (stage / folder).mkdir(parents=True, exist_ok=True)
            dest = stage / folder / f"{key}.ogg"
            _write_vorbis(dest, coded, song.sample_rate_hz, level)
            meta = stage / folder / f"{key}.json"
            meta.write_text(json.dumps({"shape": list(shape), "scale": scale, "mono": mono}))
            out += [(dest, (folder / dest.name).as_posix()), (meta, (folder / meta.name).as_posix())]
    return out


def _decode_teacher(ogg: Path, meta: dict) -> np.ndarray:
    """A teacher target back from the kit: its exact shape, scale restored."""
    import soundfile as sf

    n_channels, n_samples = meta["shape"]
    audio = sf.read(ogg, dtype="float32", always_2d=True)[0].T * np.float32(meta["scale"])
    if meta["mono"]:
        audio = np.repeat(audio[:1], n_channels, axis=0)
    out = np.zeros((n_channels, n_samples), dtype=np.float32)
    n = min(n_samples, audio.shape[1])
    out[:, :n] = audio[:n_channels, :n]
    return out


def _download_wheels(stage: Path) -> list[tuple[Path, str]]:
    folder = stage / "wheels"
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
           "--python-version", WHEEL_PYTHON, "--implementation", "cp", "-d", str(folder)]
    for p in WHEEL_PLATFORMS:
        cmd += ["--platform", p]
    proc = subprocess.run(cmd + list(WHEELS), capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise KitError(f"could not download the wheels {', '.join(WHEELS)}: {last}")
    return [(w, f"wheels/{w.name}") for w in sorted(folder.glob("*.whl"))]


def _split_into_parts(files: list[tuple[Path, str]], limit_bytes: int) -> list[list[tuple[Path, str]]]:
    """First fit in the given order (wheels first, so they land in part 1)."""
    parts: list[list[tuple[Path, str]]] = []
    sizes: list[int] = []
    for src, rel in files:
        size = src.stat().st_size
        if size > limit_bytes:
            raise KitError(f"{src} is {size / 2**20:.1f} MiB, larger than a part")
        for i, used in enumerate(sizes):
            if used + size <= limit_bytes:
                parts[i].append((src, rel))
                sizes[i] += size
                break
        else:
            parts.append([(src, rel)])
            sizes.append(size)
    return parts


def pack(out: str | os.PathLike = ".devkit", data_root: str | os.PathLike | None = None,
         cache_dir: str | os.PathLike = "cache", part_mib: float = DEFAULT_PART_MIB,
         synth_train: int = 48, synth_valid: int = 6, vorbis_level: float = 0.4,
         wheels: bool = True, teacher: bool = False) -> dict:
    """Write a kit into ``out`` (replacing one there); returns its ``kit.json`` contents.
    ``teacher``: carry the cached teacher targets of the kit's training songs too."""
    from rtsep.train.data.paths import resolve_data_root

    if not 0.0 <= vorbis_level <= 1.0:
        raise KitError(f"--vorbis-level must be in 0..1, got {vorbis_level}")
    if part_mib <= 0:
        raise KitError(f"--part-mib must be above 0, got {part_mib}")
    out = Path(out)
    stage = out / "stage"
    if out.exists():
        shutil.rmtree(out)
    stage.mkdir(parents=True)
    root = resolve_data_root(data_root)
    files = (_download_wheels(stage) if wheels else []) + _real_files(root)
    synth_songs: list = []
    for split, n in (("train", synth_train), ("valid", synth_valid)):
        files += _code_synth(Path(cache_dir), split, n, vorbis_level, stage,
                             synth_songs if split == "train" else None)
    if teacher:
        from rtsep.train.data import training_songs

        sets = [(name, training_songs(name, root, cache_dir)) for name in ("cc0", "mir1k")]
        files += _code_teacher(Path(cache_dir), sets + [("synth", synth_songs)], vorbis_level,
                               stage)
    parts = _split_into_parts(files, int(part_mib * 2**20))
    kit_id = hashlib.sha256(json.dumps([r for _, r in files]).encode()
                            + str(time.time()).encode()).hexdigest()[:12]
    for i, members in enumerate(parts, start=1):
        folder = out / f"p{i}"
        listing = {}
        for src, rel in members:
            dest = folder / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            listing[rel] = {"bytes": dest.stat().st_size, "sha256": sha256(dest)}
        (folder / "part.json").write_text(json.dumps(
            {"format": KIT_FORMAT, "kit": kit_id, "part": i, "n_parts": len(parts),
             "files": listing}, indent=1))
    shutil.rmtree(stage)
    kit = {"format": KIT_FORMAT, "kit": kit_id, "n_parts": len(parts),
           "part_bytes": [sum(f.stat().st_size for f in (out / f"p{i}").rglob("*") if f.is_file())
                          for i in range(1, len(parts) + 1)],
           "synth": {"train": synth_train, "valid": synth_valid, "vorbis_level": vorbis_level},
           "teacher": teacher, "wheels": wheels}
    (out / "kit.json").write_text(json.dumps(kit, indent=1))
    return kit


def check_kit(kit_dir: str | os.PathLike) -> list[Path]:
    """The part folders of one complete, intact kit, in order; KitError otherwise."""
    kit_dir = Path(kit_dir)
    found = {}
    for part_json in sorted(kit_dir.glob("p*/part.json")):
        try:
            found[part_json.parent] = json.loads(part_json.read_text())
        except (OSError, ValueError) as exc:
            raise KitError(f"{part_json}: unreadable ({exc})") from None
    if not found:
        raise KitError(f"no kit parts in {kit_dir} (carry {kit_dir}/p1 ... as `pack` printed)")
    kits = {(m.get("format"), m.get("kit"), m.get("n_parts")) for m in found.values()}
    if len(kits) != 1 or next(iter(kits))[0] != KIT_FORMAT:
        raise KitError(f"{kit_dir} holds parts of different kits ({sorted(map(str, kits))}): "
                       f"pack again and carry every part")
    n_parts = next(iter(kits))[2]
    by_number = {m["part"]: folder for folder, m in found.items()}
    missing = [i for i in range(1, n_parts + 1) if i not in by_number]
    damaged = []
    for folder, m in found.items():
        for rel, info in m["files"].items():
            f = folder / rel
            if not f.is_file() or f.stat().st_size != info["bytes"] or sha256(f) != info["sha256"]:
                damaged.append(m["part"])
                break
    if missing or damaged:
        names = " ".join(f"{kit_dir}/p{i}" for i in sorted(set(missing + damaged)))
        raise KitError(f"kit {next(iter(kits))[1]} incomplete: {len(missing)} of {n_parts} parts "
                       f"missing, {len(damaged)} damaged; carry {names} again")
    return [by_number[i] for i in range(1, n_parts + 1)]


def assemble(parts: list[Path], work: str | os.PathLike) -> tuple[Path, Path]:
    """Lay the kit out as ``(data_root, cache_dir)`` under ``work`` (links, and the
    synthetic songs decoded back into the cache's ``.npz`` form)."""
    import soundfile as sf

    from rtsep.train.data.synth.cache import write_song

    work = Path(work)
    data_root, cache_dir = work / "data", work / "cache"
    from rtsep.train.data.audio import save_npy_atomic
    from rtsep.train.teacher import teacher_path

    song_dirs: set[Path] = set()
    for part in parts:
        for f in part.rglob("*"):
            rel = f.relative_to(part)
            if not f.is_file() or rel.parts[0] in ("wheels", "part.json"):
                continue
            if rel.parts[0] == "teacher" and f.suffix == ".json":
                ogg = next((p / rel.with_suffix(".ogg") for p in parts
                            if (p / rel.with_suffix(".ogg")).is_file()), None)
                if ogg is None:
                    raise KitError(f"teacher target {rel.with_suffix('.ogg')} is not in the kit")
                save_npy_atomic(teacher_path(cache_dir, rel.parts[1], rel.stem),
                                _decode_teacher(ogg, json.loads(f.read_text())))
            elif rel.parts[0] == "data":
                dest = data_root / Path(*rel.parts[1:])
                dest.parent.mkdir(parents=True, exist_ok=True)
                if dest.is_symlink() or dest.exists():
                    dest.unlink()
                dest.symlink_to(f.resolve())
            elif rel.parts[0] == "synth":
                song_dirs.add(rel.parent)
    for d in sorted(song_dirs):
        _, split, name = d.parts
        stems, meta = {}, None
        for part in parts:
            for f in sorted((part / d).glob("*")):
                if f.name == "meta.json":
                    meta = json.loads(f.read_text())
                else:
                    stems[f.stem] = sf.read(f, dtype="float32", always_2d=True)[0].T
        if meta is None or set(stems) != {"vocals", "accompaniment"}:
            raise KitError(f"synthetic song {d} is incomplete in the kit")
        n = meta["n_samples"]
        write_song(cache_dir / "synth" / split / f"{name}.npz",
                   *(np.ascontiguousarray(stems[s][:, :n]) for s in ("vocals", "accompaniment")),
                   int(meta["sample_rate_hz"]), meta["meta"])
    return data_root, cache_dir


#: ``rtsep train`` options that ``run`` sets itself.
_OWNED = ("--data-root", "--cache-dir", "--run-dir")


def run(kit_dir: str | os.PathLike, out: str | os.PathLike, train_args: list[str],
        work: str | os.PathLike | None = None) -> int:
    """Check and lay out the kit, then ``rtsep train`` into ``out/run``; its exit status."""
    from rtsep.commands import train as train_cmd

    for arg in train_args:
        if arg.split("=")[0] in _OWNED:
            raise KitError(f"{arg.split('=')[0]} is set by the kit; leave it out")
    t0 = time.perf_counter()
    parts = check_kit(kit_dir)
    work = Path(work) if work is not None else Path(out).parent / "rtsep-devicekit-work"
    data_root, cache_dir = assemble(parts, work)
    print(f"devicekit: {len(parts)} parts checked and laid out in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)
    args = ["--data-root", str(data_root), "--cache-dir", str(cache_dir),
            "--run-dir", str(Path(out) / "run")]
    if not any(a.split("=")[0] == "--device" for a in train_args):
        args += ["--device", "cuda"]
    parser = argparse.ArgumentParser(prog="rtsep train")
    train_cmd.add_arguments(parser)
    return train_cmd.run(parser.parse_args(args + list(train_args)))


def print_calls(kit: dict, kit_dir: str = ".devkit") -> None:
    n = kit["n_parts"]
    mib = ", ".join(f"{b / 2**20:.1f}" for b in kit["part_bytes"])
    print(f"kit {kit['kit']}: {n} parts in {kit_dir} ({mib} MiB). Device calls, back to back:")
    for i in range(1, n):
        print(f"  run(carry=['{kit_dir}/p{i}'], command='true')")
    print(f"  run(carry=['{kit_dir}/p{n}'], command='python3 -m pip install -q --no-index "
          f"--no-deps --target /tmp/site {kit_dir}/p1/wheels/*.whl && PYTHONPATH=/tmp/site:. "
          f"PYTHONUNBUFFERED=1 python3 -m rtsep.train.devicekit run --kit {kit_dir} --out $OUT "
          f"-- --data all --schedule-minutes 6 --minutes 7 "
          f"{'--teacher-weight 0.75 ' if kit.get('teacher') else ''}"
          f"<recipe>')")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rtsep.train.devicekit",
                                description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="verb", required=True)
    pk = sub.add_parser("pack", help="write the kit's parts (here)")
    pk.add_argument("--out", default=".devkit")
    pk.add_argument("--data-root")
    pk.add_argument("--cache-dir", default="cache")
    pk.add_argument("--part-mib", type=float, default=DEFAULT_PART_MIB,
                    help=f"largest part (default {DEFAULT_PART_MIB:g}; the repository travels too)")
    pk.add_argument("--synth-train", type=int, default=48, help="synthetic training songs to carry")
    pk.add_argument("--synth-valid", type=int, default=6, help="synthetic validation songs to carry")
    pk.add_argument("--vorbis-level", type=float, default=0.4,
                    help="libsndfile Vorbis compression level of the synthetic stems (0 best, 1 smallest)")
    pk.add_argument("--teacher", action="store_true",
                    help="carry the cached Spleeter teacher targets of the kit's training songs "
                         "(for rtsep train --teacher-weight; fill the cache with rtsep make-data "
                         "--teacher first)")
    pk.add_argument("--no-wheels", action="store_true", help="leave the wheels out (for a local try)")
    rn = sub.add_parser("run", help="check the kit, lay it out and train (there)")
    rn.add_argument("--kit", default=".devkit")
    rn.add_argument("--out", required=True, help="where the run folder goes (the device's $OUT)")
    rn.add_argument("--work", help="where the data is laid out (default: beside --out)")
    rn.add_argument("train_args", nargs=argparse.REMAINDER,
                    help="-- then the rtsep train arguments")
    args = p.parse_args(argv)
    from rtsep.errors import UserError

    try:
        if args.verb == "pack":
            if args.synth_train < 0 or args.synth_valid < 0:
                raise KitError("--synth-train and --synth-valid must be >= 0")
            kit = pack(args.out, args.data_root, args.cache_dir, args.part_mib, args.synth_train,
                       args.synth_valid, args.vorbis_level, wheels=not args.no_wheels,
                       teacher=args.teacher)
            print_calls(kit, args.out)
            return 0
        rest = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
        return run(args.kit, args.out, rest, args.work)
    except (KitError, UserError, FileNotFoundError) as exc:
        print(f"devicekit: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
