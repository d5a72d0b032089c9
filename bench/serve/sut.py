"""The system under test: LoadGen's queries go into a queue; one dispatcher thread serves them.

The dispatcher (`tts_core.runtime.dispatch`, shared with the HTTP server) takes what is waiting (up to
`max_batch`, waiting up to `max_wait_ms` for company) as one batch when batching is on, else one query at a
time. A single query is streamed (`adapter.stream`): its first chunk is LoadGen's first token. A batch goes through `adapter.synthesize_batch` (tts_core spreads it
over its worker processes when the tier has workers): each item's first token and completion are reported
when the batch returns. The token count is the number of audio samples, so LoadGen's TPOT is seconds per
audio sample. An engine error completes the affected queries (so LoadGen never waits forever) and is kept
in `errors`; `abort()` completes whatever is still outstanding, for a hung engine.
"""

from __future__ import annotations

import array
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

import numpy as np

from tts_core.runtime.dispatch import BatchPolicy, Dispatcher

__all__ = ["BatchPolicy", "LoadGenSUT", "ServeStats"]

_EMPTY = array.array("B", b"\0")


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


class LoadGenSUT:
    """Serves LoadGen queries (`issue_queries`, `flush_queries`) with `adapter`, texts looked up by sample index.

    `lg` is the `mlperf_loadgen` module (passed in so tests and callers share one import).
    """

    def __init__(self, lg: Any, adapter: Any, texts: Sequence[str], policy: BatchPolicy) -> None:
        self.lg, self.adapter, self.texts, self.policy = lg, adapter, list(texts), policy
        self.stats = ServeStats()
        self._lock = threading.Lock()
        self._open: set[int] = set()  # query ids issued and not yet completed
        self._aborted = False
        self._dispatcher: Dispatcher[tuple[int, int]] = Dispatcher(self._serve, policy, name="loadgen-sut")

    # ---- LoadGen callbacks --------------------------------------------------------------------
    def issue_queries(self, samples: list[Any]) -> None:
        """LoadGen's IssueQuery: queue every sample (id, index); returns at once. After `abort`, queries are
        completed empty at once, so LoadGen runs out its schedule without waiting on the engine."""
        with self._lock:
            aborted = self._aborted
            if not aborted:
                self._open.update(s.id for s in samples)
        if aborted:
            self._report(self.lg.FirstTokenComplete, [(s.id, None, 1) for s in samples])
            self._report(self.lg.QuerySamplesComplete, [(s.id, None, 2) for s in samples])
            return
        for s in samples:
            self._dispatcher.submit((s.id, s.index))

    def flush_queries(self) -> None:
        """LoadGen's FlushQueries: nothing is held back, so nothing to do."""

    # ---- serving ------------------------------------------------------------------------------
    def _serve(self, batch: list[tuple[int, int]]) -> None:
        """The dispatcher's handler: one query streams, a group goes through `synthesize_batch`."""
        self.stats.batch_sizes.append(len(batch))
        try:
            if len(batch) == 1:
                self._serve_stream(*batch[0])
            else:
                self._serve_batch(batch)
        except Exception as exc:  # the row reports it; LoadGen must still see every query end
            self.stats.errors.append(f"{type(exc).__name__}: {exc}")
            self._complete([(qid, None) for qid, _ in batch])

    def _serve_stream(self, qid: int, index: int) -> None:
        chunks, first = [], True
        for chunk in self.adapter.stream(self.texts[index]):
            chunks.append(np.asarray(chunk.samples, dtype=np.float32))
            if first:
                self._first_token(qid, chunks[0])
                first = False
        self._complete([(qid, np.concatenate(chunks) if chunks else None)])

    def _serve_batch(self, batch: list[tuple[int, int]]) -> None:
        audios = self.adapter.synthesize_batch([self.texts[i] for _, i in batch])
        done = [(qid, np.asarray(a.samples, dtype=np.float32)) for (qid, _), a in zip(batch, audios)]
        for qid, samples in done:
            self._first_token(qid, samples)
        self._complete(done)

    # ---- reporting to LoadGen -----------------------------------------------------------------
    def _report(self, call: Callable[[list[Any]], None], items: list[tuple[int, Optional[np.ndarray], int]]) -> None:
        keep, responses = [], []
        for qid, samples, n_tokens in items:
            buf = _EMPTY if samples is None or samples.size == 0 else samples
            ptr, size = (buf.buffer_info()[0], 1) if buf is _EMPTY else (buf.ctypes.data, buf.nbytes)
            keep.append(buf)  # the buffer must outlive the call
            responses.append(self.lg.QuerySampleResponse(qid, ptr, size, n_tokens))
        call(responses)

    def _first_token(self, qid: int, samples: np.ndarray) -> None:
        with self._lock:
            if self._aborted or qid not in self._open:
                return
        self._report(self.lg.FirstTokenComplete, [(qid, samples[: min(len(samples), 256)], 1)])

    def _complete(self, done: list[tuple[int, Optional[np.ndarray]]]) -> None:
        with self._lock:
            if self._aborted:
                return
            done = [(qid, s) for qid, s in done if qid in self._open]
            self._open.difference_update(qid for qid, _ in done)
        for _, s in done:
            self.stats.audio_samples += 0 if s is None else len(s)
        # LoadGen refuses fewer than 2 tokens; a failed query (no audio) reports 2 and fails the row anyway
        self._report(self.lg.QuerySamplesComplete, [(qid, s, 2 if s is None else max(len(s), 2)) for qid, s in done])

    def abort(self, reason: str) -> None:
        """Complete every outstanding query at once (an engine that hangs), so LoadGen can end the test."""
        with self._lock:
            self._aborted = True
            stuck, self._open = sorted(self._open), set()
        self.stats.errors.append(reason)
        self._report(self.lg.FirstTokenComplete, [(qid, None, 1) for qid in stuck])
        self._report(self.lg.QuerySamplesComplete, [(qid, None, 2) for qid in stuck])

    def close(self) -> None:
        """Stop the dispatcher after the queries already queued (does not wait for a hung engine)."""
        self._dispatcher.close(timeout_s=1.0)
