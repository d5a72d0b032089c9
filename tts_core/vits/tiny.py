"""A tiny VITS with random weights, built in memory in milliseconds."""

from __future__ import annotations

import torch

from .config import VitsConfig
from .model import VitsModel


def build_tiny_model(seed: int = 0) -> VitsModel:
    """`VitsConfig.tiny()` with deterministic random weights drawn from `seed`, in eval mode.

    Its audio is noise: it exists for fast tests of shapes, masking, batching and streaming, no download needed.
    """
    model = VitsModel(VitsConfig.tiny())
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(("gamma",)):
                param.fill_(1.0)
            elif name.endswith(("beta", "bias")):
                param.normal_(0.0, 0.01, generator=generator)
            else:
                fan_in = param[0].numel() if param.dim() > 1 else 1
                # scaled so activations stay O(1) through the stacks
                param.normal_(0.0, 0.5 / fan_in**0.5, generator=generator)
    return model.eval()
