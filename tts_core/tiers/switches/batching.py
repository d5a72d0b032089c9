"""batching: the sentences of a call in length-bucketed batches with masks (CPU: encoder and durations only)."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import RuntimeContext, Switch, count, flag


class Batching(Switch):
    name = "batching"
    settings = (
        flag("batch_sentences", "length-bucketed batches with masks (CPU: encoder + durations only)"),
        count("max_batch", 8, "upper bound of sentences per batch", 1),
        count("batch_tokens", 1024, "upper bound of a batch's padded phoneme ids (sentences x the longest): a "
                                    "batch of eight 40-word sentences raised RSS by about 100 MB during a long stream", 1),
    )
    ablations = {"batching": {"batch_sentences": True}}
    acts_on = ("runtime",)

    def runtime_parts(self, tier: Any, ctx: RuntimeContext) -> dict[str, Any]:
        from tts_core.runtime.batching import Batcher

        return {"batcher": Batcher(tier.max_batch if tier.batch_sentences else 1, tier.batch_tokens)}

    def batches_requests(self, tier: Any) -> bool:
        return bool(tier.batch_sentences)


SWITCH = Batching()
