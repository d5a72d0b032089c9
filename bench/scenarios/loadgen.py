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
import time
from typing import Any

from bench.measure.rows import config_id
from bench.results.schema import ResultRow
from bench.results.store import ResultStore, append_rows
from bench.scenarios.base import Scenario, SweepContext
from bench.serve.config import ScenarioConfig
from bench.sweep.launch import fail, start
from bench.sweep.plan import build_group, safe_name
from bench.sweep.rows import command_line
from bench.texts import SentenceGenerator
from bench.workers import WorkerFailure

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
    another; rows stored as they finish."""

    def run(self, ctx: SweepContext) -> list[ResultRow]:
        cfg, paths, limits = ctx.cfg, ctx.paths, ctx.limits
        group = build_group(cfg, serving=self.config)
        scenario = loadgen_settings(self.config)
        store = ResultStore(paths.store_file)
        first_call = SentenceGenerator(cfg.measure.seed).text("short")  # each worker's start-up call
        rows: list[ResultRow] = []
        for i, c in enumerate(group.contenders):
            started = time.monotonic()
            workers = start(dataclasses.replace(group, contenders=[c]), first_call, cfg.measure.seed, paths, limits)
            base = dict(run_id=paths.run_id, config_id=config_id(group.group_id, c.name, scenario["name"]),
                        timestamp=time.time(), host=group.host, code_version=group.code_version, engine=c.engine_name,
                        tier=c.tier, hardware=c.hardware["name"], device=c.hardware["device"], model=group.model,
                        text="serve", workload="serve", contender=c.name, group_id=group.group_id,
                        reference=c.reference, load_s=c.load.get("load_s"), first_call_s=c.first_call.get("latency_s"),
                        env=dict(c.load.get("env") or {}), extra={"command": command_line()})
            if c.skipped or c.name not in workers:
                status = "skipped" if c.skipped else "failed"
                mine = [ResultRow.from_dict(dict(base, status=status, reason=c.skipped, error=c.failed,
                                                 extra=dict(base["extra"], log_tail=c.log_tail)))]
            else:
                worker = workers[c.name]
                budget = float(scenario["search_budget_s"]) + 2 * float(scenario["run_timeout_s"]) + 120
                log.info("%s: LoadGen %s scenario", c.name, scenario["name"])
                try:
                    runs = worker.call("serve", max(budget, cfg.sweep.time_limit_s), scenario=scenario,
                                       samples=queries(cfg.measure.seed, i),
                                       out_dir=str(paths.out_dir / "loadgen" / safe_name(c.name)))
                    mine = serve_rows(dict(base, peak_rss_mb=worker.peak_rss_mb), runs)
                except WorkerFailure as exc:
                    fail(c, worker, exc)
                    mine = [ResultRow.from_dict(dict(base, status="failed", error=exc.reason,
                                                     extra=dict(base["extra"], log_tail=c.log_tail)))]
                finally:
                    worker.close()
            for row in mine:
                row.extra["contender_wall_s"] = time.monotonic() - started
                log.info("%s %s: %s %s, %s QPS achieved, p99 first audio %s s%s", row.contender, row.scenario or "",
                         row.status, row.valid or "", _num(row.achieved_qps), _num(row.ttfa_p99_s),
                         " (highest VALID)" if row.best_qps else "")
            store.append(mine)
            append_rows(paths.results_file, mine)
            rows.extend(mine)
        return rows


def _num(x: Any) -> str:
    return f"{x:.3f}" if isinstance(x, (int, float)) else "n/a"
