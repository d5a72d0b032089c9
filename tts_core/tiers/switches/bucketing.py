"""bucketing: token and frame counts padded to multiples (with masks, exact), so the kernels oneDNN builds per
input shape are few and reused."""

from __future__ import annotations

import copy
from typing import Any

from tts_core.tiers.switches.base import BuildContext, NotApplicable, Switch, count


class Bucketing(Switch):
    name = "bucketing"
    settings = (
        count("bucket_frames", 0, "flow and decoder: pad frame counts to a multiple of this, so shapes repeat", 0,
              " (0 = exact lengths)"),
        count("bucket_tokens", 0, "text encoder and durations: pad token counts to a multiple of this", 0,
              " (0 = exact lengths)"),
    )
    ablations = {"bucketing": {"bucket_frames": 32, "bucket_tokens": 16}}
    acts_on = ("renderer", "model")

    def enabled(self, tier: Any) -> bool:
        return bool(tier.bucket_frames or tier.bucket_tokens)

    def not_applicable(self, tier: Any, device: Any) -> NotApplicable | None:
        if tier.bucket_frames and tier.decoder_tiling is True and tier.fusion is not True:
            return NotApplicable(self.name, ("bucket_frames",), "the tiled decoder runs exact lengths")
        return None

    def transform(self, model: Any, tier: Any, ctx: BuildContext) -> Any:
        if not tier.bucket_frames or tier.fusion is True or tier.decoder_tiling is True:
            return model  # the fused decoder buckets itself; the tiled one runs exact lengths
        from tts_core.tiers.precision import with_own_modules

        model = with_own_modules(model)
        model.dec = copy.copy(model.dec)  # its own attributes, the same submodules and weights
        model.dec.bucket_frames = tier.bucket_frames
        return model

    def renderer_options(self, tier: Any) -> dict[str, Any]:
        return {"token_bucket": tier.bucket_tokens, "frame_bucket": tier.bucket_frames}


SWITCH = Bucketing()
