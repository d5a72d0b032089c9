"""Small pieces shared by the VITS parts: masks, the monotonic alignment path, channel-first LayerNorm."""

from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def sequence_mask(lengths: Tensor, max_length: int | None = None) -> Tensor:
    """Boolean mask (B, T) that is True where the position index is below the item's length."""
    if max_length is None:
        max_length = int(lengths.max())
    positions = torch.arange(max_length, dtype=lengths.dtype, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)  # (B, T)


class LayerNorm(nn.Module):
    """LayerNorm over the channel axis of a (B, C, T) tensor; weights are named `gamma` and `beta`."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        x = F.layer_norm(x.transpose(1, -1), self.gamma.shape, self.gamma, self.beta, self.eps)  # (B, T, C)
        return x.transpose(1, -1)  # (B, C, T)


Generators = Union[torch.Generator, Sequence[Optional[torch.Generator]], None]


def randn(shape: tuple[int, int, int], generator: Generators, device: torch.device, dtype: torch.dtype,
          mask: Optional[Tensor] = None) -> Tensor:
    """N(0, 1) noise of `shape` (B, C, T).

    With one generator (or None) it is a plain draw. With a list, one generator per batch item, each
    item is drawn alone over its own length (from `mask` (B, 1, T)) and zero-padded, so an item of a
    padded batch gets exactly the noise it gets when synthesized alone.
    """
    if generator is None or isinstance(generator, torch.Generator):
        return torch.randn(shape, generator=generator, device=device, dtype=dtype)
    b, c, t = shape
    lengths = mask.sum(dim=(1, 2)).long().tolist() if mask is not None else [t] * b
    out = torch.zeros(shape, device=device, dtype=dtype)
    for i, (gen, n) in enumerate(zip(generator, lengths)):
        out[i, :, :n] = torch.randn((1, c, n), generator=gen, device=device, dtype=dtype)[0]
    return out
