"""The checks of a GPU run, in the order they run: the gated ones first (their verdict is the run's), then the
measurements. Each takes a `CheckContext` and returns a dict with `status` ("pass", "fail", "info" for a
measurement without a gate, "skip" when it could not run here, "n/a" when it does not apply to the device) and
its figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from bench.gpucheck import anchors, compiled, speed
from bench.gpucheck.context import ZERO, CheckContext

# CUDA fp32 (TF32 off) against the CPU fp32 reference on identical weights: only summation order and
# kernel choice differ. The engine's "exact" gate (60 dB) is for one device; across devices the flow and
# the vocoder amplify last-bit differences, so the oracle asks for 50 dB and equal frame counts. A
# porting bug (a wrong kernel, a missed mask) lands far below that (under 20 dB).
ORACLE_MIN_SNR_DB = 50.0
# The memory-fraction check caps the process at what is reserved now plus this much: room for the voice's
# weights (63 MB in fp32) and a short sentence's activations, far below an allocation of twice the cap.
FRACTION_HEADROOM_MB = 1024
# Half precision alone and with decoder tiling: the calibration may keep both together on a GPU.
PRECISION_VARIANTS = ("fp16", "bf16", "fp16+tiling", "bf16+tiling")


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


def precision_tier(variant: str):
    """The tier of a `PRECISION_VARIANTS` entry: the baseline with FP16 or BF16, and with "+tiling" the decoder
    tiled as the advanced tier tiles it (its default tile length)."""
    from tts_core.tiers import resolve_tier

    precision, _, tiling = variant.partition("+")
    tier = resolve_tier(f"baseline+{precision}")
    return tier.with_(name=f"baseline+{variant}", decoder_tiling=True) if tiling else tier


def precision(ctx: CheckContext) -> dict[str, Any]:
    """FP16 and BF16, alone and with decoder tiling, against the fp32 baseline on the same device (TF32 off for
    matmuls and convolutions), by the fidelity gate "half"."""
    from tts_core.fidelity import compare
    from tts_core.tiers.build import gate as gate_of

    ids = ctx.bundle.ids("medium") + ctx.bundle.ids("short")
    with ctx.engine("baseline") as ref_engine, ctx.exact_fp32():
        refs = [ref_engine.ids_to_audio(x, **ZERO).samples for x in ids]
    out: dict[str, Any] = {"reference": f"{ctx.device} fp32 baseline, TF32 off (matmul and cuDNN)", "gates": {}}
    ok = True
    for variant in PRECISION_VARIANTS:
        gate = gate_of(precision_tier(variant))
        with ctx.engine(precision_tier(variant)) as engine:
            results = [compare(r, engine.ids_to_audio(x, **ZERO).samples, ctx.bundle.sample_rate)
                       for r, x in zip(refs, ids)]
            decoder = type(engine.model.dec).__name__
        failures = [f for r in results for f in r.failures(gate)]
        ok &= not failures
        out["gates"][variant] = {"gate": gate, "decoder": decoder, "failures": failures,
                                 "results": [r.to_dict() for r in results]}
    out["status"] = _status(ok)
    return out


def fraction_tier(fraction: float):
    """The baseline (inference mode) with the engine's own `cuda_memory_fraction` switch at `fraction`."""
    from tts_core.tiers import BASELINE

    return BASELINE.with_(name="baseline+memory_fraction", inference_mode=True, cuda_memory_fraction=fraction)


def memory_fraction(ctx: CheckContext) -> dict[str, Any]:
    """The engine's `cuda_memory_fraction` switch is honoured: an engine loaded with a cap speaks a short text
    within it, and an allocation of twice the cap then raises out-of-memory (caught and reported here). The
    cap is lifted afterwards (`tts_core.runtime.cuda.release_memory_fraction`)."""
    if not ctx.cuda:
        return {"status": "n/a", "reason": "no CUDA device"}
    import torch

    from tts_core.runtime.cuda import cuda_index, release_memory_fraction

    dev = torch.device(ctx.device)
    ctx.release()
    total = torch.cuda.get_device_properties(cuda_index(dev)).total_memory
    cap = torch.cuda.memory_reserved(dev) + FRACTION_HEADROOM_MB * 2**20
    fraction = cap / total
    out: dict[str, Any] = {"fraction": fraction, "cap_mb": cap / 2**20, "switch": "TierConfig.cuda_memory_fraction"}
    try:
        with ctx.engine(fraction_tier(fraction)) as engine:
            audio = engine.synthesize(ctx.text("short"))
            out["within_cap"] = f"the engine spoke {audio.duration:.2f} s of audio under the cap"
            try:
                big = torch.empty(2 * cap, dtype=torch.uint8, device=dev)
                del big
                out["beyond_cap"] = "allocated: the fraction was NOT honoured"
                ok = False
            except torch.cuda.OutOfMemoryError as exc:
                out["beyond_cap"] = f"out of memory, as expected: {str(exc).splitlines()[0][:160]}"
                ok = True
    finally:
        release_memory_fraction(dev)
        ctx.release()
    out["status"] = _status(ok)
    return out


@dataclass(frozen=True)
class Check:
    """One check: its function, whether its verdict gates the run, its `weight` (its share of the time left
    is weight / the weights of the checks still to run) and the fewest seconds it needs to start at all."""

    run: Callable[[CheckContext], dict[str, Any]]
    gated: bool = False
    weight: float = 1.0
    min_s: float = 0.0


# The order matters: gated checks first, so no budget can skip them into a pass; none of them autotunes, so
# cudnn_lengths still sees the many sentences' shapes before any autotuning engine does.
CHECKS: dict[str, Check] = {
    "oracle": Check(oracle, gated=True),
    "precision": Check(precision, gated=True),
    "memory_fraction": Check(memory_fraction, gated=True, weight=0.5),
    "peaks": Check(speed.peaks, weight=0.3, min_s=5),
    "cudnn_lengths": Check(speed.cudnn_lengths, weight=1.5, min_s=10),
    "anchors": Check(anchors.anchors, weight=1.5, min_s=10),
    "batch_curve": Check(speed.batch_curve, weight=1.0, min_s=10),
    "tiers": Check(speed.tiers, weight=3.0, min_s=30),
    "streaming": Check(speed.streaming, weight=1.0, min_s=10),
    "memory": Check(speed.memory, weight=1.0, min_s=10),
    "compile": Check(compiled.compile_check, weight=2.5, min_s=compiled.MIN_BUILD_S),
}
GATED: tuple[str, ...] = tuple(n for n, c in CHECKS.items() if c.gated)
