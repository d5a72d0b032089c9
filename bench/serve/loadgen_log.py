"""Read what LoadGen wrote: the `:::MLLOG {json}` lines of `mlperf_log_detail.txt` and the summary's verdict.

Figures come from LoadGen's own log; nothing it reports is recomputed here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

SUMMARY = "mlperf_log_summary.txt"
DETAIL = "mlperf_log_detail.txt"
_PREFIX = ":::MLLOG "
_RESULT = re.compile(r"^Result is\s*:\s*(VALID|INVALID)\s*$", re.MULTILINE)


def read_detail(path: Path) -> dict[str, Any]:
    """Every key -> value of the detail log (the last value wins when a key repeats); errors under `errors`."""
    out: dict[str, Any] = {"errors": []}
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith(_PREFIX):
            continue
        try:
            entry = json.loads(line[len(_PREFIX):])
        except json.JSONDecodeError:
            continue
        if entry.get("metadata", {}).get("is_error"):
            out["errors"].append(str(entry.get("value")))
        out[entry["key"]] = entry.get("value")
    return out


def read_verdict(path: Path) -> Optional[str]:
    """VALID or INVALID, as the summary file says; None if it has no verdict."""
    m = _RESULT.search(Path(path).read_text(encoding="utf-8", errors="replace"))
    return m.group(1) if m else None


def _s(log: dict[str, Any], key: str) -> Optional[float]:
    """A nanosecond figure of the log in seconds (None if absent)."""
    value = log.get(key)
    return None if value is None else float(value) / 1e9


def figures(log: dict[str, Any], scenario: str, sample_rate: int) -> dict[str, Any]:
    """Row figures from a parsed detail log: QPS, latency and first-audio percentiles (s), TPOT.

    `tpot_s_per_audio_s` is LoadGen's mean time per output token (one token = one audio sample)
    times the sample rate: wall seconds per second of audio after the first chunk (LoadGen logs whole
    nanoseconds per sample, so at 22,050 Hz its resolution is 0.022 s per audio second). `audio_s_per_s`
    is LoadGen's tokens per second over the sample rate: seconds of audio served per wall second.
    """
    qps_key = {"offline": "result_samples_per_second", "singlestream": "result_qps_with_loadgen_overhead"}.get(
        scenario, "result_completed_samples_per_sec")
    tokens_per_s = log.get("result_tokens_per_second" if scenario == "offline" else "result_completed_tokens_per_second")
    tpot_ns = log.get("result_time_to_output_token_mean")
    row = {
        "achieved_qps": log.get(qps_key),
        "scheduled_qps": log.get("result_scheduled_samples_per_sec"),
        "queries": log.get("result_query_count", log.get("generated_query_count")),
        "latency_mean_s": _s(log, "result_mean_latency_ns"),
        "ttfa_mean_s": _s(log, "result_first_token_mean_latency_ns"),
        "audio_s_per_s": None if tokens_per_s is None else float(tokens_per_s) / sample_rate,
        "tpot_s_per_audio_s": None if tpot_ns is None else float(tpot_ns) * sample_rate / 1e9,
        "bound_met": log.get("result_perf_constraints_met"),
        "min_duration_met": log.get("result_min_duration_met"),
        "min_queries_met": log.get("result_min_queries_met"),
        "early_stopping_met": log.get("early_stopping_met"),
        "invalid_reason": log.get("result_invalid_reason"),
        "loadgen_errors": len(log.get("errors", [])),
    }
    for p in ("50.00", "90.00", "99.00"):
        short = p.split(".")[0]
        row[f"latency_p{short}_s"] = _s(log, f"result_{p}_percentile_latency_ns")
        row[f"ttfa_p{short}_s"] = _s(log, f"result_first_token_{p}_percentile_latency_ns")
    return row
