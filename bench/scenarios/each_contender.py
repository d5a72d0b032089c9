"""The loop serving scenarios share (LoadGen's, the concurrency curve): one contender at a time in a worker of its
own, its rows stored as soon as it is done, a contender that fails or is skipped a row saying why.

    for each contender: start its worker -> measure(worker, index, base) -> rows, stored -> worker closed

`base` holds what every row of the contender carries (identity, axes, load and first call, workload `serve`, so
the report's serving section reads them); `measure` adds the figures.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Callable

from bench.measure.rows import config_id
from bench.results.schema import ResultRow
from bench.results.store import ResultStore, append_rows
from bench.scenarios.base import SweepContext
from bench.sweep.launch import fail, start
from bench.sweep.plan import Group
from bench.sweep.rows import command_line
from bench.texts import SentenceGenerator
from bench.workers import Worker, WorkerFailure

log = logging.getLogger("bench.sweep")

Measure = Callable[[Worker, int, dict[str, Any]], list[ResultRow]]  # (worker, contender index, base row) -> rows


def each_contender(ctx: SweepContext, group: Group, scenario: str, measure: Measure,
                   summary: Callable[[ResultRow], str]) -> list[ResultRow]:
    """Run `measure` over every contender of `group`, one after another, each in a fresh worker (closed after it);
    `scenario` names the rows' config ids, `summary(row)` the log line of each row. Returns every stored row."""
    cfg, paths, limits = ctx.cfg, ctx.paths, ctx.limits
    store = ResultStore(paths.store_file)
    first_call = SentenceGenerator(cfg.measure.seed).text("short")  # each worker's start-up call
    rows: list[ResultRow] = []
    for i, c in enumerate(group.contenders):
        started = time.monotonic()
        workers = start(dataclasses.replace(group, contenders=[c]), first_call, cfg.measure.seed, paths, limits)
        base = dict(run_id=paths.run_id, config_id=config_id(group.group_id, c.name, scenario),
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
            try:
                mine = measure(worker, i, base)
            except WorkerFailure as exc:
                fail(c, worker, exc)
                mine = [ResultRow.from_dict(dict(base, status="failed", error=exc.reason,
                                                 extra=dict(base["extra"], log_tail=c.log_tail)))]
            finally:
                worker.close()
        for row in mine:
            row.extra["contender_wall_s"] = time.monotonic() - started
            if row.status == "ok":
                log.info("%s %s: %s", row.contender, row.scenario or "", summary(row))
            else:  # nothing measured: the reason, not a line of n/a figures
                log.info("%s %s: %s (%s)", row.contender, row.scenario or "", row.status, row.reason or row.error)
        store.append(mine)
        append_rows(paths.results_file, mine)
        rows.extend(mine)
    return rows


def num(x: Any) -> str:
    """A figure for a log line: three decimals, or n/a."""
    return f"{x:.3f}" if isinstance(x, (int, float)) else "n/a"
