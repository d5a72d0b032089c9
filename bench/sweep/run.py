"""One sweep, top to bottom: config -> workers -> rounds -> rows -> (report, in `__main__`).

    group = build_group(cfg)                 # contenders (tiers + references + peers), text classes, identity
    peaks = machine_peaks(...)               # matmul peaks per precision, once per machine, in a quiet worker
    workers = start(group)                   # one spawned worker per contender: cold load, first call
    result = run_rounds(...)                 # paired rounds in a balanced order until the intervals are tight
    after_rounds(...)                        # untimed: fidelity, FLOPs, stages, samples, memory
    quality_pass(...)                        # workers closed: ASR + DNSMOS of the audio the rounds stored
    rows = build_rows(...)                   # every figure computed once; stored, then reported

A contender that fails (raises, dies, runs out of time or memory) becomes a failed row with the reason and
the tail of its log; the others go on. Every finished round is on disk, so a killed sweep resumes.
"""

from __future__ import annotations

import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Callable

from bench.measure import ablation
from bench.measure.compute import cached_peaks, peak_key
from bench.measure.fidelity import fidelity_figures
from bench.measure.memory import LOAD, STEADY, UNTIMED, write_mprof
from bench.measure.rounds import RoundPlan, RoundsResult, Tracked, run_rounds
from bench.measure.rows import ALL, Contender, GroupFacts, build_rows
from bench.results.schema import ResultRow
from bench.results.store import ResultStore, append_records, append_rows, read_records
from bench.servers.figures import add_served_figures
from bench.sweep.config import BenchConfig
from bench.sweep.plan import Group, RunPaths, build_group, safe_name
from bench.texts import FileTexts, SentenceGenerator, read_text
from bench.workers import Worker, WorkerFailure, WorkerSpec

log = logging.getLogger("bench.sweep")
SET_ASIDE_FILE = "rounds_set_aside.jsonl"  # beside rounds.jsonl: the rounds no statistic uses, and why


class TextSource:
    """The k-th fresh text of each class, the same whether the sweep runs through or resumes, whatever order the
    classes' rounds came in: generated texts come from one seeded generator per class (no sentence repeats within
    it; the classes' lengths differ), a file's from its next sentences in the order asked (None once the file is
    spoken: the rounds stop rather than repeat it). The first-call text is a medium text no round speaks."""

    FIRST_CALL = "first call"  # the generator of the first-call text

    def __init__(self, text: dict[str, Any], classes: list[str]) -> None:
        self.kind = text["kind"]
        self.spec = text
        self.classes = classes
        self._made: dict[str, list[str | None]] = {}
        if self.kind == "generated":
            seed = int(text["seed"])
            gens = {k: SentenceGenerator(seed + 7919 * (i + 1)) for i, k in enumerate(classes)}
            first = SentenceGenerator(seed)
            self._next = lambda text_class: (first.text("medium") if text_class == self.FIRST_CALL
                                             else gens[text_class].text(text_class))
        elif self.kind == "file":
            source = FileTexts(read_text(text["path"]), int(text["per_round"]))
            self._next = lambda text_class: source.text()

    def _nth(self, text_class: str, k: int) -> str | None:
        made = self._made.setdefault(text_class, [])
        while len(made) <= k:
            made.append(self._next(text_class))
        return made[k]

    def first_call(self, k: int = 0) -> str:
        """The first-call text of the k-th set of worker processes (a medium text no round speaks; a file's first
        sentences, which the rounds then skip)."""
        if self.kind == "repeated":
            return read_text(next(iter(self.spec["files"].values())))
        if self.kind == "file":
            return self._nth(self.classes[0], 0) or ""  # a file has at least one sentence (FileTexts refuses none)
        return self._nth(self.FIRST_CALL, k) or ""

    def for_class(self, k: int, text_class: str) -> str | None:
        """The k-th text (0-based) of `text_class` the rounds speak."""
        if self.kind == "repeated":
            return read_text(self.spec["files"][text_class])
        return self._nth(text_class, k + 1 if self.kind == "file" else k)


def machine_peaks(group: Group, paths: RunPaths, limits: dict[str, float]) -> dict[str, float]:
    """Matmul GFLOP/s per precision of this machine, measured once (per host, CPU, threads, torch) by a worker
    that runs nothing else, and cached in results/.cache/peaks.json."""
    import torch

    from tts_core.machine import cpu_model

    hw = group.contenders[0].hardware
    key = peak_key(group.host, cpu_model(), hw["device"], int(hw.get("threads") or 0), torch.__version__)

    def measure() -> dict[str, float]:
        spec = WorkerSpec(contender="peak", device=hw["device"], threads=int(hw.get("threads") or 0),
                          log_file=str(paths.out_dir / "logs" / "peak.log"))
        worker = Worker(spec, limits["memory_mb"])
        try:
            log.info("measuring this machine's matmul peaks (once per machine)")
            return worker.call("peak", limits["time_s"], sample=False, seconds=0.5)
        finally:
            worker.close()

    try:
        return cached_peaks(paths.cache_dir, key, measure)
    except WorkerFailure as exc:
        log.warning("matmul peaks not measured: %s", exc.reason)
        return {}


def _spec(c: Contender, group: Group, seed: int, paths: RunPaths) -> WorkerSpec:
    safe = safe_name(c.name)
    return WorkerSpec(contender=c.name, engine=c.engine, tier=c.tier, device=c.hardware["device"],
                      threads=int(c.hardware.get("threads") or 0), model=group.model, seed=seed,
                      workload=group.workload, log_file=str(paths.out_dir / "logs" / f"{safe}.log"))


def _fail(c: Contender, worker: Worker | None, exc: WorkerFailure) -> None:
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
        worker = Worker(_spec(c, group, seed, paths), limits["memory_mb"])
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
            _fail(c, worker, exc)
            worker.close()
        worker.mark(STEADY)  # load, calibration and first call are behind the worker: its timed rounds follow
    return workers


def respawner(group: Group, texts: TextSource, seed: int, paths: RunPaths, limits: dict[str, float]
              ) -> Callable[[dict[str, Worker]], dict[str, Worker]]:
    """The rounds' `respawn`: close the contenders' workers, then start a new one for each, in turn, its first call
    on a fresh text. The memory timelines of the closed processes stay on each contender (`steady peaks` take the
    highest)."""
    made = [0]

    def respawn(old: dict[str, Worker]) -> dict[str, Worker]:
        by_name = {c.name: c for c in group.contenders}
        for name, worker in old.items():
            _keep_memory(by_name[name], worker)
            worker.close()
        made[0] += 1
        return start(group, texts.first_call(made[0]), seed, paths, limits, only=list(old))

    return respawn


def _keep_memory(c: Contender, worker: Worker) -> None:
    """Fold a closing worker's peaks into its contender's (the highest of every process it ran in)."""
    def top(a: float | None, b: float | None) -> float | None:
        return max(x for x in (a, b) if x is not None) if (a is not None or b is not None) else None

    c.peak_rss_mb = top(c.peak_rss_mb, worker.peak_rss_mb)
    c.load_peak_rss_mb = top(c.load_peak_rss_mb, worker.phase_peak_rss_mb(LOAD))
    c.steady_peak_rss_mb = top(c.steady_peak_rss_mb, worker.phase_peak_rss_mb(STEADY))


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


def after_rounds(group: Group, workers: dict[str, Worker], result: RoundsResult, paths: RunPaths,
                 cfg: BenchConfig, limits: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Untimed passes on each contender: fidelity (the first text of every class), stages (the longest), a WAV
    sample for the report's player (medium), memory; FLOPs on each engine's baseline (the longest text: FLOPs per
    audio second hardly depend on the text). Returns the FLOPs counted, engine -> text class -> figures.
    Heard quality is scored later (`quality_pass`), on the audio the rounds stored, once every worker is closed."""
    m = cfg.measure
    first_of = {}
    for rd in result.rounds:
        first_of.setdefault(rd["text_class"], rd["text"])
    if not first_of:  # no round was accepted (every contender failed, or the machine stayed busy)
        log.warning("no accepted round: fidelity, stages, FLOPs and samples are not measured")
    longest = max(first_of, key=lambda k: len(first_of[k])) if first_of else ""
    by_name = {c.name: c for c in group.contenders}
    flops: dict[str, dict[str, Any]] = {}
    references: dict[tuple[str, str], dict[str, Any]] = {}
    timeout = limits["time_s"]
    for c in group.contenders:
        worker = workers.get(c.name)
        if worker is None or c.failed:
            continue
        worker.mark(UNTIMED)  # the passes below are in neither memory phase (their calls are not sampled either)
        try:
            if m.stages and first_of:  # on the longest class's text: stage shares hardly depend on the class
                stages = worker.call("stages", timeout, sample=False, text=first_of[longest])
                c.stages = {longest: stages} if stages else {}
            if m.flops and c.tier == "baseline" and not c.peer and first_of:
                counted = worker.call("flops", timeout, sample=False, text=first_of[longest])
                flops[c.engine_name] = {k: counted for k in first_of} if counted else {}
            if m.fidelity and c.describe.get("fidelity_gate", "exact"):
                ref = by_name.get(_fidelity_reference(c, group) or "")
                for k, t in first_of.items():
                    got = worker.call("fidelity", timeout, sample=False, text=t)
                    if ref is None or ref.name == c.name:  # the reference itself: kept for the others
                        references[(c.name, k)] = got
                        continue
                    ref_audio = references.get((ref.name, k))
                    if ref_audio is not None:
                        figs = fidelity_figures(ref_audio["samples"], got["samples"], got["sample_rate"],
                                                c.describe.get("fidelity_gate", "exact"))
                        c.fidelity[k] = dict(figs, fid_reference=ref.name)
            if first_of and m.sample_wav_s > 0:
                text = first_of.get("medium") or next(iter(first_of.values()))
                path = paths.out_dir / "samples" / f"{safe_name(c.name)}.wav"
                got = worker.call("sample", timeout, sample=False, text=text, path=str(path), max_s=m.sample_wav_s)
                c.sample_wav = got["path"]
            c.memory = worker.call("memory", timeout, sample=False)
        except WorkerFailure as exc:
            _fail(c, worker, exc)
        _keep_memory(c, worker)
        if worker.timeline:
            c.mprof_file = str(write_mprof(paths.out_dir / "mprof" / f"{safe_name(c.name)}.dat", worker.timeline,
                                           f"worker {c.name}", worker.marks))
    return flops


class RoundAudio:
    """The rounds' `round_args`: the rounds the heard-quality pass scores (`bench.quality.selection`: the first
    `measure.quality_texts_per_class` of each class, then more until 200 words) write each contender's audio
    to <out_dir>/audio/<contender>/r<NNN>.wav after its clock stopped. Rounds of a resumed group count where
    every contender's audio is still on disk; a round set aside gives its place back (`forget`). No arguments
    when the pass is off."""

    def __init__(self, cfg: BenchConfig, group: Group, paths: RunPaths, rounds_file: Path) -> None:
        from bench.quality.selection import AudioSelection

        self.out_dir = paths.out_dir
        self.selection = AudioSelection(list(group.classes), cfg.measure.quality_texts_per_class) if (
            cfg.measure.quality) else None
        for rd in read_records(rounds_file) if rounds_file.exists() and self.selection else []:
            if rd.get("kind") == "round" and not rd.get("set_aside"):
                files = [(res or {}).get("audio_file") for res in rd["results"].values()]
                self.selection.prime(rd["r"], rd["text_class"], rd["text"], bool(files) and all(
                    f and Path(f).is_file() for f in files))

    def __call__(self, r: int, text_class: str, text: str, name: str) -> dict[str, Any]:
        if self.selection is None or not self.selection.keep(r, text_class, text):
            return {}
        return {"audio_path": str(self.out_dir / "audio" / safe_name(name) / f"r{r:03d}.wav")}

    def forget(self, r: int, text_class: str, text: str) -> None:
        """Round r was set aside: its audio leaves the quality pass's selection and the disk."""
        if self.selection is not None:
            self.selection.forget(r, text_class, text)
            for wav in self.out_dir.glob(f"audio/*/r{r:03d}.wav"):
                wav.unlink(missing_ok=True)


def quality_pass(group: Group, result: RoundsResult, paths: RunPaths, per_class: int = 0) -> None:
    """Heard quality (ASR round trip, DNSMOS) of the audio the timed rounds stored, each contender on the same
    texts as its reference (our tiers: the engine's fp32 baseline on the same hardware; peers: our baseline),
    paired by round, with intervals over the texts and the gate on them (`bench.quality.paired`). Runs after
    every worker closed; scores are cached by audio hash. Sets each contender's `quality`: text class -> fields.
    A set short of `per_class` texts per class or of the words planned (the rounds stopped first, or a resumed
    group lost audio) is scored all the same, with a warning."""
    from bench.quality import QualityConfig, open_scorer
    from bench.quality.paired import contender_fields, score_texts, stored_texts, write_transcripts
    from bench.quality.selection import MIN_WORDS, words

    scorer = open_scorer(QualityConfig(cache_dir=str(paths.cache_dir / "quality")), note=log.warning)
    if scorer is None:
        return
    stored = {c.name: stored_texts(result.rounds, c.name) for c in group.contenders}
    log.info("quality pass (ASR + DNSMOS) over the rounds' stored audio: %s",
             ", ".join(f"{name} {len(texts)} texts" for name, texts in stored.items()))
    scored = {name: score_texts(scorer, texts) for name, texts in stored.items() if texts}
    for texts in scored.values():
        write_transcripts(texts)
    cost = scorer.cost.figures()
    for c in group.contenders:
        if c.name not in scored:
            continue
        ref = c.reference if c.peer else _fidelity_reference(c, group)
        fields = contender_fields(scored[c.name], scored.get(ref or "", {}) if ref and ref != c.name else None, ALL)
        note = {}
        if c.peer and c.describe.get("comparable_quality") is False:  # espeak-ng: a formant voice
            note["extra_quality_note"] = "peer of another voice: its deltas against our baseline inform, gate nothing"
        c.quality = {k: dict(v, extra_quality_reference=ref if ref != c.name else None, extra_quality_cost=cost, **note)
                     for k, v in fields.items()}
        pooled = fields.get(ALL, {})
        counts = [sum(1 for t in stored[c.name] if t.text_class == k) for k in group.classes]
        if min(counts) < per_class or sum(words(t.text) for t in stored[c.name]) < MIN_WORDS:
            log.warning("quality %s: fewer texts than planned (%s per class, %d words; planned %d per class and "
                        "%d words): the rounds stopped first, or a resumed group lost their audio", c.name,
                        "/".join(map(str, counts)), sum(words(t.text) for t in stored[c.name]), per_class, MIN_WORDS)
        log.info("quality %s: %d texts, %d words, WER %.1f%%, OVRL %.2f%s", c.name, pooled.get("quality_texts", 0),
                 pooled.get("quality_words", 0), 100 * pooled.get("wer", 0.0), pooled.get("dnsmos_ovrl", 0.0),
                 f", vs {ref}: {pooled.get('quality_verdict')}" if pooled.get("quality_verdict") else "")
    log.info("%s", scorer.cost.line())


def _fidelity_reference(c: Contender, group: Group) -> str | None:
    """The noise-free audio `c` is gated against: its own engine's baseline on the same hardware (a CUDA tier
    against the CUDA fp32 baseline, never against the CPU's: a duration that rounds differently on another
    device changes the frame count)."""
    for other in group.contenders:
        if other.engine_name == c.engine_name and other.hardware == c.hardware and ablation.reference_tier(other.tier) is None:
            return other.name
    return None


def command_line() -> str:
    return "python -m bench.sweep " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def run_sweep(cfg: BenchConfig, paths: RunPaths) -> list[ResultRow]:
    """Measure the comparison `cfg` asks for (or take it whole from the store) and return its rows."""
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
    limits = {"time_s": cfg.sweep.time_limit_s, "memory_mb": cfg.sweep.memory_limit_mb}
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
        m = cfg.measure  # the rounds run at least as long as the heard-quality pass needs texts of each class
        plan = RoundPlan(classes=group.classes,
                         min_rounds_per_class=max(m.min_rounds, m.quality_texts_per_class if m.quality else 0),
                         max_rounds=m.max_rounds, budget_s=m.budget_s, target_half_width=m.target_half_width,
                         call_timeout_s=cfg.sweep.time_limit_s, warm=group.workload["name"] == "repeated",
                         rounds_per_process=m.rounds_per_process, max_set_aside=m.max_set_aside,
                         busy_budget_s=m.busy_budget_s, set_aside=m.interference == "detect")
        result = run_rounds(plan, workers, texts.for_class, tracked(group, workers), rounds_file, log.info,
                            round_args=RoundAudio(cfg, group, paths, rounds_file),
                            respawn=respawner(group, texts, cfg.measure.seed, paths, limits))
        workers = result.workers
        for name, reason in result.failures.items():
            c = next(c for c in group.contenders if c.name == name)
            _fail(c, workers.get(name), WorkerFailure(reason))
        log.info("rounds done: %s (%.0f s; %d set aside and measured again)", result.stop_reason, result.wall_s,
                 len(result.set_aside))
        flops = after_rounds(group, workers, result, paths, cfg, limits)
    finally:
        for worker in result.workers.values():
            worker.close()
    if cfg.measure.quality:
        quality_pass(group, result, paths, cfg.measure.quality_texts_per_class)
    facts = GroupFacts(run_id=paths.run_id, group_id=group.group_id, host=group.host, code_version=group.code_version,
                       model=group.model, workload=group.workload["name"], command=command_line(), flops=flops,
                       peaks=peaks)
    rows = build_rows(group.contenders, result, facts)
    add_served_figures(rows, result.rounds)  # served contenders: first audio against the same tier in process
    for row in rows:
        row.extra["group_wall_s"] = time.monotonic() - started
    store.append(rows)
    append_rows(paths.results_file, rows)
    append_records(paths.out_dir / "rounds.jsonl", result.rounds)
    append_records(paths.out_dir / SET_ASIDE_FILE, result.set_aside)  # disturbed and outlier rounds, marked
    rounds_file.unlink(missing_ok=True)
    for row in rows:
        if row.text == "all":
            log.info("%s", headline(row))
    return rows


def headline(row: ResultRow) -> str:
    """One line of the figures that matter for a pooled row."""
    if row.status == "skipped":
        return f"SKIP {row.contender}: {row.reason}"
    if row.status == "failed" and row.rtf is None:
        return f"FAIL {row.contender}: {row.error}"
    parts = [f"RTF {row.rtf:.3f}" if row.rtf is not None else "no rounds"]
    if row.ttfa_s is not None:
        parts.append(f"TTFA {row.ttfa_s * 1e3:.0f} ms")
    if row.speedup is not None:
        parts.append(f"{row.speedup:.2f}x [{row.speedup_ci_low:.2f}, {row.speedup_ci_high:.2f}] vs {row.reference}")
    if row.verdict:
        parts.append(row.verdict)
    for comp in row.comparisons:
        parts.append(f"{comp['speedup']:.2f}x [{comp['ci_low']:.2f}, {comp['ci_high']:.2f}] vs {comp['reference']}")
    if row.fid_pass is not None:
        parts.append(f"fidelity {row.fid_gate} {'pass' if row.fid_pass else 'FAIL'}")
    tag = "OK  " if row.status == "ok" else "FAIL"
    return f"{tag} {row.contender}: " + ", ".join(parts) + (f" -- {row.error}" if row.error else "")
