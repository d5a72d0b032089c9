"""deterministic: deterministic CUDA algorithms and the cuBLAS workspace they need (`tts_core.flags`)."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import NotApplicable, Put, Switch, flag
from tts_core.tiers.switches.cuda_flags import on_cpu


class Deterministic(Switch):
    name = "deterministic"
    settings = (flag("deterministic", "deterministic CUDA algorithms + cuBLAS workspace (False: PyTorch's defaults)"),)
    acts_on = ("flags",)

    def not_applicable(self, tier: Any, device: Any) -> NotApplicable | None:
        return on_cpu(self, tier, device)

    def load_flags(self, tier: Any, device: Any) -> NotApplicable | None:
        if not (tier.deterministic and device.type == "cuda"):
            return None
        from tts_core.runtime.cuda import prepare_cublas

        note = prepare_cublas()
        return NotApplicable(self.name, ("deterministic",), note) if note else None

    def scoped_flags(self, tier: Any, device: Any, put: Put) -> None:
        if not (tier.deterministic and device.type == "cuda"):
            return
        import torch

        put(torch.backends.cudnn, "deterministic", True)
        put(torch.backends.cudnn, "benchmark", False)  # autotuning may pick differently per run
        torch.use_deterministic_algorithms(True, warn_only=True)  # restored by `flag_scope`


SWITCH = Deterministic()
