"""Cache-blocked decoder: the full-rate stages of HiFi-GAN run in time tiles that fit in the CPU cache.

The last upsampling stages hold few channels (32 at 22 kHz for the joe voice) over very many samples:
each of their convolutions streams tens of MB through memory and does little arithmetic per byte, so
they are memory-bound. Their receptive field at that rate is tiny (about 48 samples), so running them
tile by tile, each tile widened by a margin of that size and cropped after, gives the same samples as
running them whole (exact: the fp32 gate applies) while every intermediate stays in cache. The earlier,
wider stages run whole, as before. Padded batches (a mask) run untiled.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LRELU_SLOPE = 0.1


def stage_radius(dec: nn.Module, stage: int) -> int:
    """Receptive-field radius, in samples at the stage's rate, of a stage's resblocks (+ conv_post after
    the last stage)."""
    blocks = dec.resblocks[stage * dec.num_kernels : (stage + 1) * dec.num_kernels]
    radius = max(sum(c.dilation[0] * (c.kernel_size[0] - 1) // 2 for c in _convs(b)) for b in blocks)
    return radius


def _convs(block: nn.Module) -> list[nn.Conv1d]:
    return [m for m in block.modules() if isinstance(m, nn.Conv1d)]


class TiledDecoder(nn.Module):
    """Wraps a HiFi-GAN `Generator` (sharing its weights); tiles every stage from `first_tiled` on."""

    def __init__(self, dec: nn.Module, tile: int = 8192, first_tiled: int | None = None) -> None:
        super().__init__()
        self.dec = dec
        self.tile = tile
        n = len(dec.ups)
        self.first_tiled = n - 1 if first_tiled is None else first_tiled
        # margin of the tiled tail, in samples at the final rate: every tiled stage's radius scaled up
        # to the final rate, plus conv_post's, plus one tile-rate sample for the transposed convs' reach
        margin, scale = 3.0, 1
        for i in reversed(range(self.first_tiled, n)):
            margin += stage_radius(dec, i) * scale
            if i > self.first_tiled:
                margin += dec.ups[i].kernel_size[0] * scale
            scale *= dec.upsample_rates[i]
        self.margin = int(math.ceil(margin / self._in_rate())) + 1  # in samples at the tiled input rate

    def _in_rate(self) -> int:
        r = 1
        for i in range(self.first_tiled + 1, len(self.dec.ups)):
            r *= self.dec.upsample_rates[i]
        return r

    def _tail(self, x: Tensor) -> Tensor:
        """Stages first_tiled.. from just after ups[first_tiled] to the waveform (no masks)."""
        dec = self.dec
        k = dec.num_kernels
        for i in range(self.first_tiled, len(dec.ups)):
            if i > self.first_tiled:
                x = dec.ups[i](F.leaky_relu(x, LRELU_SLOPE))
            blocks = dec.resblocks[i * k : (i + 1) * k]
            xs = blocks[0](x)
            for block in blocks[1:]:
                xs = xs + block(x)
            x = xs / k
        # conv_post may hold another dtype than the body (fp32 after a 16-bit body: see tiers.precision)
        return torch.tanh(dec.conv_post(F.leaky_relu(x).to(dec.conv_post.weight.dtype)))

    def forward(self, z: Tensor, y_mask: Tensor | None = None) -> Tensor:
        if y_mask is not None:
            return self.dec(z, y_mask)
        dec = self.dec
        x = dec.conv_pre(z)  # (B, C0, F)
        for i in range(self.first_tiled + 1):
            x = dec.ups[i](F.leaky_relu(x, LRELU_SLOPE))
            if i < self.first_tiled:
                k = dec.num_kernels
                blocks = dec.resblocks[i * k : (i + 1) * k]
                xs = blocks[0](x)
                for block in blocks[1:]:
                    xs = xs + block(x)
                x = xs / k
        # x: (B, C, T) at the first tiled stage's rate, after its upsampling
        t, rate, m = x.shape[-1], self._in_rate(), self.margin
        step = max(1, self.tile // rate)
        if t <= step + 2 * m:
            return self._tail(x)
        post = dec.conv_post.weight.dtype  # the waveform's dtype, not the body's
        out = torch.empty(x.shape[0], 1, t * rate, dtype=post, device=x.device)  # (B, 1, S)
        for a in range(0, t, step):
            b = min(t, a + step)
            lo, hi = max(0, a - m), min(t, b + m)
            y = self._tail(x[..., lo:hi])  # (B, 1, (hi-lo)*rate)
            out[..., a * rate : b * rate] = y[..., (a - lo) * rate : (b - lo) * rate]
        return out


def apply_tiling(model: nn.Module, tile: int = 8192) -> nn.Module:
    """Replace `model.dec` by its tiled form (same weights). Returns `model`."""
    if not isinstance(model.dec, TiledDecoder):
        model.dec = TiledDecoder(model.dec, tile)
    return model
