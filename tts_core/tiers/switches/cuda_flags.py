"""cuda_flags: cuDNN autotuning per shape and TF32 matmuls/convolutions on Ampere and later (`tts_core.flags`)."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import NotApplicable, Put, Switch, flag


def on_cpu(switch: Switch, tier: Any, device: Any) -> NotApplicable | None:
    """The note for a CUDA-only switch that `tier` turns on while `device` is not a GPU."""
    on = tuple(s.name for s in switch.settings if getattr(tier, s.name) not in (False, None))
    if device.type == "cuda" or not on:
        return None
    return NotApplicable(switch.name, on, "no CUDA device")


class CudaFlags(Switch):
    name = "cuda_flags"
    settings = (
        flag("cudnn_benchmark", "autotune conv algorithms per shape; pays when shapes repeat"),
        flag("tf32", "TF32 matmul/conv on Ampere+; the exact gate still applies (False: PyTorch's defaults)"),
    )
    ablations = {"cuda_flags": {"cudnn_benchmark": True, "tf32": True}}
    acts_on = ("flags",)

    def enabled(self, tier: Any) -> bool:
        return bool(tier.cudnn_benchmark or tier.tf32)

    def not_applicable(self, tier: Any, device: Any) -> NotApplicable | None:
        return on_cpu(self, tier, device)

    def scoped_flags(self, tier: Any, device: Any, put: Put) -> None:
        if device.type != "cuda":
            return
        import torch

        if tier.cudnn_benchmark:
            put(torch.backends.cudnn, "benchmark", True)
        if tier.tf32:
            put(torch.backends.cuda.matmul, "allow_tf32", True)
            put(torch.backends.cudnn, "allow_tf32", True)


SWITCH = CudaFlags()
