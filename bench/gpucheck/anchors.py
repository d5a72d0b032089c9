"""Published GPU figures our whole pipeline is set beside, and the check that measures it the same way.

NVIDIA DeepLearningExamples, PyTorch/SpeechSynthesis/HiFiGAN README, inference performance: FastPitch + HiFi-GAN,
TorchScript, no denoising, one A100 80GB, a 128-character input giving 8.05 s of audio at 22,050 Hz. Their RTF is
audio seconds made per second (samples per second / sample rate). The models and the GPU differ from ours (VITS:
text encoder, stochastic durations, flow and HiFi-GAN, eager PyTorch, on whatever GPU runs the check); what is
alike is the input size, the batch sizes, the precisions and the measure, samples per second.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from bench.gpucheck.context import CheckContext
from bench.gpucheck.paired import interleaved

SOURCE = ("NVIDIA DeepLearningExamples, PyTorch/SpeechSynthesis/HiFiGAN README: FastPitch + HiFi-GAN, TorchScript, "
          "no denoising, one A100 80GB, 128-character input, 8.05 s of audio")
AUDIO_S = 8.05
# (precision, batch) -> the figures the table states; latency in seconds, samples per second
PUBLISHED: dict[tuple[str, int], dict[str, float]] = {
    ("fp16", 1): {"latency_s": 0.018, "rtf": 430.0, "samples_per_s": 9.48e6},
    ("fp16", 2): {"latency_s": 0.027},
    ("fp16", 4): {"latency_s": 0.042},
    ("fp16", 8): {"latency_s": 0.082, "samples_per_s": 16.46e6},
    ("tf32", 1): {"latency_s": 0.024},
}
BATCHES = (1, 2, 4, 8)


def anchor_tiers() -> dict[str, Any]:
    """Our pipeline as the anchors run theirs: the optimized tier (inference mode, cudnn.benchmark) in FP16 (flow
    and decoder; the text encoder and durations stay fp32), and in TF32 (matmuls and convolutions), each taking
    a batch of up to 8 of these inputs in one call (the default `batch_tokens` would split it)."""
    from tts_core.tiers import OPTIMIZED

    common = {"max_batch": max(BATCHES), "batch_tokens": 8192, "warmup": 0}
    return {"fp16": OPTIMIZED.with_(name="anchor-fp16", precision="fp16", **common),
            "tf32": OPTIMIZED.with_(name="anchor-tf32", tf32=True, **common)}


def beside(precision: str, batch: int, latency_s: float, samples_per_s: float) -> dict[str, Any] | None:
    """The published figures for (`precision`, `batch`) with our ratios to them (> 1: ours is higher), or None."""
    pub = PUBLISHED.get((precision, batch))
    if pub is None:
        return None
    out: dict[str, Any] = dict(pub)
    if "samples_per_s" in pub:
        out["ours_over_published_samples_per_s"] = samples_per_s / pub["samples_per_s"]
    out["ours_over_published_latency"] = latency_s / pub["latency_s"]
    return out


def anchors(ctx: CheckContext) -> dict[str, Any]:
    """The 128-character input through the whole pipeline (text ids to waveform) at batch 1, 2, 4, 8 in FP16 and
    TF32: an untimed first call per batch size (autotuning), then up to `ctx.rounds` timed calls; samples per second,
    RTF and latency, each beside the published figure where the table has one."""
    text = ctx.text("anchor")
    tiers = anchor_tiers()
    rows: list[dict[str, Any]] = []
    dropped: list[str] = []

    def measure(precision: str, engine: Any, _before: float | None) -> dict[str, Any]:
        k = list(tiers).index(precision)
        until = ctx.check_started + (ctx.deadline() - ctx.check_started) * (k + 1) / len(tiers)  # this one's share
        last_cost = 0.0
        for i, b in enumerate(BATCHES):
            # a doubled batch costs at most about twice the last one's first call and rounds
            if rows and rows[-1]["precision"] == precision and time.time() + 2.0 * last_cost > until:
                dropped.append(f"{precision} batch {', '.join(map(str, BATCHES[i:]))}")
                break
            t0 = time.time()
            texts = [text] * b
            first = engine.synthesize_batch(texts)  # untimed: this shape's first call
            samples = sum(len(a.samples) for a in first)
            share = (until - time.time()) / (len(BATCHES) - i)
            secs = interleaved({"call": lambda: engine.synthesize_batch(texts)}, ctx.rounds, ctx.sync,
                               deadline=time.time() + share)["call"]
            last_cost = time.time() - t0
            latency = float(np.median(secs))
            sps = samples / latency
            rows.append({"precision": precision, "batch": b, "rounds": len(secs), "latency_s": latency,
                         "audio_s_per_item": samples / b / ctx.bundle.sample_rate, "samples_per_s": sps,
                         "rtf": sps / ctx.bundle.sample_rate,
                         "published": beside(precision, b, latency, sps)})
        return {}

    ctx.each_engine(tiers, measure)
    note = None if ctx.cuda else ("not comparable: run on a CPU, where FP16 is emulated and TF32 does not exist "
                                  "(the tf32 rows run fp32)")
    return {"status": "info", "source": SOURCE, "published_audio_s": AUDIO_S, "text_chars": len(text),
            "tiers": {k: v.name for k, v in tiers.items()}, "rows": rows, "note": note,
            "shrunk": f"not run in the {ctx.allowance_s:.0f} s allowed: {'; '.join(dropped)}" if dropped else None}
