"""Grow a trained :class:`CausalUNet` into a larger one that computes the same function.

Training a bigger model from scratch on two CPU cores costs hours before it is as good as
the model we already have; growing that model instead starts the bigger one exactly where
the small one is, and training then only has to use the new capacity. Two growths keep the
function exactly (checked by the tests):

- ``gru_hidden``: the old GRU units keep their weights and ignore the new ones (zero
  recurrent weights from new to old units); the new units start random and small, and the
  bottleneck's output projection reads them through zero-initialised columns, so they
  change nothing until training moves those columns.
- ``time_kernel``: every causal convolution gets older taps, zero-initialised; the newest
  taps keep the old weights. The taps' gradients are not zero (they see earlier frames), so
  they learn.

Channel widths cannot grow this way (the per-frame normalisation averages over channels),
so ``channels`` and the other fields must stay as they are.
"""

from __future__ import annotations

import dataclasses

import torch

from rtsep.model.unet import CausalUNet, UNetConfig

GROWABLE = ("gru_hidden", "time_kernel")
NEW_UNIT_SCALE = 0.1  # new GRU units start at a tenth of PyTorch's default init range


def grow(model: CausalUNet, cfg: UNetConfig, *, seed: int = 0) -> CausalUNet:
    """A new :class:`CausalUNet` with architecture ``cfg`` and the same outputs as ``model``.

    Raises ValueError when ``cfg`` differs from ``model.cfg`` other than by a larger or equal
    ``gru_hidden`` / ``time_kernel``.
    """
    old_cfg = model.cfg
    for f in dataclasses.fields(UNetConfig):
        a, b = getattr(old_cfg, f.name), getattr(cfg, f.name)
        if f.name in GROWABLE:
            if b < a:
                raise ValueError(f"cannot shrink {f.name} from {a} to {b}")
        elif (tuple(a) != tuple(b)) if f.name == "channels" else (a != b):
            raise ValueError(f"cannot change {f.name} ({a} -> {b}) of a trained model; "
                             f"only {' and '.join(GROWABLE)} can grow")
    torch.manual_seed(seed)
    new = CausalUNet(cfg)
    old_sd = model.state_dict()
    new_sd = new.state_dict()
    h_old, h_new = old_cfg.gru_hidden, cfg.gru_hidden
    k_old, k_new = old_cfg.time_kernel, cfg.time_kernel
    with torch.no_grad():
        for name, new_t in new_sd.items():
            old_t = old_sd[name]
            if name.startswith("gru."):
                new_sd[name] = _grow_gru_tensor(name, old_t, new_t, h_old, h_new)
            elif name == "gru_out.weight":
                out = torch.zeros_like(new_t)
                out[:, :h_old] = old_t
                new_sd[name] = out
            elif new_t.dim() == 4 and new_t.shape[2] == k_new and old_t.shape[2] == k_old \
                    and name.endswith("conv.weight"):
                out = torch.zeros_like(new_t)
                out[:, :, k_new - k_old:, :] = old_t  # last tap = current frame
                new_sd[name] = out
            else:
                if old_t.shape != new_t.shape:
                    raise ValueError(f"unexpected shape change in {name}: "
                                     f"{tuple(old_t.shape)} -> {tuple(new_t.shape)}")
                new_sd[name] = old_t.clone()
    new.load_state_dict(new_sd)
    new.eval()
    return new


def _grow_gru_tensor(name: str, old: torch.Tensor, new: torch.Tensor,
                     h_old: int, h_new: int) -> torch.Tensor:
    """One ``nn.GRU`` parameter (gates r, z, n stacked along dim 0) grown to ``h_new`` units."""
    out = new * NEW_UNIT_SCALE  # new units: small random weights and biases
    for gate in range(3):
        rows_new = slice(gate * h_new, gate * h_new + h_old)
        rows_old = slice(gate * h_old, (gate + 1) * h_old)
        if name.startswith("gru.weight_hh"):
            out[rows_new, :h_old] = old[rows_old]
            out[rows_new, h_old:] = 0.0  # old units do not read the new ones
        else:  # weight_ih (same input width) or a bias
            out[rows_new] = old[rows_old]
    return out
