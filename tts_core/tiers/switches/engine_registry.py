"""engine_registry: `Engine.load` hands back the engine already loaded in this process for the same voice,
device, tier and seed."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import Switch, flag


class EngineRegistry(Switch):
    name = "engine_registry"
    settings = (flag("engine_registry", "reuse a loaded engine in this process for the same voice/device/tier"),)
    requires = {"weight_cache": True}
    acts_on = ("load",)
    shows_in = "load"

    def load_options(self, tier: Any) -> dict[str, Any]:
        return {"reuse_loaded": bool(tier.engine_registry)}


SWITCH = EngineRegistry()
