"""`StochasticDurationPredictor` (dp), inference direction only: noise -> log-durations per token.

The training-only posterior (`post_*`) is not built; Piper's ONNX export does not carry it either.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .commons import Generators, LayerNorm, randn
from .config import VitsConfig
from .flow import Flip

_MIN_BIN = 1e-3  # minimum bin width, height and derivative of the spline, as in training


class DDSConv(nn.Module):
    """Dilated depth-separable convolutions (dilation kernel_size**i), each followed by a 1x1 conv, GELU residuals."""

    def __init__(self, channels: int, kernel_size: int, n_layers: int) -> None:
        super().__init__()
        self.convs_sep = nn.ModuleList()
        self.convs_1x1 = nn.ModuleList()
        self.norms_1 = nn.ModuleList()
        self.norms_2 = nn.ModuleList()
        for i in range(n_layers):
            dilation = kernel_size**i
            padding = (kernel_size * dilation - dilation) // 2
            self.convs_sep.append(
                nn.Conv1d(channels, channels, kernel_size, groups=channels, dilation=dilation, padding=padding)
            )
            self.convs_1x1.append(nn.Conv1d(channels, channels, 1))
            self.norms_1.append(LayerNorm(channels))
            self.norms_2.append(LayerNorm(channels))

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor:
        if g is not None:
            x = x + g
        for sep, c1x1, n1, n2 in zip(self.convs_sep, self.convs_1x1, self.norms_1, self.norms_2):
            y = F.gelu(n1(sep(x * x_mask)))
            y = F.gelu(n2(c1x1(y)))
            x = x + y
        return x * x_mask


class ElementwiseAffine(nn.Module):
    """y = m + exp(logs) * x per channel; reverse only."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.m = nn.Parameter(torch.zeros(channels, 1))
        self.logs = nn.Parameter(torch.zeros(channels, 1))

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor:
        return (x - self.m) * torch.exp(-self.logs) * x_mask


class ConvFlow(nn.Module):
    """Neural spline coupling: the first channel conditions a rational-quadratic spline on the second; reverse only."""

    def __init__(
        self, in_channels: int, filter_channels: int, kernel_size: int, n_layers: int, num_bins: int, tail_bound: float
    ) -> None:
        super().__init__()
        self.half_channels = in_channels // 2
        self.filter_channels = filter_channels
        self.num_bins = num_bins
        self.tail_bound = tail_bound
        self.pre = nn.Conv1d(self.half_channels, filter_channels, 1)
        self.convs = DDSConv(filter_channels, kernel_size, n_layers)
        self.proj = nn.Conv1d(filter_channels, self.half_channels * (num_bins * 3 - 1), 1)

    def forward(self, x: Tensor, x_mask: Tensor, g: Tensor | None = None) -> Tensor:
        x0, x1 = torch.split(x, [self.half_channels] * 2, 1)  # (B, 1, T) each
        h = self.convs(self.pre(x0), x_mask, g=g)
        h = self.proj(h) * x_mask  # (B, 3*bins-1, T)
        b, c, t = x0.shape
        h = h.reshape(b, c, -1, t).permute(0, 1, 3, 2)  # (B, 1, T, 3*bins-1)
        nb, scale = self.num_bins, math.sqrt(self.filter_channels)
        x1 = spline_inverse(x1, h[..., :nb] / scale, h[..., nb : 2 * nb] / scale, h[..., 2 * nb :], self.tail_bound)
        return torch.cat([x0, x1], 1) * x_mask


def spline_inverse(y: Tensor, u_widths: Tensor, u_heights: Tensor, u_derivs: Tensor, bound: float) -> Tensor:
    """Inverse of a monotonic rational-quadratic spline on [-bound, bound], identity outside (linear tails).

    y: (...); u_widths, u_heights: (..., bins); u_derivs: (..., bins-1) unnormalized parameters.
    """
    inside = (y >= -bound) & (y <= bound)
    y_in = y.clamp(-bound, bound)
    num_bins = u_widths.shape[-1]
    # derivative 1 at both ends so the spline meets the identity tails smoothly
    u_derivs = F.pad(u_derivs, (1, 1), value=math.log(math.exp(1 - _MIN_BIN) - 1))

    def knots(u: Tensor) -> tuple[Tensor, Tensor]:
        sizes = _MIN_BIN + (1 - _MIN_BIN * num_bins) * F.softmax(u, dim=-1)
        cum = F.pad(torch.cumsum(sizes, dim=-1), (1, 0))
        cum = 2 * bound * cum - bound
        cum[..., 0] = -bound
        cum[..., -1] = bound
        return cum, cum[..., 1:] - cum[..., :-1]  # (..., bins+1), (..., bins)

    cumwidths, widths = knots(u_widths)
    cumheights, heights = knots(u_heights)
    derivatives = _MIN_BIN + F.softplus(u_derivs)  # (..., bins+1)

    edges = cumheights.clone()
    edges[..., -1] += 1e-6
    idx = ((y_in[..., None] >= edges).sum(dim=-1, keepdim=True) - 1).clamp(0, num_bins - 1)  # (..., 1)

    def pick(t: Tensor) -> Tensor:
        return t.gather(-1, idx)[..., 0]

    in_cumw, in_w, in_cumh, in_h = pick(cumwidths), pick(widths), pick(cumheights), pick(heights)
    in_delta = pick(heights / widths)
    in_d, in_d1 = pick(derivatives), pick(derivatives[..., 1:])

    dy = y_in - in_cumh
    slope_sum = in_d + in_d1 - 2 * in_delta
    a = dy * slope_sum + in_h * (in_delta - in_d)
    b = in_h * in_d - dy * slope_sum
    c = -in_delta * dy
    discriminant = b.pow(2) - 4 * a * c
    root = (2 * c) / (-b - torch.sqrt(discriminant))  # stable form of the quadratic root
    return torch.where(inside, root * in_w + in_cumw, y)


class StochasticDurationPredictor(nn.Module):
    """Flow-based duration predictor conditioned on the text encoder's hidden states."""

    def __init__(self, config: VitsConfig) -> None:
        super().__init__()
        c = config
        channels = c.hidden_channels  # VITS ties the dp's filter channels to its input channels
        self.pre = nn.Conv1d(channels, channels, 1)
        self.convs = DDSConv(channels, c.dp_kernel_size, c.dp_n_layers)
        self.proj = nn.Conv1d(channels, channels, 1)
        self.flows = nn.ModuleList([ElementwiseAffine(2)])
        for i in range(c.dp_n_flows):
            # Inference skips the first ConvFlow ("remove a useless vflow" in VITS): it has no weights in the
            # exported voice, so its slot holds a placeholder to keep the later indices equal to the weight keys.
            if i == 0:
                self.flows.append(nn.Identity())
            else:
                self.flows.append(ConvFlow(2, channels, c.dp_kernel_size, c.dp_n_layers, c.dp_num_bins, c.dp_tail_bound))
            self.flows.append(Flip())

    def forward(self, x: Tensor, x_mask: Tensor, noise_w: float, generator: Generators = None) -> Tensor:
        """x: (B, H, T) encoder states; x_mask: (B, 1, T). Returns logw (B, 1, T)."""
        x = self.pre(x)
        x = self.convs(x, x_mask)
        x = self.proj(x) * x_mask  # (B, H, T)
        b, _, t = x.shape
        if noise_w == 0:
            z = x.new_zeros(b, 2, t)
        else:
            z = randn((b, 2, t), generator, x.device, x.dtype, x_mask) * noise_w  # (B, 2, T)
        flows = list(self.flows)
        for flow in reversed(flows[:1] + flows[2:]):  # the skipped vflow is flows[1]
            z = flow(z, x_mask, g=x)
        return z[:, :1]  # (B, 1, T)
