"""Serving under load (`scenario=singlestream | offline | server`): each contender's worker runs a MLPerf LoadGen
scenario (`bench/serve/`: SingleStream, Offline, or a server search for the highest QPS whose first audio stays
within the bound) over fresh sentences from the harness's generator, one contender at a time; LoadGen's own
summary and detail logs are kept per contender and run, and every LoadGen run becomes a row (workload `serve`).

    group = build_group(cfg, serving=...)   # contenders; our managed servers batch as the scenario says
    for each contender: start its worker -> LoadGen runs -> rows, stored -> worker closed
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from bench.results.schema import ResultRow
from bench.scenarios.base import Scenario, SweepContext
from bench.scenarios.each_contender import each_contender, num
from bench.serve.config import ScenarioConfig
from bench.sweep.plan import build_group, safe_name
from bench.texts import SentenceGenerator
from bench.workers import Worker

log = logging.getLogger("bench.sweep")
SAMPLES = 2000  # distinct query sentences per contender (LoadGen draws from them; none repeats within a run)
RENAMED = {"ttfa_p50_s": "ttfa_s", "summary_path": "loadgen_summary", "detail_path": "loadgen_detail", "best": "best_qps"}


def queries(seed: int, contender_index: int) -> list[str]:
    """Fresh sentences for one contender's LoadGen runs: short and medium ones, as a service receives them."""
    gen = SentenceGenerator(seed * 1000 + contender_index + 1)
    return [gen.sentence(3, 22) for _ in range(SAMPLES)]


def serve_rows(base: dict[str, Any], runs: list[dict[str, Any]]) -> list[ResultRow]:
    """One row per LoadGen run; fields the schema does not name (latency bound, batching, search wall, ...) go
    to `extra`."""
    rows = []
    for i, run in enumerate(runs):
        data = {**base, **{RENAMED.get(k, k): v for k, v in run.items()}}
        status, reason = data.pop("status", "failed"), data.pop("reason", None)
        data.update(config_id=f"{base['config_id']}-{i}", status="ok" if status == "ok" else "failed",
                    error=None if status == "ok" else reason, extra=dict(base["extra"], reason=reason))
        rows.append(ResultRow.from_dict(data))
    return rows


def loadgen_settings(config: Any) -> dict[str, Any]:
    """The `ScenarioConfig` fields of a group entry (without `_target_`), as the worker's `serve` call takes them."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(ScenarioConfig)}


class LoadGen(Scenario):
    """Every contender of the plan under the LoadGen scenario `self.config` (a `ScenarioConfig`), one after
    another (`bench.scenarios.each_contender`); rows stored as they finish."""

    def run(self, ctx: SweepContext) -> list[ResultRow]:
        cfg, paths = ctx.cfg, ctx.paths
        group = build_group(cfg, serving=self.config)
        scenario = loadgen_settings(self.config)
        budget = float(scenario["search_budget_s"]) + 2 * float(scenario["run_timeout_s"]) + 120

        def measure(worker: Worker, i: int, base: dict[str, Any]) -> list[ResultRow]:
            log.info("%s: LoadGen %s scenario", base["contender"], scenario["name"])
            runs = worker.call("serve", max(budget, cfg.sweep.time_limit_s), scenario=scenario,
                               samples=queries(cfg.measure.seed, i),
                               out_dir=str(paths.out_dir / "loadgen" / safe_name(base["contender"])))
            return serve_rows(dict(base, peak_rss_mb=worker.peak_rss_mb), runs)

        return each_contender(ctx, group, scenario["name"], measure, _summary)


def _summary(row: ResultRow) -> str:
    return (f"{row.status} {row.valid or ''}, {num(row.achieved_qps)} QPS achieved, p99 first audio "
            f"{num(row.ttfa_p99_s)} s{' (highest VALID)' if row.best_qps else ''}")
