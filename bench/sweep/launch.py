"""Worker processes for a group's contenders: spawned and loaded one at a time (nothing else runs during a cold
load), then a first call; a new set every `measure.rounds_per_process` rounds (`respawner`). A contender whose
worker fails is marked failed (`fail`), with the reason and the tail of its log; the others go on."""

from __future__ import annotations

import logging
from typing import Callable, Protocol

from bench.measure.memory import LOAD, STEADY
from bench.measure.rows import Contender
from bench.sweep.plan import Group, RunPaths, safe_name
from bench.workers import Worker, WorkerFailure, WorkerSpec

log = logging.getLogger("bench.sweep")


class FirstCalls(Protocol):
    """Where a new set of workers takes its first-call text (`bench.sweep.texts.TextSource`)."""

    def first_call(self, k: int = 0) -> str: ...


def worker_spec(c: Contender, group: Group, seed: int, paths: RunPaths) -> WorkerSpec:
    safe = safe_name(c.name)
    return WorkerSpec(contender=c.name, engine=c.engine, tier=c.tier, device=c.hardware["device"],
                      threads=int(c.hardware.get("threads") or 0), model=group.model, seed=seed,
                      workload=group.workload, log_file=str(paths.out_dir / "logs" / f"{safe}.log"))


def fail(c: Contender, worker: Worker | None, exc: WorkerFailure) -> None:
    c.failed = exc.reason
    c.log_tail = exc.log_tail or (worker.log_tail() if worker else "")
    log.error("%s failed: %s", c.name, exc.reason)


def start(group: Group, first_text: str, seed: int, paths: RunPaths, limits: dict[str, float],
          only: list[str] | None = None) -> dict[str, Worker]:
    """Spawn and load each contender in turn (nothing else runs during a cold load), then time its first call.
    The first set of processes gives each contender's `load` and `first_call`; a later one (`only`: the contenders
    still in the rounds) appends its figures to `extra["processes"]`."""
    workers: dict[str, Worker] = {}
    for c in group.contenders:
        if c.skipped or (only is not None and c.name not in only):
            if c.skipped:
                log.info("skip %s: %s", c.name, c.skipped)
            continue
        log.info("loading %s in its own worker process", c.name)
        worker = Worker(worker_spec(c, group, seed, paths), limits["memory_mb"])
        try:
            load = worker.call("load", limits["time_s"])
            if "skipped" in load:
                c.skipped, c.load = load["skipped"], load
                worker.close()
                continue
            first_call = worker.call("round", limits["time_s"], text=first_text)
            log.info("%s: load %.2f s, first call %.2f s", c.name, load["load_s"], first_call["latency_s"])
            c.extra.setdefault("processes", []).append({"pid": worker.pid, "load_s": load["load_s"],
                                                        "first_call_s": first_call["latency_s"]})
            if only is None:
                c.load, c.first_call = load, first_call
                c.extra["worker_pid"] = worker.pid
            workers[c.name] = worker
        except WorkerFailure as exc:
            fail(c, worker, exc)
            worker.close()
        worker.mark(STEADY)  # load, calibration and first call are behind the worker: its timed rounds follow
    return workers


def respawner(group: Group, texts: FirstCalls, seed: int, paths: RunPaths, limits: dict[str, float]
              ) -> Callable[[dict[str, Worker]], dict[str, Worker]]:
    """The rounds' `respawn`: close the contenders' workers, then start a new one for each, in turn, its first call
    on a fresh text. The memory timelines of the closed processes stay on each contender (`steady peaks` take the
    highest)."""
    made = [0]

    def respawn(old: dict[str, Worker]) -> dict[str, Worker]:
        by_name = {c.name: c for c in group.contenders}
        for name, worker in old.items():
            keep_memory(by_name[name], worker)
            worker.close()
        made[0] += 1
        return start(group, texts.first_call(made[0]), seed, paths, limits, only=list(old))

    return respawn


def keep_memory(c: Contender, worker: Worker) -> None:
    """Fold a closing worker's peaks into its contender's (the highest of every process it ran in)."""
    def top(a: float | None, b: float | None) -> float | None:
        return max(x for x in (a, b) if x is not None) if (a is not None or b is not None) else None

    c.peak_rss_mb = top(c.peak_rss_mb, worker.peak_rss_mb)
    c.load_peak_rss_mb = top(c.load_peak_rss_mb, worker.phase_peak_rss_mb(LOAD))
    c.steady_peak_rss_mb = top(c.steady_peak_rss_mb, worker.phase_peak_rss_mb(STEADY))

