"""A bounded search for the highest QPS whose LoadGen server run is VALID.

Double (or halve) from the first probe until one VALID and one INVALID rate bracket the answer, then
bisect geometrically until they are within `tolerance` of each other. It stops early after `max_runs`
probes, or when the next probe could not end within `budget_s` of the start. Rates below `min_qps` are
never probed: there LoadGen cannot issue `min_query_count` queries before `max_duration_s`, so no run
could be VALID. A failed probe (the engine raised or hung) ends the search. A rate counts as met (`plays_within_bound`) when
LoadGen calls the run VALID (first audio within the bound at the scenario's percentile, p99 or p90 as the row
says) and, where listeners were simulated (a server over HTTP), no stream underran.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional


MAX_UNDERRUN_RATE = 0.0  # share of streams that may underrun at a rate the search counts as met


# the row field holding first audio (s) at the percentile a bound applies to (`latency_percentile`)
TTFA_AT = {0.5: "ttfa_s", 0.9: "ttfa_p90_s", 0.99: "ttfa_p99_s"}


def ttfa_field(percentile: float | None) -> str | None:
    """The row field with first audio at `percentile` (0.9 -> `ttfa_p90_s`); None for a percentile rows lack."""
    return TTFA_AT.get(round(float(percentile or 0), 4))


def plays_within_bound(row: dict[str, Any]) -> bool:
    """LoadGen's VALID and, where the row has simulated listeners (`underrun_rate`), at most MAX_UNDERRUN_RATE of
    its streams underran."""
    rate = row.get("underrun_rate")
    return row.get("valid") == "VALID" and (rate is None or rate <= MAX_UNDERRUN_RATE)


@dataclass
class Probe:
    """One server run at `qps`: its row, and whether LoadGen called it VALID or it failed outright."""

    qps: float
    row: dict[str, Any]
    valid: bool
    failed: bool = False


class QpsSearch:
    """Finds the highest VALID rate; `run(probe)` returns every probe's row, the best marked `best: True`."""

    def __init__(self, first_qps: float, tolerance: float, max_runs: int, budget_s: float,
                 run_cost_s: Callable[[float], float], min_qps: float = 0.0) -> None:
        self.first_qps, self.tolerance, self.max_runs, self.budget_s = first_qps, tolerance, max_runs, budget_s
        self.run_cost_s, self.min_qps = run_cost_s, min_qps

    def _next(self, lo: Optional[float], hi: Optional[float], last: float) -> Optional[float]:
        if lo is None:  # nothing VALID yet: halve, but not below the floor (and stop once it failed there)
            return None if last <= self.min_qps else max(last / 2, self.min_qps)
        if hi is None:
            return last * 2
        if hi / lo - 1 <= self.tolerance:
            return None
        return math.sqrt(lo * hi)

    def run(self, probe: Callable[[float], Probe]) -> list[dict[str, Any]]:
        """Probe rates until bracketed within tolerance, out of runs, out of budget, or a probe failed."""
        t0 = time.monotonic()
        lo: Optional[float] = None  # highest VALID rate so far
        hi: Optional[float] = None  # lowest INVALID rate so far
        probes: list[Probe] = []
        qps: Optional[float] = max(self.first_qps, self.min_qps)
        stop = "tolerance"
        while qps is not None:
            if len(probes) >= self.max_runs:
                stop = "max_runs"
                break
            if time.monotonic() - t0 + self.run_cost_s(qps) > self.budget_s and probes:
                stop = "budget"
                break
            p = probe(qps)
            probes.append(p)
            if p.failed:
                stop = "failed"
                break
            if p.valid:
                lo = qps if lo is None else max(lo, qps)
            else:
                hi = qps if hi is None else min(hi, qps)
            qps = self._next(lo, hi, qps)
            if qps is None and lo is None:
                stop = "floor"
        wall = time.monotonic() - t0
        rows = []
        for i, p in enumerate(probes):
            rows.append({**p.row, "search_step": i, "search_stop": stop, "search_wall_s": wall,
                         "best": lo is not None and p.qps == lo and p.valid,
                         "highest_valid_qps": lo, "lowest_invalid_qps": hi})
        return rows
