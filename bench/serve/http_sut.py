"""The system under test for a server over HTTP: every LoadGen query is its own request, sent at once from a thread
pool (the client never serializes them; the server queues and batches as it likes). The first audio bytes are
LoadGen's first token; the whole response completes the query (tokens = audio samples). Each stream is played by a
simulated listener (`bench.serve.listener`), so a run also says how many streams underran.

`sut_for` picks this SUT for an adapter that measures a server (`describe()["tier"]["served"]`), else the in-process
dispatcher of `bench.serve.sut`.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from bench.serve.responses import LoadGenResponses
from bench.serve.listener import listen

MAX_IN_FLIGHT = 256  # requests open at once at most (threads of the client's pool)


def is_served(adapter: Any) -> bool:
    tier = adapter.describe().get("tier")
    return isinstance(tier, dict) and bool(tier.get("served"))


def sut_for(lg: Any, adapter: Any, texts: Sequence[str], policy: Any) -> Any:
    """The SUT for `adapter`: concurrent HTTP requests for a served engine, else the in-process dispatcher."""
    if is_served(adapter):
        return HttpLoadGenSUT(lg, adapter, texts)
    from bench.serve.sut import LoadGenSUT

    return LoadGenSUT(lg, adapter, texts, policy)


@dataclass
class HttpServeStats:
    """What the client saw during one run: streams, underruns (simulated listener), errors, concurrency."""

    streams: int = 0
    underrun_streams: int = 0
    underruns: int = 0
    stall_s: float = 0.0
    audio_samples: int = 0
    max_in_flight: int = 0
    errors: list[str] = field(default_factory=list)

    def to_row(self) -> dict[str, Any]:
        return {"streams": self.streams, "underrun_streams": self.underrun_streams, "underruns": self.underruns,
                "underrun_rate": self.underrun_streams / self.streams if self.streams else None,
                "stall_s": self.stall_s, "audio_samples": self.audio_samples, "max_in_flight": self.max_in_flight,
                "batches": None, "mean_batch_size": None, "max_batch_size": None, "client": "http, one request per query"}


class HttpLoadGenSUT(LoadGenResponses):
    """LoadGen callbacks over an HTTP adapter (`stream` must be safe to call from many threads)."""

    def __init__(self, lg: Any, adapter: Any, texts: Sequence[str], max_in_flight: int = MAX_IN_FLIGHT) -> None:
        super().__init__(lg, HttpServeStats())
        self.adapter, self.texts = adapter, list(texts)
        self._in_flight = 0
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="http-sut")

    # ---- LoadGen callbacks --------------------------------------------------------------------
    def issue_queries(self, samples: list[Any]) -> None:
        """Send every query at once, each on a thread of the pool; returns at once."""
        if not self._open_queries(samples):
            return
        for s in samples:
            self._pool.submit(self._serve, s.id, s.index)

    def flush_queries(self) -> None:
        """Nothing is held back."""

    # ---- one request ----------------------------------------------------------------------------
    def _serve(self, qid: int, index: int) -> None:
        with self._lock:
            self._in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)
        chunks: list[np.ndarray] = []
        arrivals: list[float] = []
        try:
            t0 = time.perf_counter()
            for chunk in self.adapter.stream(self.texts[index]):
                arrivals.append(time.perf_counter() - t0)
                chunks.append(np.asarray(chunk.samples, dtype=np.float32))
                if len(chunks) == 1:
                    self._first_token(qid, chunks[0])
            rate = self.adapter.sample_rate
            heard = listen(arrivals, [len(c) / rate for c in chunks])
            with self._lock:
                self.stats.streams += 1
                self.stats.underruns += heard.underruns
                self.stats.underrun_streams += 0 if heard.clean else 1
                self.stats.stall_s += heard.stall_s
            self._complete([(qid, np.concatenate(chunks) if chunks else None)])
        except Exception as exc:  # the row reports it; LoadGen must still see the query end
            with self._lock:
                self.stats.errors.append(f"{type(exc).__name__}: {exc}")
            self._complete([(qid, None)])
        finally:
            with self._lock:
                self._in_flight -= 1

    def close(self) -> None:
        """Stop taking work; requests still open finish on their own (their threads are not waited for)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
