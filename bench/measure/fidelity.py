"""Fidelity against the reference contender's noise-free audio (its engine's fp32 baseline on the same device),
with the gate of the candidate's kind (`tts_core.fidelity`: exact, half, int8)."""

from __future__ import annotations

from typing import Any

import numpy as np


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
