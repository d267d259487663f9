"""Pre-render synthetic training and validation songs into the data cache.

Writes <cache-dir>/synth/train/NNNN.npz and <cache-dir>/synth/valid/NNNN.npz (see
rtsep.train.data.synth.cache), about a second per 25 s song on one core.
Resumable: songs already rendered with the same seed, rate and generator version
are skipped. With --real, also decodes the real stems into <cache-dir>/real; with
--teacher, also runs the Spleeter teacher over every training song's own mix (synthetic,
CC0, MIR-1K) into <cache-dir>/teacher (see rtsep.train.teacher; needs the train extra).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n-train", type=int, default=240,
                        help="training songs to render (default 240)")
    parser.add_argument("--n-valid", type=int, default=24, help="held-out songs to render (default 24)")
    parser.add_argument("--sample-rate", type=int, default=44100, choices=(44100, 48000),
                        help="rate of the rendered songs in Hz (sources resample per segment)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the song streams (default 0)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--cache-dir", default="cache", help="cache folder (default ./cache)")
    parser.add_argument("--data-root", default=None,
                        help="real audio folder with seeds/ (default ../shared/data or $RTSEP_DATA)")
    parser.add_argument("--real", action="store_true",
                        help="also decode the real stems into <cache-dir>/real")
    parser.add_argument("--teacher", action="store_true",
                        help="also fill the Spleeter teacher cache for the training sets "
                             "(--jobs sets torch's threads)")
    parser.add_argument("--overwrite", action="store_true",
                        help="re-render existing songs (songs and teacher estimates an older "
                             "version cached as float32 are rewritten in half precision anyway)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def run(args: argparse.Namespace) -> int:
    from rtsep.errors import UserError
    from rtsep.train.data.synth.cache import render_cache

    if args.n_train < 0 or args.n_valid < 0:
        raise UserError("--n-train and --n-valid must be >= 0")
    if args.jobs < 1:
        raise UserError("--jobs must be >= 1")
    if args.real:
        from rtsep.train.data.real import RealSongs

        for split in ("train", "heldout"):
            try:
                songs = RealSongs(args.data_root, split, args.cache_dir)
            except FileNotFoundError as exc:
                raise UserError(str(exc)) from exc
            print(f"real/{split}: {len(songs)} songs cached in {args.cache_dir}/real", file=sys.stderr)
    for split, n in (("train", args.n_train), ("valid", args.n_valid)):
        if n == 0:
            continue
        stats = render_cache(args.cache_dir, split, n, seed=args.seed, sample_rate_hz=args.sample_rate,
                             jobs=args.jobs, data_root=args.data_root, overwrite=args.overwrite,
                             progress=not args.no_progress)
        per_song = stats["render_s"] / stats["rendered"] if stats["rendered"] else 0.0
        shrunk = f" ({stats['shrunk']} rewritten in half precision)" if stats["shrunk"] else ""
        print(f"synth/{split}: {stats['rendered']} rendered, {stats['skipped']} up to date{shrunk}, "
              f"{per_song:.2f} s per song, {stats['wall_s']:.1f} s wall")
    if args.teacher:
        import torch

        from rtsep.train.data import TRAINING_SETS, training_songs

        torch.set_num_threads(args.jobs)
        for set_name in TRAINING_SETS:
            try:
                songs = training_songs(set_name, args.data_root, args.cache_dir, teacher=True,
                                       progress=not args.no_progress)
            except FileNotFoundError as exc:
                raise UserError(str(exc)) from exc
            print(f"teacher/{set_name}: {len(songs)} songs cached in {args.cache_dir}/teacher",
                  file=sys.stderr)
        from rtsep.train.teacher import shrink_teacher_cache

        shrunk = shrink_teacher_cache(args.cache_dir)
        if shrunk:
            print(f"teacher: {shrunk} float32 estimates rewritten in half precision", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rtsep make-data", description=__doc__.splitlines()[0])
    add_arguments(parser)
    from rtsep.errors import UserError

    try:
        return run(parser.parse_args(argv))
    except UserError as exc:
        print(f"rtsep make-data: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
