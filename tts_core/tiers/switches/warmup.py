"""warmup: synthesis runs before the engine is handed out, so the first call's one-off costs move into the load."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import Switch, count


class Warmup(Switch):
    name = "warmup"
    settings = (count("warmup", 0, "synthesis runs of the warm-up texts at load (0 = none)", 0),)
    ablations = {"warmup": {"warmup": 1}}
    acts_on = ("load",)
    shows_in = "load"

    def load_options(self, tier: Any) -> dict[str, Any]:
        return {"warmup_runs": tier.warmup}


SWITCH = Warmup()
