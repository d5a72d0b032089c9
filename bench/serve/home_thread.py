"""An in-process engine computes on the thread that loaded it, while clients and dispatchers run on others.

torch's CPU wheels use GNU OpenMP, which gives every thread that opens a parallel region a team of worker threads
of its own. A worker process loads its engine on its main thread (one team); an in-process dispatcher (the
concurrency curve's, LoadGen's system under test) that computed on its own thread would open a second team while
the first lives on. With more OpenMP threads than cores libgomp stops spinning between parallel regions, so every
region wakes its worker through a futex: on a 2-core AMD EPYC (AVX-512 with BF16), advanced served by one
closed-loop client of fresh sentences made 34-36 audio seconds per second with first audio p90 0.066-0.067 s on the
loading thread, and 24.6-25.0 with 0.112-0.123 s on another thread (docs/serving.md). Our HTTP server does not pay
it: it loads on a thread that then ends, and its team with it.

So the measuring thread hands every engine call to the loading thread:

    home = HomeThread()                           # on the thread that loaded the adapter
    engine = OnHomeThread(adapter, home)          # synthesize, synthesize_batch, stream (each chunk), clear_cache
    home.run(run_level)                           # clients and dispatcher use `engine` on other threads; this
                                                  # thread runs their engine calls until run_level has ended

A call made on the home thread itself runs at once.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Iterator, Optional

__all__ = ["HomeThread", "OnHomeThread", "home_for"]

POLL_S = 0.05  # how often `serve` looks whether the thread it waits for has ended, s
_END = object()  # what `next` returns at a stream's end


class _Call:
    """One call handed to the home thread, and its outcome."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args
        self.done = threading.Event()
        self.value: Any = None
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            self.value = self.fn(*self.args)
        except BaseException as exc:  # handed back to the caller's thread
            self.error = exc
        finally:
            self.done.set()


class HomeThread:
    """Runs calls handed to it (`call`) on the thread that made it, while that thread waits in `serve`."""

    def __init__(self) -> None:
        self.ident = threading.get_ident()
        self._calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` on the home thread (at once when called there); returns its value or raises its error.
        From another thread it waits for the home thread to be in `serve`."""
        if threading.get_ident() == self.ident:
            return fn(*args)
        job = _Call(fn, args)
        self._calls.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.value

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """`fn(*args)` on the home thread without waiting for it (at once when called there): it runs when the
        home thread next serves, if it does; errors are dropped."""
        if threading.get_ident() == self.ident:
            _Call(fn, args).run()
        else:
            self._calls.put(_Call(fn, args))

    def serve(self, until: threading.Thread, timeout_s: Optional[float] = None) -> bool:
        """Run the calls handed over, here, until `until` has ended (True) or `timeout_s` seconds have passed
        (False: the caller decides what to do with the thread still running)."""
        if threading.get_ident() != self.ident:
            raise RuntimeError("HomeThread.serve: call it on the thread that made the HomeThread.")
        end = None if timeout_s is None else time.monotonic() + timeout_s
        while until.is_alive():
            wait = POLL_S if end is None else min(POLL_S, end - time.monotonic())
            if wait <= 0:
                return False
            try:
                job = self._calls.get(timeout=wait)
            except queue.Empty:
                continue
            job.run()
        return True

    def run(self, work: Callable[[], Any], name: str = "beside-home") -> Any:
        """`work()` on a new thread while this thread serves the calls it hands over; returns its value or raises
        its error once it has ended (`work` bounds its own time)."""
        job = _Call(work, ())
        thread = threading.Thread(target=job.run, name=name, daemon=True)
        thread.start()
        self.serve(thread)
        if job.error is not None:
            raise job.error
        return job.value


def home_for(adapter: Any, served: bool) -> tuple[Optional[HomeThread], Any]:
    """(the home thread, the adapter its clients use): for an in-process engine (`served` False) a `HomeThread`
    on this thread and the adapter wrapped in `OnHomeThread`; for a served one (its compute is in the server's
    process) None and the adapter itself."""
    if served:
        return None, adapter
    home = HomeThread()
    return home, OnHomeThread(adapter, home)


class OnHomeThread:
    """`adapter` with its engine work on `home`'s thread: `synthesize`, `synthesize_batch`, each step of
    `stream`, and `clear_cache` and `housekeep` where the adapter has them; every other attribute is the adapter's
    own."""

    ON_HOME = ("clear_cache", "housekeep")  # optional methods of an adapter that touch its engine

    def __init__(self, adapter: Any, home: HomeThread) -> None:
        self._adapter, self._home = adapter, home

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._adapter, name)
        if name in self.ON_HOME and callable(value):
            return lambda *args: self._home.call(value, *args)
        return value

    def synthesize(self, text: str, **scales: Any) -> Any:
        return self._home.call(lambda: self._adapter.synthesize(text, **scales))

    def synthesize_batch(self, texts: Any, **scales: Any) -> Any:
        return self._home.call(lambda: self._adapter.synthesize_batch(texts, **scales))

    def stream(self, text: str, **scales: Any) -> Iterator[Any]:
        """The adapter's stream, each chunk made on the home thread. Closed before its end, it closes the adapter's
        stream on the home thread too, without waiting (a stream dropped after `serve` ended is not waited for)."""
        chunks = self._home.call(lambda: iter(self._adapter.stream(text, **scales)))
        ended = False
        try:
            while (chunk := self._home.call(next, chunks, _END)) is not _END:
                yield chunk
            ended = True
        finally:
            close = getattr(chunks, "close", None)
            if not ended and close is not None:
                self._home.post(close)
