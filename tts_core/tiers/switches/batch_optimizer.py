"""batch_optimizer: the largest batch that fits the memory budget, backing off on out-of-memory."""

from __future__ import annotations

from tts_core.tiers.switches.base import Switch, flag


class BatchOptimizer(Switch):
    name = "batch_optimizer"
    settings = (flag("batch_optimizer", "pick the largest batch that fits the memory budget; back off on OOM"),)
    requires = {"batch_sentences": True}
    acts_on = ("runtime",)


SWITCH = BatchOptimizer()
