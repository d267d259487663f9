"""The causal streaming U-Net that predicts a vocal mask from a stereo STFT.

Design choices (and why):

* **Input**: one complex STFT frame per channel of a stereo mixture, given as
  real/imaginary pairs, ``float32 (n_batch, 2, n_bins, 2)`` in step mode or
  ``(n_batch, 2, n_frames, n_bins, 2)`` in sequence mode. The network sees
  compressed magnitudes (``|X| ** 0.3``) of left, right, mid and side: mid/side
  make the usual centre panning of a lead voice visible without phase inputs.
* **Band split**: the 513 bins of a 1024-point FFT are merged into 192 bands:
  the 128 bins below ~6 kHz stay single (pitch and formants live there), the
  rest are averaged in bands of 6 bins. This cuts the convolution cost by 2.7x
  at little loss: above 6 kHz a voice is mostly sibilance and breath, which a
  coarse mask handles. The band mask is copied back to the bins of its band.
* **Causal in time, strided in frequency**: every convolution has a time kernel
  of ``time_kernel`` frames that looks only at the past (zero-padded at the
  start in sequence mode, fed from explicit state in step mode), and strides
  only along frequency. A per-frame normalisation over (channels, bands) keeps
  levels in range without mixing frames.
* **GRU bottleneck**: a single-layer GRU over the flattened bottleneck carries
  context longer than the convolutions' few frames (sustained notes, sections).
* **Output**: a magnitude mask in [0, 1] for the vocals of each channel,
  ``(n_batch, 2, n_bins)``; the instrumental is the mixture minus the vocals
  (done by the engine), so the two always sum back to the input.

State is never kept in module buffers (both torch ONNX exporters would freeze
it): :meth:`CausalUNet.step` takes and returns every state tensor explicitly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from torch.nn import functional as F

MAG_EXPONENT = 0.3
EPS = 1e-8


#: UNetConfig fields that files written before them lack (their default applies).
OPTIONAL_FIELDS = ("calibrated",)


@dataclass(frozen=True)
class UNetConfig:
    """Architecture arguments; stored in every checkpoint and export."""

    n_fft: int = 1024
    n_channels_audio: int = 2
    n_single_bins: int = 128
    band_width_bins: int = 6
    channels: tuple = (16, 24, 32, 48, 64)
    time_kernel: int = 2
    gru_hidden: int = 128
    n_features: int = 4  # |L|, |R|, |M|, |S|
    # A per-band affine map of the head's logits, fitted after training
    # (rtsep.train.calibrate); False: none, the weights of every model before it.
    calibrated: bool = False

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    @property
    def n_bands(self) -> int:
        n_rest = self.n_bins - self.n_single_bins
        return self.n_single_bins + n_rest // self.band_width_bins

    def to_dict(self) -> dict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "UNetConfig":
        d = dict(d)
        d["channels"] = tuple(d["channels"])
        return cls(**d)


def band_matrices(cfg: UNetConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Bin->band averaging ``(n_bins, n_bands)`` and band->bin copy ``(n_bands, n_bins)``."""
    n_bins, n_bands = cfg.n_bins, cfg.n_bands
    band_of_bin = torch.empty(n_bins, dtype=torch.long)
    band_of_bin[: cfg.n_single_bins] = torch.arange(cfg.n_single_bins)
    rest = torch.arange(n_bins - cfg.n_single_bins) // cfg.band_width_bins
    band_of_bin[cfg.n_single_bins:] = (cfg.n_single_bins + rest).clamp(max=n_bands - 1)
    expand = F.one_hot(band_of_bin, n_bands).to(torch.float32).T.contiguous()  # (bands, bins)
    pool = expand.T / expand.sum(dim=1)  # (bins, bands), columns average their bins
    return pool.contiguous(), expand


class FrameNorm(nn.Module):
    """Normalise each frame over (channels, bands), with a learned affine. Causal."""

    def __init__(self, n_channels: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1, n_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, n_channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, T, B)
        mean = x.mean(dim=(1, 3), keepdim=True)
        var = (x - mean).pow(2).mean(dim=(1, 3), keepdim=True)
        return (x - mean) * torch.rsqrt(var + 1e-5) * self.scale + self.bias


class CausalConv(nn.Module):
    """Conv over (time, band): causal in time, optional stride 2 along bands.

    Sequence mode: ``(N, C_in, T, B_in) -> (N, C_out, T, B_out)``.
    Step mode: ``(N, C_in, 1, B_in)`` plus state ``(N, C_in, k_t - 1, B_in)``
    (the last ``k_t - 1`` input frames) -> output and new state.
    """

    def __init__(self, c_in: int, c_out: int, time_kernel: int, stride_band: int):
        super().__init__()
        self.time_kernel = time_kernel
        self.conv = nn.Conv2d(c_in, c_out, (time_kernel, 3), stride=(1, stride_band),
                              padding=(0, 1))
        self.norm = FrameNorm(c_out)

    def _post(self, y: torch.Tensor) -> torch.Tensor:
        return F.elu(self.norm(y))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, (0, 0, self.time_kernel - 1, 0))
        return self._post(self.conv(x))

    def step(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        full = torch.cat([state, x], dim=2)
        return self._post(self.conv(full)), full[:, :, 1:]


class CausalUNet(nn.Module):
    """Causal mask U-Net; see the module docstring for the design."""

    def __init__(self, cfg: UNetConfig = UNetConfig()):
        super().__init__()
        self.cfg = cfg
        pool, expand = band_matrices(cfg)
        # Constant matrices, not state: persistent buffers are fine for export.
        self.register_buffer("band_pool", pool)
        self.register_buffer("band_expand", expand)
        chans = list(cfg.channels)
        self.encoders = nn.ModuleList()
        c_prev = cfg.n_features
        for i, c in enumerate(chans):
            self.encoders.append(CausalConv(c_prev, c, cfg.time_kernel, 1 if i == 0 else 2))
            c_prev = c
        n_bottleneck_bands = cfg.n_bands // 2 ** (len(chans) - 1)
        self.n_bottleneck_bands = n_bottleneck_bands
        flat = chans[-1] * n_bottleneck_bands
        self.gru = nn.GRU(flat, cfg.gru_hidden, batch_first=True)
        self.gru_out = nn.Linear(cfg.gru_hidden, flat)
        self.decoders = nn.ModuleList()
        for i in range(len(chans) - 1, 0, -1):
            self.decoders.append(CausalConv(chans[i], chans[i - 1], cfg.time_kernel, 1))
        self.head = nn.Conv2d(chans[0], cfg.n_channels_audio, 1)
        self.head_bias_init()
        if cfg.calibrated:
            # Fitted constants, not trained parameters (identity until fitted).
            self.register_buffer("band_logit_scale", torch.ones(cfg.n_bands))
            self.register_buffer("band_logit_bias", torch.zeros(cfg.n_bands))

    def head_bias_init(self) -> None:
        nn.init.zeros_(self.head.weight)
        nn.init.constant_(self.head.bias, 0.0)

    # -- shared pieces ---------------------------------------------------------------
    def _features(self, re: torch.Tensor, im: torch.Tensor) -> torch.Tensor:
        """re/im ``(N, 2, T, n_bins)`` -> band features ``(N, 4, T, n_bands)``."""
        mid_re, mid_im = 0.5 * (re[:, 0] + re[:, 1]), 0.5 * (im[:, 0] + im[:, 1])
        side_re, side_im = 0.5 * (re[:, 0] - re[:, 1]), 0.5 * (im[:, 0] - im[:, 1])
        power = torch.stack([
            re[:, 0] ** 2 + im[:, 0] ** 2,
            re[:, 1] ** 2 + im[:, 1] ** 2,
            mid_re ** 2 + mid_im ** 2,
            side_re ** 2 + side_im ** 2,
        ], dim=1)
        mag = (power + EPS).pow(0.5 * MAG_EXPONENT)
        return torch.matmul(mag, self.band_pool)

    def _upsample(self, x: torch.Tensor) -> torch.Tensor:
        return torch.repeat_interleave(x, 2, dim=3)

    def band_logits(self, y: torch.Tensor) -> torch.Tensor:
        """Decoder output ``(N, C0, T, B)`` -> the mask's logits per band ``(N, 2, T, B)``
        (after the calibration's per-band scale and bias, when the model has them)."""
        z = self.head(y)
        if self.cfg.calibrated:
            z = z * self.band_logit_scale + self.band_logit_bias
        return z

    def _mask(self, y: torch.Tensor) -> torch.Tensor:
        """Decoder output ``(N, C0, T, B)`` -> bin mask ``(N, 2, T, n_bins)``."""
        return torch.sigmoid(torch.matmul(self.band_logits(y), self.band_expand))

    # -- sequence mode -----------------------------------------------------------------
    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """Sequence mode. ``spec``: ``(N, 2, T, n_bins, 2)`` re/im -> mask ``(N, 2, T, n_bins)``."""
        return self._mask(self.decode(spec))

    def decode(self, spec: torch.Tensor) -> torch.Tensor:
        """Sequence mode up to the head: ``spec`` -> decoder output ``(N, C0, T, B)``."""
        x = self._features(spec[..., 0], spec[..., 1])
        skips = []
        for enc in self.encoders:
            x = enc(x)
            skips.append(x)
        n, c, t, b = x.shape
        h, _ = self.gru(x.permute(0, 2, 1, 3).reshape(n, t, c * b))
        x = x + self.gru_out(h).reshape(n, t, c, b).permute(0, 2, 1, 3)
        for i, dec in enumerate(self.decoders):
            x = dec(self._upsample(x)) + skips[-2 - i]
        return x

    # -- step mode -----------------------------------------------------------------------
    def state_shapes(self, n_batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        """Names and shapes of the explicit step-mode state tensors, in call order."""
        cfg = self.cfg
        k = cfg.time_kernel - 1
        shapes = []
        bands_in = cfg.n_bands
        c_prev = cfg.n_features
        enc_bands = []
        for i, c in enumerate(cfg.channels):
            shapes.append((f"enc{i}", (n_batch, c_prev, k, bands_in)))
            bands_out = bands_in if i == 0 else bands_in // 2
            enc_bands.append(bands_out)
            bands_in, c_prev = bands_out, c
        shapes.append(("gru", (1, n_batch, cfg.gru_hidden)))
        chans = list(cfg.channels)
        for j, i in enumerate(range(len(chans) - 1, 0, -1)):
            shapes.append((f"dec{j}", (n_batch, chans[i], k, enc_bands[i - 1])))
        return shapes

    def initial_state(self, n_batch: int = 1) -> list[torch.Tensor]:
        return [torch.zeros(s) for _, s in self.state_shapes(n_batch)]

    def step(self, frame: torch.Tensor, *state: torch.Tensor):
        """Step mode: one frame ``(N, 2, n_bins, 2)`` and the state tensors (in
        :meth:`state_shapes` order) -> ``(mask (N, 2, n_bins), *new_state)``."""
        n_enc = len(self.encoders)
        x = self._features(frame[..., 0].unsqueeze(2), frame[..., 1].unsqueeze(2))
        new_state = []
        skips = []
        for i, enc in enumerate(self.encoders):
            x, s = enc.step(x, state[i])
            new_state.append(s)
            skips.append(x)
        n, c, t, b = x.shape
        h, h_new = self.gru(x.reshape(n, 1, c * b), state[n_enc])
        new_state.append(h_new)
        x = x + self.gru_out(h).reshape(n, 1, c, b).permute(0, 2, 1, 3)
        for j, dec in enumerate(self.decoders):
            x, s = dec.step(self._upsample(x), state[n_enc + 1 + j])
            new_state.append(s)
            x = x + skips[-2 - j]
        return (self._mask(x)[:, :, 0], *new_state)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
