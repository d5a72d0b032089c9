"""Synthetic rows of a serving run (LoadGen's server search, workload `serve`) for testing the report.

`search_rows()` runs the harness's own search (`bench.serve.search.QpsSearch`) over three contenders of a
queueing-like latency model, as `scenario=server` would on a 2-core CPU against a 300 ms p90 first-audio bound:
our server over HTTP, the same tier in process, and Piper's server (whose first audio is its whole synthesis,
so no rate meets the bound). A probe whose p90 is within the bound but near it is INVALID by early stopping, as
LoadGen rules on few queries. `concurrency_rows()` gives levels of a concurrency curve in the fields
`bench.report.concurrency` reads. Every figure is made up; only the shapes are the harness's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.results.schema import ResultRow
from bench.serve.search import Probe, QpsSearch

BOUND_MS, PERCENTILE = 300.0, 0.9
SERVERS = {  # contender: (first audio p90 when idle (s), capacity (QPS), over HTTP with listeners)
    "tts_core-http:advanced@cpu-all": (0.09, 4.28, True),
    "tts_core:advanced@cpu-all": (0.06, 2.0, False),
    "piper-http:default@cpu-all": (0.45, 3.0, True),
}


def _p90_s(idle_s: float, capacity: float, qps: float) -> float:
    return idle_s / max(1 - qps / capacity, 0.02)  # grows as the rate nears capacity


def _common(run_id: str, contender: str) -> dict[str, Any]:
    engine, rest = contender.split(":", 1)
    return dict(run_id=run_id, host="ci-runner-1", model="joe-medium", engine=engine, tier=rest.split("@")[0],
                hardware="cpu-all", device="cpu", text="serve", workload="serve", contender=contender,
                group_id=f"{run_id}-serve", timestamp=1_714_564_800.0,
                env={"host": "ci-runner-1", "cpu": "AMD EPYC 7B13", "cores_logical": 2})


def search_rows(run_id: str = "2024-05-02T09-00-00") -> list[ResultRow]:
    """One row per probe of each contender's search, as the sweep stores them (`best_qps` on the answer)."""
    rows: list[ResultRow] = []
    for contender, (idle_s, capacity, http) in SERVERS.items():
        def probe(qps: float) -> Probe:
            p90 = _p90_s(idle_s, capacity, qps)
            bound_met = p90 <= BOUND_MS / 1000
            early = p90 <= 0.8 * BOUND_MS / 1000  # near the bound, too few queries for early stopping
            row = {"valid": "VALID" if bound_met and early else "INVALID", "target_qps": qps,
                   "achieved_qps": min(qps, capacity) * 0.97, "ttfa_s": p90 / 2, "ttfa_p90_s": p90,
                   "ttfa_p99_s": 1.6 * p90, "mean_batch_size": 1.0, "queries": 200, "bound_met": bound_met,
                   "early_stopping_met": early, "min_queries_met": True, **({"underrun_rate": 0.0} if http else {})}
            return Probe(qps, row, row["valid"] == "VALID")

        search = QpsSearch(1.0, tolerance=0.2, max_runs=6, budget_s=1e9, run_cost_s=lambda q: 0.0, min_qps=0.49)
        for i, run in enumerate(search.run(probe)):
            run = {**run, "best_qps": run.pop("best"), "latency_bound_ms": BOUND_MS, "latency_percentile": PERCENTILE}
            rows.append(ResultRow.from_dict({**_common(run_id, contender), **run, "status": "ok", "scenario": "server",
                                             "config_id": f"{contender}|server-{i}"}))
    return rows


def concurrency_rows(run_id: str = "2024-05-02T09-00-00", levels: tuple[int, ...] = (1, 2, 4, 8)) -> list[ResultRow]:
    """One row per contender and level of closed-loop clients."""
    rows = []
    for contender, (idle_s, capacity, _) in SERVERS.items():
        for n in levels:
            p90 = idle_s * (1 + max(n - capacity, 0))
            rows.append(ResultRow.from_dict({
                **_common(run_id, contender), "status": "ok", "scenario": "concurrency", "concurrency": n,
                "config_id": f"{contender}|concurrency-{n}", "ttfa_s": p90 / 2, "ttfa_p90_s": p90,
                "ttfa_p99_s": 1.5 * p90, "underrun_rate": 0.0, "audio_s_per_s": min(n, capacity) * 3.0}))
    return rows


def write_serving_run(directory: Path, concurrency: bool = False) -> Path:
    """Write the search's rows (and, with `concurrency`, a curve) under `directory`; return `results.jsonl`."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = search_rows() + (concurrency_rows() if concurrency else [])
    path = directory / "results.jsonl"
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in rows))
    return path
