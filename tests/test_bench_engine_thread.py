"""An in-process engine computes on one engine thread, the one it was loaded on (`bench.workers.engine_thread`):
calls and every chunk of a stream made from other threads run there, errors come back to the caller, a stream
closed early is closed there, and a worker runs its ops' engine work there."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from bench.workers import Worker, WorkerSpec
from bench.workers.engine_thread import EngineThread, OnEngineThread, engine_for


class Recorder:
    """An adapter that records the thread of each call and of each chunk it makes."""

    def __init__(self) -> None:
        self.threads: list[str] = []
        self.closed_on: list[str] = []

    def _here(self) -> None:
        self.threads.append(threading.current_thread().name)

    def synthesize(self, text: str, **_: Any) -> str:
        self._here()
        if text == "bad":
            raise ValueError("unspeakable")
        return text.upper()

    def synthesize_batch(self, texts: list[str], **_: Any) -> list[str]:
        self._here()
        return [t.upper() for t in texts]

    def stream(self, text: str, **_: Any) -> Iterator[str]:
        try:
            for word in text.split():
                self._here()
                yield word
        finally:
            self.closed_on.append(threading.current_thread().name)

    def clear_cache(self) -> None:
        self._here()

    def describe(self) -> dict[str, Any]:
        return {"name": "recorder"}


def test_calls_and_every_chunk_made_from_any_thread_run_on_the_engine_thread() -> None:
    adapter, thread = Recorder(), EngineThread(name="the-engine")
    engine = OnEngineThread(adapter, thread)
    got: dict[str, Any] = {}

    def client() -> None:
        got["one"] = engine.synthesize("hi")
        got["batch"] = engine.synthesize_batch(["a", "b"])
        got["stream"] = list(engine.stream("three little words"))
        engine.clear_cache()
        with pytest.raises(ValueError, match="unspeakable"):  # the engine's error reaches the caller
            engine.synthesize("bad")

    other = threading.Thread(target=client)
    other.start()
    other.join()
    client()  # and from this thread
    assert got == {"one": "HI", "batch": ["A", "B"], "stream": ["three", "little", "words"]}
    assert adapter.threads == ["the-engine"] * 14 and adapter.closed_on == ["the-engine"] * 2
    assert engine.describe() == {"name": "recorder"}  # everything else is the adapter's own
    assert thread.call(threading.current_thread) is thread.call(threading.current_thread)
    thread.close()


def test_a_stream_closed_early_is_closed_on_the_engine_thread_before_the_next_call() -> None:
    adapter, thread = Recorder(), EngineThread(name="the-engine")
    engine = OnEngineThread(adapter, thread)
    chunks = engine.stream("one two three")
    assert next(chunks) == "one"
    chunks.close()
    engine.synthesize("x")  # handed over after the close, so run after it
    assert adapter.closed_on == ["the-engine"]
    thread.close()


def test_an_engine_that_hangs_holds_its_engine_thread_only() -> None:
    release = threading.Event()
    hung = EngineThread()
    waiter = threading.Thread(target=hung.call, args=(release.wait,), daemon=True)
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # the caller of a hung call waits; anyone else can go on, on another engine thread
    fresh = EngineThread()
    assert fresh.call(lambda: 2 + 2) == 4
    release.set()
    waiter.join(5)
    assert not waiter.is_alive()
    hung.close()
    fresh.close()


def test_a_served_engine_is_used_as_it_is_and_an_own_engine_thread_is_closed_after() -> None:
    adapter = Recorder()
    same, done = engine_for(adapter, served=True, engine_thread=None)
    assert same is adapter
    done()
    given = EngineThread()
    wrapped, done = engine_for(adapter, served=False, engine_thread=given)
    assert isinstance(wrapped, OnEngineThread) and wrapped.synthesize("a") == "A"
    done()
    assert given.call(lambda: "still open") == "still open"  # a given thread is the caller's to close
    given.close()
    own, done = engine_for(adapter, served=False, engine_thread=None)
    assert own.synthesize("b") == "B"
    done()


def test_a_worker_loads_its_engine_on_its_engine_thread_not_its_main_thread(tmp_path: Path) -> None:
    spec = WorkerSpec(contender="fake:baseline", engine={"_target_": "bench.engines.fake.FakeEngine", "rtf": 0.01},
                      tier="baseline", device="cpu", threads=1, model="tiny", seed=0, workload={"name": "single"},
                      log_file=str(tmp_path / "worker.log"))
    worker = Worker(spec, memory_limit_mb=4096)
    try:
        assert worker.call("load", 120)["thread"] == "engine"
    finally:
        worker.close()
