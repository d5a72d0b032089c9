"""weight_cache: the voice's converted weights cached on disk (safetensors, memory-mapped) for the next load."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import Switch, flag


class WeightCache(Switch):
    name = "weight_cache"
    settings = (flag("weight_cache", "converted weights cached on disk (safetensors, memory-mapped)"),)
    acts_on = ("load",)
    shows_in = "load"

    def load_options(self, tier: Any) -> dict[str, Any]:
        return {"cached_weights": bool(tier.weight_cache)}


SWITCH = WeightCache()
