"""weight_cache: the voice's converted weights cached on disk (safetensors, memory-mapped) for the next load."""

from __future__ import annotations

from tts_core.tiers.switches.base import Switch, flag


class WeightCache(Switch):
    name = "weight_cache"
    settings = (flag("weight_cache", "converted weights cached on disk (safetensors, memory-mapped)"),)
    acts_on = ("load",)
    shows_in = "load"


SWITCH = WeightCache()
