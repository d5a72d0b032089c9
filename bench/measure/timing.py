"""One timed round of a workload, run inside a contender's worker: `stream` (time to first audio, gaps
between chunks, underruns, total), `single`, `batch` or `repeated`. CUDA is synchronized before every
clock read."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from tts_core.audio import Audio

from bench.engines.base import BenchEngine
from bench.measure.audible import first_audible_s

ZERO_NOISE = {"noise_scale": 0.0, "noise_w": 0.0}  # deterministic output, for the fidelity gate
from bench.texts import split_sentences


def sync(device: str) -> None:
    """Wait for queued GPU work, so the clock reads the time the work took."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


@dataclass
class RoundResult:
    """One round of a workload: wall seconds, the audio it produced, and streaming figures."""

    latency_s: float
    audio: Audio
    ttfa_s: Optional[float] = None  # stream: time to the first chunk
    first_audible_s: Optional[float] = None  # stream: time to the first chunk holding audible sound (`audible`)
    chunk_gaps_s: list[float] = field(default_factory=list)  # stream: time between chunk arrivals
    underruns: Optional[int] = None  # stream: chunks that arrived after the audio before them ran out

    @property
    def audio_s(self) -> float:
        return self.audio.duration

    def figures(self) -> dict[str, Any]:
        """The round's figures without its audio (what crosses the worker's pipe): seconds, and RTF."""
        return {"latency_s": self.latency_s, "audio_s": self.audio_s,
                "rtf": self.latency_s / self.audio_s if self.audio_s > 0 else None,
                "ttfa_s": self.ttfa_s, "first_audible_s": self.first_audible_s, "chunk_gaps_s": list(self.chunk_gaps_s), "underruns": self.underruns}


def stream_figures(arrivals_s: list[float], durations_s: list[float]) -> tuple[list[float], int]:
    """Gaps between chunk arrivals, and underruns: playback starts when the first chunk arrives, and chunk
    i underruns if it arrives after the audio of chunks 0..i-1 has finished playing."""
    gaps = [b - a for a, b in zip(arrivals_s, arrivals_s[1:])]
    underruns, due = 0, arrivals_s[0] if arrivals_s else 0.0
    for i in range(1, len(arrivals_s)):
        due += durations_s[i - 1]
        underruns += arrivals_s[i] > due
    return gaps, underruns


def run_round(engine: BenchEngine, workload: dict, text: str, device: str, **scales: Optional[float]) -> RoundResult:
    """Run one round of `workload` (single, batch, stream, repeated) on `text` and time it."""
    name = workload["name"]
    sync(device)
    t0 = time.perf_counter()
    if name in ("single", "repeated"):
        audio = engine.synthesize(text, **scales)
        sync(device)
        return RoundResult(time.perf_counter() - t0, audio)
    if name == "batch":
        sentences, size = split_sentences(text) or [text], int(workload.get("batch_size", 8))
        audios: list[Audio] = []
        for start in range(0, len(sentences), size):
            audios.extend(engine.synthesize_batch(sentences[start : start + size], **scales))
        sync(device)
        return RoundResult(time.perf_counter() - t0, Audio.concat(audios, engine.sample_rate))
    if name == "stream":
        chunks, arrivals = [], []
        for chunk in engine.stream(text, **scales):
            sync(device)
            arrivals.append(time.perf_counter() - t0)
            chunks.append(chunk)
        latency = time.perf_counter() - t0
        gaps, underruns = stream_figures(arrivals, [c.duration for c in chunks])
        audio = Audio.concat(chunks, engine.sample_rate)
        audible = first_audible_s(arrivals, [c.samples for c in chunks], engine.sample_rate)
        return RoundResult(latency, audio, arrivals[0] if arrivals else None, audible, gaps, underruns)
    raise ValueError(f"`workload.name` = {name!r} is not a workload; expected single, batch, stream or repeated.")
