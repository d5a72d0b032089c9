"""deterministic: deterministic CUDA algorithms and the cuBLAS workspace they need (`tts_core.flags`)."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import NotApplicable, Switch, flag
from tts_core.tiers.switches.cuda_flags import on_cpu


class Deterministic(Switch):
    name = "deterministic"
    settings = (flag("deterministic", "deterministic CUDA algorithms + cuBLAS workspace (False: PyTorch's defaults)"),)
    acts_on = ("flags",)

    def not_applicable(self, tier: Any, device: Any) -> NotApplicable | None:
        return on_cpu(self, tier, device)


SWITCH = Deterministic()
