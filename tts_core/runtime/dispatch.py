"""One dispatcher thread in front of one engine: a bounded queue, and a policy that says how waiting jobs are served.

- `batch`: the thread takes the oldest waiting job and, when batching is on, whatever else arrives within
  `max_wait_s` (up to `max_batch` jobs), and hands the group to `handle`, which serves it whole.
- `deadline`: the thread opens a stream per job (`open_stream`, up to `max_batch` streams at once; the rest
  wait in the queue) and makes one chunk at a time, of the stream whose chunk is due soonest
  (`tts_core.runtime.scheduler`).

The engine is owned by that one thread, so callers never share it. Used by the HTTP server (`tts_core.serve`)
and by the LoadGen system under test (`bench.serve.sut`), so both serve requests the same way.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Generic, Optional, TypeVar

from tts_core.runtime.scheduler import DeadlineScheduler, ScheduledStream

log = logging.getLogger(__name__)
T = TypeVar("T")
POLICIES = ("batch", "deadline")
FIRST_AUDIO_S = 0.3  # the deadline policy's default first-audio target, seconds


@dataclass
class BatchPolicy:
    """How the dispatcher serves waiting jobs (the dispatcher's config).

    - `policy`: `batch` (groups served whole) or `deadline` (streams interleaved chunk by chunk).
    - `enabled`: under `batch`, group jobs (False: one at a time); at most `max_batch` per group, waiting up to
      `max_wait_s` seconds after the first for company.
    - under `deadline`, `max_batch` is the most streams in progress at once, and `first_audio_s` the first-audio
      target in seconds (a new stream's first chunk is due that long after it arrived).
    """

    enabled: bool = False
    max_batch: int = 8
    max_wait_s: float = 0.0
    policy: str = "batch"
    first_audio_s: float = FIRST_AUDIO_S

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"`policy` = {self.policy!r} is not allowed; expected one of {', '.join(POLICIES)}.")
        if not self.first_audio_s >= 0:
            raise ValueError(f"`first_audio_s` = {self.first_audio_s!r}; expected seconds >= 0.")


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

    def take_waiting(self, limit: int, block: bool) -> Optional[list[T]]:
        """Up to `limit` waiting jobs, oldest first, without waiting for more; with `block`, wait until one waits.
        None once closed and drained (only when `block`: otherwise an empty list)."""
        with self._cond:
            while block and not self._items:
                if self._closed:
                    return None
                self._cond.wait()
            return [self._items.popleft() for _ in range(min(limit, len(self._items)))]

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
    """A daemon thread that serves jobs from a `BatchQueue` under `policy`: `batch` takes groups and calls
    `handle(group)`; `deadline` calls `open_stream(job)` for each job it admits and steps the streams by deadline.

    `handle` and the streams must deal with their own errors (each job needs an answer); an exception that
    escapes them is logged and the thread goes on, so one bad job never stops the service.
    """

    def __init__(self, handle: Callable[[list[T]], None], policy: BatchPolicy, max_queue: Optional[int] = None,
                 name: str = "tts-dispatcher", open_stream: Optional[Callable[[T], ScheduledStream]] = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        if policy.policy == "deadline" and open_stream is None:
            raise ValueError("`policy` = 'deadline' needs `open_stream` (a job -> ScheduledStream); "
                             "serve with policy 'batch' otherwise.")
        self.policy = policy
        self.queue: BatchQueue[T] = BatchQueue(max_queue)
        self._handle = handle
        self._open_stream = open_stream
        self._clock = clock
        run = self._run_deadline if policy.policy == "deadline" else self._run
        self._thread = threading.Thread(target=run, name=name, daemon=True)
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

    def _run_deadline(self) -> None:
        scheduler = DeadlineScheduler(self.policy.first_audio_s, self._clock)
        while True:
            room = self.policy.max_batch - len(scheduler)
            jobs = self.queue.take_waiting(room, block=not scheduler) if room > 0 else []
            if jobs is None:
                return
            for job in jobs:
                try:
                    scheduler.add(self._open_stream(job))  # type: ignore[misc]
                except Exception:  # noqa: BLE001
                    log.exception("the dispatcher could not open a stream")
            scheduler.step()

    def close(self, timeout_s: float = 1.0) -> None:
        """Serve what is already queued, then stop; waits up to `timeout_s` seconds (not for a hung engine)."""
        self.queue.close()
        self._thread.join(timeout=timeout_s)
