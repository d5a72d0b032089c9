"""fusion: the decoder in channels-last layout with prepacked oneDNN weights and fused epilogues, kernel-1
convolutions as matrix products (exact); with INT8, static int8 arithmetic in its low-rate resblocks."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import BuildContext, NotApplicable, Switch, flag
from tts_core.tiers.switches.precision import static_int8


class Fusion(Switch):
    name = "fusion"
    settings = (flag("fusion", "decoder in channels-last layout, prepacked oneDNN weights, fused epilogues (exact)",
                     auto=True),)
    acts_on = ("model",)
    calibrated = True
    calibration_order = 10  # first: the precisions are measured on top of it
    budgeted = False

    def settle(self, tier: Any, device: Any) -> tuple[Any, NotApplicable | None]:
        if tier.fusion is True and tier.precision == "int8" and not static_int8(tier, device):
            return tier.with_(fusion=False), NotApplicable(
                self.name, ("fusion",), f"static int8 needs oneDNN's quantized convolutions on a CPU (not on "
                                        f"{device}): int8 runs weight-only, unfused")
        return tier, None

    def transform(self, model: Any, tier: Any, ctx: BuildContext) -> Any:
        from tts_core.tiers.fusion import apply_fusion
        from tts_core.tiers.int8 import RANGE_TEXT, activation_ranges
        from tts_core.tiers.precision import with_own_modules

        ranges = None
        if static_int8(tier, ctx.device):
            ranges = activation_ranges(model, [s.ids for s in ctx.frontend.sentences(RANGE_TEXT)])
        return apply_fusion(with_own_modules(model), tier.bucket_frames, int8_ranges=ranges)


SWITCH = Fusion()
