"""Realistic synthetic results for developing and testing the report without running a sweep.

`write_synthetic_run(dir)` writes `results.jsonl` (one `ResultRow.to_dict()` per line, plus a truncated
last line as a crash would leave), memory_profiler `.dat` timelines and short WAV files, all beside it.
Figures follow the cost model of the joe-medium voice on a 2-core AVX2 CPU (RTF near 0.1).
"""

from __future__ import annotations

import json
import wave
from pathlib import Path
from typing import Any

import numpy as np

from bench.results.schema import ResultRow

SAMPLE_RATE = 22_050
TEXTS = {"short": (40, 2.1), "medium": (180, 9.4), "long": (900, 46.0)}  # name: (chars, audio seconds)
# tier: (latency factor vs baseline, peak RSS MB, fidelity gate, fidelity pass)
TIERS: dict[str, tuple[float, float, str, bool]] = {
    "baseline": (1.00, 410.0, "exact", True),
    "optimized": (0.78, 380.0, "exact", True),
    "advanced": (0.55, 300.0, "int8", True),
    "baseline+compile": (0.86, 520.0, "exact", True),
    "baseline+int8": (1.40, 350.0, "int8", False),
    "advanced-streaming": (0.60, 360.0, "int8", True),
}
FIXED_S, PER_AUDIO_S = 0.08, 0.11  # baseline latency = fixed + per-audio-second cost


def _wav_bytes(seconds: float, freq: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 2.5 * t))  # syllable-like bursts
    tone = 0.3 * np.sin(2 * np.pi * freq * t) * envelope + 0.01 * rng.standard_normal(t.size)
    return (np.clip(tone, -1, 1) * 32767).astype(np.int16)


def write_wav(path: Path, seconds: float, freq: float = 180.0, seed: int = 0) -> Path:
    """Write a small 16-bit mono WAV (a voiced-like tone) and return its path."""
    pcm = _wav_bytes(seconds, freq, np.random.default_rng(seed))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())
    return path


def write_mprof(path: Path, peak_mb: float, seconds: float, t0: float, seed: int = 0) -> Path:
    """Write a memory_profiler timeline: a CMDLINE line, then `MEM <MB> <unix seconds>` at 100 Hz."""
    rng = np.random.default_rng(seed)
    n = max(int(seconds * 100), 10)
    ramp = np.minimum(np.linspace(0, 1.6, n), 1.0)
    mem = 60 + (peak_mb - 60) * ramp + rng.normal(0, 2, n)
    lines = ["CMDLINE python -m bench.worker"]
    lines += [f"MEM {m:.6f} {t0 + i / 100:.4f}" for i, m in enumerate(mem)]
    path.write_text("\n".join(lines) + "\n")
    return path


def synthetic_rows(
    run_id: str = "2024-05-01T12-00-00",
    host: str = "ci-runner-1",
    base_dir: Path | None = None,
    seed: int = 0,
    slowdown: float = 1.0,
    peers: bool = True,
    failures: bool = True,
) -> list[ResultRow]:
    """Rows of one sweep on one machine; files (WAV, mprof) are written under `base_dir` when given."""
    rng = np.random.default_rng(seed)
    env = {"torch": "2.13.0+cpu", "python": "3.11.9", "cpu_model": "AMD EPYC 7B13", "cpu_flags": "avx2 fma",
           "threads": 2, "os": "Linux 6.1"}
    rows: list[ResultRow] = []
    t0 = 1_714_564_800.0
    for tier, (factor, peak, gate, passes) in TIERS.items():
        for text, (chars, audio_s) in TEXTS.items():
            for workload, cached in (("single", None), ("stream", None), ("repeated", False), ("repeated", True)):
                if workload == "stream" and tier.startswith("baseline+"):
                    continue
                if workload == "repeated" and text != "medium":
                    continue
                lat = slowdown * factor * (FIXED_S + PER_AUDIO_S * audio_s)
                if cached:
                    lat = 0.002 + 0.0001 * audio_s
                cv = 0.18 if (tier == "optimized" and text == "short") else 0.03
                lats = [float(x) for x in np.abs(rng.normal(lat, cv * lat, 12))]
                i = len(rows)
                mprof = wav = None
                if base_dir is not None and workload == "single":
                    mprof = write_mprof(base_dir / f"mprof_{i}.dat", peak + 20 * audio_s / 46, 1.5, t0 + i, seed + i).name
                    if text == "short":
                        wav = write_wav(base_dir / f"sample_{i}.wav", min(audio_s, 6.0), 150 + 20 * i, seed + i).name
                stages = np.array([0.04, 0.12, 0.20, 0.64]) * lat
                rows.append(ResultRow(
                    run_id=run_id, config_id=f"{tier}-{text}-{workload}-{cached}", status="ok",
                    timestamp=t0 + i, host=host, tier=tier, hardware="cpu-all", device="cpu", threads=2,
                    model="joe-medium", text=text, text_chars=chars, workload=workload, cached=cached,
                    load_s=0.7, first_call_s=lat * 1.5, rounds=len(lats),
                    latency_mean_s=float(np.mean(lats)), latency_std_s=float(np.std(lats)),
                    latency_cv=float(np.std(lats) / np.mean(lats)), latency_p50_s=float(np.median(lats)),
                    latency_p90_s=float(np.percentile(lats, 90)), latency_p99_s=float(np.percentile(lats, 99)),
                    latencies_s=lats, noisy=bool(np.std(lats) / np.mean(lats) > 0.10), audio_s=audio_s,
                    rtf=float(np.median(lats) / audio_s), throughput_audio_s_per_s=float(audio_s / np.median(lats)),
                    throughput_chars_per_s=float(chars / np.median(lats)),
                    ttfa_s=(0.05 + 0.02 * factor) if workload == "stream" else None,
                    stage_frontend_s=float(stages[0]), stage_encoder_s=float(stages[1]),
                    stage_flow_s=float(stages[2]), stage_decoder_s=float(stages[3]),
                    peak_rss_mb=peak + 20 * audio_s / 46, max_rss_mb=peak + 25, mprof_file=mprof,
                    flops_per_audio_s=5.3e9, achieved_gflops=5.3 * audio_s / float(np.median(lats)), peak_gflops=110.0,
                    fid_frames_equal=True, fid_snr_db=None if gate != "exact" else 72.0,
                    fid_max_abs=2e-4 if gate == "exact" else 0.02, fid_mcd_db=0.02 if gate == "exact" else (0.6 if passes else 1.4),
                    fid_spec_corr=0.999 if passes else 0.93, fid_gate=gate, fid_pass=None if tier == "baseline" else passes,
                    sample_wav=wav, env=env,
                ))
    if failures:
        rows.append(ResultRow(run_id=run_id, config_id="advanced-long-cuda", status="skipped", host=host,
                              tier="advanced", hardware="cuda", model="joe-medium", text="long", workload="single",
                              reason="cuda not available", timestamp=t0 + 500, env=env))
        rows.append(ResultRow(run_id=run_id, config_id="baseline+fp16-medium", status="failed", host=host,
                              tier="baseline+fp16", hardware="cpu-all", model="joe-medium", text="medium",
                              workload="single", error="TimeoutError: worker exceeded 600 s", timestamp=t0 + 501, env=env))
    if peers:
        for text, (chars, audio_s) in TEXTS.items():
            lat = slowdown * 0.85 * (0.05 + 0.11 * audio_s)
            lats = [float(x) for x in np.abs(rng.normal(lat, 0.03 * lat, 8))]
            rows.append(ResultRow(
                run_id=run_id, config_id=f"peer-{text}", status="ok", host=host, engine="piper-onnxruntime",
                tier="reference", hardware="cpu-all", device="cpu", model="joe-medium", text=text, text_chars=chars,
                workload="single", rounds=len(lats), latencies_s=lats, latency_p50_s=float(np.median(lats)),
                latency_mean_s=float(np.mean(lats)), latency_cv=float(np.std(lats) / np.mean(lats)),
                audio_s=audio_s, rtf=float(np.median(lats) / audio_s), peak_rss_mb=240.0, timestamp=t0 + 600, env=env,
            ))
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
