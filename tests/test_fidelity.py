"""The fidelity metrics: definitions pinned on signals whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from tts_core.fidelity import N_MELS, compare, mel_cepstrum


def _speechlike(seconds: float = 1.0, sr: int = 22050, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate((140, 280, 420, 1100, 2300)))
    return (0.2 * x * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)) + 1e-3 * rng.standard_normal(len(t))).astype(np.float32)


def test_identical_signals_are_perfect():
    x = _speechlike()
    r = compare(x, x, 22050)
    assert r.frames_equal and r.snr_db == float("inf") and r.max_abs == 0 and r.mcd_db == 0 and r.spec_corr == 1


def test_snr_of_known_noise():
    x = _speechlike()
    noise = np.random.default_rng(1).standard_normal(len(x)).astype(np.float32)
    noise *= np.sqrt(np.mean(x**2) / np.mean(noise**2)) * 10 ** (-30 / 20)  # 30 dB below the signal
    assert compare(x, x + noise, 22050).snr_db == pytest.approx(30, abs=0.1)


def test_cepstrum_has_the_real_cepstrum_scale():
    n, a = 3, 0.25
    k = np.arange(N_MELS)
    log_mel = 1.0 + 2 * a * np.cos(np.pi * n * (2 * k + 1) / (2 * N_MELS))
    c = mel_cepstrum(log_mel[None, :])[0]
    assert c[n - 1] == pytest.approx(a, rel=1e-6)
    assert np.abs(np.delete(c, n - 1)).max() < 1e-9


def test_mcd_ignores_gain_and_sees_spectral_change():
    x = _speechlike()
    assert compare(x, 0.5 * x, 22050).mcd_db < 0.05  # c0 (gain) is excluded
    from scipy.signal import lfilter

    muffled = lfilter([0.5, 0.5], [1.0], x).astype(np.float32)  # a low-pass changes the envelope
    assert compare(x, muffled, 22050).mcd_db > 0.3


def test_frame_count_mismatch_fails_every_gate():
    x = _speechlike()
    r = compare(x, x[:-512], 22050)
    assert not r.frames_equal
    assert all("frame counts differ" in r.failures(g) for g in ("exact", "half", "int8"))


def test_added_hiss_raises_the_silence_floor():
    x = _speechlike(2.0)
    x[: len(x) // 2] *= 1e-3  # a pause
    hiss = 0.01 * np.random.default_rng(2).standard_normal(len(x)).astype(np.float32)
    r = compare(x, x + hiss, 22050)
    assert r.silence_floor_db > 10 and "silence_floor_db" in " ".join(r.failures("int8"))
