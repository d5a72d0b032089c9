"""Which precision each roofline stage computes in, and the measured peak it is held against.

A precision switch does not convert the whole model (`tts_core/tiers/precision.py`, `apply_precision`): the text
encoder and the duration predictor always stay fp32 (drift through `ceil` would change frame counts); FP16/BF16
convert the flow and the decoder (all but the decoder's 32->1 output convolution, under 1% of its FLOPs); INT8
alone stores the flow's and decoder's weights in int8 but dequantizes them per call, so it computes in fp32; INT8
with the fused decoder runs the decoder's low-rate resblocks in int8 arithmetic (its full-rate stage stays fp32).
So a BF16 tier's encoder is held against the fp32 peak, its flow and decoder against the bf16 peak.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

ROOFLINE_STAGES = ("encoder", "flow", "decoder")  # encoder = text encoder + duration predictor
HALF = ("fp16", "bf16")


def stage_precisions(precision: str | None, tier: dict[str, Any] | None = None) -> dict[str, str]:
    """{stage: the precision its arithmetic runs in} for a row of resolved `precision` (fp32, fp16, bf16, int8)
    and its resolved tier's switches (`fusion` decides what int8 means)."""
    p = str(precision or "fp32")
    out = dict.fromkeys(ROOFLINE_STAGES, "fp32")
    if p in HALF:
        out.update(flow=p, decoder=p)
    elif p == "int8" and bool((tier or {}).get("fusion")):
        out["decoder"] = "int8"  # its low-rate resblocks; the full-rate stage stays fp32
    return out


def resolved_tier(row: pd.Series | dict) -> dict[str, Any]:
    """The row's resolved tier switches, as the worker described them (`extra["engine"]["tier"]`); {} if absent."""
    extra = row.get("extra") if isinstance(row.get("extra"), dict) else {}
    engine = extra.get("engine") if isinstance(extra.get("engine"), dict) else {}
    return engine.get("tier") if isinstance(engine.get("tier"), dict) else {}


def peak_for(row: pd.Series | dict, precision: str, df: pd.DataFrame | None = None) -> float | None:
    """The measured matmul peak (GFLOP/s) for `precision` on the row's machine: the row's stored peaks, else its
    own `peak_gflops` when that is its precision, else the highest stored for that precision by another row of
    the same machine in `df` (rows written before each row kept every peak). None when never measured."""
    extra = row.get("extra") if isinstance(row.get("extra"), dict) else {}
    stored = extra.get("peaks_gflops") if isinstance(extra.get("peaks_gflops"), dict) else {}
    if stored.get(precision) is not None:
        return float(stored[precision])
    own = row.get("peak_gflops")
    if str(row.get("precision") or "fp32") == precision and own is not None and not pd.isna(own):
        return float(own)
    if df is None or df.empty or "peak_gflops" not in df:
        return None
    same = df[(df["machine"] == row.get("machine")) & (df["precision"].fillna("fp32") == precision)]
    peaks = pd.to_numeric(same["peak_gflops"], errors="coerce").dropna()
    return float(peaks.max()) if not peaks.empty else None


def stage_peaks(row: pd.Series | dict, df: pd.DataFrame | None = None) -> dict[str, tuple[str, float | None]]:
    """{stage: (precision it runs in, measured peak GFLOP/s for it or None)} for the row."""
    return {stage: (p, peak_for(row, p, df))
            for stage, p in stage_precisions(row.get("precision"), resolved_tier(row)).items()}
