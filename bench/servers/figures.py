"""What serving costs: a served contender's time to first audio against its in-process reference, paired by round
(same text, same round), as a difference in milliseconds with a bootstrap interval. Written into the rows' `extra`:

    served_reference        the in-process contender it is paired with
    served_ttfa_diff_ms     mean of (served - in process) first audio over the paired rounds, ms
    served_ttfa_diff_ci_ms  [low, high] 95% bootstrap interval of that mean, ms
    served_ttfa_pairs       rounds in which both gave a first audio
    served_first_audible_diff_ms, served_first_audible_diff_ci_ms
                            the same for the first audible chunk (`bench.measure.audible`)
"""

from __future__ import annotations

import math
from typing import Any

from bench.results.schema import ResultRow
from bench.results.stats import mean_ci

ALL = "all"


def is_served(row: ResultRow) -> bool:
    """A row of a contender measured over HTTP (its adapter says `tier.served`)."""
    tier = (row.extra.get("engine") or {}).get("tier")
    return isinstance(tier, dict) and bool(tier.get("served"))


def paired_ttfa_diff_ms(rounds: list[dict[str, Any]], reference: str, candidate: str,
                        metric: str = "ttfa_s") -> list[float]:
    """(candidate - reference) first audio (`metric`: ttfa_s or first_audible_s) in ms, for every round where both
    have one."""
    out = []
    for rd in rounds:
        a, b = (rd["results"].get(name, {}).get(metric) for name in (reference, candidate))
        if a is not None and b is not None:
            out.append((float(b) - float(a)) * 1e3)
    return out


def add_served_figures(rows: list[ResultRow], rounds: list[dict[str, Any]]) -> None:
    """Put the paired first-audio difference on every served row whose reference has rounds (in place)."""
    for row in rows:
        if row.status == "skipped" or not row.reference or not is_served(row):
            continue
        mine = rounds if row.text == ALL else [rd for rd in rounds if rd["text_class"] == row.text]
        diffs = paired_ttfa_diff_ms(mine, row.reference, row.contender)
        row.extra["served_reference"] = row.reference
        row.extra["served_ttfa_pairs"] = len(diffs)
        for metric, key in (("ttfa_s", "served_ttfa"), ("first_audible_s", "served_first_audible")):
            diffs = paired_ttfa_diff_ms(mine, row.reference, row.contender, metric)
            if diffs:
                ci = mean_ci(diffs, strata=None)
                row.extra[f"{key}_diff_ms"] = ci.mean
                row.extra[f"{key}_diff_ci_ms"] = [ci.ci_low if math.isfinite(ci.ci_low) else None,
                                                  ci.ci_high if math.isfinite(ci.ci_high) else None]
