"""inference_mode: no autograd graph (torch.inference_mode, weights without requires_grad): less memory and time."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import BuildContext, Switch, flag


class InferenceMode(Switch):
    name = "inference_mode"
    settings = (flag("inference_mode", "torch.inference_mode(): no autograd graph, less memory and time"),)
    acts_on = ("model", "renderer")

    def transform(self, model: Any, tier: Any, ctx: BuildContext) -> Any:
        for p in model.parameters():  # shared weights: a flag on the tensors, not a copy
            p.requires_grad_(False)
        return model

    def renderer_options(self, tier: Any) -> dict[str, Any]:
        return {"grad": not tier.inference_mode}  # baseline runs with autograd on, as commonly written


SWITCH = InferenceMode()
