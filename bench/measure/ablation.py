"""Which contender each one is compared with, what differs between them, and where a switch's effect shows.

- `advanced-X` is compared with `advanced`, `baseline+X` with `baseline`, every other tier of an engine with that
  engine's `baseline`; a peer's reference is our baseline.
- `switch_diff` compares the *resolved* switches (after calibration): an ablation that resolves to its reference
  on this machine is "identical here" and gets no verdict.
- Where each switch can show at all is the switch's own declaration (`tts_core.tiers.switches`, `shows_in`): a
  switch that cannot change a steady-state round of this workload is reported where it shows (load time, time to
  first audio, warm rounds), never as a speedup.
"""

from __future__ import annotations

from typing import Any

from tts_core.tiers.presets import split_tier
from tts_core.tiers.switches import shows_in

BASELINE_TIER = "baseline"
OUR_ENGINE = "tts_core"
# which workloads exercise each place a switch can show in (the round a workload runs): throughput (steady-state
# rounds), ttfa (time to first audio), load (cold load and first call), warm (repeated text with a warm audio
# cache), batch (synthesize_batch only)
EXERCISED_BY: dict[str, tuple[str, ...]] = {
    "throughput": ("stream", "single", "batch", "repeated"), "ttfa": ("stream",), "load": ("stream", "single", "batch", "repeated"),
    "warm": ("repeated",), "batch": ("batch",),
}


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
    """Switch fields the engine says do not apply on its device (`{"switch": "cuda_flags", "fields": [...],
    "reason": ...}` each; a results file of an older version wrote "cudnn_benchmark (no CUDA device)")."""
    items = (describe.get("stats") or {}).get("not_applicable") or []
    out: set[str] = set()
    for item in items:
        if isinstance(item, dict):
            out.update(item.get("fields") or [])
        else:
            out.add(str(item).split(" ")[0])
    return out


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
    where = shows_in(switch) if switch else "throughput"
    if workload not in EXERCISED_BY[where]:
        hint = {"warm": "workload=repeated", "batch": "workload=batch", "ttfa": "workload=stream"}.get(where, "")
        return None, f"not exercised by this workload ({workload}); its effect shows with {hint}"
    return where, None
