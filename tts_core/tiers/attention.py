"""Banded relative attention: the text encoder's relative-position terms over the +-window band only.

VITS adds relative-position logits and values to each attention layer through a (T, 2T-1) matrix per head,
indexed by every offset -(T-1)..(T-1); only the 2w+1 offsets of the window (w = 4 for the joe voice) have
non-zero embeddings, so for a sentence of a few hundred ids almost all of that work multiplies zeros and
the two (T, 2T-1) matmuls cost as much as the attention itself. Banded, the same terms come from a (T, 2w+1)
matmul and a skewed view onto (T, T): the same sums, exact up to float rounding (the fp32 gate applies).
"""

from __future__ import annotations

import copy

from torch import nn

from tts_core.tiers.precision import with_own_modules
from tts_core.vits.attentions import MultiHeadAttention


def _own_child(parent: nn.Module, name: str) -> nn.Module:
    """Replace `parent.<name>` with a shallow copy that has its own submodule table (weights shared)."""
    child = copy.copy(parent._modules[name])
    child._modules = dict(child._modules)
    parent._modules[name] = child
    return child


def apply_banded_attention(model: nn.Module) -> nn.Module:
    """A copy of `model` whose text-encoder attention layers run banded; `model` itself (which the engine
    registry or a calibration may still hold) and every weight are shared, untouched."""
    model = with_own_modules(model)
    layers = _own_child(_own_child(_own_child(model, "enc_p"), "encoder"), "attn_layers")
    for name, layer in list(layers._modules.items()):
        if isinstance(layer, MultiHeadAttention):
            banded = copy.copy(layer)
            banded.banded = True
            layers._modules[name] = banded
    return model
