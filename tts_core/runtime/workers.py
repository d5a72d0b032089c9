"""`WorkerPool`: N spawned processes, each holding its own object (say, an engine) built by a factory."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import pickle
import queue
import sys
import time
import traceback
import weakref
from typing import Any, Callable

from tts_core.errors import TTSError, bad_field
from tts_core.machine import threads_each

_POLL_S = 0.1  # how often the parent checks worker liveness while waiting
_IN_FLIGHT = 2  # items queued per worker, so a worker never idles while its result travels back


class WorkerError(TTSError, RuntimeError):
    """A worker process failed: its factory or a method raised, it died, or it timed out."""


class WorkerDiedError(WorkerError):
    """A worker process exited unexpectedly; the pool has been closed."""


class WorkerTimeoutError(WorkerError):
    """No worker answered within the timeout; the pool has been closed."""


def _worker_main(wid: int, factory: Callable[..., Any], kwargs: dict, n_threads: int,
                 tasks: Any, results: Any) -> None:
    """Body of a worker process: build the object, then serve (generation, index, method, item) tasks."""
    import torch

    torch.set_num_threads(n_threads)
    try:
        obj = factory(**kwargs)
    except BaseException:
        results.put(("init_error", wid, -1, traceback.format_exc()))
        return
    results.put(("ready", wid, -1, None))
    while True:
        task = tasks.get()
        if task is None:
            break
        gen, index, method, item = task
        try:
            # Pickle here, not in the queue's feeder thread, so an unpicklable result is reported, not lost.
            value = pickle.dumps(getattr(obj, method)(item), protocol=pickle.HIGHEST_PROTOCOL)
            results.put(("ok", gen, index, value))
        except BaseException:
            results.put(("error", gen, index, traceback.format_exc()))
    # Shut down fast: free the object (its finalizers run), flush our answers, then skip the interpreter
    # teardown, which with torch loaded takes 1-2 s per worker for nothing.
    del obj
    gc.collect()
    results.close()
    results.join_thread()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _shutdown(procs: list, task_queues: list, grace_s: float) -> None:
    for q in task_queues:
        try:
            q.put_nowait(None)
        except Exception:
            pass
    deadline = time.monotonic() + grace_s
    procs = [p for p in procs if p.pid is not None]  # a pool that failed to start has unstarted ones
    for p in procs:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.terminate()
            p.join(timeout=1.0)
        if p.is_alive():
            p.kill()
            p.join(timeout=1.0)
    for q in task_queues:
        q.close()
        q.cancel_join_thread()


class WorkerPool:
    """`n_workers` spawned processes, each running `factory(**kwargs)` once and serving `map` calls.

    Each worker sets `torch.set_num_threads(max(1, cores // n_workers))`. `factory` and `kwargs` must
    be picklable (a module-level class or function). `start_timeout_s` bounds building the objects;
    `item_timeout_s` (None = no bound) bounds the wait for any one result. A worker that dies makes
    `map` raise `WorkerError` at once (the pool is then closed); it never hangs.
    """

    def __init__(self, factory: Callable[..., Any], n_workers: int = 2, kwargs: dict | None = None,
                 start_timeout_s: float = 120.0, item_timeout_s: float | None = None) -> None:
        if not isinstance(n_workers, int) or n_workers < 1:
            raise bad_field("WorkerPool", "n_workers", n_workers, "an integer >= 1")
        kwargs = dict(kwargs or {})
        try:
            pickle.dumps((factory, kwargs))
        except Exception as exc:
            raise TypeError(
                f"WorkerPool: `factory` or `kwargs` cannot be pickled ({exc}); pass a module-level class or "
                "function and plain arguments, since workers are spawned processes."
            ) from exc
        self.n_workers = n_workers
        self.threads_per_worker = threads_each(n_workers)
        self.item_timeout_s = item_timeout_s
        ctx = mp.get_context("spawn")
        self._results = ctx.Queue()
        self._tasks = [ctx.Queue() for _ in range(n_workers)]
        self._procs = [
            ctx.Process(target=_worker_main, name=f"tts-worker-{i}", daemon=True,
                        args=(i, factory, kwargs, self.threads_per_worker, self._tasks[i], self._results))
            for i in range(n_workers)
        ]
        self._gen = 0
        self._closed = False
        self._finalizer = weakref.finalize(self, _shutdown, self._procs, self._tasks, 2.0)
        try:
            for p in self._procs:
                p.start()
            self._wait_ready(start_timeout_s)
        except BaseException:
            self.close(grace_s=0.2)
            raise

    def _wait_ready(self, timeout_s: float) -> None:
        ready: set[int] = set()
        deadline = time.monotonic() + timeout_s
        while len(ready) < self.n_workers:
            kind, wid, _, payload = self._next_message(deadline, "starting")
            if kind == "init_error":
                raise WorkerError(f"WorkerPool: worker {wid} failed to build its object:\n{payload}")
            if kind == "ready":
                ready.add(wid)

    def _next_message(self, deadline: float | None, doing: str) -> tuple:
        """Next message from the workers; raises as soon as one died, or when `deadline` passed."""
        while True:
            dead = [(i, p.exitcode) for i, p in enumerate(self._procs) if not p.is_alive()]
            if dead:
                self._raise_died(dead[0], doing)
            try:
                return self._results.get(timeout=_POLL_S)
            except queue.Empty:
                pass
            if deadline is not None and time.monotonic() > deadline:
                raise WorkerTimeoutError(
                    f"WorkerPool: no answer from the workers within the timeout while {doing}; the pool is "
                    "closed. Raise `item_timeout_s` / `start_timeout_s` if the work is slow."
                )

    def _raise_died(self, dead: tuple[int, int | None], doing: str) -> None:
        """Raise for a dead worker, preferring its own last report (a failed factory) when it sent one."""
        end = time.monotonic() + _POLL_S
        while time.monotonic() < end:
            try:
                kind, wid, _, payload = self._results.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                break
            if kind == "init_error":
                raise WorkerError(f"WorkerPool: worker {wid} failed to build its object:\n{payload}")
        i, code = dead
        raise WorkerDiedError(
            f"WorkerPool: worker {i} died (exit code {code}) while {doing}; a crash, os._exit or the "
            "out-of-memory killer can cause this. The pool is closed; create a new one "
            "(fewer workers or smaller inputs if memory ran out)."
        )

    def map(self, method_name: str, items: list) -> list:
        """`[getattr(obj, method_name)(item) for item in items]`, spread over the workers, in order."""
        if self._closed:
            raise WorkerError("WorkerPool: the pool is closed; create a new one.")
        items = list(items)
        self._gen += 1
        gen = self._gen
        out: list[Any] = [None] * len(items)
        pending = list(range(len(items)))[::-1]  # stack: pop() gives the next index
        owner: dict[int, int] = {}  # item index -> worker id
        load = [0] * self.n_workers
        done = 0
        try:
            while done < len(items):
                for wid in range(self.n_workers):
                    while pending and load[wid] < _IN_FLIGHT:
                        index = pending.pop()
                        self._tasks[wid].put((gen, index, method_name, items[index]))
                        owner[index] = wid
                        load[wid] += 1
                deadline = None if self.item_timeout_s is None else time.monotonic() + self.item_timeout_s
                kind, msg_gen, index, payload = self._next_message(deadline, f"running `{method_name}`")
                if msg_gen != gen:
                    continue  # a late answer from an earlier, failed map
                if kind == "error":
                    raise WorkerError(f"WorkerPool: `{method_name}` raised in worker {owner[index]} on item "
                                      f"{index}:\n{payload}")
                out[index] = pickle.loads(payload)
                load[owner.pop(index)] -= 1
                done += 1
        except (WorkerDiedError, WorkerTimeoutError):
            self.close(grace_s=0.2)  # a stuck worker will not finish on its own
            raise
        return out

    def close(self, grace_s: float = 2.0) -> None:
        """Stop the workers: ask them to finish, terminate any still running after `grace_s` seconds. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._finalizer.detach()
        _shutdown(self._procs, self._tasks, grace_s)
        self._results.close()
        self._results.cancel_join_thread()
        self._results.close()
        self._results.cancel_join_thread()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
