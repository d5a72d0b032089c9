"""`TextEncoder` (enc_p): phoneme ids -> hidden states and the prior's mean and log-std per token."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .attentions import Encoder
from .commons import sequence_mask
from .config import VitsConfig


class TextEncoder(nn.Module):
    """Embedding, relative-position Transformer, and a 1x1 projection to (m_p, logs_p)."""

    def __init__(self, config: VitsConfig) -> None:
        super().__init__()
        self.hidden_channels = config.hidden_channels
        self.inter_channels = config.inter_channels
        self.emb = nn.Embedding(config.n_vocab, config.hidden_channels)
        self.encoder = Encoder(config)
        self.proj = nn.Conv1d(config.hidden_channels, 2 * config.inter_channels, 1)

    def forward(self, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """ids: (B, T) int64; lengths: (B,). Returns x (B, H, T), m_p (B, C, T), logs_p (B, C, T), x_mask (B, 1, T)."""
        x = self.emb(ids) * math.sqrt(self.hidden_channels)  # (B, T, H)
        x = x.transpose(1, 2)  # (B, H, T)
        x_mask = sequence_mask(lengths, x.size(2)).unsqueeze(1).to(x.dtype)  # (B, 1, T)
        x = self.encoder(x * x_mask, x_mask)
        stats = self.proj(x) * x_mask  # (B, 2C, T)
        m_p, logs_p = torch.split(stats, self.inter_channels, dim=1)
        return x, m_p, logs_p, x_mask
