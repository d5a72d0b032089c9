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

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from bench.serve.responses import LoadGenResponses
from tts_core.runtime.dispatch import BatchPolicy, Dispatcher

__all__ = ["BatchPolicy", "LoadGenSUT", "ServeStats"]


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


class LoadGenSUT(LoadGenResponses):
    """Serves LoadGen queries (`issue_queries`, `flush_queries`) with `adapter`, texts looked up by sample index.

    `lg` is the `mlperf_loadgen` module (passed in so tests and callers share one import).
    """

    def __init__(self, lg: Any, adapter: Any, texts: Sequence[str], policy: BatchPolicy) -> None:
        super().__init__(lg, ServeStats())
        self.adapter, self.texts, self.policy = adapter, list(texts), policy
        self._dispatcher: Dispatcher[tuple[int, int]] = Dispatcher(self._serve, policy, name="loadgen-sut")

    # ---- LoadGen callbacks --------------------------------------------------------------------
    def issue_queries(self, samples: list[Any]) -> None:
        """LoadGen's IssueQuery: queue every sample (id, index); returns at once. After `abort`, queries are
        completed empty at once, so LoadGen runs out its schedule without waiting on the engine."""
        if not self._open_queries(samples):
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

    def close(self) -> None:
        """Stop the dispatcher after the queries already queued (does not wait for a hung engine)."""
        self._dispatcher.close(timeout_s=1.0)
