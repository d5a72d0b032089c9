"""memory_pool: large buffers (the padded id tensors) reused across calls instead of allocated each time."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import RuntimeContext, Switch, flag


class MemoryPool(Switch):
    name = "memory_pool"
    settings = (flag("memory_pool", "reuse large buffers; 'auto' = keep only if it measures faster", auto=True),)
    acts_on = ("runtime", "renderer")
    calibrated = True

    def renderer_options(self, tier: Any) -> dict[str, Any]:
        return {"pool": True} if self.enabled(tier) else {}

    def runtime_parts(self, tier: Any, ctx: RuntimeContext) -> dict[str, Any]:
        if not self.enabled(tier):
            return {}
        from tts_core.runtime import BufferPool

        return {"pool": BufferPool()}  # the engine's renderer borrows from it; `Engine.clear_cache` empties it


SWITCH = MemoryPool()
