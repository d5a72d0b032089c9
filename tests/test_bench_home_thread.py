"""An in-process engine computes on the thread that loaded it (`bench.serve.home_thread`): calls and every chunk of
a stream made from other threads run there, errors come back to the caller, and a stream closed early is closed
on the home thread."""

from __future__ import annotations

import threading
from typing import Any, Iterator

import pytest

from bench.serve.home_thread import HomeThread, OnHomeThread, home_for


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


def test_calls_and_every_chunk_made_from_other_threads_run_on_the_home_thread() -> None:
    adapter = Recorder()
    home = HomeThread()
    engine = OnHomeThread(adapter, home)
    got: dict[str, Any] = {}

    def clients() -> None:
        got["one"] = engine.synthesize("hi")
        got["batch"] = engine.synthesize_batch(["a", "b"])
        got["stream"] = list(engine.stream("three little words"))
        engine.clear_cache()
        with pytest.raises(ValueError, match="unspeakable"):  # the engine's error reaches the caller
            engine.synthesize("bad")

    home.run(clients)
    assert got == {"one": "HI", "batch": ["A", "B"], "stream": ["three", "little", "words"]}
    me = threading.current_thread().name
    assert adapter.threads == [me] * 7 and adapter.closed_on == [me]
    assert engine.describe() == {"name": "recorder"}  # everything else is the adapter's own


def test_a_stream_closed_early_is_closed_on_the_home_thread_and_a_call_there_runs_at_once() -> None:
    adapter = Recorder()
    home = HomeThread()
    engine = OnHomeThread(adapter, home)

    def client() -> None:
        chunks = engine.stream("one two three")
        assert next(chunks) == "one"
        chunks.close()  # the adapter's stream is closed where it runs
        engine.synthesize("x")  # ... before this call, which comes after it in the home thread's queue

    home.run(client)
    assert adapter.closed_on == [threading.current_thread().name]
    assert engine.synthesize("y") == "Y"  # on the home thread itself: no serving needed


def test_serve_is_the_home_threads_and_gives_up_after_its_timeout() -> None:
    home = HomeThread()
    stop = threading.Event()
    sleeper = threading.Thread(target=stop.wait, daemon=True)
    sleeper.start()
    assert home.serve(sleeper, timeout_s=0.1) is False  # the thread still runs: the caller decides
    stop.set()
    assert home.serve(sleeper) is True
    other: list[BaseException] = []
    t = threading.Thread(target=lambda: other.append(pytest.raises(RuntimeError, home.serve, sleeper).value))
    t.start()
    t.join()
    assert "thread that made" in str(other[0])


def test_a_served_engine_is_used_as_it_is() -> None:
    adapter = Recorder()
    assert home_for(adapter, served=True) == (None, adapter)
    home, engine = home_for(adapter, served=False)
    assert isinstance(home, HomeThread) and isinstance(engine, OnHomeThread)
