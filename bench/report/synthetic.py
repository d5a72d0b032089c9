"""Realistic synthetic schema-v2 results for developing and testing the report without running a sweep.

`write_synthetic_run(dir)` writes `results.jsonl` (one `ResultRow.to_dict()` per line, plus a truncated
last line as a crash would leave), memory_profiler `.dat` timelines under `mprof/` and short WAV files under
`samples/`, all beside it, with absolute paths in the rows as the sweep writes them.

The run mimics one paired sweep on a 2-core AVX2 CPU: every round all contenders speak the same fresh text
(short, medium, long in turn); one row per contender and text class plus one pooled row (`text == "all"`).
Speedups, intervals and verdicts are computed by `bench.results.stats`, the harness's one statistics module,
so the figures are consistent with each other; the report only reads them.
"""

from __future__ import annotations

import json
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.results import stats
from bench.results.schema import ResultRow

SAMPLE_RATE = 22_050
TEXTS = {"short": (40, 2.1), "medium": (180, 9.4), "long": (900, 46.0)}  # class: (chars, audio seconds)
ROUNDS_PER_CLASS = 8
FLOPS_PER_AUDIO_S = 5.3e9  # the joe-medium voice's model FLOPs per audio second
STAGE_FLOP_SHARES = {"encoder": 0.04, "flow": 0.22, "decoder": 0.74}  # of FLOPS_PER_AUDIO_S, per stage
PEAK_GFLOPS = {"fp32": 68.0, "bf16": 21.0}  # measured matmul peaks of the synthetic machine


@dataclass(frozen=True)
class Contender:
    """One synthetic contender: its cost relative to baseline and what the sweep would record about it."""

    engine: str
    tier: str
    factor: float  # RTF relative to the baseline tier (below 1 = faster)
    ttfa_factor: float  # time to first audio relative to baseline
    peak_rss_mb: float
    reference: str | None = None  # tier of the same engine it is compared with
    switch_diff: dict[str, Any] = field(default_factory=dict)
    precision: str = "fp32"
    fid_pass: bool | None = True
    fid_gate: str | None = "exact"
    verdict_metric: str = "throughput"
    noise: float = 0.03  # round-to-round spread of its own (log RTF), on top of the machine's shared load

    def name(self, hardware: str) -> str:
        return f"{self.engine}:{self.tier}@{hardware}"


CONTENDERS = (
    Contender("tts_core", "baseline", 1.00, 1.00, 410.0, fid_pass=None, fid_gate=None),
    Contender("tts_core", "optimized", 0.78, 0.80, 380.0, "baseline",
              {"inference_mode": [False, True], "threads": [1, 2]}, noise=0.14),
    Contender("tts_core", "advanced", 0.62, 0.35, 330.0, "baseline",
              {"fused_decoder": [False, True], "streaming": [False, True], "bucket_frames": [None, 64]}),
    Contender("tts_core", "advanced-streaming", 0.63, 0.90, 345.0, "advanced", {"streaming": [True, False]},
              verdict_metric="ttfa"),
    Contender("tts_core", "baseline+compile", 1.00, 1.00, 412.0, "baseline", {}),  # calibration kept eager
    Contender("tts_core", "baseline+bf16", 3.0, 2.9, 300.0, "baseline", {"precision": ["fp32", "bf16"]},
              precision="bf16", fid_pass=False, fid_gate="half"),
    Contender("piper-onnxruntime", "default", 0.66, 0.90, 240.0, fid_pass=None, fid_gate=None),
)
PEER = "piper-onnxruntime"


def write_wav(path: Path, seconds: float, freq: float = 180.0, seed: int = 0) -> Path:
    """Write a small 16-bit mono WAV (a voiced-like tone, `seconds` long) and return its path."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE  # (samples,)
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 2.5 * t))  # syllable-like bursts
    tone = 0.3 * np.sin(2 * np.pi * freq * t) * envelope + 0.01 * np.random.default_rng(seed).standard_normal(t.size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(tone, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def write_mprof(path: Path, peak_mb: float, seconds: float, t0: float, seed: int = 0) -> Path:
    """Write a memory_profiler timeline: a CMDLINE line, then `MEM <MB> <unix seconds>` at 100 Hz."""
    rng = np.random.default_rng(seed)
    n = max(int(seconds * 100), 10)
    mem = 60 + (peak_mb - 60) * np.minimum(np.linspace(0, 1.6, n), 1.0) + rng.normal(0, 2, n)  # (n,)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(["CMDLINE python -m bench.workers", *(f"MEM {m:.6f} {t0 + i / 100:.4f}" for i, m in enumerate(mem))]) + "\n")
    return path


def _rounds(rng: np.random.Generator, slowdown: float) -> list[tuple[str, float]]:
    """(text class, baseline RTF) of every round, classes in turn; the RTF drifts with the machine's load."""
    base = {"short": 0.19, "medium": 0.145, "long": 0.135}  # fixed cost weighs most on short texts
    out = []
    for i in range(ROUNDS_PER_CLASS * len(TEXTS)):
        text = list(TEXTS)[i % len(TEXTS)]
        out.append((text, slowdown * base[text] * float(np.exp(rng.normal(0, 0.04)))))  # shared load: paired
    return out


def _speedup_fields(ref: list[float], cand: list[float], prefix: str = "speedup") -> dict[str, Any]:
    s = stats.paired_speedup(ref, cand)
    return {prefix: s.ratio, f"{prefix}_ci_low": s.ci_low, f"{prefix}_ci_high": s.ci_high, "_s": s,
            "_ratios": [float(x) for x in stats.paired_ratios(ref, cand)]}


def _row(c: Contender, text: str, idx: list[int], rtfs: dict[str, np.ndarray], ttfa: dict[str, np.ndarray],
         audio: np.ndarray, common: dict[str, Any], hardware: str) -> ResultRow:
    """The row of contender `c` over the rounds `idx` (one text class, or all of them for text == "all")."""
    name = c.name(hardware)
    r, a = rtfs[name][idx], audio[idx]  # (rounds,)
    lat = r * a
    fields: dict[str, Any] = {}
    if c.reference is not None:
        ref = f"{c.engine}:{c.reference}@{hardware}"
        th = _speedup_fields(list(rtfs[ref][idx]), list(r))
        tt = _speedup_fields(list(ttfa[ref][idx]), list(ttfa[name][idx]), "ttfa_speedup")
        judged = tt if c.verdict_metric == "ttfa" else th
        identical = not c.switch_diff
        fields.update(
            reference=ref, speedup=th["speedup"], speedup_ci_low=th["speedup_ci_low"],
            speedup_ci_high=th["speedup_ci_high"], speedup_pairs=th["_s"].pairs, paired_ratios=th["_ratios"],
            ttfa_speedup=tt["ttfa_speedup"], ttfa_speedup_ci_low=tt["ttfa_speedup_ci_low"],
            ttfa_speedup_ci_high=tt["ttfa_speedup_ci_high"], switch_diff=dict(c.switch_diff),
            verdict="identical here" if identical else stats.verdict(judged["_s"]),
            verdict_metric=None if identical else c.verdict_metric,
        )
    if c.engine == "tts_core" and c.tier in ("baseline", "optimized", "advanced"):
        peer = next(p.name(hardware) for p in CONTENDERS if p.engine == PEER)
        s = stats.paired_speedup(list(rtfs[peer][idx]), list(r))
        fields["comparisons"] = [{"reference": peer, "metric": "throughput", "speedup": s.ratio, "ci_low": s.ci_low,
                                  "ci_high": s.ci_high, "pairs": s.pairs, "verdict": stats.verdict(s)}]
    lstats = stats.summarize(list(lat))
    classes = _classes(idx)
    own = [[float(r[j]) for j, t in enumerate(classes) if t == k] for k in dict.fromkeys(classes)]
    if c.reference is not None:  # the spread the sweep flags: paired ratios within each class, else RTF
        ref_rtf = rtfs[f"{c.engine}:{c.reference}@{hardware}"][idx]
        own = [[float(ref_rtf[j] / r[j]) for j, t in enumerate(classes) if t == k] for k in dict.fromkeys(classes)]
    spread = stats.within_class_spread(own)
    rtf = float(np.median(r))
    tts = c.engine == "tts_core"
    same_voice = tts or c.engine == PEER  # Piper speaks the same voice: the same model FLOPs
    stage = np.array([0.04, 0.12, 0.20, 0.64]) * float(np.median(lat))  # frontend, encoder, flow, decoder
    return ResultRow(
        **common, config_id=f"{name}|{text}", status="ok", engine=c.engine, tier=c.tier, hardware=hardware,
        device="cpu", threads=2, text=text, text_chars=int(np.median([TEXTS[t][0] for t in _classes(idx)])),
        workload="stream", contender=name, rounds=len(idx), stop_reason="interval within +-5%",
        latency_mean_s=lstats.mean_s, latency_std_s=lstats.std_s, latency_cv=lstats.cv, noisy=stats.is_noisy(spread),
        latency_p50_s=lstats.p50_s, latency_p90_s=lstats.p90_s, latency_p99_s=lstats.p99_s,
        latencies_s=[float(x) for x in lat], rtfs=[float(x) for x in r], audio_s=float(np.median(a)), rtf=rtf,
        throughput_audio_s_per_s=1 / rtf, ttfa_s=float(np.median(ttfa[name][idx])),
        chunk_gaps_s=[0.08, 0.07, 0.09] * len(idx), underruns=0, load_s=0.7 if tts else 0.4, first_call_s=1.5 * float(lat[0]),
        stage_frontend_s=float(stage[0]) if tts else None, stage_encoder_s=float(stage[1]) if tts else None,
        stage_flow_s=float(stage[2]) if tts else None, stage_decoder_s=float(stage[3]) if tts else None,
        peak_rss_mb=c.peak_rss_mb + 20 * float(np.median(a)) / 46, max_rss_mb=c.peak_rss_mb + 25,
        flops_per_audio_s=FLOPS_PER_AUDIO_S if same_voice else None,
        achieved_gflops=FLOPS_PER_AUDIO_S / rtf / 1e9 if same_voice else None,
        **({f"stage_{k}_gflops": share * FLOPS_PER_AUDIO_S * float(np.median(a)) / t / 1e9
            for (k, share), t in zip(STAGE_FLOP_SHARES.items(), stage[1:])} if tts else {}),
        peak_gflops=PEAK_GFLOPS[c.precision], precision=c.precision,
        fid_gate=c.fid_gate, fid_pass=c.fid_pass, fid_frames_equal=True if c.fid_gate else None,
        fid_snr_db=72.0 if c.fid_gate == "exact" else None, fid_mcd_db=0.45 if c.fid_gate == "half" else None,
        fid_reference=f"tts_core:baseline@{hardware}" if c.fid_gate else None, **fields,
        extra={"noisy_spread": spread, "noisy_basis": "paired ratios within each text class" if c.reference else
               "RTF within each text class", "chunk_gap_rounds": len(idx), "peaks_gflops": dict(PEAK_GFLOPS),
               **({"stage_audio_s": float(np.median(a)), "stage_texts": [text]} if tts else {}),
               "engine": {"tier": {"name": c.tier, "precision": c.precision}}},
    )


def _classes(idx: list[int]) -> list[str]:
    return [list(TEXTS)[i % len(TEXTS)] for i in idx]


def synthetic_rows(
    run_id: str = "2024-05-01T12-00-00",
    host: str = "ci-runner-1",
    base_dir: Path | None = None,
    seed: int = 0,
    slowdown: float = 1.0,
    peers: bool = True,
    failures: bool = True,
) -> list[ResultRow]:
    """Rows of one paired sweep on one machine; mprof and WAV files are written under `base_dir` when given."""
    rng = np.random.default_rng(seed)
    hardware = "cpu-all"
    env = {"host": host, "cpu": "AMD EPYC 7B13", "cpu_flags": ["avx", "avx2", "fma"], "cores_logical": 2,
           "torch": "2.13.0+cpu", "python": "3.11.9", "os": "Linux 6.1", "gpu": None}
    t0 = 1_714_564_800.0
    common = dict(run_id=run_id, host=host, model="joe-medium", group_id=f"{run_id}-g0", env=env, timestamp=t0)
    rounds = _rounds(rng, slowdown)
    audio = np.array([TEXTS[t][1] * float(np.exp(rng.normal(0, 0.03))) for t, _ in rounds])  # (rounds,)
    base_rtf = np.array([b for _, b in rounds])
    chosen = [c for c in CONTENDERS if peers or c.engine != PEER]
    rtfs = {c.name(hardware): base_rtf * c.factor * np.exp(rng.normal(0, c.noise, base_rtf.size)) for c in CONTENDERS}
    ttfa = {c.name(hardware): 0.09 * slowdown * c.ttfa_factor * np.exp(rng.normal(0, 0.05, base_rtf.size)) for c in CONTENDERS}
    rows: list[ResultRow] = []
    for k, c in enumerate(chosen):
        by_class = {t: [i for i, (tt, _) in enumerate(rounds) if tt == t] for t in TEXTS}
        for text, idx in [*by_class.items(), ("all", list(range(len(rounds))))]:
            row = _row(c, text, idx, rtfs, ttfa, audio, common, hardware)
            if not peers:
                row.comparisons = []
            if base_dir is not None and text == "all":
                safe = row.contender.replace(":", "_").replace("@", "_")
                row.mprof_file = str(write_mprof(base_dir / "mprof" / f"{safe}.dat", c.peak_rss_mb, 1.5, t0 + k, seed + k).resolve())
                row.sample_wav = str(write_wav(base_dir / "samples" / f"{safe}.wav", 2.0, 140 + 25 * k, seed + k).resolve())
            rows.append(row)
    if failures:
        rows.append(ResultRow(**{**common, "timestamp": t0 + 500}, config_id="tts_core:baseline+fp16@cpu-all|all",
                              status="failed", tier="baseline+fp16", hardware=hardware, text="all",
                              contender=f"tts_core:baseline+fp16@{hardware}", reference=f"tts_core:baseline@{hardware}",
                              error="TimeoutError: worker exceeded 600 s"))
        rows.append(ResultRow(**{**common, "timestamp": t0 + 501}, config_id="tts_core:advanced@cuda|all",
                              status="skipped", tier="advanced", hardware="cuda", text="all",
                              contender="tts_core:advanced@cuda", reason="cuda not available"))
    return rows


def write_synthetic_run(directory: Path, truncated_tail: bool = True, **kwargs: Any) -> Path:
    """Write a synthetic run under `directory` and return the path of its `results.jsonl`."""
    directory.mkdir(parents=True, exist_ok=True)
    rows = synthetic_rows(base_dir=directory, **kwargs)
    path = directory / "results.jsonl"
    with path.open("w") as f:
        for row in rows:
            f.write(json.dumps(row.to_dict()) + "\n")
        if truncated_tail:
            f.write('{"run_id": "cut-off", "status": "o')  # a worker killed mid-write
    return path
