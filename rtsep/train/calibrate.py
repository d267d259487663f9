"""Calibrate a trained model's mask on training data: a per-band affine map of its logits.

The model's mask is ``sigmoid(z)`` per band. This fits, per band ``b``, a scale ``a_b``
and a bias ``c_b`` so that ``m = sigmoid(a_b * z + c_b)`` brings the vocals spectrum
``m X`` closest to the true vocals ``V`` over training material only:

* MIR-1K's training singers (``real-train/mir1k``; resampled to 44.1 kHz; the bins above
  their 8 kHz band are left out),
* the CC0 training songs (``real-train``, the held-out song excluded) in 10-s excerpts,
* pre-rendered synthetic training songs (``<cache>/synth/train``).

The error of the vocals is also the error of the instrumental (they sum to the mixture),
so one objective serves both. Each excerpt's squared error ``sum |m X - V|^2`` is divided
by its vocal energy (excerpts whose voice is more than 20 dB below the mixture are left
out) and each of the three sets weighs the same. The objective (``--objective``): ``log``
(default) averages that ratio in dB over a set's excerpts, i.e. maximises the mean
per-excerpt spectral SDR; ``mean`` averages the ratio itself, which the excerpts with the
least voice rule (their best answer is to hedge every mask towards 0.5; session 22 of the
model card measured both). With ``per_band=False`` one scale and one bias serve every band.

The result is a model with ``calibrated=True`` (:class:`~rtsep.model.unet.CausalUNet`'s
``band_logit_scale`` / ``band_logit_bias``), which every face runs (ONNX, TorchScript, the
native model). ``python -m rtsep.train.calibrate CKPT OUT.ckpt`` writes it, with a JSON
and a plot of the fitted map (about 12 minutes to collect the statistics and 12 for 100
iterations on one core of this project's machine).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch

from rtsep.config import StftGeometry
from rtsep.model.unet import CausalUNet

CALIB_RATE_HZ = 44100
EXCERPT_SECONDS = 10.0
MIN_VOCALS_DB = -20.0  # excerpts whose voice is further below the mixture are left out


@dataclasses.dataclass
class ExcerptStats:
    """One excerpt's sufficient statistics per channel, frame and band (``(2, T, B)``):
    the model's logits ``z``, the mixture's energy ``p`` and the vocals' correlation with
    the mixture ``c`` (sums over the band's bins), and the excerpt's vocal energy."""

    z: torch.Tensor
    p: torch.Tensor
    c: torch.Tensor
    vocal_energy: float


def excerpt_stats(model: CausalUNet, vocals: np.ndarray, accompaniment: np.ndarray,
                  bandwidth_hz: float | None, geometry: StftGeometry, window: torch.Tensor,
                  frame_step: int = 4, warmup_frames: int = 16) -> ExcerptStats | None:
    """Statistics of one stereo excerpt at :data:`CALIB_RATE_HZ` (None: too little voice)."""
    from rtsep.train.trainer import stft_frames

    v = torch.from_numpy(np.ascontiguousarray(vocals, dtype=np.float32))[None]
    mix = v + torch.from_numpy(np.ascontiguousarray(accompaniment, dtype=np.float32))[None]
    X = stft_frames(mix, geometry, window)
    V = stft_frames(v, geometry, window)
    with torch.no_grad():
        z = model.head(model.decode(X))[0]  # before any calibration
    sl = slice(warmup_frames, None, frame_step)
    X, V, z = X[0][:, sl], V[0][:, sl], z[:, sl]
    keep = torch.ones(X.shape[2])
    if bandwidth_hz is not None:
        freqs = torch.arange(X.shape[2]) * (CALIB_RATE_HZ / geometry.n_fft)
        keep = (freqs <= bandwidth_hz).float()
    px = (X ** 2).sum(-1) * keep
    cx = (X * V).sum(-1) * keep
    pv = float(((V ** 2).sum(-1) * keep).sum())
    if pv <= 10 ** (MIN_VOCALS_DB / 10) * float(px.sum()) or pv <= 0.0:
        return None
    expand_t = model.band_expand.t()  # (n_bins, B): sums over each band's bins
    return ExcerptStats(z, px @ expand_t, cx @ expand_t, pv)


OBJECTIVES = ("mean", "log")


def fit(sets: dict[str, list[ExcerptStats]], *, per_band: bool = True, n_iter: int = 100,
        lr: float = 0.05, objective: str = "log", log=None) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Scale and bias (``(B,)`` each) minimising the vocals' squared error relative to
    their energy over ``sets`` (each set weighs the same): with ``objective="mean"`` the
    mean over a set's excerpts of that ratio, with ``"log"`` the mean of it in dB (the
    mean of per-excerpt spectral SDRs, less ruled by the worst excerpts). Also returns,
    per set, the error before and after in dB, by the objective's own averaging (lower
    is better)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective {objective!r}: choose one of {OBJECTIVES}")
    n_bands = next(iter(sets.values()))[0].z.shape[-1]
    n_params = n_bands if per_band else 1
    scale = torch.ones(n_params, requires_grad=True)
    bias = torch.zeros(n_params, requires_grad=True)
    packed = {}
    for name, items in sets.items():
        w = torch.cat([torch.full(it.z.shape[1:2], 1.0 / it.vocal_energy) for it in items])
        ids = torch.cat([torch.full(it.z.shape[1:2], j, dtype=torch.long) for j, it in enumerate(items)])
        packed[name] = (torch.cat([it.z for it in items], 1), torch.cat([it.p for it in items], 1),
                        torch.cat([it.c for it in items], 1), w, ids, len(items))

    def set_errors(s, b) -> dict:
        """Per set: the objective (a ratio for "mean", dB for "log")."""
        out = {}
        for name, (z, p, c, w, ids, n) in packed.items():
            m = torch.sigmoid(z * s + b)
            per_frame = (m * m * p - 2.0 * m * c).sum(dim=(0, 2)) * w  # (T,)
            # Each excerpt's error over its vocal energy: 1 + its frames' terms.
            per_excerpt = 1.0 + torch.zeros(n).index_add(0, ids, per_frame)
            out[name] = (per_excerpt.mean() if objective == "mean"
                         else (10.0 * torch.log10(per_excerpt.clamp_min(1e-6))).mean())
        return out

    def in_db(errors: dict) -> dict:
        return {k: float(v) if objective == "log" else float(10 * torch.log10(v.clamp_min(1e-9)))
                for k, v in errors.items()}

    with torch.no_grad():
        before = in_db(set_errors(torch.ones(1), torch.zeros(1)))
    opt = torch.optim.Adam([scale, bias], lr=lr)
    for i in range(n_iter):
        opt.zero_grad()
        loss = sum(set_errors(scale, bias).values()) / len(packed)
        loss.backward()
        opt.step()
        if log is not None and (i % 50 == 0 or i == n_iter - 1):
            log(f"calibrate: iteration {i + 1}/{n_iter}, objective ({objective}) {loss.item():.4f}")
    with torch.no_grad():
        after = in_db(set_errors(scale, bias))
    s = scale.detach().expand(n_bands).clone()
    b = bias.detach().expand(n_bands).clone()
    return s, b, {"error_db_before": before, "error_db_after": after}


def calibrated(model: CausalUNet, scale: torch.Tensor, bias: torch.Tensor) -> CausalUNet:
    """A copy of ``model`` whose mask is ``sigmoid(scale * z + bias)`` per band. A model
    that is already calibrated composes: its map is applied first."""
    if not bool(torch.isfinite(scale).all() and torch.isfinite(bias).all()):
        raise ValueError("calibration scale or bias is not finite")
    old_scale, old_bias = (model.band_logit_scale, model.band_logit_bias) if model.cfg.calibrated \
        else (torch.ones_like(scale), torch.zeros_like(bias))
    new = CausalUNet(dataclasses.replace(model.cfg, calibrated=True))
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("band_logit_")}
    state["band_logit_scale"] = old_scale * scale
    state["band_logit_bias"] = old_bias * scale + bias
    new.load_state_dict(state)
    return new


def training_excerpts(data_root, cache_dir: str, n_synth: int):
    """``{set: iterator of (vocals, accompaniment, bandwidth_hz)}`` at 44.1 kHz stereo."""
    from rtsep.train.data.audio import resample
    from rtsep.train.data.clips import mir1k
    from rtsep.train.data.real import RealSongs
    from rtsep.train.data.synth.cache import split_dir

    def cut(v, a, rate, bandwidth):
        if rate != CALIB_RATE_HZ:
            v, a = resample(v, rate, CALIB_RATE_HZ), resample(a, rate, CALIB_RATE_HZ)
        n = int(EXCERPT_SECONDS * CALIB_RATE_HZ)
        for s in range(0, max(1, v.shape[1] - n // 2), n):
            yield v[:, s:s + n], a[:, s:s + n], bandwidth

    def mir():
        for s in mir1k(data_root, "train", cache_dir).stem_songs:
            v, a = s.read(0, s.n_samples)
            yield from cut(v, a, s.sample_rate_hz, s.content_bandwidth_hz)

    def cc0():
        for s in RealSongs(data_root, split="train", cache_dir=cache_dir).stem_songs:
            v, a = s.read(0, s.n_samples)
            yield from cut(v, a, s.sample_rate_hz, None)

    def synth():
        files = sorted(split_dir(cache_dir, "train").glob("*.npz"))
        if not files:
            raise FileNotFoundError(f"no synthetic training songs in {split_dir(cache_dir, 'train')} "
                                    "(run rtsep make-data)")
        step = max(1, len(files) // n_synth)
        for path in files[::step][:n_synth]:
            with np.load(path) as z:
                v, a = z["vocals"].astype(np.float32), z["accompaniment"].astype(np.float32)
                rate = int(z["sample_rate_hz"])
            yield from cut(v, a, rate, None)

    return {"mir1k-train": mir(), "cc0-train": cc0(), "synthetic-train": synth()}


def plot_map(scale: torch.Tensor, bias: torch.Tensor, model: CausalUNet, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    expand = model.band_expand
    bins = torch.arange(expand.shape[1], dtype=torch.float32)
    centre_hz = (expand @ bins) / expand.sum(1) * (CALIB_RATE_HZ / model.cfg.n_fft)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(centre_hz, scale.numpy())
    axes[0].set(xscale="log", xlabel="band centre (Hz)", ylabel="logit scale", title="scale a_b")
    axes[1].plot(centre_hz, bias.numpy())
    axes[1].set(xscale="log", xlabel="band centre (Hz)", ylabel="logit bias", title="bias c_b")
    m = torch.linspace(0.01, 0.99, 99)
    z = torch.logit(m)
    for hz in (200, 1000, 4000, 12000):
        k = int(torch.argmin((centre_hz - hz).abs()))
        axes[2].plot(m.numpy(), torch.sigmoid(z * scale[k] + bias[k]).numpy(), label=f"{hz} Hz")
    axes[2].plot([0, 1], [0, 1], "k:", lw=0.8)
    axes[2].set(xlabel="mask before", ylabel="mask after", title="the map at four bands")
    axes[2].legend(fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    from rtsep.model.checkpoint import load_checkpoint, save_checkpoint
    from rtsep.train.data.paths import resolve_data_root

    ap = argparse.ArgumentParser(prog="python -m rtsep.train.calibrate", description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("out", help="calibrated checkpoint to write (a .json and .png beside it)")
    ap.add_argument("--global", dest="per_band", action="store_false",
                    help="one scale and bias for every band (default: one per band)")
    ap.add_argument("--objective", choices=OBJECTIVES, default="log",
                    help="log (default; the shipped model's): the mean over excerpts of the error "
                         "relative to the vocal energy in dB (per-excerpt spectral SDR); mean: the "
                         "mean of that ratio (ruled by the excerpts with the least voice)")
    ap.add_argument("--n-synth", type=int, default=120, help="synthetic training songs to use")
    ap.add_argument("--frame-step", type=int, default=4, help="use every n-th frame")
    ap.add_argument("--iterations", type=int, default=100, help="Adam iterations of the fit")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--data-root")
    ap.add_argument("--cache-dir", default="cache")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, meta = load_checkpoint(args.checkpoint)
    if not isinstance(model, CausalUNet):
        raise SystemExit(f"{args.checkpoint}: is a mask ensemble; calibrate one model")
    model.eval()
    geometry = StftGeometry(n_fft=model.cfg.n_fft)
    window = torch.from_numpy(geometry.analysis_window())
    root = resolve_data_root(args.data_root)
    sets: dict[str, list[ExcerptStats]] = {}
    for name, excerpts in training_excerpts(root, args.cache_dir, args.n_synth).items():
        items = []
        for v, a, bw in tqdm(excerpts, desc=f"calibrate: {name}", unit="excerpt", file=sys.stderr):
            st = excerpt_stats(model, v, a, bw, geometry, window, args.frame_step)
            if st is not None:
                items.append(st)
        if not items:
            raise SystemExit(f"calibrate: no usable excerpt in {name}")
        sets[name] = items
    scale, bias, report = fit(sets, per_band=args.per_band, n_iter=args.iterations,
                              objective=args.objective, log=lambda s: print(s, file=sys.stderr))
    new = calibrated(model, scale, bias)
    out = Path(args.out)
    what = {"per_band": args.per_band, "objective": args.objective,
            "n_excerpts": {k: len(v) for k, v in sets.items()}, **report}
    extra = {**(meta.get("extra") or {}), "calibration": what}
    save_checkpoint(out, new, geometry=geometry, sample_rates_hz=tuple(meta["sample_rates_hz"]),
                    extra=extra)
    out.with_suffix(".json").write_text(json.dumps(
        {"checkpoint": str(args.checkpoint), **what,
         "scale": [round(float(x), 5) for x in scale], "bias": [round(float(x), 5) for x in bias]},
        indent=1))
    plot_map(scale, bias, model, out.with_suffix(".png"))
    print(f"{out}: " + ", ".join(f"{k} {report['error_db_before'][k]:.2f} -> {v:.2f} dB"
                                  for k, v in report["error_db_after"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
