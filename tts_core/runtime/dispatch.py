"""One dispatcher thread in front of one engine: a bounded queue, and a policy that groups waiting jobs.

The thread takes the oldest waiting job and, when batching is on, whatever else arrives within
`max_wait_s` (up to `max_batch` jobs), and hands the group to `handle`. The engine is owned by that one
thread, so callers never share it. Used by the HTTP server (`tts_core.serve`) and by the LoadGen system
under test (`bench.serve.sut`), so both group requests the same way.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Generic, Optional, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class BatchPolicy:
    """How the dispatcher groups waiting jobs: at most `max_batch` per group, waiting up to `max_wait_s`
    seconds after the first for company; `enabled=False` serves one job at a time."""

    enabled: bool = False
    max_batch: int = 8
    max_wait_s: float = 0.0


class QueueFullError(RuntimeError):
    """The dispatcher's queue already holds `max_queue` waiting jobs; try again later."""


class BatchQueue(Generic[T]):
    """A FIFO of jobs, bounded at `max_queue` waiting jobs (None: unbounded); waiting jobs can be withdrawn."""

    def __init__(self, max_queue: Optional[int] = None) -> None:
        self.max_queue = max_queue
        self._items: collections.deque[T] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, item: T) -> None:
        """Queue `item`; raises `QueueFullError` at once when `max_queue` jobs are already waiting."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the dispatcher is closed; start a new one.")
            if self.max_queue is not None and len(self._items) >= self.max_queue:
                raise QueueFullError(f"{len(self._items)} requests are already waiting (max_queue = {self.max_queue}).")
            self._items.append(item)
            self._cond.notify()

    def withdraw(self, item: T) -> bool:
        """Remove `item` if it is still waiting; True when it was (it will not be served)."""
        with self._cond:
            try:
                self._items.remove(item)
                return True
            except ValueError:
                return False

    def __len__(self) -> int:
        return len(self._items)

    def close(self) -> None:
        """No new jobs; `take` returns what is waiting, then None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def take(self, policy: BatchPolicy) -> Optional[list[T]]:
        """Block until a job waits; return it with up to `max_batch - 1` more arriving within `max_wait_s`
        (just the one when batching is off). None once closed and drained."""
        with self._cond:
            while not self._items:
                if self._closed:
                    return None
                self._cond.wait()
            batch = [self._items.popleft()]
            limit = policy.max_batch if policy.enabled else 1
            deadline = time.monotonic() + policy.max_wait_s
            while len(batch) < limit:
                if self._items:
                    batch.append(self._items.popleft())
                    continue
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    break
                self._cond.wait(left)
            return batch


class Dispatcher(Generic[T]):
    """A daemon thread that takes groups of jobs from a `BatchQueue` under `policy` and calls `handle(group)`.

    `handle` must deal with its own errors (each job needs an answer); an exception that escapes it is
    logged and the thread goes on with the next group, so one bad job never stops the service.
    """

    def __init__(self, handle: Callable[[list[T]], None], policy: BatchPolicy, max_queue: Optional[int] = None,
                 name: str = "tts-dispatcher") -> None:
        self.policy = policy
        self.queue: BatchQueue[T] = BatchQueue(max_queue)
        self._handle = handle
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: T) -> None:
        """Queue `job`; raises `QueueFullError` at once when the queue is full."""
        self.queue.put(job)

    def withdraw(self, job: T) -> bool:
        """Drop `job` if it is still waiting; True when it was."""
        return self.queue.withdraw(job)

    @property
    def depth(self) -> int:
        """Jobs waiting (not counting those being served)."""
        return len(self.queue)

    def _run(self) -> None:
        while True:
            batch = self.queue.take(self.policy)
            if batch is None:
                return
            try:
                self._handle(batch)
            except Exception:  # noqa: BLE001 - the thread must outlive any one job
                log.exception("the dispatcher's handler raised on a group of %d jobs", len(batch))

    def close(self, timeout_s: float = 1.0) -> None:
        """Serve what is already queued, then stop; waits up to `timeout_s` seconds (not for a hung engine)."""
        self.queue.close()
        self._thread.join(timeout=timeout_s)
