"""Audio as the quality models want it: mono float32 in [-1, 1] at 16 kHz, and its content hash."""

from __future__ import annotations

import hashlib
from math import gcd
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

DNSMOS_RATE = 16_000  # Hz, the rate DNSMOS and Whisper both take


def as_mono(samples: np.ndarray) -> np.ndarray:
    """Samples as a 1-D float32 array clipped to [-1, 1]; raises ValueError for anything but 1-D audio."""
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim == 2 and 1 in audio.shape:
        audio = audio.reshape(-1)
    if audio.ndim != 1:
        raise ValueError(f"`samples` must be mono audio of shape (n,); got shape {audio.shape}.")
    if not np.all(np.isfinite(audio)):
        raise ValueError("`samples` holds NaN or infinite values; expected finite floats in [-1, 1].")
    return np.clip(audio, -1.0, 1.0)


def to_rate(samples: np.ndarray, rate: int, target: int = DNSMOS_RATE) -> np.ndarray:
    """Mono audio (n,) at `rate` Hz resampled to `target` Hz (polyphase, scipy), float32 in [-1, 1]."""
    if not isinstance(rate, int) or rate <= 0:
        raise ValueError(f"`sample_rate` = {rate!r} is not allowed; expected a positive integer (Hz).")
    audio = as_mono(samples)
    if rate == target:
        return audio
    g = gcd(rate, target)
    out = resample_poly(audio, target // g, rate // g).astype(np.float32)  # (n * target / rate,)
    return np.clip(out, -1.0, 1.0)


def audio_key(samples: np.ndarray, rate: int, model_ids: str) -> str:
    """sha256 of the float32 sample bytes, the rate and the scoring models' ids: the score cache's key."""
    h = hashlib.sha256(np.ascontiguousarray(samples, dtype=np.float32).tobytes())
    h.update(f"|{rate}|{model_ids}".encode())
    return h.hexdigest()


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A mono 16-bit or 32-bit-float PCM WAV as (float32 samples in [-1, 1], sample rate in Hz)."""
    from scipy.io import wavfile

    rate, data = wavfile.read(str(path))
    if data.dtype == np.int16:
        data = data.astype(np.float32) / 32768.0
    elif data.dtype != np.float32:
        raise ValueError(f"`{path}` holds {data.dtype} samples; expected 16-bit PCM or 32-bit float.")
    return as_mono(data), int(rate)
