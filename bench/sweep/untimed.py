"""Untimed passes after the rounds, on each contender's worker still loaded: stages (the longest class's text),
FLOPs (each engine's baseline), fidelity (the first text of every class, against the contender's reference), a WAV
sample for the report's player (medium) and the worker's memory figures; then its memory timeline as an mprof file.
None of these calls is timed or sampled; heard quality is scored later (`bench.sweep.quality`), workers closed."""

from __future__ import annotations

import logging
from typing import Any

from bench.measure.fidelity import fidelity_figures
from bench.measure.memory import UNTIMED, write_mprof
from bench.measure.rounds import RoundsResult
from bench.measure.rows import Contender
from bench.sweep.config import MeasureConfig
from bench.sweep.launch import fail, keep_memory
from bench.sweep.plan import Group, RunPaths, fidelity_reference, safe_name
from bench.workers import Worker, WorkerFailure

log = logging.getLogger("bench.sweep")


class UntimedPasses:
    """The passes over one group, in the order each contender runs them (`run`). `first_of`: text class -> the
    first accepted round's text of that class (empty when no round was accepted: then only memory is read)."""

    def __init__(self, group: Group, result: RoundsResult, paths: RunPaths, measure: MeasureConfig,
                 timeout_s: float) -> None:
        self.group, self.paths, self.m, self.timeout_s = group, paths, measure, timeout_s
        self.first_of: dict[str, str] = {}
        for rd in result.rounds:
            self.first_of.setdefault(rd["text_class"], rd["text"])
        self.longest = max(self.first_of, key=lambda k: len(self.first_of[k])) if self.first_of else ""
        self.flops: dict[str, dict[str, Any]] = {}  # engine -> text class -> counted FLOPs
        self.references: dict[tuple[str, str], dict[str, Any]] = {}  # (contender, class) -> its noise-free audio

    def run(self, c: Contender, worker: Worker) -> None:
        """Every pass on `c`, then its memory figures; raises `WorkerFailure` from the first call that fails."""
        if self.m.stages and self.first_of:
            self.stages(c, worker)
        if self.m.flops and c.tier == "baseline" and not c.peer and self.first_of:
            self.count_flops(c, worker)
        if self.m.fidelity and c.describe.get("fidelity_gate", "exact"):
            self.fidelity(c, worker)
        if self.first_of and self.m.sample_wav_s > 0:
            self.sample(c, worker)
        c.memory = worker.call("memory", self.timeout_s, sample=False)

    def stages(self, c: Contender, worker: Worker) -> None:
        """Seconds per stage on the longest class's text (stage shares hardly depend on the class)."""
        stages = worker.call("stages", self.timeout_s, sample=False, text=self.first_of[self.longest])
        c.stages = {self.longest: stages} if stages else {}

    def count_flops(self, c: Contender, worker: Worker) -> None:
        """FLOPs of the engine's baseline on the longest text (FLOPs per audio second hardly depend on the text)."""
        counted = worker.call("flops", self.timeout_s, sample=False, text=self.first_of[self.longest])
        self.flops[c.engine_name] = {k: counted for k in self.first_of} if counted else {}

    def fidelity(self, c: Contender, worker: Worker) -> None:
        """Noise-free audio of the first text of each class against the reference's (`plan.fidelity_reference`);
        the reference's own audio is kept for the others (the reference comes first in the group)."""
        ref_name = fidelity_reference(c, self.group)
        ref = next((o for o in self.group.contenders if o.name == ref_name), None)
        gate = c.describe.get("fidelity_gate", "exact")
        for k, t in self.first_of.items():
            got = worker.call("fidelity", self.timeout_s, sample=False, text=t)
            if ref is None or ref.name == c.name:
                self.references[(c.name, k)] = got
                continue
            ref_audio = self.references.get((ref.name, k))
            if ref_audio is not None:
                figs = fidelity_figures(ref_audio["samples"], got["samples"], got["sample_rate"], gate)
                c.fidelity[k] = dict(figs, fid_reference=ref.name)

    def sample(self, c: Contender, worker: Worker) -> None:
        """A WAV of at most `measure.sample_wav_s` seconds (the medium text, else the first) for the report."""
        text = self.first_of.get("medium") or next(iter(self.first_of.values()))
        path = self.paths.out_dir / "samples" / f"{safe_name(c.name)}.wav"
        got = worker.call("sample", self.timeout_s, sample=False, text=text, path=str(path), max_s=self.m.sample_wav_s)
        c.sample_wav = got["path"]


def untimed_passes(group: Group, workers: dict[str, Worker], result: RoundsResult, paths: RunPaths,
                   measure: MeasureConfig, timeout_s: float) -> dict[str, dict[str, Any]]:
    """Run the passes on every contender still in the rounds (`timeout_s` per call); a failing one is marked failed
    and the others go on. Returns the FLOPs counted, engine -> text class -> figures."""
    passes = UntimedPasses(group, result, paths, measure, timeout_s)
    if not passes.first_of:  # no round was accepted (every contender failed, or the machine stayed busy)
        log.warning("no accepted round: fidelity, stages, FLOPs and samples are not measured")
    for c in group.contenders:
        worker = workers.get(c.name)
        if worker is None or c.failed:
            continue
        worker.mark(UNTIMED)  # the passes are in neither memory phase (their calls are not sampled either)
        try:
            passes.run(c, worker)
        except WorkerFailure as exc:
            fail(c, worker, exc)
        keep_memory(c, worker)
        if worker.timeline:
            c.mprof_file = str(write_mprof(paths.out_dir / "mprof" / f"{safe_name(c.name)}.dat", worker.timeline,
                                           f"worker {c.name}", worker.marks))
    return passes.flops
