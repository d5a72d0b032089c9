"""The checks of a GPU run. Each takes a `CheckContext` and returns a dict with `status` ("pass", "fail",
"info" for a measurement without a gate, "skip") and its figures."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.gpucheck.context import ZERO, CheckContext
from bench.gpucheck.paired import interleaved, speedup

# CUDA fp32 (TF32 off) against the CPU fp32 reference on identical weights: only summation order and
# kernel choice differ. The engine's "exact" gate (60 dB) is for one device; across devices the flow and
# the vocoder amplify last-bit differences, so the oracle asks for 50 dB and equal frame counts. A
# porting bug (a wrong kernel, a missed mask) lands far below that (under 20 dB).
ORACLE_MIN_SNR_DB = 50.0
TIERS = ("baseline", "optimized", "advanced")
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)


def _status(ok: bool) -> str:
    return "pass" if ok else "fail"


def oracle(ctx: CheckContext) -> dict[str, Any]:
    """CUDA fp32 with TF32 off against the CPU fp32 reference, sentence by sentence."""
    from tts_core.fidelity import compare

    rows = []
    with ctx.engine("baseline") as engine, ctx.exact_fp32():
        for key, ref in ctx.bundle.references.items():
            name, i = key.split("/")
            out = engine.ids_to_audio(ctx.bundle.ids(name)[int(i)], **ZERO).samples
            r = compare(ref, out, ctx.bundle.sample_rate)
            rows.append({"sentence": key, "frames_equal": r.frames_equal, "snr_db": r.snr_db, "max_abs": r.max_abs,
                         "samples": [len(ref), len(out)]})
    ok = all(r["frames_equal"] and r["snr_db"] >= ORACLE_MIN_SNR_DB for r in rows)
    return {"status": _status(ok), "min_snr_db": ORACLE_MIN_SNR_DB, "tf32": False, "sentences": rows}


def precision(ctx: CheckContext) -> dict[str, Any]:
    """FP16 and BF16 tiers against the fp32 baseline on the same device, by the fidelity gate "half"."""
    from tts_core.fidelity import compare, gate_for

    ids = ctx.bundle.ids("medium") + ctx.bundle.ids("short")
    with ctx.engine("baseline") as ref_engine:
        refs = [ref_engine.ids_to_audio(x, **ZERO).samples for x in ids]
    out: dict[str, Any] = {"reference": f"{ctx.device} fp32 baseline", "gates": {}}
    ok = True
    for p in ("fp16", "bf16"):
        with ctx.engine(f"baseline+{p}") as engine:
            results = [compare(r, engine.ids_to_audio(x, **ZERO).samples, ctx.bundle.sample_rate)
                       for r, x in zip(refs, ids)]
        failures = [f for r in results for f in r.failures(gate_for(p))]
        ok &= not failures
        out["gates"][p] = {"gate": gate_for(p), "failures": failures, "results": [r.to_dict() for r in results]}
    out["status"] = _status(ok)
    return out


def tiers(ctx: CheckContext) -> dict[str, Any]:
    """Every tier on short/medium/long: paired, interleaved rounds against the baseline (rotating order,
    audio cache cleared before every call). Steady state: one untimed call per engine and text first."""
    engines = {t: ctx.engine(t) for t in TIERS}
    try:
        load_s = {t: e.load_info.get("total_seconds") for t, e in engines.items()}
        rows = {}
        for name in ("short", "medium", "long"):
            text = ctx.text(name)
            for e in engines.values():
                e.clear_cache()
                e.synthesize(text)
            runs = {t: (lambda e=e: e.synthesize(text)) for t, e in engines.items()}
            times = interleaved(runs, ctx.rounds, ctx.sync, before_each=lambda t: engines[t].clear_cache())
            audio_s = engines["baseline"].synthesize(text).duration
            rows[name] = {
                "audio_s": audio_s,
                "median_s": {t: float(np.median(v)) for t, v in times.items()},
                "rtf": {t: float(np.median(v)) / audio_s for t, v in times.items()},
                "speedup_vs_baseline": {t: speedup(times["baseline"], v) for t, v in times.items() if t != "baseline"},
            }
        choices = {t: e.stats().get("calibration") and e.stats()["calibration"].get("choices") for t, e in engines.items()}
        return {"status": "info", "texts": rows, "load_s": load_s, "calibration_choices": choices}
    finally:
        for e in engines.values():
            e.close()


def memory(ctx: CheckContext) -> dict[str, Any]:
    """CUDA peak allocated / reserved (MB) per tier while speaking the long text."""
    if not ctx.cuda:
        return {"status": "skip", "reason": "no CUDA device"}
    import torch

    rows = {}
    for t in TIERS:
        with ctx.engine(t) as engine:
            engine.clear_cache()
            torch.cuda.synchronize(ctx.device)
            torch.cuda.reset_peak_memory_stats(ctx.device)
            engine.synthesize(ctx.text("long"))
            rows[t] = {"peak_allocated_mb": torch.cuda.max_memory_allocated(ctx.device) / 2**20,
                       "peak_reserved_mb": torch.cuda.max_memory_reserved(ctx.device) / 2**20}
    return {"status": "info", "tiers": rows}


def batch_curve(ctx: CheckContext) -> dict[str, Any]:
    """Throughput (audio seconds per second) of the batched, masked flow + vocoder at 1, 2, 4 ... 64
    sentences of varied length (inference mode, fp32)."""
    from tts_core.render import Renderer, Scales, sentence_generator

    many = ctx.bundle.many()[: ctx.many_count]
    rows = []
    with ctx.engine("baseline+inference_mode") as engine:
        renderer = Renderer(engine.model, engine._parts.device, grad=False)
        scales = Scales(engine.voice.noise_scale, engine.voice.length_scale, engine.voice.noise_w)
        for b in [b for b in BATCH_SIZES if b <= len(many)]:
            batch = many[:b]

            def run() -> list[np.ndarray]:
                gens = [sentence_generator(0, ids, engine._parts.device) for ids in batch]
                return renderer.render(batch, scales, gens)

            audio_s = sum(len(a) for a in run()) / ctx.bundle.sample_rate  # untimed: this shape's first call
            secs = interleaved({"batch": run}, max(2, ctx.rounds // 2), ctx.sync)["batch"]
            rows.append({"batch": b, "audio_s": audio_s, "median_s": float(np.median(secs)),
                         "audio_s_per_s": audio_s / float(np.median(secs))})
    return {"status": "info", "masked_vocoder": renderer.batch_vocoder, "rows": rows}


def streaming(ctx: CheckContext) -> dict[str, Any]:
    """Time to first audio of the long text: optimized with streaming against without (paired rounds)."""
    from tts_core.tiers import resolve_tier

    tiers_ = {"optimized": resolve_tier("optimized"), "optimized+streaming": resolve_tier("optimized+streaming")}
    engines = {n: ctx.engine(t) for n, t in tiers_.items()}
    text = ctx.text("long")

    def first_chunk(engine) -> float:
        ctx.sync()
        t0 = time.perf_counter()
        stream = engine.stream(text)
        next(stream)
        ctx.sync()
        dt = time.perf_counter() - t0
        for _ in stream:
            pass
        return dt

    try:
        ttfa: dict[str, list[float]] = {n: [] for n in engines}
        names = list(engines)
        for r in range(ctx.rounds):
            for k in range(len(names)):
                n = names[(r + k) % len(names)]
                engines[n].clear_cache()
                ttfa[n].append(first_chunk(engines[n]))
        gain = speedup(ttfa["optimized"], ttfa["optimized+streaming"])
        return {"status": "info", "ttfa_median_s": {n: float(np.median(v)) for n, v in ttfa.items()},
                "ttfa_gain": gain}
    finally:
        for e in engines.values():
            e.close()


def cudnn_lengths(ctx: CheckContext) -> dict[str, Any]:
    """cudnn.benchmark over 64 sentences of different lengths, first pass included: autotuning is paid
    on each new shape and is counted here. The autotune cache cannot be emptied within a process, so the
    benchmark-off engine runs first (it pays lazy kernel loading), then benchmark on, then both again."""
    from tts_core.tiers import TierConfig

    texts = ctx.bundle.manifest["many"][: ctx.many_count]
    off = TierConfig(name="inference_mode", inference_mode=True)
    on = off.with_(name="inference_mode+cudnn_benchmark", cudnn_benchmark=True)
    passes: dict[str, list[float]] = {"off": [], "on": []}
    with ctx.engine(off) as e_off, ctx.engine(on) as e_on:
        for _ in range(2):
            for label, engine in (("off", e_off), ("on", e_on)):
                ctx.sync()
                t0 = time.perf_counter()
                for text in texts:
                    engine.synthesize(text)
                ctx.sync()
                passes[label].append(time.perf_counter() - t0)
    return {"status": "info", "sentences": len(texts), "first_pass_s": {k: v[0] for k, v in passes.items()},
            "second_pass_s": {k: v[1] for k, v in passes.items()},
            "first_pass_cost_of_benchmark": passes["on"][0] / passes["off"][0]}


def memory_fraction(ctx: CheckContext) -> dict[str, Any]:
    """A fraction set for this device is honoured: an allocation beyond it raises out-of-memory (caught
    and reported here), one within it succeeds. The fraction is restored to 1.0 afterwards."""
    if not ctx.cuda:
        return {"status": "skip", "reason": "no CUDA device"}
    import torch

    from tts_core.flags import cuda_index

    dev = torch.device(ctx.device)
    index = cuda_index(dev)
    total = torch.cuda.get_device_properties(index).total_memory
    cap = torch.cuda.memory_reserved(index) + 512 * 2**20
    fraction = cap / total
    out: dict[str, Any] = {"fraction": fraction, "cap_mb": cap / 2**20}
    torch.cuda.set_per_process_memory_fraction(fraction, index)
    try:
        small = torch.empty(128 * 2**20, dtype=torch.uint8, device=dev)
        del small
        out["within_cap"] = "allocated 128 MB"
        try:
            big = torch.empty(2 * cap, dtype=torch.uint8, device=dev)
            del big
            out["beyond_cap"] = "allocated: the fraction was NOT honoured"
            ok = False
        except torch.cuda.OutOfMemoryError as exc:
            out["beyond_cap"] = f"out of memory, as expected: {str(exc).splitlines()[0][:160]}"
            ok = True
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, index)
        torch.cuda.empty_cache()
    out["status"] = _status(ok)
    return out


def peaks(ctx: CheckContext) -> dict[str, Any]:
    """Matmul GFLOP/s per precision on the device."""
    from bench.gpucheck.peaks import matmul_peaks

    return {"status": "info", "gflops": matmul_peaks(ctx.device, seconds=0.5 if ctx.cuda else 0.2,
                                                      n=None if ctx.cuda else 256)}


# The order matters: cudnn_lengths must see the many sentences' shapes before any autotuning engine does.
CHECKS = {
    "oracle": oracle, "precision": precision, "cudnn_lengths": cudnn_lengths, "batch_curve": batch_curve,
    "tiers": tiers, "streaming": streaming, "memory": memory, "memory_fraction": memory_fraction, "peaks": peaks,
}
