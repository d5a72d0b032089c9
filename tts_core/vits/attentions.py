"""The text encoder's Transformer: relative-position multi-head self-attention, a conv FFN, `Encoder`."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .commons import LayerNorm
from .config import VitsConfig


class MultiHeadAttention(nn.Module):
    """Self-attention with relative-position keys and values in a +-`window_size` window (shared by heads).

    `banded` (off by default, as in VITS) computes the relative terms over the 2w+1 offsets of the window only,
    instead of over all 2T-1 offsets of which all but 2w+1 multiply zero embeddings: the same sums (exact up
    to float rounding) with O(T w) instead of O(T^2) work and memory for them (see `banded_attention`)."""

    banded: bool = False

    def __init__(self, channels: int, n_heads: int, window_size: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.k_channels = channels // n_heads
        self.window_size = window_size
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, channels, 1)
        n_rel = 2 * window_size + 1
        self.emb_rel_k = nn.Parameter(torch.randn(1, n_rel, self.k_channels) * self.k_channels**-0.5)
        self.emb_rel_v = nn.Parameter(torch.randn(1, n_rel, self.k_channels) * self.k_channels**-0.5)

    def forward(self, x: Tensor, attn_mask: Tensor) -> Tensor:
        """x: (B, C, T); attn_mask: (B, 1, T, T), 0 where a query or key is padding."""
        b, c, t = x.shape
        q = self.conv_q(x).view(b, self.n_heads, self.k_channels, t).transpose(2, 3)  # (B, nh, T, hs)
        k = self.conv_k(x).view(b, self.n_heads, self.k_channels, t).transpose(2, 3)  # (B, nh, T, hs)
        v = self.conv_v(x).view(b, self.n_heads, self.k_channels, t).transpose(2, 3)  # (B, nh, T, hs)

        q = q / math.sqrt(self.k_channels)
        scores = torch.matmul(q, k.transpose(-2, -1))  # (B, nh, T, T)
        if self.banded:
            rel_logits = torch.matmul(q, self.emb_rel_k[0].transpose(0, 1))  # (B, nh, T, 2w+1)
            scores = scores + _band_to_absolute(rel_logits)
        else:
            rel_k = self._relative_embeddings(self.emb_rel_k, t)  # (1, 2T-1, hs)
            rel_logits = torch.matmul(q, rel_k.unsqueeze(0).transpose(-2, -1))  # (B, nh, T, 2T-1)
            scores = scores + _relative_to_absolute(rel_logits)
        # -1e4 (not -inf) as in training: exp underflows to exactly 0, so padded keys add nothing
        scores = scores.masked_fill(attn_mask == 0, -1e4)
        p_attn = F.softmax(scores, dim=-1)  # (B, nh, T, T)

        out = torch.matmul(p_attn, v)  # (B, nh, T, hs)
        if self.banded:
            out = out + torch.matmul(_absolute_to_band(p_attn, self.window_size), self.emb_rel_v[0])  # (B, nh, T, hs)
        else:
            rel_v = self._relative_embeddings(self.emb_rel_v, t)  # (1, 2T-1, hs)
            out = out + torch.matmul(_absolute_to_relative(p_attn), rel_v.unsqueeze(0))  # (B, nh, T, hs)
        out = out.transpose(2, 3).contiguous().view(b, c, t)  # (B, C, T)
        return self.conv_o(out)

    def _relative_embeddings(self, emb: Tensor, length: int) -> Tensor:
        """Embeddings for relative offsets -(length-1)..(length-1), zero outside the window: (1, 2L-1, hs)."""
        pad = max(length - (self.window_size + 1), 0)
        start = max((self.window_size + 1) - length, 0)
        emb = F.pad(emb, (0, 0, pad, pad))
        return emb[:, start : start + 2 * length - 1]


def _relative_to_absolute(x: Tensor) -> Tensor:
    """(B, nh, L, 2L-1) logits indexed by relative offset -> (B, nh, L, L) indexed by key position."""
    b, h, length, _ = x.shape
    x = F.pad(x, (0, 1))  # (B, nh, L, 2L)
    x = F.pad(x.reshape(b, h, length * 2 * length), (0, length - 1))  # (B, nh, 2L*L + L-1)
    return x.view(b, h, length + 1, 2 * length - 1)[:, :, :length, length - 1 :]  # (B, nh, L, L)


def _absolute_to_relative(x: Tensor) -> Tensor:
    """(B, nh, L, L) weights indexed by key position -> (B, nh, L, 2L-1) indexed by relative offset."""
    b, h, length, _ = x.shape
    x = F.pad(x, (0, length - 1))  # (B, nh, L, 2L-1)
    x = F.pad(x.reshape(b, h, length * (2 * length - 1)), (length, 0))  # (B, nh, 2L*L)
    return x.view(b, h, length, 2 * length)[:, :, :, 1:]  # (B, nh, L, 2L-1)


def _band_to_absolute(x: Tensor) -> Tensor:
    """(B, nh, L, 2w+1) logits by offset -w..w -> (B, nh, L, L) by key position, zero outside the band:
    out[i, j] = x[i, j - i + w]. Row i of the zero-padded rows, read with a row length one shorter, starts
    i places later, which turns offsets into key positions."""
    b, h, length, width = x.shape
    w = (width - 1) // 2
    x = F.pad(x, (0, length))  # (B, nh, L, W+L)
    x = x.reshape(b, h, length * (width + length))[..., : length * (width + length - 1)]
    return x.view(b, h, length, width + length - 1)[..., w : w + length]  # (B, nh, L, L)


def _absolute_to_band(x: Tensor, window: int) -> Tensor:
    """(B, nh, L, L) weights by key position -> (B, nh, L, 2w+1) by offset -w..w: out[i, r] = x[i, i + r - w]
    (zero past either end). The inverse skew of `_band_to_absolute`: rows read one place longer."""
    b, h, length, _ = x.shape
    x = F.pad(x, (window, window))  # (B, nh, L, L+2w)
    x = F.pad(x.reshape(b, h, length * (length + 2 * window)), (0, length))  # (B, nh, L*(L+2w+1))
    return x.view(b, h, length, length + 2 * window + 1)[..., : 2 * window + 1]  # (B, nh, L, 2w+1)


class FFN(nn.Module):
    """Two 'same'-padded convolutions with a ReLU between, masked before each."""

    def __init__(self, channels: int, filter_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.pad = ((kernel_size - 1) // 2, kernel_size // 2)
        self.conv_1 = nn.Conv1d(channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, channels, kernel_size)

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        x = torch.relu(self.conv_1(F.pad(x * x_mask, self.pad)))  # (B, F, T)
        x = self.conv_2(F.pad(x * x_mask, self.pad))  # (B, C, T)
        return x * x_mask


class Encoder(nn.Module):
    """Post-norm Transformer encoder: n_layers x (attention + LayerNorm, FFN + LayerNorm)."""

    def __init__(self, config: VitsConfig) -> None:
        super().__init__()
        c = config
        self.attn_layers = nn.ModuleList(
            MultiHeadAttention(c.hidden_channels, c.n_heads, c.window_size) for _ in range(c.n_layers)
        )
        self.norm_layers_1 = nn.ModuleList(LayerNorm(c.hidden_channels) for _ in range(c.n_layers))
        self.ffn_layers = nn.ModuleList(FFN(c.hidden_channels, c.filter_channels, c.kernel_size) for _ in range(c.n_layers))
        self.norm_layers_2 = nn.ModuleList(LayerNorm(c.hidden_channels) for _ in range(c.n_layers))

    def forward(self, x: Tensor, x_mask: Tensor) -> Tensor:
        """x: (B, C, T); x_mask: (B, 1, T). Returns (B, C, T), zero on padding."""
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)  # (B, 1, T, T)
        x = x * x_mask
        for attn, norm_1, ffn, norm_2 in zip(self.attn_layers, self.norm_layers_1, self.ffn_layers, self.norm_layers_2):
            x = norm_1(x + attn(x, attn_mask))
            x = norm_2(x + ffn(x, x_mask))
        return x * x_mask
