"""Audio fidelity of a candidate against a reference (the fp32 baseline with noise zeroed).

Every figure here costs milliseconds, so every tier and switch can be gated on it:
waveform SNR and max abs error (exact fp32 optimizations), log-mel L1, mel-cepstral distortion (MCD),
spectral correlation and silence floor (reduced precision). Thresholds follow the project's reference
facts: exact >= 60 dB SNR; FP16/BF16 log-mel L1 <= 0.05, MCD <= 0.3 dB, correlation >= 0.995;
INT8 MCD <= 1.0 dB, correlation >= 0.95, silence floor within 10 dB.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.fft import dct

N_FFT = 1024
HOP = 256
N_MELS = 80
N_MFCC = 13
DYNAMIC_RANGE = 1e-4  # mel magnitudes are floored 80 dB below the reference peak
ENERGY_FLOOR = 1e-10  # -100 dB: digital silence

GATES: dict[str, dict[str, tuple[str, float]]] = {
    # metric -> (comparison, limit); frame counts must always be equal
    "exact": {"snr_db": (">=", 60.0), "max_abs": ("<=", 1e-3)},
    "half": {"logmel_l1": ("<=", 0.05), "mcd_db": ("<=", 0.3), "spec_corr": (">=", 0.995)},
    "int8": {"mcd_db": ("<=", 1.0), "spec_corr": (">=", 0.95), "silence_floor_db": ("<=", 10.0)},
}


@dataclass(frozen=True)
class FidelityResult:
    """Figures of one comparison. `silence_floor_db` is candidate floor minus reference floor."""

    frames_equal: bool
    snr_db: float
    max_abs: float
    logmel_l1: float
    mcd_db: float
    spec_corr: float
    silence_floor_db: float

    def failures(self, gate: str) -> list[str]:
        """Human-readable reasons this result fails `gate` ("exact", "half", "int8"); [] if it passes."""
        if gate not in GATES:
            raise ValueError(f"fidelity: `gate` = {gate!r}; expected one of {', '.join(GATES)}.")
        out = [] if self.frames_equal else ["frame counts differ"]
        for metric, (op, limit) in GATES[gate].items():
            value = getattr(self, metric)
            ok = value >= limit if op == ">=" else value <= limit
            if not ok or np.isnan(value):
                out.append(f"{metric} = {value:.4g} (needs {op} {limit:g})")
        return out

    def passes(self, gate: str) -> bool:
        return not self.failures(gate)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@lru_cache(maxsize=4)
def _mel_basis(sample_rate: int) -> np.ndarray:
    """(N_MELS, N_FFT//2+1) triangular filters on the HTK mel scale."""

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    freqs = np.linspace(0, sample_rate / 2, N_FFT // 2 + 1)
    mels = np.linspace(hz_to_mel(np.array(0.0)), hz_to_mel(np.array(sample_rate / 2)), N_MELS + 2)
    edges = mel_to_hz(mels)
    lower = (freqs[None, :] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    upper = (edges[2:, None] - freqs[None, :]) / (edges[2:, None] - edges[1:-1, None])
    return np.maximum(0.0, np.minimum(lower, upper))


def _magnitude(x: np.ndarray) -> np.ndarray:
    """(frames, N_FFT//2+1) magnitude spectrogram, Hann window."""
    if len(x) < N_FFT:
        x = np.pad(x, (0, N_FFT - len(x)))
    n = 1 + (len(x) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    return np.abs(np.fft.rfft(x[idx] * np.hanning(N_FFT)[None, :], axis=1))


def _mel(x: np.ndarray, sample_rate: int) -> np.ndarray:
    return _magnitude(x) @ _mel_basis(sample_rate).T  # (frames, N_MELS)


def mel_cepstrum(log_mel: np.ndarray) -> np.ndarray:
    """(frames, N_MFCC) cepstral coefficients c1..c13 of a natural-log mel spectrum, scaled as the real
    cepstrum (log|X| = c0 + 2 * sum c_n cos(...)), the scale the usual MCD formula
    10/ln(10) * sqrt(2 * sum (c - c')^2) assumes. c0 (overall gain) is left out."""
    m = log_mel.shape[1]
    return dct(log_mel, type=2, axis=1)[:, 1 : N_MFCC + 1] / (2 * m)


def _floor_db(x: np.ndarray, quiet_frames: np.ndarray) -> float:
    """Mean energy in dB of the given frames (the reference's quietest)."""
    frames = np.lib.stride_tricks.sliding_window_view(x, HOP)[::HOP][: len(quiet_frames)]
    energy = np.mean(frames[quiet_frames[: len(frames)]] ** 2) if len(frames) else 0.0
    return float(10 * np.log10(max(energy, ENERGY_FLOOR)))


def compare(reference: np.ndarray, candidate: np.ndarray, sample_rate: int) -> FidelityResult:
    """Compare two mono float waveforms. Lengths may differ: then `frames_equal` is False and
    the figures are taken over the common prefix."""
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    cand = np.asarray(candidate, dtype=np.float64).reshape(-1)
    frames_equal = len(ref) == len(cand)
    n = min(len(ref), len(cand))
    ref, cand = ref[:n], cand[:n]
    if n == 0:
        nan = float("nan")
        return FidelityResult(frames_equal and n == 0, nan, nan, nan, nan, nan, nan)

    err = ref - cand
    noise = float(np.sum(err**2))
    snr_db = float("inf") if noise == 0 else float(10 * np.log10(np.sum(ref**2) / noise + 1e-300))
    max_abs = float(np.max(np.abs(err)))

    mel_r, mel_c = _mel(ref, sample_rate), _mel(cand, sample_rate)
    floor = max(float(mel_r.max()) * DYNAMIC_RANGE, 1e-8)
    mel_r, mel_c = np.log(np.maximum(mel_r, floor)), np.log(np.maximum(mel_c, floor))
    logmel_l1 = float(np.mean(np.abs(mel_r - mel_c)))
    cep_r, cep_c = mel_cepstrum(mel_r), mel_cepstrum(mel_c)
    mcd_db = float(np.mean(10.0 / np.log(10) * np.sqrt(2.0 * np.sum((cep_r - cep_c) ** 2, axis=1))))
    flat_r, flat_c = mel_r.ravel(), mel_c.ravel()
    spec_corr = 1.0 if np.allclose(flat_r, flat_c) else float(np.corrcoef(flat_r, flat_c)[0, 1])

    energy = np.mean(np.lib.stride_tricks.sliding_window_view(ref, HOP)[::HOP] ** 2, axis=1)
    quiet = np.zeros(len(energy), dtype=bool)
    quiet[np.argsort(energy)[: max(1, len(energy) // 10)]] = True
    silence_floor_db = _floor_db(cand, quiet) - _floor_db(ref, quiet)
    return FidelityResult(frames_equal, snr_db, max_abs, logmel_l1, mcd_db, spec_corr, silence_floor_db)
