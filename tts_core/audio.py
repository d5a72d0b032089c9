"""`Audio`: a chunk of mono float32 audio with its sample rate, and WAV output."""

from __future__ import annotations

import wave
from dataclasses import dataclass, field
from os import PathLike
from typing import Iterable

import numpy as np


@dataclass(frozen=True)
class Audio:
    """Mono audio. `samples` is float32 in [-1, 1], `sample_rate` in Hz."""

    samples: np.ndarray
    sample_rate: int
    text: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32).reshape(-1)
        object.__setattr__(self, "samples", samples)
        if self.sample_rate <= 0:
            raise ValueError(f"Audio: `sample_rate` = {self.sample_rate!r}; expected a positive integer.")

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate

    def to_int16(self) -> np.ndarray:
        """Samples as 16-bit PCM, clipped to the int16 range."""
        return (np.clip(self.samples, -1.0, 1.0) * 32767.0).astype(np.int16)

    def save_wav(self, path: str | PathLike[str]) -> None:
        """Write a 16-bit PCM mono WAV file."""
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.sample_rate)
            wav.writeframes(self.to_int16().tobytes())

    @staticmethod
    def concat(chunks: Iterable["Audio"], sample_rate: int | None = None) -> "Audio":
        """Join chunks end to end; `sample_rate` is used when `chunks` is empty."""
        chunks = list(chunks)
        if not chunks:
            if sample_rate is None:
                raise ValueError("Audio.concat: no chunks and no `sample_rate` given.")
            return Audio(np.zeros(0, np.float32), sample_rate)
        rate = chunks[0].sample_rate
        if any(c.sample_rate != rate for c in chunks):
            raise ValueError("Audio.concat: chunks have different sample rates.")
        return Audio(np.concatenate([c.samples for c in chunks]), rate, " ".join(c.text for c in chunks if c.text))
