"""How a closed-loop client's request reaches the engine, and what it records: the arrival of every chunk.

    in process (`DispatchedStreams`)  the request joins the dispatcher's queue (`tts_core.runtime.dispatch`, the
                                      one the LoadGen in-process system under test and our HTTP server use); its one
                                      thread serves what waits with `bench.serve.sut.serve_group`, batching as the
                                      policy says, while the client waits for its stream to end
    a server (`DirectStreams`)        the client's own thread streams the HTTP response (`bench.engines.http`: one
                                      connection per request, so clients run concurrently; the server queues)

`streams_for` picks one as `bench.serve.http_sut.sut_for` does. Chunk arrivals are `time.perf_counter()` seconds,
taken the moment the chunk reaches the client side of the call.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Protocol

import numpy as np

from bench.serve.http_sut import is_served
from bench.serve.sut import BatchPolicy, serve_group, stream_steps
from tts_core.runtime.dispatch import Dispatcher
from tts_core.runtime.scheduler import ScheduledStream


@dataclass(eq=False)  # compared by identity: the dispatcher withdraws this very request
class Stream:
    """One request as its client saw it: chunk arrivals (`time.perf_counter()` seconds) and their samples."""

    text: str
    arrivals: list[float] = field(default_factory=list)
    chunks: list[np.ndarray] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    error: Optional[str] = None
    served_s: tuple[float, float] | None = None  # from the request going out (HTTP) or being taken by the engine
    # thread (in process) to its end: the streams served at one moment are the ones whose spans overlap
    sent_s: float = field(default_factory=time.perf_counter)  # when the client made the request

    def arrived(self, _: int, samples: np.ndarray) -> None:
        """`serve_group`'s callback: a chunk of this stream is here."""
        self.arrivals.append(time.perf_counter())
        self.chunks.append(samples)


def serve_streams(streams: list[Stream], call: Callable[[], None]) -> None:
    """Run `call` (serving `streams`), record each stream's served span and the error, and end them."""
    began = time.perf_counter()
    try:
        call()
    except Exception as exc:  # the level counts it as an engine error, for each stream of the group
        for s in streams:
            s.error = f"{type(exc).__name__}: {exc}"
    finally:
        ended = time.perf_counter()
        for s in streams:
            s.served_s = (began, ended)
            s.done.set()


class Streams(Protocol):
    """A way to send a request: `request(text, timeout_s)` streams `text` and returns when the stream ended (or
    failed: `Stream.error`); `close()` stops taking requests."""

    def request(self, text: str, timeout_s: float) -> Stream: ...

    def close(self) -> None: ...


class DirectStreams:
    """The client's thread streams the response itself (a served engine: `adapter.stream` is an HTTP request).
    `timeout_s` is the adapter's own (`engine.timeout_s`, per read)."""

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter

    def request(self, text: str, timeout_s: float) -> Stream:
        stream = Stream(text)
        serve_streams([stream], lambda: serve_group(self.adapter, [text], stream.arrived))
        return stream

    def close(self) -> None:
        """Nothing to stop: each request was its own connection."""


class DispatchedStreams:
    """Requests queue for the dispatcher's one engine thread, which serves them as `policy` says: in groups
    (`batch`), or each as a stream stepped one chunk at a time by deadline (`deadline`, as our server's
    `--policy deadline`)."""

    def __init__(self, adapter: Any, policy: BatchPolicy) -> None:
        self.adapter = adapter
        self._dispatcher: Dispatcher[Stream] = Dispatcher(self._serve, policy, name="concurrency-sut",
                                                          open_stream=self._stream_of)

    def request(self, text: str, timeout_s: float) -> Stream:
        stream = Stream(text)
        self._dispatcher.submit(stream)
        if not stream.done.wait(timeout_s):
            self._dispatcher.withdraw(stream)
            stream.error = f"TimeoutError: the stream had not ended after request_timeout_s = {timeout_s:g} s"
        return stream

    def _serve(self, group: list[Stream]) -> None:
        serve_streams(group, lambda: serve_group(self.adapter, [s.text for s in group],
                                                 lambda i, samples: group[i].arrived(i, samples)))

    def _stream_of(self, stream: Stream) -> ScheduledStream:
        """The deadline policy's stream of one request: each step makes one chunk (`adapter.stream`)."""
        return ScheduledStream(self._steps(stream), arrived_s=stream.sent_s)

    def _steps(self, stream: Stream) -> Iterator[float]:
        began = time.perf_counter()
        try:
            yield from stream_steps(self.adapter, stream.text, lambda samples: stream.arrived(0, samples))
        except Exception as exc:  # the level counts it as an engine error
            stream.error = f"{type(exc).__name__}: {exc}"
        finally:
            stream.served_s = (began, time.perf_counter())
            stream.done.set()

    def close(self) -> None:
        """Stop the dispatcher after what is queued (does not wait for a hung engine)."""
        self._dispatcher.close(timeout_s=1.0)


def streams_for(adapter: Any, policy: BatchPolicy) -> Streams:
    """Direct HTTP streams for a served engine, else the in-process dispatcher under `policy`."""
    return DirectStreams(adapter) if is_served(adapter) else DispatchedStreams(adapter, policy)
