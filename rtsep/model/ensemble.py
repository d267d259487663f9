"""Several trained U-Nets of one architecture run side by side; their masks are averaged.

Why: the compute target (p99 at most a quarter of the hop on one core) leaves room for about
twice the shipped model's cost, and two models trained on different data make different
mistakes. Averaging their masks uses that room without training anything.

:class:`MaskEnsemble` has the interface the exporters and the checkpoint code use from
:class:`~rtsep.model.unet.CausalUNet`: ``cfg`` (the members' shared architecture),
``forward`` (sequence mode), ``step`` with explicit state (every member's state tensors in
turn, named ``m<j>.<name>``), ``state_shapes``, ``initial_state`` and ``n_parameters``. Its
state dict holds each member's weights under ``members.<j>.``.

The members must share one :class:`~rtsep.model.unet.UNetConfig` (the native C++ model
runs them with one set of architecture numbers); the mean is plain and unweighted.
"""

from __future__ import annotations

import torch
from torch import nn

from rtsep.model.unet import CausalUNet, UNetConfig

#: More members than this would not fit the compute target with the shipped size; the
#: native reader applies the same limit to a file it is handed.
MAX_MEMBERS = 8


class MaskEnsemble(nn.Module):
    """The mean of the vocal masks of ``members`` (CausalUNets of one architecture)."""

    def __init__(self, members: list[CausalUNet]):
        super().__init__()
        members = list(members)
        if not 2 <= len(members) <= MAX_MEMBERS:
            raise ValueError(f"an ensemble needs 2 to {MAX_MEMBERS} members, got {len(members)}")
        for j, m in enumerate(members):
            if not isinstance(m, CausalUNet):
                raise TypeError(f"member {j} is a {type(m).__name__}, not a CausalUNet")
            if m.cfg != members[0].cfg:
                raise ValueError(f"member {j}'s architecture {m.cfg.to_dict()} differs from member "
                                 f"0's {members[0].cfg.to_dict()}; an ensemble's members share one")
        self.members = nn.ModuleList(members)

    @property
    def cfg(self) -> UNetConfig:
        return self.members[0].cfg

    @property
    def n_members(self) -> int:
        return len(self.members)

    @classmethod
    def empty(cls, cfg: UNetConfig, n_members: int) -> "MaskEnsemble":
        """Untrained members (for loading a state dict into)."""
        return cls([CausalUNet(cfg) for _ in range(n_members)])

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """Sequence mode, as :meth:`CausalUNet.forward`."""
        total = self.members[0](spec)
        for m in self.members[1:]:
            total = total + m(spec)
        return total / self.n_members

    def state_shapes(self, n_batch: int = 1) -> list[tuple[str, tuple[int, ...]]]:
        return [(f"m{j}.{name}", shape) for j, m in enumerate(self.members)
                for name, shape in m.state_shapes(n_batch)]

    def initial_state(self, n_batch: int = 1) -> list[torch.Tensor]:
        return [torch.zeros(s) for _, s in self.state_shapes(n_batch)]

    def step(self, frame: torch.Tensor, *state: torch.Tensor):
        """One frame and every member's state in turn -> ``(mean mask, *new state)``."""
        per = len(self.members[0].state_shapes(1))
        new_state: list[torch.Tensor] = []
        total = None
        for j, m in enumerate(self.members):
            mask, *s = m.step(frame, *state[j * per:(j + 1) * per])
            new_state.extend(s)
            total = mask if total is None else total + mask
        return (total / self.n_members, *new_state)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
