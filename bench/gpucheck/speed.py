"""The measuring checks (status "info"): matmul peaks, cudnn.benchmark over many lengths, the batch curve, every
tier, streaming, CUDA memory per tier. Each fits its `ctx.allowance_s`: it runs fewer rounds, sentences or batch
sizes when time is short and says so in its result (`shrunk`)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.gpucheck.context import CheckContext
from bench.gpucheck.paired import interleaved, rotating, speedup

# The tiers compared against the baseline. torch.compile is left out of the advanced tier's calibration here: its
# build (Inductor + Triton, minutes, and a C compiler) has no bound in-process; the `compile` check measures it in
# a process of its own, under a timeout.
TIERS = {"baseline": "baseline", "optimized": "optimized", "advanced": "advanced-compile"}
BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)
CALIBRATION_SHARE = 0.4  # of the tiers check's allowance, at most the engine's own bound (`calibrate.BUDGET_S`)
MIN_CALIBRATION_S = 20.0  # fusion and streaming are measured whatever is left; the rest need about 15 s
FIRST_PASS_SHARE = 0.15  # cudnn_lengths: the benchmark-off first pass may spend this share; the other three follow


def calibration_budget(seconds: float) -> float:
    """The bound in seconds handed to the advanced tier's calibration (`Engine.from_voice(calibration_budget_s=)`):
    `seconds`, at least `MIN_CALIBRATION_S`, never above the engine's own bound
    (`tts_core.calibrate.measure.BUDGET_S`, 90 s)."""
    from tts_core.calibrate.measure import BUDGET_S

    return min(BUDGET_S, max(MIN_CALIBRATION_S, seconds))


def _median(values: list[float]) -> float:
    return float(np.median(values))


def peaks(ctx: CheckContext) -> dict[str, Any]:
    """Matmul GFLOP/s per precision on the device."""
    from bench.gpucheck.peaks import matmul_peaks

    return {"status": "info", "gflops": matmul_peaks(ctx.device, seconds=0.5 if ctx.cuda else 0.2,
                                                      n=None if ctx.cuda else 256)}


def cudnn_lengths(ctx: CheckContext) -> dict[str, Any]:
    """cudnn.benchmark over sentences of different lengths, first pass included: autotuning is paid on each new
    shape and is counted here. The autotune cache cannot be emptied within a process, so the benchmark-off engine
    runs first (it pays lazy kernel loading), then benchmark on, then both again. The first pass stops taking new
    sentences once it has spent `FIRST_PASS_SHARE` of the allowance; the other passes speak the same ones."""
    from tts_core.tiers import TierConfig

    texts = ctx.bundle.manifest["many"][: ctx.many_count]
    off = TierConfig(name="inference_mode", inference_mode=True)
    on = off.with_(name="inference_mode+cudnn_benchmark", cudnn_benchmark=True)
    passes: dict[str, list[float]] = {"off": [], "on": []}
    with ctx.engine(off) as e_off, ctx.engine(on) as e_on:
        limit = FIRST_PASS_SHARE * max(0.0, ctx.deadline() - time.time())
        t0 = time.perf_counter()
        spoken = []
        for text in texts:  # first pass, benchmark off, as many sentences as fit
            e_off.synthesize(text)
            spoken.append(text)
            if time.perf_counter() - t0 > limit:
                break
        ctx.sync()
        passes["off"].append(time.perf_counter() - t0)
        for label, engine in (("on", e_on), ("off", e_off), ("on", e_on)):
            ctx.sync()
            t0 = time.perf_counter()
            for text in spoken:
                engine.synthesize(text)
            ctx.sync()
            passes[label].append(time.perf_counter() - t0)
    shrunk = None if len(spoken) == len(texts) else (
        f"{len(spoken)} of {len(texts)} sentences: the first pass may spend {FIRST_PASS_SHARE:.0%} of the "
        f"{ctx.allowance_s:.0f} s allowed")
    return {"status": "info", "sentences": len(spoken), "of": len(texts), "shrunk": shrunk,
            "first_pass_s": {k: v[0] for k, v in passes.items()},
            "second_pass_s": {k: v[1] for k, v in passes.items()},
            "first_pass_cost_of_benchmark": passes["on"][0] / passes["off"][0]}


def batch_curve(ctx: CheckContext) -> dict[str, Any]:
    """Throughput (audio seconds per second) of the batched, masked flow + vocoder at 1, 2, 4 ... 64 sentences of
    varied length (inference mode, fp32): an untimed first call per batch size, then up to `ctx.rounds` timed.
    A batch size whose first call and rounds would not fit what is left of the allowance is not started."""
    from tts_core.render import Renderer, sentence_generator
    from tts_core.synthesis import SynthesisConfig

    many = ctx.bundle.many()[: ctx.many_count]
    sizes = [b for b in BATCH_SIZES if b <= len(many)]
    rows: list[dict[str, Any]] = []
    shrunk = None
    with ctx.engine("baseline+inference_mode") as engine:
        renderer = Renderer(engine.model, engine._parts.device, grad=False)
        scales = SynthesisConfig(engine.voice.noise_scale, engine.voice.length_scale, engine.voice.noise_w)
        last_cost = 0.0
        for b in sizes:
            # a doubled batch costs at most about twice the last one's first call and two rounds
            if rows and time.time() + 2.0 * last_cost > ctx.deadline():
                shrunk = f"batch sizes {[s for s in sizes if s >= b]} not run: {ctx.allowance_s:.0f} s allowed"
                break
            batch = many[:b]

            def run() -> list[np.ndarray]:
                gens = [sentence_generator(0, ids, engine._parts.device) for ids in batch]
                return renderer.render(batch, scales, gens)

            t0 = time.time()
            audio_s = sum(len(a) for a in run()) / ctx.bundle.sample_rate  # untimed: this shape's first call
            secs = interleaved({"batch": run}, ctx.rounds, ctx.sync, deadline=ctx.deadline())["batch"]
            last_cost = time.time() - t0
            rows.append({"batch": b, "audio_s": audio_s, "rounds": len(secs), "median_s": _median(secs),
                         "audio_s_per_s": audio_s / _median(secs)})
    return {"status": "info", "masked_vocoder": renderer.batch_vocoder, "rows": rows, "shrunk": shrunk}


def tiers(ctx: CheckContext) -> dict[str, Any]:
    """Every tier on short/medium/long: paired, interleaved rounds against the baseline (rotating order, audio
    cache cleared before every call), one untimed round first. Each text gets an equal share of the time left
    after loading (the advanced tier's calibration bounded to `CALIBRATION_SHARE` of the allowance); a text
    whose share is spent runs 2 rounds, and a text after the first not reached before the deadline is left out,
    said in `shrunk`."""
    cal_s = calibration_budget(CALIBRATION_SHARE * ctx.allowance_s)
    engines = {}
    try:
        for name, spec in TIERS.items():
            engines[name] = ctx.engine(spec, calibration_budget_s=cal_s)
        load_s = {t: e.load_info.get("total_seconds") for t, e in engines.items()}
        rows: dict[str, Any] = {}
        names = ("short", "medium", "long")
        for i, name in enumerate(names):
            left = ctx.deadline() - time.time()
            if left <= 0 and rows:  # the first text always runs (2 rounds), so the check measures something
                break
            text = ctx.text(name)
            runs = {t: (lambda e=e: e.synthesize(text)) for t, e in engines.items()}
            times = interleaved(runs, ctx.rounds, ctx.sync, before_each=lambda t: engines[t].clear_cache(),
                                warmup=1, deadline=time.time() + left / (len(names) - i))
            audio_s = engines["baseline"].synthesize(text).duration
            rows[name] = {
                "audio_s": audio_s, "rounds": len(times["baseline"]),
                "median_s": {t: _median(v) for t, v in times.items()},
                "rtf": {t: _median(v) / audio_s for t, v in times.items()},
                "speedup_vs_baseline": {t: speedup(times["baseline"], v) for t, v in times.items()
                                        if t != "baseline"},
            }
        choices = {t: (e.stats().get("calibration") or {}).get("choices") for t, e in engines.items()}
    finally:
        for e in engines.values():
            e.close()
    shrunk = [f"{n}: {r['rounds']} of {ctx.rounds} rounds" for n, r in rows.items() if r["rounds"] < ctx.rounds]
    shrunk += [f"{n}: not run, the {ctx.allowance_s:.0f} s allowed were spent" for n in names if n not in rows]
    return {"status": "info", "tiers": TIERS, "texts": rows, "load_s": load_s, "calibration_choices": choices,
            "calibration_budget_s": cal_s, "shrunk": shrunk or None}


def streaming(ctx: CheckContext) -> dict[str, Any]:
    """Time to first audio of the long text: optimized with streaming against without, paired rounds after one
    untimed round (with cudnn.benchmark on, the first call on the chunks' new shapes pays autotuning)."""
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
        ttfa = rotating({n: (lambda e=e: first_chunk(e)) for n, e in engines.items()}, ctx.rounds, warmup=1,
                        before_each=lambda n: engines[n].clear_cache(), deadline=ctx.deadline())
        gain = speedup(ttfa["optimized"], ttfa["optimized+streaming"])
        rounds = len(ttfa["optimized"])
        return {"status": "info", "warmup_rounds": 1, "rounds": rounds,
                "ttfa_median_s": {n: _median(v) for n, v in ttfa.items()}, "ttfa_gain": gain,
                "shrunk": None if rounds == ctx.rounds else f"{rounds} of {ctx.rounds} rounds"}
    finally:
        for e in engines.values():
            e.close()


def _weights_mb(model: Any) -> float:
    """MB of the distinct tensors (parameters and buffers) `model` holds."""
    import torch

    seen: dict[int, int] = {}
    for t in (*model.parameters(), *model.buffers()):
        if isinstance(t, torch.Tensor):
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(seen.values()) / 2**20


def memory(ctx: CheckContext) -> dict[str, Any]:
    """CUDA memory per tier, one engine at a time (the previous one closed and collected first): allocated before
    the load, after it (weights, calibration leftovers, workspaces), the model's own weights, and the peak while
    speaking the long text, of which `activations_peak_mb` is above what the load left."""
    if not ctx.cuda:
        return {"status": "n/a", "reason": "no CUDA device"}
    import torch

    text = ctx.text("long")

    def measure(name: str, engine: Any, before_mb: float | None) -> dict[str, Any]:
        engine.clear_cache()
        ctx.sync()
        loaded = torch.cuda.memory_allocated(ctx.device) / 2**20
        torch.cuda.reset_peak_memory_stats(ctx.device)
        engine.synthesize(text)
        ctx.sync()
        peak = torch.cuda.max_memory_allocated(ctx.device) / 2**20
        return {"before_load_mb": before_mb, "after_load_mb": loaded, "weights_mb": _weights_mb(engine.model),
                "peak_allocated_mb": peak, "activations_peak_mb": peak - loaded,
                "peak_reserved_mb": torch.cuda.max_memory_reserved(ctx.device) / 2**20}

    cal_s = calibration_budget(CALIBRATION_SHARE * ctx.allowance_s)  # read back if `tiers` calibrated
    rows = ctx.each_engine(TIERS, measure, calibration_budget_s=cal_s)
    return {"status": "info", "tiers": rows, "calibration_budget_s": cal_s}
