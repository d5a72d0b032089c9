"""banded_attention: the text encoder's relative-position terms over the +-window band only (exact)."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import BuildContext, Switch, flag


class BandedAttention(Switch):
    name = "banded_attention"
    settings = (flag("banded_attention", "text encoder: relative-position terms over the +-window band only (exact)"),)
    acts_on = ("model",)

    def transform(self, model: Any, tier: Any, ctx: BuildContext) -> Any:
        from tts_core.tiers.attention import apply_banded_attention

        return apply_banded_attention(model)


SWITCH = BandedAttention()
