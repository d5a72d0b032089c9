"""workers: `synthesize_batch` spread over processes, each with cores/workers threads."""

from __future__ import annotations

from typing import Any

from tts_core.errors import ConfigError
from tts_core.tiers.switches.base import RuntimeContext, Switch, count


class Workers(Switch):
    name = "workers"
    settings = (count("workers", 1, "processes for synthesize_batch, each with cores/workers threads", 1),)
    ablations = {"workers": {"workers": 2}}
    acts_on = ("runtime",)
    shows_in = "batch"

    def enabled(self, tier: Any) -> bool:
        return bool(tier.workers > 1)

    def batches_requests(self, tier: Any) -> bool:
        return self.enabled(tier)

    def runtime_parts(self, tier: Any, ctx: RuntimeContext) -> dict[str, Any]:
        if not self.enabled(tier):
            return {}
        if ctx.voice_name is None:
            raise ConfigError(f"TierConfig({tier.name}): `workers` = {tier.workers} needs a voice name; "
                              "expected 1 with a voice loaded in memory.")
        if ctx.worker_factory is None:
            raise TypeError(f"build_parts: tier {tier.name} has `workers` = {tier.workers}; pass `worker_factory`.")
        from tts_core.machine import threads_each
        from tts_core.runtime import WorkerPool

        threads = threads_each(tier.workers)
        worker_tier = tier.with_(name=f"{tier.name}/worker", workers=1, threads=threads, engine_registry=False)
        return {"workers": WorkerPool(
            ctx.worker_factory, n_workers=tier.workers,
            kwargs={"voice": ctx.voice_name, "device": ctx.device_name, "tier": worker_tier, "seed": ctx.seed},
        )}


SWITCH = Workers()
