"""The HiFi-GAN generator (dec): latent frames -> waveform, with optional masks for padded batches.

HiFi-GAN has no masks of its own. For a batch of different lengths, `Generator.forward` takes the frame mask,
upsamples it with each layer, and zeroes the padded region of every convolution's input, so each item sees exactly
the zero padding it would see alone. Without a mask (one item) nothing extra runs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import VitsConfig

LRELU_SLOPE = 0.1


def bucket_padding(frames: int, bucket: int) -> int:
    """Frames to append so `frames` becomes a multiple of `bucket` (0 when bucketing is off or not needed)."""
    return (-frames) % bucket if bucket > 1 else 0


def _masked(x: Tensor, mask: Tensor | None) -> Tensor:
    return x if mask is None else x * mask


def _conv(channels: int, kernel_size: int, dilation: int = 1) -> nn.Conv1d:
    """A 'same'-padded dilated conv."""
    return nn.Conv1d(channels, channels, kernel_size, dilation=dilation, padding=dilation * (kernel_size - 1) // 2)


class ResBlock1(nn.Module):
    """Pairs of (dilated conv, conv) with leaky-ReLU residuals (Piper "high" quality)."""

    def __init__(self, channels: int, kernel_size: int, dilation: tuple[int, ...]) -> None:
        super().__init__()
        self.convs1 = nn.ModuleList(_conv(channels, kernel_size, d) for d in dilation)
        self.convs2 = nn.ModuleList(_conv(channels, kernel_size) for _ in dilation)

    def forward(self, x: Tensor, x_mask: Tensor | None = None) -> Tensor:
        for c1, c2 in zip(self.convs1, self.convs2):
            xt = c1(_masked(F.leaky_relu(x, LRELU_SLOPE), x_mask))
            xt = c2(_masked(F.leaky_relu(xt, LRELU_SLOPE), x_mask))
            x = xt + x
        return _masked(x, x_mask)


class ResBlock2(nn.Module):
    """Dilated convs with leaky-ReLU residuals (Piper "medium" quality)."""

    def __init__(self, channels: int, kernel_size: int, dilation: tuple[int, ...]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(_conv(channels, kernel_size, d) for d in dilation)

    def forward(self, x: Tensor, x_mask: Tensor | None = None) -> Tensor:
        for conv in self.convs:
            x = conv(_masked(F.leaky_relu(x, LRELU_SLOPE), x_mask)) + x
        return _masked(x, x_mask)


class Generator(nn.Module):
    """conv_pre -> n x (leaky ReLU, transposed-conv upsample, mean of multi-kernel resblocks) -> conv_post -> tanh."""

    def __init__(self, config: VitsConfig) -> None:
        super().__init__()
        c = config
        self.upsample_rates = c.upsample_rates
        self.hop = math.prod(c.upsample_rates)
        self.num_kernels = len(c.resblock_kernel_sizes)
        ch = c.upsample_initial_channel
        self.conv_pre = nn.Conv1d(c.inter_channels, ch, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        resblock = ResBlock1 if c.resblock == "1" else ResBlock2
        for i, (u, k) in enumerate(zip(c.upsample_rates, c.upsample_kernel_sizes)):
            self.ups.append(nn.ConvTranspose1d(ch // 2**i, ch // 2 ** (i + 1), k, u, padding=(k - u) // 2))
            for k_res, d in zip(c.resblock_kernel_sizes, c.resblock_dilation_sizes):
                self.resblocks.append(resblock(ch // 2 ** (i + 1), k_res, d))
        self.conv_post = nn.Conv1d(ch // 2 ** len(self.ups), 1, 7, padding=3, bias=False)
        self.bucket_frames = 0  # > 1: unmasked inputs are padded to a multiple of it and run masked

    def forward(self, z: Tensor, y_mask: Tensor | None = None) -> Tensor:
        """z: (B, C, F); y_mask: (B, 1, F) or None for a single unpadded item. Returns audio (B, 1, F*hop) in [-1, 1].

        With `bucket_frames`, an unmasked input is padded up to a multiple of it and runs with a mask (the
        same audio), so the convolutions see few distinct shapes (kernels are built per shape)."""
        frames = z.shape[-1]
        pad = bucket_padding(frames, self.bucket_frames)
        if y_mask is None and pad:
            mask = F.pad(torch.ones_like(z[:, :1]), (0, pad))  # (B, 1, F')
            return self.forward(F.pad(z, (0, pad)), mask)[..., : frames * self.hop]
        mask = y_mask
        x = self.conv_pre(_masked(z, mask))  # (B, upsample_initial_channel, F)
        for i, (up, rate) in enumerate(zip(self.ups, self.upsample_rates)):
            x = up(_masked(F.leaky_relu(x, LRELU_SLOPE), mask))  # (B, C/2, F*rate)
            if mask is not None:
                mask = mask.repeat_interleave(rate, dim=2)
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            xs = blocks[0](x, mask)
            for block in blocks[1:]:
                xs = xs + block(x, mask)
            x = xs / self.num_kernels
        x = F.leaky_relu(x)  # default slope 0.01 here, as in VITS
        # conv_post may hold another dtype than the body (fp32 after a 16-bit body: see tiers.precision)
        x = torch.tanh(self.conv_post(_masked(x, mask).to(self.conv_post.weight.dtype)))  # (B, 1, S)
        return _masked(x, mask)
