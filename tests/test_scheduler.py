"""The deadline scheduler on fake streams (generators of chunks with scripted work and audio seconds) and a
scripted clock: which stream's chunk is made next is read from the order of events, never from wall time."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pytest

from tts_core.audio import Audio
from tts_core.runtime.dispatch import BatchPolicy, Dispatcher
from tts_core.runtime.scheduler import DeadlineScheduler, ScheduledStream
from tts_core.serve.worker import DONE, EngineWorker, SpeechJob

TARGET_S = 0.3  # the first-audio target of these tests


class Clock:
    """Seconds that move only when a fake chunk is made (its scripted work)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake(name: str, chunks: list[tuple[float, float]], clock: Clock, log: list[str],
         closed: list[str] | None = None) -> Iterator[float]:
    """A stream whose chunk i takes chunks[i][0] seconds of work and holds chunks[i][1] seconds of audio; each
    chunk made is logged as `name<i>`."""
    try:
        for i, (work_s, audio_s) in enumerate(chunks):
            clock.now += work_s
            log.append(f"{name}{i}")
            yield audio_s
    finally:
        if closed is not None:
            closed.append(name)


@pytest.mark.parametrize("a_first_audio_s, order", [
    (1.0, ["a0", "b0", "a1"]),  # a1 due at 1.05, not yet: the new request's first chunk (due 0.4) goes first
    (0.2, ["a0", "a1", "b0"]),  # a's listener runs out at 0.25, before b0 is due at 0.4: a1 goes first
])
def test_the_chunk_due_soonest_goes_first(a_first_audio_s: float, order: list[str]) -> None:
    clock, log = Clock(), []
    s = DeadlineScheduler(TARGET_S, clock)
    s.add(ScheduledStream(fake("a", [(0.05, a_first_audio_s), (0.05, 1.0)], clock, log), arrived_s=0.0))
    s.step()  # a0 sent at 0.05: a1 is due at 0.05 + a's first audio seconds
    clock.now = 0.1
    s.add(ScheduledStream(fake("b", [(0.05, 1.0)], clock, log), arrived_s=0.1))  # b0 due at 0.1 + 0.3
    while s.step() is not None:
        pass
    assert log == order


def test_on_a_tie_first_chunks_go_first_then_arrival_order() -> None:
    clock, log = Clock(), []
    s = DeadlineScheduler(0.0, clock)
    s.add(ScheduledStream(fake("a", [(0.0, 0.0), (0.0, 0.0)], clock, log), arrived_s=0.0))
    s.step()  # a1 due at 0.0, as are the first chunks of b and c
    s.add(ScheduledStream(fake("b", [(0.0, 1.0)], clock, log), arrived_s=0.0))
    s.add(ScheduledStream(fake("c", [(0.0, 1.0)], clock, log), arrived_s=0.0))
    while s.step() is not None:
        pass
    assert log == ["a0", "b0", "c0", "a1"]


def test_a_cancelled_stream_stops_between_chunks() -> None:
    clock, log, closed, dropped = Clock(), [], [], []
    cancelled = False
    s = DeadlineScheduler(TARGET_S, clock)
    s.add(ScheduledStream(fake("a", [(0.05, 0.1)] * 5, clock, log, closed), arrived_s=0.0,
                          cancelled=lambda: cancelled, on_cancel=lambda: dropped.append("a")))
    s.step()
    cancelled = True  # the client leaves after its first chunk
    assert s.step() is None and len(s) == 0
    assert log == ["a0"] and closed == ["a"] and dropped == ["a"]


def test_a_stream_that_raises_is_dropped_and_the_others_go_on() -> None:
    clock, log = Clock(), []

    def broken() -> Iterator[float]:
        raise RuntimeError("boom")
        yield 0.0  # a generator

    s = DeadlineScheduler(TARGET_S, clock)
    s.add(ScheduledStream(broken(), arrived_s=0.0))
    s.add(ScheduledStream(fake("b", [(0.05, 1.0)], clock, log), arrived_s=0.0))
    while s.step() is not None:
        pass
    assert log == ["b0"]


class WordEngine:
    """Streams a text as one chunk per word, 0.1 s of audio each."""

    def stream(self, text: str, length_scale: float = 1.0) -> Iterator[Audio]:
        for word in text.split():
            yield Audio(np.full(2205, 0.5, np.float32), 22050, word)


def test_the_worker_s_streams_interleave_under_the_scheduler() -> None:
    clock, out = Clock(), []
    worker, s = EngineWorker(WordEngine()), DeadlineScheduler(0.0, clock)  # first chunks due at once
    for name, text in (("a", "one two three"), ("b", "four five")):
        s.add(worker.open(SpeechJob(text, 1.0, deliver=lambda item, n=name: out.append(n if item is not DONE
                                                                                      else f"{n} done"),
                                    arrived_s=0.0)))
    while s.step() is not None:  # no work time: every chunk is sent at 0.0, deadlines follow the audio sent
        pass
    assert out == ["a", "b", "a", "b", "a", "b done", "a done"]


def test_the_deadline_policy_needs_a_stream_per_job_and_names_the_allowed_policies() -> None:
    with pytest.raises(ValueError, match="open_stream"):
        Dispatcher(lambda group: None, BatchPolicy(policy="deadline"))
    with pytest.raises(ValueError, match="batch, deadline"):
        BatchPolicy(policy="fifo")


def test_the_deadline_dispatcher_serves_every_job() -> None:
    engine, outs = WordEngine(), [[], [], []]
    worker = EngineWorker(engine)
    d: Dispatcher[SpeechJob] = Dispatcher(worker, BatchPolicy(policy="deadline", max_batch=2), open_stream=worker.open)
    for out, text in zip(outs, ("one two", "three", "four five six")):
        d.submit(SpeechJob(text, 1.0, deliver=out.append))
    d.close(timeout_s=60)
    assert [len(o) for o in outs] == [3, 2, 4] and all(o[-1] is DONE for o in outs)
