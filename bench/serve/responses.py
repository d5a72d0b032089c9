"""What every system under test tells LoadGen, in one place: which queries are open, their first token and
completion (audio samples as the response payload, tokens = samples), and `abort` for a hung engine or server.

A SUT subclasses `LoadGenResponses`, calls `_open_queries` from `issue_queries` (False after an abort: the queries
were completed empty already) and reports through `_first_token` and `_complete`.
"""

from __future__ import annotations

import array
import threading
from typing import Any, Callable, Optional

import numpy as np

_EMPTY = array.array("B", b"\0")


class LoadGenResponses:
    """Open queries and the responses LoadGen gets for them; `lg` is the `mlperf_loadgen` module, `stats` any
    object with `audio_samples` (int) and `errors` (list of str)."""

    def __init__(self, lg: Any, stats: Any) -> None:
        self.lg, self.stats = lg, stats
        self._lock = threading.Lock()
        self._open: set[int] = set()  # query ids issued and not yet completed
        self._aborted = False

    def _open_queries(self, samples: list[Any]) -> bool:
        """Record `samples` as open; after `abort`, complete them empty at once (LoadGen runs out its schedule
        without waiting on the engine) and return False."""
        with self._lock:
            aborted = self._aborted
            if not aborted:
                self._open.update(s.id for s in samples)
        if aborted:
            self._report(self.lg.FirstTokenComplete, [(s.id, None, 1) for s in samples])
            self._report(self.lg.QuerySamplesComplete, [(s.id, None, 2) for s in samples])
        return not aborted

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
        """Complete the queries of `done` (query id, float32 samples or None for a failed one) still open."""
        with self._lock:
            if self._aborted:
                return
            done = [(qid, s) for qid, s in done if qid in self._open]
            self._open.difference_update(qid for qid, _ in done)
            self.stats.audio_samples += sum(0 if s is None else len(s) for _, s in done)
        # LoadGen refuses fewer than 2 tokens; a failed query (no audio) reports 2 and fails the row anyway
        self._report(self.lg.QuerySamplesComplete, [(qid, s, 2 if s is None else max(len(s), 2)) for qid, s in done])

    def abort(self, reason: str) -> None:
        """Complete every outstanding query at once (an engine or server that hangs), so LoadGen can end the test."""
        with self._lock:
            self._aborted = True
            stuck, self._open = sorted(self._open), set()
            self.stats.errors.append(reason)
        self._report(self.lg.FirstTokenComplete, [(qid, None, 1) for qid in stuck])
        self._report(self.lg.QuerySamplesComplete, [(qid, None, 2) for qid in stuck])
