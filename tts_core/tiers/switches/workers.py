"""workers: `synthesize_batch` spread over processes, each with cores/workers threads."""

from __future__ import annotations

from tts_core.tiers.switches.base import Switch, count


class Workers(Switch):
    name = "workers"
    settings = (count("workers", 1, "processes for synthesize_batch, each with cores/workers threads", 1),)
    ablations = {"workers": {"workers": 2}}
    acts_on = ("runtime",)
    shows_in = "batch"

    def enabled(self, tier: object) -> bool:
        return getattr(tier, "workers") > 1


SWITCH = Workers()
