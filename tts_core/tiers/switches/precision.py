"""precision: the flow and decoder in FP16, BF16 or INT8 (the text encoder and durations stay fp32, so frame counts
never change); "auto" lets the calibration pick the fastest of `precision_candidates` that passes its gate.

INT8 alone is int8 weights dequantized per call (memory, not speed); with fusion it is static int8 arithmetic in the
fused decoder's low-rate resblocks (`tts_core.tiers.int8`), where oneDNN has quantized convolutions.
"""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import AUTO, BuildContext, Setting, Switch

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
LOWER_PRECISIONS = PRECISIONS[1:]
GATES = {"fp32": "exact", "fp16": "half", "bf16": "half", "int8": "int8"}  # precision -> `tts_core.fidelity` gate


def static_int8(tier: Any, device: Any) -> bool:
    """Whether `tier` (resolved) runs int8 as static int8 arithmetic in the fused decoder on `device`."""
    from tts_core.tiers.int8 import static_int8_available

    return tier.precision == "int8" and tier.fusion is True and static_int8_available(device)


class Precision(Switch):
    name = "precision"
    settings = (
        Setting("precision", "fp32", "fp32, fp16, bf16 or int8 for the flow and decoder (duration predictor always fp32)",
                f"one of {', '.join(PRECISIONS)}", lambda v: v in PRECISIONS, auto=True),
        Setting("precision_candidates", LOWER_PRECISIONS, "what 'auto' measures against fp32",
                f"some of {', '.join(LOWER_PRECISIONS)}",
                lambda v: isinstance(v, tuple) and all(p in LOWER_PRECISIONS for p in v), coerce=tuple),
    )
    ablations = {"fp16": {"precision": "fp16"}, "bf16": {"precision": "bf16"}, "int8": {"precision": "int8"},
                 "int8_static": {"precision": "int8"}}
    acts_on = ("model",)
    calibrated = True
    calibration_order = 30  # on top of the fused decoder when fusion pays: BF16 pays there, not on the eager one

    def requires_for(self, ablation: str) -> dict[str, Any]:
        return {"fusion": True} if ablation == "int8_static" else {}

    def enabled(self, tier: Any) -> bool:
        return tier.precision not in ("fp32", AUTO)

    def without(self, tier: Any, ablation: str) -> dict[str, Any]:
        """`-fp16` from "auto" drops that candidate; from a fixed fp16 it means fp32."""
        precision = self.ablation_fields()[ablation]["precision"]
        if tier.precision == AUTO:
            return {"precision_candidates": tuple(p for p in tier.precision_candidates if p != precision)}
        return {"precision": "fp32" if tier.precision == precision else tier.precision}

    def gate(self, tier: Any) -> str:
        return GATES.get(str(tier.precision), "exact")

    def candidates(self, tier: Any) -> list[dict[str, Any]]:
        return [{"precision": p} for p in tier.precision_candidates]

    def candidate_name(self, changes: dict[str, Any]) -> str:
        return str(changes["precision"])

    def off(self) -> dict[str, Any]:
        return {"precision": "fp32"}

    def transform(self, model: Any, tier: Any, ctx: BuildContext) -> Any:
        if static_int8(tier, ctx.device):
            return model  # the fused decoder quantizes its own low-rate stages (see fusion)
        from tts_core.tiers.precision import apply_precision

        # In place at load: the fp32 original is not kept (the voice is rebuilt around the converted model).
        return apply_precision(model, tier.precision, in_place=ctx.in_place)


SWITCH = Precision()
