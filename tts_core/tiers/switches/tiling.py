"""tiling: the full-rate decoder stage in cache-sized time tiles (exact)."""

from __future__ import annotations

from typing import Any

from tts_core.errors import bad_field
from tts_core.tiers.switches.base import BuildContext, Switch, count, flag


class Tiling(Switch):
    name = "tiling"
    settings = (
        flag("decoder_tiling", "run the full-rate decoder stage in cache-sized time tiles (exact)", auto=True),
        count("tile_samples", 16384, "tile length in output samples", 1024),
    )
    acts_on = ("model",)
    calibrated = True
    calibration_order = 40

    def check(self, tier: Any) -> None:
        if tier.fusion is True and tier.decoder_tiling is True:
            raise bad_field(f"TierConfig({tier.name})", "decoder_tiling", True, "false (or 'auto') when `fusion` is "
                            "true: the fused decoder replaces the modules tiling wraps")

    def skip(self, tier: Any, device: Any) -> str | None:
        return "the fused decoder replaces the modules tiling wraps" if tier.fusion is True else None

    def transform(self, model: Any, tier: Any, ctx: BuildContext) -> Any:
        if tier.fusion is True:
            return model
        from tts_core.tiers.precision import with_own_modules
        from tts_core.tiers.tiling import apply_tiling

        return apply_tiling(with_own_modules(model), tier.tile_samples)


SWITCH = Tiling()
