"""`EngineWorker`: the dispatcher's handler, the only code that touches the engine.

A request served alone is streamed (`Engine.stream`): each chunk goes to its client as soon as it is
made, and a cancelled request (its client went away) stops between chunks. Under the `deadline` policy every
request is such a stream (`open`), and the dispatcher's scheduler steps them one chunk at a time. Under `batch`,
requests served together go through one `Engine.synthesize_batch` (tiers that batch or have worker processes);
each gets its whole audio as one chunk when the batch returns. If the batch fails on bad text, its requests are
served one by one, so only the bad one gets the error.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from tts_core.errors import TextError
from tts_core.runtime.scheduler import ScheduledStream

log = logging.getLogger("tts_core.serve")
DONE = object()  # delivered after a request's last chunk


@dataclass(eq=False)  # identity, not value: the queue withdraws this very job
class SpeechJob:
    """One request on its way through the dispatcher. `deliver` is thread-safe and receives 16-bit PCM
    bytes, then `DONE` or an exception."""

    text: str
    length_scale: float
    deliver: Callable[[object], None]
    arrived_s: float = field(default_factory=time.perf_counter)
    cancelled: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class EngineFacts:
    """What the server tells clients about its engine: the voice's name, the tier's name, the sample rate (Hz) and
    the voice's own `length_scale` (a request's speed divides it). Picklable: engine processes send it."""

    voice: str
    tier: str
    sample_rate: int
    length_scale: float

    @classmethod
    def of(cls, engine: Any) -> "EngineFacts":
        """The facts of a loaded `Engine`."""
        return cls(engine.voice.name, engine.tier.name, engine.sample_rate, engine.voice.length_scale)


class EngineWorker:
    """Serves groups of `SpeechJob`s on one engine (called from the dispatcher's one thread)."""

    def __init__(self, engine: Any, on_batch: Callable[[int], None] = lambda n: None) -> None:
        self.engine = engine
        self.cancelled_streams = 0  # syntheses stopped early or never started because the client left
        self._on_batch = on_batch
        self._count_lock = threading.Lock()

    def count_cancelled(self, n: int = 1) -> None:
        """Count `n` syntheses stopped or dropped because their client left (thread-safe)."""
        with self._count_lock:
            self.cancelled_streams += n

    def __call__(self, batch: list[SpeechJob]) -> None:
        live = [j for j in batch if not j.cancelled.is_set()]
        self.count_cancelled(len(batch) - len(live))
        # one synthesize_batch call takes one set of scales, so only requests of the same speed go together
        for _, group in itertools.groupby(sorted(live, key=lambda j: j.length_scale), key=lambda j: j.length_scale):
            jobs = list(group)
            self._on_batch(len(jobs))
            if len(jobs) == 1:
                self._stream(jobs[0])
            else:
                self._batch(jobs)
        self._housekeep()

    def open(self, job: SpeechJob) -> ScheduledStream:
        """`job` as a stream the dispatcher's deadline scheduler steps one chunk at a time (housekeeping, when the
        engine asks for it, after its last chunk)."""
        self._on_batch(1)
        return ScheduledStream(self._steps_then_housekeep(job), job.arrived_s, job.cancelled.is_set,
                               self.count_cancelled)

    def _steps_then_housekeep(self, job: SpeechJob) -> Iterator[float]:
        yield from self._steps(job)
        self._housekeep()

    def _housekeep(self) -> None:
        if getattr(self.engine, "pending_housekeeping", False):
            self.engine.housekeep()  # between requests, as the engine asks: no request pays for it mid-stream

    def _stream(self, job: SpeechJob) -> None:
        steps = self._steps(job)
        try:
            for _ in steps:
                if job.cancelled.is_set():
                    self.count_cancelled()
                    return
        finally:
            steps.close()

    def _steps(self, job: SpeechJob) -> Iterator[float]:
        """Stream `job`: each `next()` makes one chunk and delivers it, returning its audio seconds; then `DONE`
        (or the error)."""
        if job.cancelled.is_set():
            self.count_cancelled()
            return
        try:
            chunks = self.engine.stream(job.text, length_scale=job.length_scale)
            try:
                for chunk in chunks:
                    job.deliver(chunk.to_int16().tobytes())
                    yield chunk.duration
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
            job.deliver(DONE)
        except Exception as exc:  # noqa: BLE001 - the client gets it as its answer; the server goes on
            if not isinstance(exc, TextError):
                log.exception("synthesis failed")
            job.deliver(exc)

    def _batch(self, jobs: list[SpeechJob]) -> None:
        try:
            audios = self.engine.synthesize_batch([j.text for j in jobs], length_scale=jobs[0].length_scale)
        except TextError:
            for job in jobs:  # find the bad text: each request alone, so the others still get audio
                self._stream(job)
            return
        except Exception as exc:  # noqa: BLE001
            log.exception("batch synthesis of %d requests failed", len(jobs))
            for job in jobs:
                job.deliver(exc)
            return
        for job, audio in zip(jobs, audios):
            if job.cancelled.is_set():
                self.count_cancelled()
                continue
            job.deliver(audio.to_int16().tobytes())
            job.deliver(DONE)
