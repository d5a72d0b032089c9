"""One configuration, measured in this (fresh) process: the passes in order, then the rows.

1. timing: cold load, first call, steady state (cache cleared before every uncached round), stages;
2. memory: one round under the sampler (no timing taken from it);
3. compute + fidelity: one noise-free synthesis under the FLOP counter, compared with the baseline.
`sweep.compare=interleaved` instead loads baseline and candidate side by side and alternates rounds.
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path
from typing import Any, Optional

from hydra.utils import instantiate

from bench.engines.base import BenchEngine, CachingEngine, StageProfiling
from bench.env import collect_env
from bench.measure import compute, fidelity
from bench.measure.memory import max_rss_mb, memory_pass
from bench.measure.timing import RoundResult, run_round, steady_state, sync
from bench.results.schema import ResultRow
from bench.spec import MeasureSpec
from bench.stats import summarize
from bench.texts import split_sentences

log = logging.getLogger(__name__)


def resolve_device(requested: str) -> tuple[Optional[str], Optional[str]]:
    """(device, None) if `requested` is usable here, else (None, reason to skip)."""
    import torch

    if requested == "auto":
        return ("cuda" if torch.cuda.is_available() else "cpu"), None
    if requested.startswith("cuda") and not torch.cuda.is_available():
        return None, "cuda not available on this machine"
    return requested, None


def set_threads(threads: int) -> None:
    import torch

    if threads > 0:
        torch.set_num_threads(threads)


def new_engine(spec: MeasureSpec) -> BenchEngine:
    return instantiate(spec.engine, _convert_="all")


def clear(engine: BenchEngine) -> None:
    if isinstance(engine, CachingEngine):
        engine.clear_cache()


def latency_fields(rounds: list[RoundResult], chars: int) -> dict[str, Any]:
    """Latency statistics, RTF and throughput of steady-state rounds."""
    lat = [r.latency_s for r in rounds]
    s = summarize(lat)
    audio_s = statistics.median(r.audio_s for r in rounds)
    out: dict[str, Any] = dict(
        rounds=s.rounds, latency_mean_s=s.mean_s, latency_std_s=s.std_s, latency_cv=s.cv,
        latency_p50_s=s.p50_s, latency_p90_s=s.p90_s, latency_p99_s=s.p99_s, latencies_s=lat, noisy=s.noisy,
        audio_s=audio_s, rtf=s.p50_s / audio_s if audio_s else None,
        throughput_audio_s_per_s=audio_s / s.p50_s if s.p50_s else None,
        throughput_chars_per_s=chars / s.p50_s if s.p50_s else None,
    )
    streamed = [r for r in rounds if r.ttfa_s is not None]
    if streamed:
        middle = sorted(streamed, key=lambda r: r.latency_s)[len(streamed) // 2]
        out.update(ttfa_s=statistics.median(r.ttfa_s for r in streamed), chunk_gaps_s=middle.chunk_gaps_s,
                   underruns=middle.underruns)
    return out


def stage_fields(engine: BenchEngine, text: str, rounds: int) -> dict[str, Any]:
    if not isinstance(engine, StageProfiling):
        return {}
    runs = [engine.profile_stages(text) for _ in range(max(rounds, 1))]
    return {f"stage_{k}_s": statistics.median(r.get(k, 0.0) for r in runs) for k in ("frontend", "encoder", "flow", "decoder")}


def save_sample(spec: MeasureSpec, audio: Any) -> str:
    from tts_core.audio import Audio

    path = Path(spec.out_dir) / "samples" / f"{spec.config_id()}.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    keep = int(spec.measure["sample_wav_s"] * audio.sample_rate)
    Audio(audio.samples[:keep], audio.sample_rate).save_wav(path)
    return str(path)


def reference_for(spec: MeasureSpec, candidate: Any, engine: BenchEngine, device: str) -> Any:
    """The baseline fp32 CPU noise-free samples (from the cache, from `candidate` if it is that, or computed)."""
    path = fidelity.reference_path(Path(spec.cache_dir), spec.engine["name"], spec.model, spec.text, spec.code_version)

    def compute_reference() -> Any:
        if spec.tier == fidelity.BASELINE_TIER and device == "cpu":
            return candidate.samples
        ref = new_engine(spec)
        ref.load(model=spec.model, device="cpu", tier=fidelity.BASELINE_TIER, seed=spec.measure["seed"])
        try:
            return ref.synthesize(spec.text, **fidelity.ZERO_NOISE).samples
        finally:
            ref.close()

    return fidelity.reference_audio(path, compute_reference)


def compute_and_fidelity(spec: MeasureSpec, engine: BenchEngine, desc: dict, device: str, p50_s: float,
                         audio_s: float, threads: int, reference: Any = None) -> dict[str, Any]:
    """FLOPs (counted on the first sentence) and fidelity (the whole text), noise zeroed."""
    out: dict[str, Any] = {}
    m = spec.measure

    def clean() -> Any:
        clear(engine)
        return engine.synthesize(spec.text, **fidelity.ZERO_NOISE)

    if m["flops"] and desc.get("uses_torch"):
        # counting slows every op several-fold, so count on the first sentence: FLOPs per audio second is a rate
        sample = (split_sentences(spec.text) or [spec.text])[0]
        try:
            clear(engine)
            flops, counted = compute.count_flops(lambda: engine.synthesize(sample, **fidelity.ZERO_NOISE))
            rate = flops / counted.duration if counted.duration else None
            peak = compute.peak_gflops(Path(spec.run_dir), spec.host, device, threads)
            out.update(flops_per_audio_s=rate, achieved_gflops=rate * audio_s / p50_s / 1e9 if rate else None,
                       peak_gflops=peak, extra_flops_text_chars=len(sample))
        except Exception as exc:  # a compiled graph may not run under the counter; record and go on
            out["extra_flops_error"] = f"{type(exc).__name__}: {exc}"
    if m["fidelity"] and _gate(desc):
        candidate = clean()
        ref = reference if reference is not None else reference_for(spec, candidate, engine, device)
        out.update(fidelity.fidelity_figures(ref, candidate.samples, engine.sample_rate, _gate(desc)))
    return out


def _gate(desc: dict) -> Optional[str]:
    """The engine's fidelity gate; None for an engine whose audio is not comparable (espeak-ng)."""
    return desc.get("fidelity_gate", "exact")


def unavailable_reason(spec: MeasureSpec) -> Optional[str]:
    """Why the configured engine cannot run here (an optional extra not installed), from its adapter's
    `available()` classmethod, or None."""
    from hydra.utils import get_class

    available = getattr(get_class(spec.engine["_target_"]), "available", None)
    return available() if callable(available) else None


def finish(spec: MeasureSpec, cached: bool, fields: dict[str, Any], extra: dict[str, Any], env: dict) -> ResultRow:
    fields = dict(fields)
    failures = fields.pop("failures", [])
    extra = dict(extra)
    for key in [k for k in fields if k.startswith("extra_")]:
        extra[key[len("extra_"):]] = fields.pop(key)
    status, error = "ok", None
    if failures:
        status, error = "failed", f"fidelity gate {fields.get('fid_gate')} failed: " + "; ".join(failures)
    return spec.row(status, cached, error=error, extra=extra, env=env, **fields)


def measure(spec: MeasureSpec) -> list[ResultRow]:
    """Measure `spec` in this process; returns one row per `spec.cached_variants`."""
    device, reason = resolve_device(spec.hardware["device"])
    if device is None:
        return [spec.row("skipped", cached, reason=reason, device=spec.hardware["device"]) for cached in spec.cached_variants]
    reason = unavailable_reason(spec)
    if reason:
        return [spec.row("skipped", cached, reason=reason, device=device) for cached in spec.cached_variants]
    set_threads(int(spec.hardware.get("threads") or 0))
    if spec.compare == "interleaved" and spec.tier != fidelity.BASELINE_TIER:
        from bench.measure.interleaved import measure_interleaved

        return measure_interleaved(spec, device)
    env = collect_env()
    m = spec.measure
    engine = new_engine(spec)

    def one() -> RoundResult:
        return run_round(engine, spec.workload, spec.text, device)

    sync(device)
    t0 = time.perf_counter()
    load_info = engine.load(model=spec.model, device=device, tier=spec.tier, seed=m["seed"])
    sync(device)
    load_s = time.perf_counter() - t0
    rss_after_load = max_rss_mb()
    clear(engine)
    first = one()
    loop = dict(min_rounds=m["min_rounds"], min_duration_s=m["min_duration_s"], max_rounds=m["max_rounds"])
    timed = {False: steady_state(one, before_round=lambda: clear(engine), **loop)}
    if True in spec.cached_variants:
        one()  # prime the cache with this exact request
        timed[True] = steady_state(one, **loop)
    common: dict[str, Any] = dict(load_s=load_s, first_call_s=first.latency_s)
    common.update(stage_fields(engine, spec.text, m["stage_rounds"]))

    clear(engine)
    mem, _ = memory_pass(one, device=device, interval_s=m["memory_interval_s"],
                         mprof_path=Path(spec.out_dir) / "mprof" / f"{spec.config_id()}.dat", label=spec.config_id())
    common.update(peak_rss_mb=mem.peak_rss_mb, max_rss_mb=mem.max_rss_mb, cuda_max_allocated_mb=mem.cuda_max_allocated_mb,
                  cuda_max_reserved_mb=mem.cuda_max_reserved_mb,
                  mprof_file=str(Path(spec.out_dir) / "mprof" / f"{spec.config_id()}.dat"))
    desc = engine.describe()
    threads = int(desc.get("threads") or 0)
    common.update(device=desc.get("device", device), threads=threads, sample_wav=save_sample(spec, timed[False][0].audio))
    extra = dict(load_info=load_info, engine=desc, rss_after_load_mb=rss_after_load, memory_sample_hz=mem.sample_hz,
                 memory_samples=mem.samples, first_call_audio_s=first.audio_s, spec=spec.axes())

    rows = []
    for cached, rounds in timed.items():
        fields = dict(common, **latency_fields(rounds, len(spec.text)))
        fields.update(compute_and_fidelity(spec, engine, desc, device, fields["latency_p50_s"], fields["audio_s"], threads)
                      if not cached else _cached_fidelity(spec, engine, desc, device))
        rows.append(finish(spec, cached, fields, extra, env))
    engine.close()
    return rows


def _cached_fidelity(spec: MeasureSpec, engine: BenchEngine, desc: dict, device: str) -> dict[str, Any]:
    """Fidelity of a cache hit: the noise-free request twice, the second answered from the cache."""
    if not spec.measure["fidelity"] or not _gate(desc):
        return {}
    clear(engine)
    first = engine.synthesize(spec.text, **fidelity.ZERO_NOISE)
    hit = engine.synthesize(spec.text, **fidelity.ZERO_NOISE)
    ref = reference_for(spec, first, engine, device)
    return fidelity.fidelity_figures(ref, hit.samples, engine.sample_rate, _gate(desc))
