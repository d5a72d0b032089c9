"""memory_fraction: cap this process's share of GPU memory (CUDA caching allocator, per device, at load)."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import NotApplicable, Setting, Switch
from tts_core.tiers.switches.cuda_flags import on_cpu


class MemoryFraction(Switch):
    name = "memory_fraction"
    settings = (Setting("cuda_memory_fraction", None, "cap this process's share of GPU memory (0-1]",
                        "a number in (0, 1] or None",
                        lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1)),)
    ablations = {}
    acts_on = ("flags",)

    def enabled(self, tier: Any) -> bool:
        return tier.cuda_memory_fraction is not None

    def not_applicable(self, tier: Any, device: Any) -> NotApplicable | None:
        return on_cpu(self, tier, device)

    def load_flags(self, tier: Any, device: Any) -> NotApplicable | None:
        if tier.cuda_memory_fraction is not None and device.type == "cuda":
            from tts_core.runtime.cuda import set_memory_fraction

            set_memory_fraction(tier.cuda_memory_fraction, device)
        return None


SWITCH = MemoryFraction()
