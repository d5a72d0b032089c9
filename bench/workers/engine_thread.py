"""An in-process engine computes on one thread of its own, the one it was loaded on, while clients and dispatchers
run on others.

torch's CPU wheels use GNU OpenMP, which gives every thread that opens a parallel region a team of worker threads
of its own. A dispatcher that computed on its own thread, beside the thread that had loaded the engine and whose
team lives on, makes more OpenMP threads than cores, and libgomp then stops spinning between parallel regions:
every region wakes its worker through a futex. On a 2-core AMD EPYC (AVX-512 with BF16), advanced served by one
closed-loop client of fresh sentences made 34-36 audio seconds per second with first audio p90 0.066-0.067 s on
the loading thread, and 24.6-25.0 with 0.112-0.123 s on another thread (docs/serving.md). Our HTTP server does not
pay it: it loads on a thread that then ends, and its team with it.

So one `EngineThread` does all of an engine's work: a harness worker loads its engine and runs every op on it, and
the concurrency curve and LoadGen's system under test wrap the adapter in `OnEngineThread`, so their dispatcher and
clients hand each call (each chunk of a stream) to it. The thread that waits on them stays free to time out: an
engine that hangs holds its engine thread only.

    engine_thread = EngineThread()
    adapter = engine_thread.call(load)                    # loaded on it
    engine = OnEngineThread(adapter, engine_thread)       # synthesize, synthesize_batch, stream (each chunk), ...
    ...dispatcher and clients use `engine` from any thread...
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator, Optional

__all__ = ["EngineThread", "OnEngineThread", "engine_for"]

_END = object()  # what `next` returns at a stream's end


class _Call:
    """One call handed to the engine thread, and its outcome."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.value: Any = None
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            self.value = self.fn()
        except BaseException as exc:  # handed back to the caller's thread
            self.error = exc
        finally:
            self.done.set()


class EngineThread:
    """A daemon thread that runs the calls handed to it, one at a time, in order; `close` ends it.

    Not a one-thread `concurrent.futures.ThreadPoolExecutor`: its threads are joined when the interpreter exits, so
    an engine hung in a call would keep the process from ever ending; a daemon thread does not."""

    def __init__(self, name: str = "engine") -> None:
        self._calls: queue.SimpleQueue[Optional[_Call]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (job := self._calls.get()) is not None:
            job.run()

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`fn(*args, **kwargs)` on the engine thread (at once when called there); returns its value or raises its
        error in the caller's thread."""
        if threading.current_thread() is self._thread:
            return fn(*args, **kwargs)
        job = _Call(lambda: fn(*args, **kwargs))
        self._calls.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.value

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """`fn(*args)` on the engine thread, without waiting for it; its errors are dropped."""
        self._calls.put(_Call(lambda: fn(*args)))

    def close(self) -> None:
        """End the thread once the calls already handed to it have run (it does not wait for them)."""
        self._calls.put(None)


def engine_for(adapter: Any, served: bool, engine_thread: Optional[EngineThread]) -> tuple[Any, Callable[[], None]]:
    """(the adapter clients and dispatchers should use, what to call when done). A served engine computes in its
    server's process: the adapter itself. In process: the adapter on `engine_thread` (the one it was loaded on),
    or, when none is given, on a new engine thread that the returned callable closes."""
    if served:
        return adapter, lambda: None
    if engine_thread is not None:
        return OnEngineThread(adapter, engine_thread), lambda: None
    own = EngineThread()
    return OnEngineThread(adapter, own), own.close


class OnEngineThread:
    """`adapter` with its engine work on `engine_thread`: `synthesize`, `synthesize_batch`, each step of `stream`,
    and `clear_cache` and `housekeep` where the adapter has them; every other attribute is the adapter's own."""

    ON_ENGINE = ("clear_cache", "housekeep")  # optional methods of an adapter that touch its engine

    def __init__(self, adapter: Any, engine_thread: EngineThread) -> None:
        self._adapter, self._thread = adapter, engine_thread

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._adapter, name)
        if name in self.ON_ENGINE and callable(value):
            return lambda *args: self._thread.call(value, *args)
        return value

    def synthesize(self, text: str, **scales: Any) -> Any:
        return self._thread.call(self._adapter.synthesize, text, **scales)

    def synthesize_batch(self, texts: Any, **scales: Any) -> Any:
        return self._thread.call(self._adapter.synthesize_batch, texts, **scales)

    def stream(self, text: str, **scales: Any) -> Iterator[Any]:
        """The adapter's stream, each chunk made on the engine thread. Closed before its end, it closes the
        adapter's stream on the engine thread too, without waiting."""
        chunks = self._thread.call(lambda: iter(self._adapter.stream(text, **scales)))
        ended = False
        try:
            while (chunk := self._thread.call(next, chunks, _END)) is not _END:
                yield chunk
            ended = True
        finally:
            close = getattr(chunks, "close", None)
            if not ended and close is not None:
                self._thread.post(close)
