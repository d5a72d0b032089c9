"""The body of one engine process of `--workers N` (started by `tts_core.serve.engines.EngineProcesses`).

Each process runs the one-engine path of the server: its own `Engine`, an `EngineWorker` behind a `Dispatcher`
under the server's policy (batch or deadline). The parent routes requests to it over a pipe and relays the chunks
it sends back, as it makes them, to the HTTP responses. Messages are tuples whose first item is a tag:

    parent -> child   (JOB, rid, text, length_scale, age_s)   age_s: seconds since the request came
                      (CANCEL, rid)                           the client left: withdraw it, or stop between chunks
                      None                                    stop
    child -> parent   (READY, EngineFacts) or (LOAD_ERROR, message), once
                      (TAKEN, rid)                            the dispatcher took it from its queue
                      (CHUNK, rid, pcm)                       16-bit PCM bytes
                      (DONE, rid), (ERROR, rid, type name, message)   the request's answer ends (`rebuilt`)
                      (END, rid)                              it ended without an answer (its client left)
                      (BATCH, n)                              n requests served together (the batch-size histogram)
                      (CANCELLED, total)                      syntheses stopped for clients that left, so far
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Callable, Iterator

from tts_core.runtime.dispatch import Dispatcher
from tts_core.runtime.scheduler import ScheduledStream
from tts_core.serve.config import ServeConfig
from tts_core.serve.worker import DONE as DONE_ITEM
from tts_core.serve.worker import EngineFacts, EngineWorker, SpeechJob

JOB, CANCEL = "job", "cancel"
READY, LOAD_ERROR, TAKEN, CHUNK, DONE, ERROR, END, BATCH, CANCELLED = (
    "ready", "load_error", "taken", "chunk", "done", "error", "end", "batch", "cancelled")
log = logging.getLogger("tts_core.serve")


@dataclass(eq=False)
class RoutedJob(SpeechJob):
    """A `SpeechJob` that came over the pipe, with the parent's request id."""

    rid: int = -1


class CountingWorker(EngineWorker):
    """An `EngineWorker` that reports its count of cancelled syntheses whenever it grows."""

    def __init__(self, engine: Any, on_batch: Callable[[int], None], on_cancelled: Callable[[int], None]) -> None:
        super().__init__(engine, on_batch=on_batch)
        self._on_cancelled = on_cancelled

    def count_cancelled(self, n: int = 1) -> None:
        super().count_cancelled(n)
        if n:
            self._on_cancelled(self.cancelled_streams)


class Relay:
    """The child's end: feeds the parent's requests to the dispatcher and sends their chunks back (thread-safe)."""

    def __init__(self, index: int, engine: Any, config: ServeConfig, conn: Connection) -> None:
        self._conn = conn
        self._send_lock = threading.Lock()
        self._jobs: dict[int, RoutedJob] = {}  # rid -> job, until its answer ended
        self._jobs_lock = threading.Lock()
        self.worker = CountingWorker(engine, on_batch=lambda n: self._send((BATCH, n)),
                                     on_cancelled=lambda total: self._send((CANCELLED, total)))
        # unbounded here: the parent bounds the requests waiting over all its engine processes
        self.dispatcher: Dispatcher[RoutedJob] = Dispatcher(
            self._handle, config.batch_policy(engine.tier), None, name=f"tts-engine-{index}-dispatcher",
            open_stream=self._open)

    def _send(self, message: tuple) -> None:
        try:
            with self._send_lock:
                self._conn.send(message)
        except OSError:  # the parent is gone: stop every synthesis at its next chunk (`serve` then sees EOF)
            with self._jobs_lock:
                jobs = list(self._jobs.values())
            for job in jobs:
                job.cancelled.set()

    def _deliver(self, rid: int, item: object) -> None:
        if item is DONE_ITEM:
            self._finish(rid, (DONE, rid))
        elif isinstance(item, BaseException):
            self._finish(rid, (ERROR, rid, type(item).__name__, str(item)))
        else:
            self._send((CHUNK, rid, item))

    def _finish(self, rid: int, message: tuple) -> None:
        """Send the last message of request `rid`, once (later calls for it send nothing)."""
        with self._jobs_lock:
            known = self._jobs.pop(rid, None) is not None
        if known:
            self._send(message)

    def _handle(self, batch: list[RoutedJob]) -> None:
        for job in batch:
            self._send((TAKEN, job.rid))
        try:
            self.worker(batch)
        finally:
            for job in batch:  # a request whose client left got no answer: say it ended
                self._finish(job.rid, (END, job.rid))

    def _open(self, job: RoutedJob) -> ScheduledStream:
        self._send((TAKEN, job.rid))
        stream = self.worker.open(job)
        end = functools.partial(self._finish, job.rid, (END, job.rid))
        stream.steps = _then(stream.steps, end)
        counted = stream.on_cancel
        stream.on_cancel = lambda: (counted(), end())  # a stream dropped before its first step never runs `_then`
        return stream

    def serve(self) -> None:
        """Serve the parent's messages until it says stop or goes away."""
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):  # the parent is gone
                break
            if message is None:
                break
            if message[0] == JOB:
                _, rid, text, length_scale, age_s = message
                job = RoutedJob(text, length_scale, deliver=functools.partial(self._deliver, rid),
                                arrived_s=time.perf_counter() - age_s, rid=rid)
                with self._jobs_lock:
                    self._jobs[rid] = job
                self.dispatcher.submit(job)
            elif message[0] == CANCEL:
                with self._jobs_lock:
                    job = self._jobs.get(message[1])
                if job is not None:
                    job.cancelled.set()  # a running synthesis stops at its next chunk
                    if self.dispatcher.withdraw(job):  # a waiting one is dropped now
                        self.worker.count_cancelled()
                        self._finish(job.rid, (END, job.rid))
        self.dispatcher.close(timeout_s=1.0)


def _then(steps: Iterator[float], end: Callable[[], None]) -> Iterator[float]:
    try:
        yield from steps
    finally:
        end()


def rebuilt(type_name: str, message: str) -> Exception:
    """The parent's copy of an engine process's error, from its type's name and message: the same class where it
    is one of `tts_core.errors`' (so the client gets the same status and body as from one engine), else a
    RuntimeError naming it. Only names and text cross the pipe: no exception object is unpickled from a child."""
    import tts_core.errors as errors

    cls = getattr(errors, type_name, None)
    if isinstance(cls, type) and issubclass(cls, errors.TTSError):
        return cls(message)
    return RuntimeError(f"{type_name}: {message}")


def run_engine_process(index: int, config: ServeConfig, threads: int, conn: Connection) -> None:
    """Process body: set `threads` intra-op threads, load the engine as the one-engine server does, say READY (or
    LOAD_ERROR), then serve until told to stop or the parent goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent stops us
    logging.basicConfig(level=config.log_level.upper(),
                        format=f"%(asctime)s %(levelname)s %(name)s[engine {index}]: %(message)s")
    import torch

    from tts_core.engine import Engine

    torch.set_num_threads(threads)
    log.info("loading the engine (%s, tier %s, %d threads)", config.voice, config.tier, threads)
    started = time.perf_counter()
    loaded: dict[str, Any] = {}

    def load() -> None:
        try:
            loaded["engine"] = Engine.load(voice=config.voice, device=config.device, tier=config.tier,
                                           seed=config.seed)
        except Exception as exc:  # noqa: BLE001 - the parent reports it and exits 1
            loaded["error"] = f"{type(exc).__name__}: {exc}"

    # loaded on a thread that then ends, taking its OpenMP team with it (as app.py does): the dispatcher's thread
    # computes, and with two live teams libgomp stops spinning between parallel regions (docs/serving.md)
    loader = threading.Thread(target=load, name=f"tts-engine-{index}-load")
    loader.start()
    loader.join()
    if "engine" not in loaded:
        conn.send((LOAD_ERROR, loaded.get("error", "the engine's load ended without an engine")))
        return
    engine = loaded["engine"]
    log.info("engine loaded in %.1f s", time.perf_counter() - started)
    relay = Relay(index, engine, config, conn)
    conn.send((READY, EngineFacts.of(engine)))
    relay.serve()
    engine.close()
    conn.close()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip the interpreter's teardown, which with torch loaded takes a second or two for nothing
