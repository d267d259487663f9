"""Train the causal U-Net. Resumable: run again with the same --run-dir to continue."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", default="runs/default", help="folder for checkpoints and logs")
    parser.add_argument("--data", choices=("real", "synth", "both", "cross", "mir1k", "all", "musdb"),
                        default="cross",
                        help="training material (default cross: real CC0 stems, synthetic mixtures, "
                             "and real vocals over synthetic accompaniment and vice versa; both: the "
                             "first two only; mir1k: MIR-1K's training singers; all: synthetic, CC0 "
                             "and MIR-1K songs and cross-source remixes between them)")
    parser.add_argument("--musdb-root", help="MUSDB18(-HQ) folder, with --data musdb")
    parser.add_argument("--minutes", type=float, default=60.0, help="wall-clock budget of this chunk")
    parser.add_argument("--steps", type=int, help="stop after this many steps in this chunk")
    parser.add_argument("--total-steps", type=int, default=6000, help="length of the LR schedule")
    parser.add_argument("--schedule-minutes", type=float, default=0.0,
                        help="make the LR schedule this many minutes of training instead of "
                             "--total-steps (the steps' own time, across resumes); the run ends "
                             "with final.pt when they are spent. For a fixed budget on hardware "
                             "of unknown speed, e.g. a lent GPU")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--segment-frames", type=int, default=384)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lr-min", type=float, default=1e-4, help="end of the cosine LR schedule")
    parser.add_argument("--ema-decay", type=float, default=0.997,
                        help="moving average of the weights, validated and kept in best.pt (0: off)")
    parser.add_argument("--valid-every", type=int, default=200)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: all cores)")
    parser.add_argument("--data-workers", type=int,
                        help="threads that make training batches (default: 1 on the CPU, up to 8 "
                             "beside a GPU)")
    parser.add_argument("--cache-dir", default="cache", help="decoded/pre-rendered data cache")
    parser.add_argument("--data-root", help="real audio folder (default ../shared/data or $RTSEP_DATA)")
    parser.add_argument("--init-from", help="start a new run from this checkpoint's weights")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=VALUE",
                        help="change one architecture field (rtsep.model.unet.UNetConfig) of a "
                             "new run, e.g. --model gru_hidden=256 --model channels=16,24,32,48,64; "
                             "with --init-from only gru_hidden and time_kernel, which grow the "
                             "trained model without changing what it computes; repeatable")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="run the model's training step through torch.compile (default: on "
                             "the CPU, where it was measured: about 10 %% faster per step on a "
                             "2-core machine after a compile of 0.5-1.5 minutes at the first step; "
                             "needs a C++ compiler: training goes on without it, saying so, when "
                             "it fails)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--aug", action="append", default=[], metavar="NAME=VALUE",
                        help="change one training augmentation (rtsep.train.data.Augmentation), "
                             "e.g. --aug p_drive=0.3 --aug drive_db=3,18; repeatable")
    parser.add_argument("--data-weight", action="append", default=[], metavar="NAME=SHARE",
                        help="with --data all: change one part's share of the examples (e.g. "
                             "--data-weight mir1k=0.1; parts: synth, mir1k, cc0 and the remixes "
                             "such as mir1k-vocals/synth-accomp); shares are renormalised; repeatable")
    parser.add_argument("--snr-weight", type=float, default=0.03,
                        help="weight of the per-segment SNR (dB) term in the loss, beside the "
                             "compressed-spectrum L1 terms (0: L1 only)")
    parser.add_argument("--fisdr-weight", type=float, default=0.0,
                        help="weight of the filter-invariant SDR (dB, per ~1-s chunk) term in the "
                             "loss: it counts only what leaks into each estimate, as BSS Eval's SDR "
                             "does (0: off)")
    parser.add_argument("--teacher-weight", type=float, default=0.0,
                        help="weight of the distillation term: the Spleeter teacher's vocals (cached "
                             "per training song, filled by rtsep make-data --teacher) as a second target on "
                             "segments that keep a song's own mix (--aug p_natural=...); 0: off")
    parser.add_argument("--power-mask-weight", type=float, default=0.0,
                        help="weight of an L1 pull of the mask towards the power ratio "
                             "|V|^2 / (|V|^2 + |A|^2) of the true stems, per bin weighed by the "
                             "mixture's compressed level (0: off)")
    parser.add_argument("--select-by", choices=("sdr", "fisdr"), default="sdr",
                        help="validation number that picks best.pt: the spectral SDR of the whole "
                             "set, or the median filter-invariant SDR of its 1-s chunks")


def parse_augmentation(items: list[str]) -> dict:
    """``["p_drive=0.3", "drive_db=3,18"]`` -> ``{"p_drive": 0.3, "drive_db": (3.0, 18.0)}``,
    checked against :class:`rtsep.train.data.Augmentation` (a UserError names the problem)."""
    import dataclasses

    from rtsep.errors import UserError
    from rtsep.train.data import Augmentation

    fields = {f.name for f in dataclasses.fields(Augmentation)}
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in fields:
            raise UserError(f"--aug {item!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(fields))}")
        try:
            numbers = tuple(float(x) for x in value.split(","))
            if len(numbers) > 2:
                raise ValueError(value)
        except ValueError:
            raise UserError(f"--aug {item!r}: the value must be a number or two numbers 'low,high'") from None
        out[name] = numbers[0] if len(numbers) == 1 else numbers
    try:
        Augmentation().with_(**out)
    except (TypeError, ValueError) as e:
        raise UserError(f"--aug: {e}") from None
    return out


def parse_data_weights(items: list[str], data: str) -> dict:
    """``["mir1k=0.1"]`` -> ``{"mir1k": 0.1}``, checked against :data:`ALL_WEIGHTS`."""
    from rtsep.errors import UserError
    from rtsep.train.data import check_weights

    if items and data != "all":
        raise UserError(f"--data-weight works with --data all, not --data {data}")
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError(item)
            out[name] = float(value)
        except ValueError:
            raise UserError(f"--data-weight {item!r}: expected NAME=SHARE with SHARE a number") from None
    try:
        return check_weights(out)
    except ValueError as e:
        raise UserError(f"--data-weight: {e}") from None


def parse_model_changes(items: list[str], *, growing: bool) -> dict:
    """``["gru_hidden=256"]`` -> ``{"gru_hidden": 256}``, checked against
    :class:`rtsep.model.unet.UNetConfig` (a UserError names the problem). ``growing``: the
    run starts from a trained model, so only the fields :mod:`rtsep.model.grow` grows."""
    import dataclasses

    from rtsep.errors import UserError
    from rtsep.model.grow import GROWABLE
    from rtsep.model.unet import UNetConfig

    allowed = GROWABLE if growing else tuple(f.name for f in dataclasses.fields(UNetConfig))
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or name not in allowed:
            why = " with --init-from" if growing else ""
            raise UserError(f"--model {item!r}: expected NAME=VALUE with NAME one of "
                            f"{', '.join(allowed)}{why}")
        try:
            numbers = tuple(int(x) for x in value.split(","))
            if any(n <= 0 for n in numbers) or (name != "channels" and len(numbers) != 1):
                raise ValueError(value)
        except ValueError:
            raise UserError(f"--model {item!r}: the value must be a positive integer"
                            + (" or a comma-separated list of them" if name == "channels" else "")) from None
        out[name] = numbers if name == "channels" else numbers[0]
    return out


def run(args: argparse.Namespace) -> int:
    from rtsep.train.trainer import Trainer, TrainConfig

    augmentation = parse_augmentation(args.aug)
    data_weights = parse_data_weights(args.data_weight, args.data)
    model_changes = parse_model_changes(args.model, growing=bool(args.init_from))
    if args.data_workers is not None and args.data_workers < 1:
        from rtsep.errors import UserError

        raise UserError(f"--data-workers {args.data_workers}: at least one thread must make batches")

    if not args.schedule_minutes >= 0.0 or args.schedule_minutes == float("inf"):
        from rtsep.errors import UserError

        raise UserError(f"--schedule-minutes {args.schedule_minutes}: give a finite number of "
                        "minutes (0: the schedule is --total-steps)")
    cfg = TrainConfig(data=args.data, musdb_root=args.musdb_root, batch_size=args.batch_size,
                      segment_frames=args.segment_frames, lr=args.lr, lr_min=args.lr_min,
                      ema_decay=args.ema_decay, total_steps=args.total_steps,
                      schedule_minutes=args.schedule_minutes,
                      valid_every=args.valid_every, seed=args.seed, snr_weight=args.snr_weight,
                      fisdr_weight=args.fisdr_weight, select_by=args.select_by,
                      teacher_weight=args.teacher_weight,
                      power_mask_weight=args.power_mask_weight, augmentation=augmentation,
                      data_weights=data_weights)
    trainer = Trainer(args.run_dir, cfg, cache_dir=args.cache_dir, data_root=args.data_root,
                      n_threads=args.threads, init_from=args.init_from,
                      device=args.device, model_changes=model_changes,
                      data_workers=args.data_workers, compile_model=args.compile)
    trainer.train(args.minutes, max_steps=args.steps)
    best = (f"best valid SDR {trainer.best_sdr_db:.2f} dB" if trainer.best_sdr_db > -1e8
            else "not validated yet")  # -1e9: the trainer's value before any validation
    print(f"{args.run_dir}: step {trainer.step}, {best}")
    return 0
