"""Fidelity against the fp32 baseline with noise zeroed: the reference audio (cached on disk per
engine, model, text and code version) and the comparison with `tts_core.fidelity`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bench.texts import text_sha

ZERO_NOISE = {"noise_scale": 0.0, "noise_w": 0.0}
BASELINE_TIER = "baseline"


def reference_path(cache_dir: Path, engine: str, model: str, text: str, code_version: str) -> Path:
    return cache_dir / "fidelity" / f"{engine}-{model}-{text_sha(text)}-{code_version}.npy"


def save_reference(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, np.asarray(samples, dtype=np.float32))
    os.replace(tmp, path)


def reference_audio(path: Path, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The cached reference at `path`, or `compute()` it (baseline tier, fp32, CPU, noise zeroed) and cache it."""
    if path.exists():
        return np.load(path, allow_pickle=False)
    samples = np.asarray(compute(), dtype=np.float32)
    save_reference(path, samples)
    return samples


def fidelity_figures(reference: np.ndarray, candidate: np.ndarray, sample_rate: int, gate: str) -> dict[str, Any]:
    """The `fid_*` fields of a result row, and the gate's failures (empty when it passes)."""
    from tts_core.fidelity import compare

    result = compare(reference, candidate, sample_rate)
    failures = result.failures(gate)
    return {
        "fid_frames_equal": bool(result.frames_equal),
        "fid_snr_db": float(result.snr_db),
        "fid_max_abs": float(result.max_abs),
        "fid_logmel_l1": float(result.logmel_l1),
        "fid_mcd_db": float(result.mcd_db),
        "fid_spec_corr": float(result.spec_corr),
        "fid_silence_floor_db": float(result.silence_floor_db),
        "fid_gate": gate,
        "fid_pass": not failures,
        "failures": failures,
    }
