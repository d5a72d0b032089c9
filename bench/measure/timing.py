"""The timing pass: one round per workload, and a steady state that runs until both a minimum number
of rounds and a minimum duration are met. CUDA is synchronized before every clock read."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from tts_core.audio import Audio

from bench.engines.base import BenchEngine
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
    chunk_gaps_s: list[float] = field(default_factory=list)  # stream: time between chunk arrivals
    underruns: Optional[int] = None  # stream: chunks that arrived after the audio before them ran out

    @property
    def audio_s(self) -> float:
        return self.audio.duration


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
        return RoundResult(latency, audio, arrivals[0] if arrivals else None, gaps, underruns)
    raise ValueError(f"`workload.name` = {name!r} is not a workload; expected single, batch, stream or repeated.")


def steady_state(
    one_round: Callable[[], RoundResult],
    *,
    min_rounds: int,
    min_duration_s: float,
    max_rounds: int,
    before_round: Optional[Callable[[], None]] = None,
) -> list[RoundResult]:
    """Rounds until at least `min_rounds` ran and `min_duration_s` of timed work passed (at most `max_rounds`).
    `before_round` (clearing a cache, say) runs outside the timed region."""
    results: list[RoundResult] = []
    spent = 0.0
    while len(results) < max_rounds and (len(results) < min_rounds or spent < min_duration_s):
        if before_round is not None:
            before_round()
        result = one_round()
        results.append(result)
        spent += result.latency_s
    return results
