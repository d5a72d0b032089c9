"""`EngineProcesses`: the server's `--workers N` engines, each a spawned process running the one-engine path.

The parent only routes and relays: a request goes to the live process with the fewest requests in flight (ties:
the lowest index), over a pipe (`tts_core.serve.engine_process` holds the child's end and the messages); a reader
thread per process hands each chunk to its request's `deliver` as it arrives. The usable cores are split between
the processes (`tts_core.machine.threads_each`). A process that dies fails its requests in flight with
`EngineProcessDiedError` (a 500) and the others serve on; with none left, `submit` raises `NoEngineError`.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import multiprocessing as mp
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Callable, Optional

from tts_core.machine import threads_each
from tts_core.runtime.dispatch import QueueFullError
from tts_core.serve import engine_process as child
from tts_core.serve.config import ServeConfig
from tts_core.serve.worker import DONE, EngineFacts, SpeechJob

log = logging.getLogger("tts_core.serve")
NO_ENGINE_LEFT = "every engine process has exited; restart the server."
STOP_GRACE_S = 2.0  # on close, how long the processes get to stop before they are terminated, s


class EngineLoadError(RuntimeError):
    """An engine process could not load its engine (or died while loading); the message holds its error."""


class EngineProcessDiedError(RuntimeError):
    """The engine process serving a request exited before the request's answer ended."""


class NoEngineError(RuntimeError):
    """Every engine process has exited; the server cannot serve until it is restarted."""


@dataclass(eq=False)
class EngineProc:
    """One engine process as the parent sees it. Its request counts change under the pool's lock."""

    index: int
    process: Any  # multiprocessing's Process (spawn context)
    conn: Connection
    send_lock: threading.Lock = field(default_factory=threading.Lock)
    jobs: dict[int, SpeechJob] = field(default_factory=dict)  # rid -> job, requests in flight
    waiting: set[int] = field(default_factory=set)  # rids sent but not yet taken by its dispatcher
    requests: int = 0  # requests routed here since start
    cancelled: int = 0  # syntheses it stopped (or never started) because their client left
    alive: bool = True

    def send(self, message: Optional[tuple]) -> bool:
        """Send `message`; False when the pipe is broken (the process died: its reader fails its requests)."""
        try:
            with self.send_lock:
                self.conn.send(message)
            return True
        except (OSError, ValueError):
            return False

    def status(self) -> dict[str, Any]:
        """`/health`'s view: index, process id, alive, requests routed here, requests in flight."""
        return {"index": self.index, "pid": self.process.pid, "alive": self.alive, "requests": self.requests,
                "in_flight": len(self.jobs)}


class EngineProcesses:
    """`config.workers` engine processes serving `SpeechJob`s; the interface the server uses in place of its
    in-process dispatcher (`submit`, `cancel`, `depth`). Blocks until every process has loaded its engine (one
    after another, so a tier that calibrates does it alone, once: the next ones read its stored choices); raises
    `EngineLoadError` (after stopping them all) when one fails. `on_batch(n)`: n requests served together."""

    def __init__(self, config: ServeConfig, on_batch: Callable[[int], None] = lambda n: None) -> None:
        self.config = config
        self.threads_per_process = threads_each(config.workers)
        self._on_batch = on_batch
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._where: dict[SpeechJob, tuple[EngineProc, int]] = {}  # job -> its process and rid, while in flight
        self._closed = False
        self._reading = False
        ctx = mp.get_context("spawn")
        self.procs: list[EngineProc] = []
        atexit.register(self.close)  # runs before multiprocessing's own exit hook, which would wait for them
        try:
            # one after another: a tier that calibrates (advanced) measures alone in the first process, which
            # stores its choices for this thread count, and the next processes read them instead of timing one
            # another while each calibrates
            facts = []
            for i in range(config.workers):
                ours, theirs = ctx.Pipe(duplex=True)
                # not daemonic: a tier with worker processes of its own starts them from the engine process
                process = ctx.Process(target=child.run_engine_process, name=f"tts-engine-{i}",
                                      args=(i, config, self.threads_per_process, theirs))
                self.procs.append(EngineProc(i, process, ours))
                process.start()
                theirs.close()  # the child's end lives in the child only, so its death reads as EOF here
                facts.append(self._wait_ready(self.procs[-1]))
            self.facts: EngineFacts = facts[0]
        except BaseException:
            self.close()
            raise
        self._reading = True  # from now on each pipe belongs to its reader thread, which closes it
        for p in self.procs:
            threading.Thread(target=self._read, args=(p,), name=f"tts-engine-{p.index}-reader", daemon=True).start()

    def _wait_ready(self, p: EngineProc) -> EngineFacts:
        """Process `p`'s READY once it has loaded its engine; raises `EngineLoadError` if it fails or dies."""
        try:
            tag, payload = p.conn.recv()
        except (EOFError, OSError):
            p.process.join(timeout=1.0)
            raise EngineLoadError(f"engine process {p.index} exited (exit code {p.process.exitcode}) while "
                                  "loading its engine; its log is above.") from None
        if tag != child.READY:
            raise EngineLoadError(f"engine process {p.index}: {payload}")
        return payload

    def submit(self, job: SpeechJob) -> None:
        """Send `job` to the live process with the fewest requests in flight (ties: the lowest index). Raises
        `QueueFullError` when `max_queue` requests already wait over all processes, `NoEngineError` when none is
        left."""
        with self._lock:
            live = [p for p in self.procs if p.alive]
            if not live:
                raise NoEngineError(NO_ENGINE_LEFT)
            waiting = sum(len(p.waiting) for p in self.procs)
            if waiting >= self.config.max_queue:
                raise QueueFullError(f"{waiting} requests are already waiting (max_queue = {self.config.max_queue}).")
            proc = min(live, key=lambda p: (len(p.jobs), p.index))
            rid = next(self._ids)
            proc.jobs[rid] = job
            proc.waiting.add(rid)
            proc.requests += 1
            self._where[job] = (proc, rid)
        proc.send((child.JOB, rid, job.text, job.length_scale, time.perf_counter() - job.arrived_s))

    def cancel(self, job: SpeechJob) -> None:
        """The client of `job` left: its process withdraws it if it still waits, else stops it between chunks."""
        with self._lock:
            where = self._where.get(job)
        if where is not None:
            proc, rid = where
            proc.send((child.CANCEL, rid))

    @property
    def depth(self) -> int:
        """Requests waiting in the processes' queues (not counting those being served)."""
        with self._lock:
            return sum(len(p.waiting) for p in self.procs)

    @property
    def cancelled_streams(self) -> int:
        """Syntheses stopped early or never started because their client left, over all processes."""
        return sum(p.cancelled for p in self.procs)

    @property
    def alive(self) -> int:
        """Engine processes still serving."""
        return sum(p.alive for p in self.procs)

    def status(self) -> list[dict[str, Any]]:
        """Each process's index, process id, liveness, requests routed to it and requests in flight."""
        with self._lock:
            return [p.status() for p in self.procs]

    def _end(self, proc: EngineProc, rid: int) -> Optional[SpeechJob]:
        """Request `rid` of `proc` is over: forget it; returns its job (None if already forgotten)."""
        with self._lock:
            proc.waiting.discard(rid)
            job = proc.jobs.pop(rid, None)
            if job is not None:
                self._where.pop(job, None)
            return job

    def _read(self, proc: EngineProc) -> None:
        """Reader thread of one process: relay its messages until its pipe ends, then fail what it had in flight."""
        while True:
            try:
                message = proc.conn.recv()
            except (EOFError, OSError):
                break
            tag = message[0]
            if tag == child.CHUNK:
                job = proc.jobs.get(message[1])
                if job is not None:
                    job.deliver(message[2])
            elif tag == child.TAKEN:
                with self._lock:
                    proc.waiting.discard(message[1])
            elif tag in (child.DONE, child.ERROR, child.END):
                job = self._end(proc, message[1])
                if job is not None and tag != child.END:
                    job.deliver(DONE if tag == child.DONE else child.rebuilt(*message[2:]))
            elif tag == child.BATCH:
                self._on_batch(message[1])
            elif tag == child.CANCELLED:
                proc.cancelled = max(proc.cancelled, message[1])
        proc.conn.close()
        self._lost(proc)

    def _lost(self, proc: EngineProc) -> None:
        with self._lock:
            proc.alive = False
            jobs = list(proc.jobs.values())
            proc.jobs.clear()
            proc.waiting.clear()
            for job in jobs:
                self._where.pop(job, None)
            closing, left = self._closed, sum(p.alive for p in self.procs)
        if not closing:  # (close() joins the processes itself)
            proc.process.join(timeout=1.0)
            log.error("engine process %d exited (exit code %s) with %d requests in flight; %d engine processes left",
                      proc.index, proc.process.exitcode, len(jobs), left)
        code = proc.process.exitcode
        for job in jobs:
            job.deliver(EngineProcessDiedError(
                f"engine process {proc.index} exited (exit code {code}) while serving this request; "
                f"{left} engine processes are left{'' if left else ': restart the server'}."))

    def close(self, grace_s: float = STOP_GRACE_S) -> None:
        """Stop every process: ask, then terminate those still running after `grace_s` seconds. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        atexit.unregister(self.close)
        started = [p for p in self.procs if p.process.pid is not None]
        for p in started:
            p.send(None)
        deadline = time.monotonic() + grace_s
        for p in started:
            p.process.join(timeout=max(0.0, deadline - time.monotonic()))
        for p in started:
            if p.process.is_alive():
                p.process.terminate()
                p.process.join(timeout=1.0)
            if p.process.is_alive():
                p.process.kill()
                p.process.join(timeout=1.0)
        if not self._reading:
            for p in self.procs:
                p.conn.close()
