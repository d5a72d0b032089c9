"""The concurrency curve (`scenario=concurrency`): closed-loop clients at 1, 2, 4, 8, 16 concurrent streams
(`scenario.levels`), each sending a fresh sentence as soon as its last stream has ended, every stream played by a
simulated listener (`bench/serve/curve.py`). One contender at a time, in its own worker:

    group = build_group(cfg, serving=...)   # our tiers in process, peers, servers (sweep.servers) and engine=http;
                                            # our managed servers batch as the scenario says
    for each contender: start its worker -> every level -> one row per level, stored -> worker closed

An in-process engine's clients queue for the dispatcher the LoadGen SUT and our server use; a served engine's
clients each open their own HTTP request. Rows: workload `serve`, `scenario: concurrency`, the level in
`concurrency`, and the figures `bench.report.concurrency` draws (`bench.serve.curve_figures`).
"""

from __future__ import annotations

import logging
from typing import Any

from bench.measure.rows import config_id
from bench.results.schema import ResultRow
from bench.scenarios.base import Scenario, SweepContext
from bench.scenarios.each_contender import each_contender, num
from bench.serve.curve_config import CurveConfig, curve_settings
from bench.sweep.plan import build_group
from bench.workers import Worker

log = logging.getLogger("bench.sweep")
WORKER_SLACK_S = 120.0  # beyond the levels' own budget: warm-up and the first call of a slow engine


def level_rows(base: dict[str, Any], name: str, levels: list[dict[str, Any]]) -> list[ResultRow]:
    """One row per level: `ok` where a request of it ended with audio, else failed with the first error. Fields
    the schema does not name (`concurrency`, `first_audible_p90_s`, `chunk_gap_p99_s`, `underrun_rate`,
    `audio_s_per_s`, `goodput_qps`, `engine_errors`, ...) go to `extra`, which the report reads as columns."""
    rows = []
    for figures in levels:
        ok = bool(figures.get("queries"))
        data = {**base, **figures, "scenario": name,
                "config_id": config_id(base["group_id"], base["contender"], f"{name}-{figures['concurrency']}"),
                "status": "ok" if ok else "failed", "error": None if ok else figures.get("first_error")}
        rows.append(ResultRow.from_dict(data))
    return rows


class ConcurrencyCurve(Scenario):
    """Every contender of the plan at every level of `self.config` (a `CurveConfig`), one after another."""

    def run(self, ctx: SweepContext) -> list[ResultRow]:
        cfg = ctx.cfg
        settings = curve_settings(self.config)
        budget = CurveConfig(**settings).budget_s() + WORKER_SLACK_S

        def measure(worker: Worker, i: int, base: dict[str, Any]) -> list[ResultRow]:
            log.info("%s: concurrency curve at %s streams", base["contender"], settings["levels"])
            levels = worker.call("concurrency", max(budget, cfg.sweep.time_limit_s), settings=settings,
                                 seed=cfg.measure.seed * 1000 + i + 1)
            return level_rows(dict(base, peak_rss_mb=worker.peak_rss_mb), settings["name"], levels)

        group = build_group(cfg, serving=self.config)
        return each_contender(ctx, group, settings["name"], measure, _summary)


def _summary(row: ResultRow) -> str:
    x = row.extra
    return (f"{x.get('concurrency')} streams: {row.status}, first audio p90 {num(row.ttfa_p90_s)} s, underrun rate "
            f"{num(x.get('underrun_rate'))}, {num(x.get('audio_s_per_s'))} audio s/s, goodput "
            f"{num(x.get('goodput_qps'))} QPS, {x.get('engine_errors')} errors")
