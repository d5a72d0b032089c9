"""From a group's rounds and its contenders' facts to result rows: one per contender and text class, plus
one pooled row (`text == "all"`) per contender that carries the headline speedup and verdict.

Every figure is computed here once, with `bench.results.stats`; the report only reads them.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from bench.measure import ablation
from bench.measure.rounds import RoundsResult, compare, series
from bench.results.schema import ResultRow
from bench.results.stats import MIN_PAIRS, Speedup, is_noisy, paired_ratios, summarize, verdict, within_class_spread

ALL = "all"


@dataclass
class Contender:
    """One engine x tier x hardware of a group, and what was learnt about it outside the rounds."""

    name: str  # engine:tier@hardware
    engine: dict[str, Any]
    tier: str
    hardware: dict[str, Any]  # name, device, threads
    reference: str | None = None  # the contender it is compared with
    peer: bool = False  # an engine other than ours
    load: dict[str, Any] = field(default_factory=dict)  # the worker's `load` answer
    first_call: dict[str, Any] = field(default_factory=dict)
    failed: str | None = None
    skipped: str | None = None
    log_tail: str = ""
    fidelity: dict[str, dict[str, Any]] = field(default_factory=dict)  # text class -> fid_* figures
    stages: dict[str, dict[str, float]] = field(default_factory=dict)  # text class -> seconds per stage
    memory: dict[str, Any] = field(default_factory=dict)
    peak_rss_mb: float | None = None  # every sampled call (load and steady phases)
    load_peak_rss_mb: float | None = None  # load, calibration, first call (bench.measure.memory)
    steady_peak_rss_mb: float | None = None  # the timed rounds
    mprof_file: str | None = None
    sample_wav: str | None = None
    quality: dict[str, dict[str, Any]] = field(default_factory=dict)  # text class (or "all") -> heard-quality fields
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def engine_name(self) -> str:
        return str(self.engine.get("name", ""))

    @property
    def describe(self) -> dict[str, Any]:
        return self.load.get("describe") or {}

    @property
    def resolved_tier(self) -> Any:
        return self.describe.get("tier", self.tier)


@dataclass
class GroupFacts:
    """What every row of a group shares."""

    run_id: str
    group_id: str
    host: str
    code_version: str
    model: str
    workload: str
    command: str
    flops: dict[str, dict[str, Any]] = field(default_factory=dict)  # engine -> text class -> counted FLOPs
    peaks: dict[str, float] = field(default_factory=dict)  # precision -> GFLOP/s


def _median(values: list[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _speedup(rounds: list[dict[str, Any]], reference: str, candidate: str, metric: str) -> Speedup | None:
    return compare(rounds, reference, candidate, metric)  # the statistic the stopping rule watched


def _verdict(c: Contender, ref: Contender | None, rounds: list[dict[str, Any]], workload: str) -> dict[str, Any]:
    """speedup, ttfa_speedup, verdict and verdict_metric of `c` against `ref`."""
    out: dict[str, Any] = {}
    if ref is None:
        return out
    ratios = paired_ratios(series(rounds, ref.name, "rtf"), series(rounds, c.name, "rtf"))
    thr = _speedup(rounds, ref.name, c.name, "rtf")
    ttfa = _speedup(rounds, ref.name, c.name, "ttfa_s")
    if thr is not None:
        out.update(speedup=thr.ratio, speedup_ci_low=thr.ci_low, speedup_ci_high=thr.ci_high, speedup_pairs=thr.pairs,
                   paired_ratios=[float(x) for x in ratios])
        plain = [rd for rd in rounds if not rd.get("outlier")]
        if len(plain) < len(rounds) and (without := _speedup(plain, ref.name, c.name, "rtf")) is not None:
            # what the outliers do to the interval: the same statistic without the rounds marked `outlier`
            out["extra_speedup_without_outliers"] = [without.ratio, without.ci_low, without.ci_high, without.pairs]
    if ttfa is not None:
        out.update(ttfa_speedup=ttfa.ratio, ttfa_speedup_ci_low=ttfa.ci_low, ttfa_speedup_ci_high=ttfa.ci_high)
    diff = ablation.switch_diff(ref.resolved_tier, c.resolved_tier)
    out["switch_diff"] = diff
    if ablation.identical_here(c.tier, ref.describe, c.describe):
        out.update(verdict="identical here" + (" (the switch does not apply on this device)" if diff else ""),
                   verdict_metric=None)
        return out
    metric, why_not = ablation.metric_for(c.tier, workload)
    if metric is None:
        out.update(verdict=why_not, verdict_metric=None)
    elif metric == "throughput":
        out.update(verdict=verdict(thr) if thr else "no paired rounds", verdict_metric="throughput")
    elif metric == "ttfa":
        out.update(verdict=f"time to first audio: {verdict(ttfa)}" if ttfa else "no time to first audio measured",
                   verdict_metric="ttfa")
    elif metric == "load":
        a, b = ref.load.get("load_s"), c.load.get("load_s")
        fa, fb = ref.first_call.get("latency_s"), c.first_call.get("latency_s")
        out.update(verdict=("shows in load and first call, not in steady state: load "
                            f"{_fmt(a)} -> {_fmt(b)}, first call {_fmt(fa)} -> {_fmt(fb)} (one cold start each)"),
                   verdict_metric="load")
    return out


def _class_stop_reason(fields: dict[str, Any], rounds: int, target: float) -> str:
    """A per-class row's own stop reason: the rounds stop on the pooled intervals, so say how wide this class's
    interval (of the metric its verdict is on) came out against the target."""
    prefix = "ttfa_speedup" if fields.get("verdict_metric") == "ttfa" else "speedup"
    ratio, lo, hi = (fields.get(f"{prefix}{k}") for k in ("", "_ci_low", "_ci_high"))
    if ratio is None:
        return f"class row: {rounds} rounds (the rounds stop on the pooled rows' intervals)"
    half = Speedup(ratio, lo, hi, rounds).half_width
    if half == float("inf"):
        return f"class row: {rounds} rounds, no interval (target +-{target * 100:g}%): not held to the target"
    pairs = fields.get("speedup_pairs") or rounds
    met = ("within the target" if half <= target else "not held to the target") if pairs >= MIN_PAIRS else (
        f"too few pairs for a verdict ({pairs} of {MIN_PAIRS})")
    return f"class row: {rounds} rounds, +-{half:.1%} (target +-{target * 100:g}%): {met}"


def _trust_fields(result: RoundsResult, text_class: str) -> dict[str, Any]:
    """How far the rounds can be trusted: rounds set aside as disturbed and measured again, accepted rounds marked
    as outliers (kept), disturbed rounds kept under measure.interference=record, and the worker processes the
    accepted rounds ran in (`extra_`: they go to the row's `extra`)."""
    aside = [rd for rd in result.set_aside if text_class in (ALL, rd["text_class"])]
    kept = [rd for rd in result.rounds if text_class in (ALL, rd["text_class"])]
    return {"extra_rounds_disturbed": len(aside),
            "extra_rounds_outliers": sum(1 for rd in kept if rd.get("outlier")),
            "extra_rounds_flagged": sum(1 for rd in kept if rd.get("flagged")),
            "extra_processes": len({rd.get("process", 0) for rd in kept})}


def _fmt(seconds: Any) -> str:
    return f"{seconds:.2f} s" if isinstance(seconds, (int, float)) else "n/a"


def _peer_comparisons(c: Contender, peers: list[Contender], rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for p in peers:
        s = _speedup(rounds, p.name, c.name, "rtf")
        if s is not None:
            out.append({"reference": p.name, "metric": "throughput", "speedup": s.ratio, "ci_low": s.ci_low,
                        "ci_high": s.ci_high, "pairs": s.pairs, "verdict": verdict(s)})
    return out


def _timing_fields(c: Contender, rounds: list[dict[str, Any]], reference: str | None = None) -> dict[str, Any]:
    figs = [rd["results"][c.name] for rd in rounds if c.name in rd["results"]]
    if not figs:
        return {}
    lat = [f["latency_s"] for f in figs]
    s = summarize(lat)
    rtf = _median([f.get("rtf") for f in figs])
    audio = _median([f.get("audio_s") for f in figs])
    ttfa = _median([f.get("ttfa_s") for f in figs])
    spread = within_class_spread(_noise_groups(c, rounds, reference))
    gaps = [list(f.get("chunk_gaps_s") or []) for f in figs]
    return dict(
        rounds=s.rounds, latency_mean_s=s.mean_s, latency_std_s=s.std_s, latency_cv=s.cv, latency_p50_s=s.p50_s,
        latency_p90_s=s.p90_s, latency_p99_s=s.p99_s, latencies_s=lat, rtfs=[f.get("rtf") for f in figs],
        noisy=is_noisy(spread), extra_noisy_spread=spread,
        extra_noisy_basis="paired ratios within each text class" if reference else "RTF within each text class",
        audio_s=audio, rtf=rtf, throughput_audio_s_per_s=1.0 / rtf if rtf else None,
        throughput_chars_per_s=(_median([f.get("chars") for f in figs]) or 0) / s.p50_s if s.p50_s else None,
        text_chars=int(_median([f.get("chars") for f in figs]) or 0), ttfa_s=ttfa,
        first_audible_s=_median([f.get("first_audible_s") for f in figs]),
        chunk_gaps_s=[g for round_gaps in gaps for g in round_gaps], extra_chunk_gap_rounds=sum(1 for g in gaps if g),
        underruns=sum(int(f.get("underruns") or 0) for f in figs) if ttfa is not None else None,
        extra_housekeeping_rounds=sum(1 for f in figs if f.get("housekeeping_after")),
    )


def _noise_groups(c: Contender, rounds: list[dict[str, Any]], reference: str | None) -> list[list[float | None]]:
    """Per text class: `c`'s paired ratios against `reference` (same text, same round), else its RTFs."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for rd in rounds:
        groups.setdefault(rd["text_class"], []).append(rd)
    if reference:
        return [list(paired_ratios(series(g, reference, "rtf"), series(g, c.name, "rtf"))) for g in groups.values()]
    return [series(g, c.name, "rtf") for g in groups.values()]


def _counted(c: Contender, facts: GroupFacts) -> dict[str, dict[str, Any]]:
    """Text class -> the FLOPs counted for `c`'s voice (its own engine's eager fp32 baseline, else tts_core's on the
    same voice); empty for an engine of another voice (espeak-ng)."""
    same_voice = c.engine_name in facts.flops or bool(c.describe.get("fidelity_gate"))  # Piper: our voice; espeak-ng: not
    return (facts.flops.get(c.engine_name) or facts.flops.get(ablation.OUR_ENGINE) or {}) if same_voice else {}


def _compute_fields(c: Contender, text_class: str, facts: GroupFacts, rtf: float | None) -> dict[str, Any]:
    counted = _counted(c, facts)
    classes = [text_class] if text_class != ALL else list(counted)
    per = [counted[k] for k in classes if k in counted and counted[k].get("audio_s")]
    if not per:
        return {}
    rate = sum(p["flops"] for p in per) / sum(p["audio_s"] for p in per)
    tier = c.resolved_tier if isinstance(c.resolved_tier, dict) else {}
    precision = str(tier.get("precision", "fp32"))
    peak = facts.peaks.get(precision if precision in facts.peaks else "fp32")
    stage_rates = {}
    for stage in ("encoder", "flow", "decoder"):
        total = sum((p.get("stage_flops") or {}).get(stage, 0.0) for p in per)
        stage_rates[stage] = total / sum(p["audio_s"] for p in per)
    return dict(flops_per_audio_s=rate, achieved_gflops=rate / rtf / 1e9 if rtf else None, peak_gflops=peak,
                precision=precision, extra_stage_flops_per_audio_s=stage_rates, extra_peaks_gflops=dict(facts.peaks),
                extra_flops_source=("counted on this engine's eager fp32 baseline" if c.engine_name in facts.flops
                                    else "the same voice counted on tts_core's eager fp32 baseline"))


def _stage_fields(c: Contender, text_class: str, facts: GroupFacts) -> dict[str, Any]:
    stages = c.stages.get(text_class) if text_class != ALL else _sum_stages(c.stages.values())
    if not stages:
        return {}
    classes = [text_class] if text_class != ALL else [k for k, v in c.stages.items() if v]
    return {**{f"stage_{k}_s": stages.get(k) for k in ("frontend", "encoder", "flow", "decoder")},
            **_stage_gflops(c, facts),
            # the audio seconds of the very synthesis the stages were timed on (older workers did not say)
            "extra_stage_audio_s": stages.get("audio_s"), "extra_stage_texts": classes}


def _stage_gflops(c: Contender, facts: GroupFacts) -> dict[str, float]:
    """Achieved GFLOP/s of the encoder, flow and decoder over the texts `c`'s stages were timed on: FLOPs counted
    on the eager fp32 baseline for the same noise-free text over the stage's seconds. Padding (batches, buckets)
    is work the model did not need, so it counts as time, not as FLOPs."""
    counted = _counted(c, facts)
    out: dict[str, float] = {}
    for stage in ("encoder", "flow", "decoder"):
        pairs = [((counted[k].get("stage_flops") or {}).get(stage), s.get(stage)) for k, s in c.stages.items()
                 if k in counted and s]
        flops, seconds = sum(f or 0.0 for f, _ in pairs), sum(t or 0.0 for _, t in pairs)
        if flops > 0 and seconds > 0:
            out[f"stage_{stage}_gflops"] = flops / seconds / 1e9
    return out


def _sum_stages(items: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for stages in items:
        for k, v in (stages or {}).items():
            out[k] = out.get(k, 0.0) + float(v)
    return out


def _fidelity_fields(c: Contender, text_class: str) -> dict[str, Any]:
    if text_class != ALL:
        return dict(c.fidelity.get(text_class) or {})
    figs = [f for f in c.fidelity.values() if f]
    if not figs:
        return {}
    worst = min(figs, key=lambda f: (bool(f.get("fid_pass")), f.get("fid_snr_db") or 0.0))
    return dict(worst, fid_pass=all(bool(f.get("fid_pass")) for f in figs),
                failures=[x for f in figs for x in f.get("failures", [])])


def _pct(delta: Any) -> str:
    return f"{delta * 100:+.1f}" if isinstance(delta, (int, float)) else "n/a"


def config_id(group_id: str, contender: str, text_class: str) -> str:
    return hashlib.sha256(json.dumps([group_id, contender, text_class]).encode()).hexdigest()[:16]


def build_rows(contenders: list[Contender], result: RoundsResult, facts: GroupFacts) -> list[ResultRow]:
    """Rows of every contender of a group: per text class and pooled."""
    by_name = {c.name: c for c in contenders}
    peers = [c for c in contenders if c.peer and not (c.failed or c.skipped)]
    classes = list(dict.fromkeys(rd["text_class"] for rd in result.rounds))
    rows = []
    for c in contenders:
        ref = by_name.get(c.reference) if c.reference else None
        if ref is not None and (ref.failed or ref.skipped):
            ref = None
        for text_class in [*classes, ALL] if classes else [ALL]:
            rounds = result.rounds if text_class == ALL else [rd for rd in result.rounds if rd["text_class"] == text_class]
            base = dict(
                run_id=facts.run_id, config_id=config_id(facts.group_id, c.name, text_class), timestamp=time.time(),
                host=facts.host, code_version=facts.code_version, engine=c.engine_name, tier=c.tier,
                hardware=c.hardware["name"], device=c.describe.get("device", c.hardware["device"]),
                threads=c.describe.get("threads"), model=facts.model, text=text_class, workload=facts.workload,
                cached=(facts.workload == "repeated"), contender=c.name, group_id=facts.group_id,
                reference=c.reference, env=dict(c.load.get("env") or {}),
            )
            if c.skipped:
                rows.append(ResultRow(status="skipped", reason=c.skipped, **base))
                continue
            fields: dict[str, Any] = dict(load_s=c.load.get("load_s"), first_call_s=c.first_call.get("latency_s"),
                                          stop_reason=result.stop_reason, **_trust_fields(result, text_class), peak_rss_mb=c.peak_rss_mb,
                                          load_peak_rss_mb=c.load_peak_rss_mb,
                                          steady_peak_rss_mb=c.steady_peak_rss_mb,
                                          max_rss_mb=c.memory.get("max_rss_mb"),
                                          cuda_max_allocated_mb=c.memory.get("cuda_max_allocated_mb"),
                                          cuda_max_reserved_mb=c.memory.get("cuda_max_reserved_mb"),
                                          mprof_file=c.mprof_file, sample_wav=c.sample_wav)
            fields.update(_timing_fields(c, rounds, ref.name if ref else None))
            fields.update(_verdict(c, ref, rounds, facts.workload))
            if text_class != ALL:
                fields["stop_reason"] = _class_stop_reason(fields, len(rounds), result.target_half_width)
            if not c.peer:
                fields["comparisons"] = _peer_comparisons(c, peers, rounds)
            fields.update(_compute_fields(c, text_class, facts, fields.get("rtf")))
            fields.update(_stage_fields(c, text_class, facts))
            fields.update(_fidelity_fields(c, text_class))
            fields.update(c.quality.get(text_class) or {})
            failures = fields.pop("failures", [])
            problems = [f"fidelity gate {fields.get('fid_gate')} failed: " + "; ".join(failures)] if failures else []
            lossy = fields.get("fid_gate") not in (None, "exact")
            if lossy and fields.get("quality_pass") is False:  # the heard gate judges lossy switches only
                problems.append(f"heard-quality gate {fields.get('quality_gate')} failed over "
                                f"{fields.get('quality_texts')} texts (WER {_pct(fields.get('wer_delta'))} points "
                                f"[{_pct(fields.get('wer_delta_ci_low'))}, {_pct(fields.get('wer_delta_ci_high'))}], "
                                f"OVRL {fields.get('dnsmos_ovrl_delta'):+.2f})")
            extra = dict(c.extra, command=facts.command, load_info=c.load.get("load_info"), engine=c.describe,
                         first_call_audio_s=c.first_call.get("audio_s"))
            for key in [k for k in fields if k.startswith("extra_")]:
                extra[key[len("extra_"):]] = fields.pop(key)
            status, error = "ok", None
            if c.failed:
                status, error = "failed", c.failed
                extra["log_tail"] = c.log_tail
            elif problems:
                status, error = "failed", "; ".join(problems)
            rows.append(ResultRow(status=status, error=error, extra=extra, **base, **fields))
    return rows
