"""Which contender each one is compared with, what differs between them, and where a switch's effect shows.

- `advanced-X` is compared with `advanced`, `baseline+X` with `baseline`, every other tier of an engine with that
  engine's `baseline`; a peer's reference is our baseline.
- `switch_diff` compares the *resolved* switches (after calibration): an ablation that resolves to its reference
  on this machine is "identical here" and gets no verdict.
- `SHOWS_IN` says where each switch can show at all; a switch that cannot change a steady-state round of this
  workload is reported where it shows (load time, time to first audio, warm rounds), never as a speedup.
"""

from __future__ import annotations

from typing import Any

BASELINE_TIER = "baseline"
OUR_ENGINE = "tts_core"
# where a switch's effect can show: throughput (steady-state rounds), ttfa (time to first audio), load (cold
# load and first call), warm (repeated text with a warm audio cache), batch (synthesize_batch only)
SHOWS_IN: dict[str, str] = {
    "inference_mode": "throughput", "threads1": "throughput", "warmup": "load", "weight_cache": "load",
    "engine_registry": "load", "audio_cache": "warm", "batching": "throughput", "batch_optimizer": "throughput",
    "memory_pool": "throughput", "fp16": "throughput", "bf16": "throughput", "int8": "throughput",
    "compile": "throughput", "fusion": "throughput", "banded_attention": "throughput",
    "decode_window": "throughput", "bucketing": "throughput", "tiling": "throughput",
    "streaming": "ttfa", "fewer_chunks": "throughput", "workers": "batch", "housekeeping": "throughput", "cuda_flags": "throughput",
    "deterministic": "throughput",
}
# which workloads exercise each place (the round a workload runs)
EXERCISED_BY: dict[str, tuple[str, ...]] = {
    "throughput": ("stream", "single", "batch", "repeated"), "ttfa": ("stream",), "load": ("stream", "single", "batch", "repeated"),
    "warm": ("repeated",), "batch": ("batch",),
}


def split_tier(tier: str) -> tuple[str, str, str]:
    """("advanced", "-", "streaming") for "advanced-streaming"; (tier, "", "") for a plain tier."""
    for sep in ("+", "-"):
        head, found, switch = tier.partition(sep)
        if found and head in ("baseline", "optimized", "advanced") and switch:
            return head, sep, switch
    return tier, "", ""


def reference_tier(tier: str) -> str | None:
    """The tier `tier` is compared with (None for the baseline itself)."""
    head, sep, _ = split_tier(tier)
    if sep:
        return head
    return None if tier in (BASELINE_TIER, "default") else BASELINE_TIER


def switch_of(tier: str) -> str | None:
    return split_tier(tier)[2] or None


def switch_diff(reference: dict[str, Any] | str | None, candidate: dict[str, Any] | str | None) -> dict[str, list[Any]]:
    """Resolved switches that differ: field -> [reference value, candidate value] (the tier's name excluded, and the
    precision candidates once calibration has decided the precision on both sides)."""
    if not isinstance(reference, dict) or not isinstance(candidate, dict):
        return {} if reference == candidate else {"tier": [reference, candidate]}
    ignored = {"name"}
    if reference.get("precision") != "auto" and candidate.get("precision") != "auto":
        ignored.add("precision_candidates")
    keys = sorted((set(reference) | set(candidate)) - ignored)
    return {k: [reference.get(k), candidate.get(k)] for k in keys if reference.get(k) != candidate.get(k)}


def not_applicable_fields(describe: dict[str, Any]) -> set[str]:
    """Switch fields the engine says do not apply on its device ("cudnn_benchmark (no CUDA device)" -> cudnn_benchmark)."""
    items = (describe.get("stats") or {}).get("not_applicable") or []
    return {str(item).split(" ")[0] for item in items}


def effective_diff(reference: dict[str, Any], candidate: dict[str, Any]) -> dict[str, list[Any]]:
    """`switch_diff` of two engines' `describe()`s, less the fields the candidate says do not apply on its device."""
    diff = switch_diff(reference.get("tier"), candidate.get("tier"))
    inapplicable = not_applicable_fields(candidate)
    return {k: v for k, v in diff.items() if k not in inapplicable}


def identical_here(tier: str, reference: dict[str, Any], candidate: dict[str, Any]) -> bool:
    """An ablation whose resolved switches, where they apply, equal its reference's: no verdict, nothing to wait for."""
    return bool(switch_of(tier)) and not effective_diff(reference, candidate)


def metric_for(tier: str, workload: str) -> tuple[str | None, str | None]:
    """(metric the verdict is given on, or None) and, when None, why no verdict: for `tier` under `workload`."""
    switch = switch_of(tier)
    where = SHOWS_IN.get(switch, "throughput") if switch else "throughput"
    if workload not in EXERCISED_BY[where]:
        hint = {"warm": "workload=repeated", "batch": "workload=batch", "ttfa": "workload=stream"}.get(where, "")
        return None, f"not exercised by this workload ({workload}); its effect shows with {hint}"
    return where, None
