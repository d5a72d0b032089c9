"""The normalizing flow (flow): residual coupling layers with WaveNet conditioners, run in reverse (prior -> latent)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import VitsConfig


class Flip(nn.Module):
    """Reverse the channel order (its own inverse)."""

    def forward(self, x: Tensor, x_mask: Tensor | None = None, g: Tensor | None = None) -> Tensor:
        return torch.flip(x, [1])


class WN(nn.Module):
    """Non-causal WaveNet: gated dilated convs with residual and skip outputs (no speaker conditioning)."""

    def __init__(self, hidden_channels: int, kernel_size: int, dilation_rate: int, n_layers: int) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        for i in range(n_layers):
            dilation = dilation_rate**i
            padding = (kernel_size * dilation - dilation) // 2
            self.in_layers.append(
                nn.Conv1d(hidden_channels, 2 * hidden_channels, kernel_size, dilation=dilation, padding=padding)
            )
            # the last layer only feeds the skip sum, so it has no residual half
            res_skip = 2 * hidden_channels if i < n_layers - 1 else hidden_channels
            self.res_skip_layers.append(nn.Conv1d(hidden_channels, res_skip, 1))

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        """x: (B, H, T); x_mask: (B, 1, T). Returns the skip sum (B, H, T)."""
        h = self.hidden_channels
        output = torch.zeros_like(x)
        last = len(self.in_layers) - 1
        for i, (in_layer, res_skip_layer) in enumerate(zip(self.in_layers, self.res_skip_layers)):
            x_in = in_layer(x)  # (B, 2H, T)
            acts = torch.tanh(x_in[:, :h]) * torch.sigmoid(x_in[:, h:])  # (B, H, T)
            res_skip = res_skip_layer(acts)
            if i < last:
                x = (x + res_skip[:, :h]) * x_mask
                output = output + res_skip[:, h:]
            else:
                output = output + res_skip
        return output * x_mask


class ResidualCouplingLayer(nn.Module):
    """Mean-only affine coupling: the first half of the channels shifts the second half."""

    def __init__(self, channels: int, hidden_channels: int, kernel_size: int, dilation_rate: int, n_layers: int) -> None:
        super().__init__()
        self.half_channels = channels // 2
        self.pre = nn.Conv1d(self.half_channels, hidden_channels, 1)
        self.enc = WN(hidden_channels, kernel_size, dilation_rate, n_layers)
        self.post = nn.Conv1d(hidden_channels, self.half_channels, 1)

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        """Reverse direction. x: (B, C, F); x_mask: (B, 1, F)."""
        x0, x1 = torch.split(x, [self.half_channels] * 2, 1)  # (B, C/2, F) each
        h = self.pre(x0) * x_mask  # (B, H, F)
        h = self.enc(h, x_mask)
        m = self.post(h) * x_mask  # (B, C/2, F)
        x1 = (x1 - m) * x_mask
        return torch.cat([x0, x1], 1)


class ResidualCouplingBlock(nn.Module):
    """n_flows x (coupling layer, Flip); run backwards to map prior samples z_p to latents z."""

    def __init__(self, config: VitsConfig) -> None:
        super().__init__()
        c = config
        self.flows = nn.ModuleList()
        for _ in range(c.flow_n_flows):
            self.flows.append(
                ResidualCouplingLayer(
                    c.inter_channels, c.hidden_channels, c.flow_kernel_size, c.flow_dilation_rate, c.flow_n_layers
                )
            )
            self.flows.append(Flip())

    def forward(self, z_p: Tensor, y_mask: Tensor) -> Tensor:
        """Reverse direction. z_p: (B, C, F); y_mask: (B, 1, F). Returns z (B, C, F)."""
        x = z_p
        for flow in reversed(self.flows):
            x = flow(x, y_mask)
        return x
