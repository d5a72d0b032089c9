"""`VitsModel`: the VITS inference graph as separately callable stages.

encode -> predict_durations -> expand -> sample_prior -> flow_reverse -> decode; `infer` runs them all.
Submodule names (`enc_p`, `dp`, `flow`, `dec`) equal the voice's weight keys, so loading is a plain copy.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .commons import Generators, randn, sequence_mask
from .config import VitsConfig
from .decoder import Generator
from .duration import StochasticDurationPredictor
from .encoder import TextEncoder
from .flow import ResidualCouplingBlock


class VitsModel(nn.Module):
    """Single-speaker VITS (Piper layout): text encoder, stochastic duration predictor, flow, HiFi-GAN."""

    def __init__(self, config: VitsConfig) -> None:
        super().__init__()
        self.config = config
        self.enc_p = TextEncoder(config)
        self.dp = StochasticDurationPredictor(config)
        self.flow = ResidualCouplingBlock(config)
        self.dec = Generator(config)

    def encode(self, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """ids (B, T) int64, lengths (B,) -> x (B, H, T), m_p (B, C, T), logs_p (B, C, T), x_mask (B, 1, T)."""
        return self.enc_p(ids, lengths)

    def predict_durations(
        self, x: Tensor, x_mask: Tensor, noise_w: float, length_scale: float, generator: Generators = None
    ) -> Tensor:
        """Frames per token, w_ceil (B, 1, T): float holding integers, ceil(exp(logw) * x_mask * length_scale)."""
        logw = self.dp(x, x_mask, noise_w, generator)
        return torch.ceil(torch.exp(logw) * x_mask * length_scale)

    def expand(
        self, m_p: Tensor, logs_p: Tensor, w_ceil: Tensor, x_mask: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Repeat each token's prior over its frames.

        Returns m_p (B, C, F), logs_p (B, C, F), y_mask (B, 1, F), y_lengths (B,) int64; F = max frames.
        """
        y_lengths = torch.clamp_min(torch.sum(w_ceil, [1, 2]), 1).long()  # (B,)
        frames = int(y_lengths.max())
        y_mask = sequence_mask(y_lengths, frames).unsqueeze(1).to(x_mask.dtype)  # (B, 1, F)
        # Frame f belongs to token t when end[t-1] <= f < end[t]: a gather by token index, the same values as VITS's
        # one-hot alignment path times the prior (B, F, T matrices: tens of MB for a batch of long sentences).
        end = torch.cumsum(w_ceil * x_mask, -1)[:, 0].contiguous()  # (B, T) frame where each token ends
        f = torch.arange(frames, device=w_ceil.device, dtype=end.dtype).expand(end.shape[0], frames).contiguous()
        token = torch.searchsorted(end, f, right=True).clamp_max(end.shape[1] - 1)  # (B, F)
        index = token.unsqueeze(1).expand(-1, m_p.shape[1], -1)  # (B, C, F)
        inside = (f < end[:, -1:]).unsqueeze(1).to(m_p.dtype)  # (B, 1, F) frames some token covers
        m_p = torch.gather(m_p, 2, index) * inside  # (B, C, F)
        logs_p = torch.gather(logs_p, 2, index) * inside  # (B, C, F)
        return m_p, logs_p, y_mask, y_lengths

    def sample_prior(
        self, m_p: Tensor, logs_p: Tensor, noise_scale: float, generator: Generators = None,
        y_mask: Tensor | None = None,
    ) -> Tensor:
        """z_p = m_p + N(0, 1) * exp(logs_p) * noise_scale, (B, C, F); no draw when noise_scale is 0.
        A list of generators (one per item) needs `y_mask` (B, 1, F) to draw each item over its length."""
        if noise_scale == 0:
            return m_p
        noise = randn(tuple(m_p.shape), generator, m_p.device, m_p.dtype, y_mask)
        return m_p + noise * torch.exp(logs_p) * noise_scale

    def flow_reverse(self, z_p: Tensor, y_mask: Tensor) -> Tensor:
        """Prior sample z_p (B, C, F) -> latent z (B, C, F)."""
        return self.flow(z_p, y_mask)

    def decode(self, z: Tensor, y_mask: Tensor | None = None) -> Tensor:
        """Latent z (B, C, F) -> audio (B, 1, F*hop). Give `y_mask` (B, 1, F) when the batch holds padding."""
        return self.dec(z, y_mask)

    def infer(
        self,
        ids: Tensor,
        lengths: Tensor,
        noise_scale: float | None = None,
        length_scale: float | None = None,
        noise_w: float | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Synthesize. Returns audio (B, 1, S) at `config.sample_rate` and sample_lengths (B,) = y_lengths * hop.

        Scales left as None take the voice's defaults. With noise_scale = noise_w = 0 the output is deterministic.
        """
        c = self.config
        noise_scale = c.noise_scale if noise_scale is None else noise_scale
        length_scale = c.length_scale if length_scale is None else length_scale
        noise_w = c.noise_w if noise_w is None else noise_w
        x, m_p, logs_p, x_mask = self.encode(ids, lengths)
        w_ceil = self.predict_durations(x, x_mask, noise_w, length_scale, generator)
        m_p, logs_p, y_mask, y_lengths = self.expand(m_p, logs_p, w_ceil, x_mask)
        z_p = self.sample_prior(m_p, logs_p, noise_scale, generator)
        z = self.flow_reverse(z_p, y_mask)
        # a lone item has no padding: skip the decoder's masking
        audio = self.decode(z, y_mask if ids.size(0) > 1 else None)
        return audio, y_lengths * c.hop_length
