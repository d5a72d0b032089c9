"""housekeeping: garbage collection, heap trim and CUDA cache release after large jobs, a memory monitor; and an
optional RSS limit that refuses jobs above it."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import RuntimeContext, Setting, Switch, flag


class Housekeeping(Switch):
    name = "housekeeping"
    settings = (
        flag("housekeeping", "gc + CUDA cache release after large jobs, memory monitor"),
        Setting("memory_limit_mb", None, "refuse (or chunk) jobs that would exceed this RSS, in MB",
                "a positive number of MB or None",
                lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0)),
    )
    ablations = {"housekeeping": {"housekeeping": True}}
    acts_on = ("runtime",)

    def runtime_parts(self, tier: Any, ctx: RuntimeContext) -> dict[str, Any]:
        from tts_core.runtime.housekeeper import Housekeeper

        # always built: the memory limit holds without housekeeping, and the engine's stats report it either way
        return {"housekeeper": Housekeeper(str(ctx.device), bool(tier.housekeeping), tier.memory_limit_mb)}


SWITCH = Housekeeping()
