"""Paired rounds (`scenario=rounds`, the default): every contender in its own worker process speaks the same fresh
text each round, in a rotating order, until the paired intervals are tight (`measure.target_half_width`) or the
budget ends (`measure.budget_s`). Top to bottom:

    group = build_group(cfg)              # contenders (tiers + references + peers + servers), text classes, identity
    peaks = machine_peaks(...)            # matmul peaks per precision, once per machine, in a quiet worker
    workers = start(...)                  # one spawned worker per contender: cold load, first call
    result = run_rounds(...)              # paired rounds in a balanced order until the intervals are tight
    flops = untimed_passes(...)           # stages, FLOPs, fidelity, samples, memory; then the workers close
    quality_pass(...)                     # ASR + DNSMOS of the audio the rounds stored
    rows = group_rows(...); save_rows(...)

A contender that fails (raises, dies, runs out of time or memory) becomes a failed row with the reason and the tail
of its log; the others go on. Every finished round is on disk, so a killed sweep resumes; a group the store already
has (same machine, code and axes) is reused unless `sweep.fresh`.
"""

from __future__ import annotations

import logging
import time

from bench.measure import ablation
from bench.measure.rounds import RoundPlan, RoundsResult, Tracked, run_rounds
from bench.results.schema import ResultRow
from bench.results.store import ResultStore, append_rows
from bench.scenarios.base import Scenario, SweepContext
from bench.sweep.config import BenchConfig
from bench.sweep.launch import fail, respawner, start
from bench.sweep.peaks import machine_peaks
from bench.sweep.plan import Group, build_group
from bench.sweep.quality import RoundAudio, quality_pass
from bench.sweep.rows import group_rows, save_rows
from bench.sweep.texts import TextSource
from bench.sweep.untimed import untimed_passes
from bench.workers import Worker, WorkerFailure

log = logging.getLogger("bench.sweep")


class PairedRounds(Scenario):
    """The paired, interleaved comparison of docs/measuring.md; its length is the `measure` group's."""

    def run(self, ctx: SweepContext) -> list[ResultRow]:
        """Measure the comparison `ctx.cfg` asks for (or take it whole from the store) and return its rows."""
        cfg, paths, limits = ctx.cfg, ctx.paths, ctx.limits
        group = build_group(cfg)
        store = ResultStore(paths.store_file)
        names = ", ".join(c.name for c in group.contenders)
        if not cfg.sweep.fresh and (stored := store.group(group.group_id)):
            log.info("group %s already measured in run %s on this machine and code; reusing it (--fresh measures "
                     "again): %s", group.group_id, stored[0].run_id, names)
            stored = store.reuse(group.group_id, paths.out_dir)  # its WAV and mprof files copied into this run's folder
            append_rows(paths.results_file, stored)
            return stored
        log.info("sweep %s, group %s: %s x %s (%s workload) -> %s", paths.run_id, group.group_id, names,
                 "/".join(group.classes), group.workload["name"], paths.results_file)
        started = time.monotonic()
        rounds_file = paths.rounds_file(group.group_id)
        if cfg.sweep.fresh:
            rounds_file.unlink(missing_ok=True)
        elif rounds_file.exists():
            log.info("resuming group %s from %s", group.group_id, rounds_file)
        peaks = machine_peaks(group, paths, limits) if cfg.measure.flops else {}
        texts = TextSource(group.text, group.classes)
        workers = start(group, texts.first_call(), cfg.measure.seed, paths, limits)
        result = RoundsResult(workers=workers)
        try:
            result = run_rounds(round_plan(cfg, group), workers, texts.for_class, tracked(group, workers), rounds_file,
                                log.info, round_args=RoundAudio(cfg, group, paths, rounds_file),
                                respawn=respawner(group, texts, cfg.measure.seed, paths, limits))
            for name, reason in result.failures.items():
                c = next(c for c in group.contenders if c.name == name)
                fail(c, result.workers.get(name), WorkerFailure(reason))
            log.info("rounds done: %s (%.0f s; %d set aside and measured again)", result.stop_reason, result.wall_s,
                     len(result.set_aside))
            flops = untimed_passes(group, result.workers, result, paths, cfg.measure, limits["time_s"])
        finally:
            for worker in result.workers.values():
                worker.close()
        if cfg.measure.quality:
            quality_pass(group, result, paths, cfg.measure.quality_texts_per_class)
        rows = group_rows(group, result, paths, flops, peaks, started)
        save_rows(rows, result, paths, store, rounds_file)
        return rows


def round_plan(cfg: BenchConfig, group: Group) -> RoundPlan:
    """How the rounds run, from the `measure` group: at least as long as the heard-quality pass needs texts of each
    class."""
    m = cfg.measure
    return RoundPlan(classes=group.classes,
                     min_rounds_per_class=max(m.min_rounds, m.quality_texts_per_class if m.quality else 0),
                     max_rounds=m.max_rounds, budget_s=m.budget_s, target_half_width=m.target_half_width,
                     call_timeout_s=cfg.sweep.time_limit_s, warm=group.workload["name"] == "repeated",
                     rounds_per_process=m.rounds_per_process, max_set_aside=m.max_set_aside,
                     busy_budget_s=m.busy_budget_s, set_aside=m.interference == "detect")


def tracked(group: Group, workers: dict[str, Worker]) -> list[Tracked]:
    """The comparisons the stopping rule waits for: each contender against its reference on the metric its
    verdict is given on (none for an ablation identical to its reference), and our tiers against each peer."""
    by_name = {c.name: c for c in group.contenders}
    out = []
    for c in group.contenders:
        ref = by_name.get(c.reference or "")
        if c.name not in workers or ref is None or ref.name not in workers:
            continue
        if c.peer and not c.describe.get("fidelity_gate"):  # a speed reference of another voice: stored, not waited for
            continue
        if ablation.identical_here(c.tier, ref.describe, c.describe):
            continue
        metric, _ = ablation.metric_for(c.tier, group.workload["name"])
        if metric in ("throughput", "ttfa"):
            out.append(Tracked(c.name, ref.name, "rtf" if metric == "throughput" else "ttfa_s"))
    # our tiers against each peer that speaks the same voice (one with a fidelity gate; espeak-ng's formant voice
    # is a speed reference only: its comparisons are stored, not waited for)
    peers = [c for c in group.contenders if c.peer and c.name in workers and c.describe.get("fidelity_gate")]
    for c in group.contenders:
        if not c.peer and not ablation.switch_of(c.tier) and c.name in workers:
            out.extend(Tracked(c.name, p.name, "rtf") for p in peers)
    return out

