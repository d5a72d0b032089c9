"""batch_optimizer: the largest batch that fits the memory budget, backing off on out-of-memory."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import RuntimeContext, Switch, flag


class BatchOptimizer(Switch):
    name = "batch_optimizer"
    settings = (flag("batch_optimizer", "pick the largest batch that fits the memory budget; back off on OOM"),)
    requires = {"batch_sentences": True}
    acts_on = ("runtime",)

    def runtime_parts(self, tier: Any, ctx: RuntimeContext) -> dict[str, Any]:
        if tier.batch_optimizer:  # the batching switch's batcher, through the optimizer
            from tts_core.runtime import BatchSizeOptimizer, default_memory_budget_mb

            batcher = ctx.parts["batcher"]
            batcher.optimizer = BatchSizeOptimizer(default_memory_budget_mb(str(ctx.device)),
                                                   max_batch=batcher.limit)
        return {}


SWITCH = BatchOptimizer()
