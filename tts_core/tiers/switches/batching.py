"""batching: the sentences of a call in length-bucketed batches with masks (CPU: encoder and durations only)."""

from __future__ import annotations

from tts_core.tiers.switches.base import Switch, count, flag


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


SWITCH = Batching()
