"""The system under test: LoadGen's queries go into a queue; one dispatcher thread serves them.

The dispatcher (`tts_core.runtime.dispatch`, shared with the HTTP server) serves them under the scenario's
policy. Under `deadline`, every query is a stream stepped one chunk at a time by the deadline scheduler
(`tts_core.runtime.scheduler`, as our server with `--policy deadline`): its first chunk is LoadGen's first token,
its last completes it. Under `batch`, it takes what is waiting (up to
`max_batch`, waiting up to `max_wait_ms` for company) as one batch when batching is on, else one query at a
time, and serves it with `serve_group` (shared with the concurrency curve's in-process clients,
`bench.serve.streams`). A single query is streamed (`adapter.stream`): its first chunk is LoadGen's first token. A
batch goes through `adapter.synthesize_batch` (tts_core spreads it over its worker processes when the tier has
workers): each item's first token and completion are reported when the batch returns. The token count is the
number of audio samples, so LoadGen's TPOT is seconds per audio sample. An engine error completes the affected
queries (so LoadGen never waits forever) and is kept in `errors`; `abort()` completes whatever is still
outstanding, for a hung engine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from bench.serve.responses import LoadGenResponses
from tts_core.runtime.dispatch import BatchPolicy, Dispatcher
from tts_core.runtime.scheduler import ScheduledStream

__all__ = ["BatchPolicy", "LoadGenSUT", "ServeStats", "serve_group", "stream_steps"]


@dataclass
class ServeStats:
    """What the dispatcher did during one run."""

    batch_sizes: list[int] = field(default_factory=list)
    audio_samples: int = 0
    errors: list[str] = field(default_factory=list)

    def to_row(self) -> dict[str, Any]:
        sizes = self.batch_sizes
        return {
            "batches": len(sizes),
            "mean_batch_size": float(np.mean(sizes)) if sizes else None,
            "max_batch_size": max(sizes) if sizes else None,
            "audio_samples": self.audio_samples,
        }


def stream_steps(adapter: Any, text: str, arrived: Callable[[np.ndarray], None]) -> Iterator[float]:
    """`adapter.stream(text)` one chunk per `next()`: each hands the chunk's samples (float32) to `arrived` and
    returns its audio seconds (the deadline policy's step, and a lone request's stream under `batch`). The engine's
    exceptions propagate."""
    for chunk in adapter.stream(text):
        samples = np.asarray(chunk.samples, dtype=np.float32)
        arrived(samples)
        yield len(samples) / adapter.sample_rate


def serve_group(adapter: Any, texts: Sequence[str], arrived: Callable[[int, np.ndarray], None]) -> None:
    """Serve one group the dispatcher took: a single text streams (`arrived(0, samples)` for each chunk as it
    comes), several go through `adapter.synthesize_batch` (`arrived(i, samples)` once per text, when the batch
    returns). Samples are float32; the engine's exceptions propagate."""
    if len(texts) == 1:
        for _ in stream_steps(adapter, texts[0], lambda samples: arrived(0, samples)):
            pass
        return
    for i, audio in enumerate(adapter.synthesize_batch(list(texts))):
        arrived(i, np.asarray(audio.samples, dtype=np.float32))


class LoadGenSUT(LoadGenResponses):
    """Serves LoadGen queries (`issue_queries`, `flush_queries`) with `adapter`, texts looked up by sample index.

    `lg` is the `mlperf_loadgen` module (passed in so tests and callers share one import).
    """

    def __init__(self, lg: Any, adapter: Any, texts: Sequence[str], policy: BatchPolicy) -> None:
        super().__init__(lg, ServeStats())
        self.adapter, self.texts, self.policy = adapter, list(texts), policy
        # a query: (LoadGen's id, sample index, arrival in time.perf_counter() seconds)
        self._dispatcher: Dispatcher[tuple[int, int, float]] = Dispatcher(self._serve, policy, name="loadgen-sut",
                                                                          open_stream=self._stream_of)

    # ---- LoadGen callbacks --------------------------------------------------------------------
    def issue_queries(self, samples: list[Any]) -> None:
        """LoadGen's IssueQuery: queue every sample (id, index); returns at once. After `abort`, queries are
        completed empty at once, so LoadGen runs out its schedule without waiting on the engine."""
        if not self._open_queries(samples):
            return
        for s in samples:
            self._dispatcher.submit((s.id, s.index, time.perf_counter()))

    def flush_queries(self) -> None:
        """LoadGen's FlushQueries: nothing is held back, so nothing to do."""

    # ---- serving ------------------------------------------------------------------------------
    def _serve(self, batch: list[tuple[int, int, float]]) -> None:
        """The dispatcher's handler: the group is served by `serve_group`; each query's first chunk is its first
        token, its audio completes it."""
        self.stats.batch_sizes.append(len(batch))
        chunks: list[list[np.ndarray]] = [[] for _ in batch]

        def arrived(i: int, samples: np.ndarray) -> None:
            chunks[i].append(samples)
            if len(chunks[i]) == 1:
                self._first_token(batch[i][0], samples)

        try:
            serve_group(self.adapter, [self.texts[index] for _, index, _ in batch], arrived)
            self._complete([(qid, np.concatenate(c) if c else None) for (qid, _, _), c in zip(batch, chunks)])
        except Exception as exc:  # the row reports it; LoadGen must still see every query end
            self.stats.errors.append(f"{type(exc).__name__}: {exc}")
            self._complete([(qid, None) for qid, _, _ in batch])

    def _stream_of(self, query: tuple[int, int, float]) -> ScheduledStream:
        """The deadline policy's stream of one query (`adapter.stream`, one chunk a step)."""
        self.stats.batch_sizes.append(1)
        return ScheduledStream(self._steps(*query), arrived_s=query[2])

    def _steps(self, qid: int, index: int, _: float) -> Iterator[float]:
        chunks: list[np.ndarray] = []

        def arrived(samples: np.ndarray) -> None:
            chunks.append(samples)
            if len(chunks) == 1:
                self._first_token(qid, samples)

        try:
            yield from stream_steps(self.adapter, self.texts[index], arrived)
            self._complete([(qid, np.concatenate(chunks) if chunks else None)])
        except Exception as exc:  # the row reports it; LoadGen must still see the query end
            self.stats.errors.append(f"{type(exc).__name__}: {exc}")
            self._complete([(qid, None)])

    def close(self) -> None:
        """Stop the dispatcher after the queries already queued (does not wait for a hung engine)."""
        self._dispatcher.close(timeout_s=1.0)
