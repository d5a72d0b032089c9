"""The dispatcher shared by the HTTP server and the LoadGen SUT, the server's engine worker and its config."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest

from tts_core.audio import Audio
from tts_core.errors import ConfigError, EmptyTextError
from tts_core.runtime.dispatch import BatchPolicy, BatchQueue, Dispatcher, QueueFullError
from tts_core.serve.config import ServeConfig
from tts_core.serve.worker import DONE, EngineWorker, SpeechJob


def test_a_batching_policy_takes_what_waits_up_to_max_batch() -> None:
    q: BatchQueue[int] = BatchQueue()
    for i in range(5):
        q.put(i)
    assert q.take(BatchPolicy(enabled=True, max_batch=3)) == [0, 1, 2]
    assert q.take(BatchPolicy(enabled=False, max_batch=3)) == [3]


HANG_GUARD_S = 60.0  # only ever reached when the code under test hangs; no test passes or fails on speed


class _SpyCondition(threading.Condition):
    """A `BatchQueue`'s condition that records each timed wait and says when the taker is waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[float | None] = []
        self.waiting = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.timeouts.append(timeout)
        self.waiting.set()
        return super().wait(timeout)


def _spied(q: BatchQueue[int]) -> _SpyCondition:
    spy = _SpyCondition()
    q._cond = spy  # the queue's only lock and signal; nothing holds the old one here
    return spy


def test_the_first_job_waits_max_wait_for_company() -> None:
    q: BatchQueue[int] = BatchQueue()
    spy = _spied(q)
    q.put(0)
    taken: list[list[int] | None] = []
    taker = threading.Thread(target=lambda: taken.append(q.take(BatchPolicy(enabled=True, max_batch=2,
                                                                            max_wait_s=HANG_GUARD_S))))
    taker.start()
    while not spy.waiting.wait(0.01) and taker.is_alive():  # the taker holds job 0 and waits for company
        pass
    q.put(1)
    taker.join(HANG_GUARD_S)
    assert taken == [[0, 1]]  # back as soon as max_batch jobs are in hand, not after max_wait_s


def test_with_no_company_the_first_job_goes_alone_after_max_wait() -> None:
    q: BatchQueue[int] = BatchQueue()
    spy = _spied(q)
    q.put(2)
    assert q.take(BatchPolicy(enabled=True, max_batch=4, max_wait_s=0.1)) == [2]
    timed = [t for t in spy.timeouts if t is not None]
    assert timed and all(0 < t <= 0.1 for t in timed)  # it waited for company, for max_wait_s at most
    spy.timeouts.clear()
    q.put(3)
    assert q.take(BatchPolicy(enabled=True, max_batch=4, max_wait_s=0.0)) == [3] and spy.timeouts == []
    q.put(4)
    assert q.take(BatchPolicy(enabled=False, max_wait_s=1.0)) == [4] and spy.timeouts == []


def test_a_full_queue_refuses_at_once_and_a_withdrawn_job_is_never_served() -> None:
    q: BatchQueue[str] = BatchQueue(max_queue=2)
    q.put("a"), q.put("b")
    with pytest.raises(QueueFullError, match="max_queue = 2"):
        q.put("c")
    assert q.withdraw("a") and not q.withdraw("a") and len(q) == 1
    q.put("c")
    q.close()
    assert q.take(BatchPolicy(enabled=True)) == ["b", "c"] and q.take(BatchPolicy()) is None


def test_the_dispatcher_survives_a_handler_that_raises() -> None:
    seen: list[list[int]] = []

    def handle(batch: list[int]) -> None:
        seen.append(batch)
        if batch == [0]:
            raise RuntimeError("boom")

    d: Dispatcher[int] = Dispatcher(handle, BatchPolicy())
    d.submit(0), d.submit(1)
    d.close(timeout_s=5)
    assert seen == [[0], [1]]


class FakeEngine:
    """Streams a text as one chunk per word; batches record their sizes; "" raises like the engine."""

    tier = None

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.chunks_made = 0

    def stream(self, text: str, length_scale: float = 1.0) -> Any:
        if not text:
            raise EmptyTextError("The text is empty.")
        for word in text.split():
            self.chunks_made += 1
            yield Audio(np.full(len(word), 0.5, np.float32), 22050)

    def synthesize_batch(self, texts: list[str], length_scale: float = 1.0) -> list[Audio]:
        if not all(texts):
            raise EmptyTextError("The text is empty.")
        self.batches.append(len(texts))
        return [Audio(np.full(len(t), 0.5, np.float32), 22050) for t in texts]


def job(text: str, out: list[object], length_scale: float = 1.0) -> SpeechJob:
    return SpeechJob(text, length_scale, deliver=out.append)


def test_the_worker_batches_requests_of_one_speed_and_streams_a_lone_one() -> None:
    engine, outs = FakeEngine(), [[] for _ in range(4)]
    EngineWorker(engine)([job("ab", outs[0]), job("cd e", outs[1]), job("fgh", outs[2]), job("ij", outs[3], 2.0)])
    assert engine.batches == [3]  # the 2.0-speed request went alone, streamed
    assert [len(o) for o in outs] == [2, 2, 2, 2] and all(o[-1] is DONE for o in outs)
    assert len(outs[1][0]) == 2 * 4  # its whole audio as one chunk: 4 samples of int16


def test_a_bad_text_in_a_batch_fails_alone() -> None:
    engine, good, bad = FakeEngine(), [], []
    EngineWorker(engine)([job("fine", good), job("", bad)])
    assert good[-1] is DONE and isinstance(bad[0], EmptyTextError)


def test_a_cancelled_stream_stops_between_chunks() -> None:
    engine, out = FakeEngine(), []
    j = job("one two three four five", out)
    j.deliver = lambda item: (out.append(item), j.cancelled.set())  # the client leaves after the first chunk
    worker = EngineWorker(engine)
    worker([j])
    assert len(out) == 1 and engine.chunks_made == 1 and worker.cancelled_streams == 1


@pytest.mark.parametrize("field, value, allowed", [
    ("port", 70000, "0..65535"), ("max_queue", 0, ">= 1"), ("max_batch", 0, ">= 1"),
    ("max_wait_ms", -1.0, "0..10000"), ("max_input_chars", 0, ">= 1"), ("log_level", "loud", "debug"),
    ("policy", "fifo", "batch, deadline"), ("first_audio_ms", -1, "0..60000"),
])
def test_a_bad_server_option_names_the_field_and_allowed_values(field: str, value: Any, allowed: str) -> None:
    with pytest.raises(ConfigError) as err:
        ServeConfig(**{field: value})
    assert f"`{field}`" in str(err.value) and allowed in str(err.value)
