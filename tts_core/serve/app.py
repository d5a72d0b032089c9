"""`create_app`: the FastAPI app of the speech server (`POST /v1/audio/speech`, `GET /health`, `GET /metrics`).

Request handlers never touch the engine: they queue a `SpeechJob` with the dispatcher (one thread owns
the engine) and await its chunks on an asyncio queue that the dispatcher fills through
`loop.call_soon_threadsafe`. With `--workers N` (N > 1) the job goes instead to the least-loaded of N engine
processes (`tts_core.serve.engines`), each running that same dispatcher, whose chunks fill the queue alike.
The response starts when the first chunk is ready, so a bad text still gets a 400 rather than a broken 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from typing import Any, AsyncIterator, Callable, Optional, Union

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tts_core.errors import EmptyTextError, TextError, UnspeakableTextError
from tts_core.runtime.dispatch import Dispatcher, QueueFullError
from tts_core.serve.config import RETRY_AFTER_S, ServeConfig
from tts_core.serve.engines import NO_ENGINE_LEFT, EngineProcesses, NoEngineError
from tts_core.serve.errors import (CLIENT_CLOSED, EMPTY_INPUT, INVALID_INPUT, LOADING, NO_ENGINE, QUEUE_FULL,
                                   RETRY_STATUSES, SYNTHESIS_FAILED, UNSPEAKABLE_INPUT, ApiError)
from tts_core.serve.metrics import ServerMetrics
from tts_core.serve.request import SpeechRequest, parse_speech_request, streaming_wav_header
from tts_core.serve.worker import DONE, EngineFacts, EngineWorker, SpeechJob

log = logging.getLogger("tts_core.serve")
DISCONNECT_POLL_S = 0.25  # how often a request still waiting for its first chunk checks its client
MEDIA_TYPES = {"wav": "audio/wav", "pcm": "audio/pcm"}
GONE = object()  # the client left before its first audio


class ServerState:
    """The engine (once loaded) and its dispatcher, or the engine processes (`workers` > 1), and the metrics of one
    app."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.engine: Any = None
        self.facts: Optional[EngineFacts] = None
        self.load_error: Optional[str] = None
        self.ready = threading.Event()
        self.dispatcher: Optional[Dispatcher[SpeechJob]] = None
        self.worker: Optional[EngineWorker] = None
        self.processes: Optional[EngineProcesses] = None
        self.metrics = ServerMetrics(queue_depth=lambda: self.depth, cancelled_streams=lambda: self.cancelled_streams,
                                     engines=lambda: self.engines, engine_processes=config.workers > 1)

    def attach(self, engine: Any) -> None:
        """Serve with `engine`: start its dispatcher under the configured policy (batching as the tier does)."""
        self.engine = engine
        self.facts = EngineFacts.of(engine)
        self.worker = EngineWorker(engine, on_batch=self.metrics.batch_size.observe)
        self.dispatcher = Dispatcher(self.worker, self.config.batch_policy(engine.tier), self.config.max_queue,
                                     name="tts-serve-dispatcher", open_stream=self.worker.open)
        self.ready.set()

    def load(self, loader: Callable[[], Any]) -> None:
        """Load the engine with `loader` (in a thread of its own), or with `workers` > 1 start the engine processes
        (each loads its own); a failure is kept for `/health`."""
        try:
            if self.config.workers > 1:
                self.processes = EngineProcesses(self.config, on_batch=self.metrics.batch_size.observe)
                self.facts = self.processes.facts
                self.ready.set()
            else:
                self.attach(loader())
        except Exception as exc:  # noqa: BLE001 - reported by /health and by the command line
            log.exception("the engine failed to load")
            self.load_error = f"{type(exc).__name__}: {exc}"

    @property
    def voices(self) -> tuple[str, ...]:
        """Names a request may give as `voice`: the configured name, the loaded voice's name, "default"."""
        return tuple(dict.fromkeys((self.config.voice, self.facts.voice, "default")))

    def submit(self, job: SpeechJob) -> None:
        """Queue `job` with the engine, or the engine process with the fewest in flight; raises `QueueFullError`
        (`max_queue` waiting) or `NoEngineError` (every engine process has exited)."""
        if self.processes is not None:
            self.processes.submit(job)
        else:
            self.dispatcher.submit(job)

    def cancel(self, job: SpeechJob) -> None:
        """`job`'s client left: withdraw it if it still waits, else stop its synthesis at the next chunk."""
        job.cancelled.set()
        if self.processes is not None:
            self.processes.cancel(job)  # the process withdraws or stops it, and counts it
        elif self.dispatcher.withdraw(job):
            self.worker.count_cancelled()  # never started: the worker never sees it

    @property
    def depth(self) -> int:
        """Requests waiting for an engine (not counting those being served)."""
        if self.processes is not None:
            return self.processes.depth
        return self.dispatcher.depth if self.dispatcher else 0

    @property
    def cancelled_streams(self) -> int:
        """Syntheses stopped early or never started because their client left."""
        if self.processes is not None:
            return self.processes.cancelled_streams
        return self.worker.cancelled_streams if self.worker else 0

    @property
    def engines(self) -> int:
        """Engines serving: the in-process one once loaded, or the engine processes still alive."""
        if self.processes is not None:
            return self.processes.alive
        return int(self.engine is not None)

    def close(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.close(timeout_s=1.0)
        if self.processes is not None:
            self.processes.close()


def _error(exc: ApiError, state: ServerState) -> JSONResponse:
    state.metrics.answered(exc.status, exc.code)
    headers = {"Retry-After": str(RETRY_AFTER_S)} if exc.status in RETRY_STATUSES else None
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


def _engine_error(exc: Exception) -> ApiError:
    """An engine exception as the client's answer: bad text is the client's 400, the rest our 500."""
    if isinstance(exc, TextError):
        kind = (EMPTY_INPUT if isinstance(exc, EmptyTextError)
                else UNSPEAKABLE_INPUT if isinstance(exc, UnspeakableTextError) else INVALID_INPUT)
        return ApiError(kind, str(exc), "input")
    return ApiError(SYNTHESIS_FAILED, f"The synthesis failed: {type(exc).__name__}: {exc}")


async def _first_chunk(queue: "asyncio.Queue[object]", request: Request) -> object:
    """The job's first item, or `GONE` if its client leaves while it waits."""
    while True:
        try:
            return await asyncio.wait_for(queue.get(), DISCONNECT_POLL_S)
        except asyncio.TimeoutError:
            if await request.is_disconnected():
                return GONE


def create_app(engine: Union[Any, Callable[[], Any]], config: ServeConfig) -> FastAPI:
    """The app serving `engine` (a loaded `Engine`) or, when given a callable, the engine it loads at
    startup in a thread (`/health` answers 503 until it is ready). With `config.workers` > 1 it starts that
    many engine processes at startup instead, and `engine` is not used. The app's state is `app.state.tts`."""
    state = ServerState(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if config.workers > 1 or (callable(engine) and not hasattr(engine, "stream")):
            threading.Thread(target=state.load, args=(engine,), name="tts-serve-load", daemon=True).start()
        else:
            state.attach(engine)
        yield
        state.close()

    app = FastAPI(title="tts_core speech server", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.tts = state

    @app.get("/health")
    async def health() -> JSONResponse:
        if not state.ready.is_set():
            body = {"status": "failed" if state.load_error else "loading", "error": state.load_error}
            return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})
        f = state.facts
        body: dict[str, Any] = {"status": "ok", "voice": f.voice, "tier": f.tier, "sample_rate": f.sample_rate}
        if state.processes is None:
            return JSONResponse(body)
        body.update(workers=config.workers, engines=state.processes.status())
        if not state.engines:
            body.update(status="failed", error=NO_ENGINE_LEFT)
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    @app.get("/metrics")
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.post("/v1/audio/speech", response_model=None)
    async def speech(request: Request) -> Union[Response, StreamingResponse]:
        t0 = time.perf_counter()
        try:
            if not state.ready.is_set():
                raise ApiError(LOADING, "The engine is still loading; retry shortly.")
            req = parse_speech_request(await request.body(), config, state.voices)
        except ApiError as exc:
            return _error(exc, state)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        job = SpeechJob(req.text, state.facts.length_scale / req.speed,
                        deliver=lambda item: loop.call_soon_threadsafe(queue.put_nowait, item), arrived_s=t0)

        cancel = functools.partial(state.cancel, job)
        try:
            state.submit(job)
        except QueueFullError as exc:
            return _error(ApiError(QUEUE_FULL, f"The server is busy: {exc} Retry after {RETRY_AFTER_S} s."), state)
        except NoEngineError as exc:
            return _error(ApiError(NO_ENGINE, str(exc)), state)
        try:
            first = await _first_chunk(queue, request)
        except BaseException:  # the server shutting down: the job must not outlive its handler
            cancel()
            raise
        if first is GONE:
            cancel()
            state.metrics.answered(CLIENT_CLOSED.status, CLIENT_CLOSED.code)
            return Response(status_code=CLIENT_CLOSED.status)
        if isinstance(first, Exception):
            return _error(_engine_error(first), state)
        state.metrics.ttfa.observe(time.perf_counter() - t0)
        return StreamingResponse(_body(req, first, queue, cancel, state, t0), media_type=MEDIA_TYPES[req.response_format],
                                 headers={"X-Sample-Rate": str(state.facts.sample_rate)})

    return app


async def _body(req: SpeechRequest, first: object, queue: "asyncio.Queue[object]", cancel: Callable[[], None],
                state: ServerState, t0: float) -> AsyncIterator[bytes]:
    """The response body: the WAV header (wav only), then each chunk as the dispatcher delivers it. A
    client that leaves cancels the synthesis (the generator is closed, `finally` runs)."""
    done = False
    try:
        if req.response_format == "wav":
            yield streaming_wav_header(state.facts.sample_rate)
        item = first
        while item is not DONE:
            if isinstance(item, Exception):  # mid-stream: the status is sent; end the body early
                state.metrics.answered(SYNTHESIS_FAILED.status, SYNTHESIS_FAILED.code)
                raise RuntimeError(f"synthesis failed mid-stream: {item}") from item
            yield item  # type: ignore[misc]
            item = await queue.get()
        done = True
        state.metrics.latency.observe(time.perf_counter() - t0)
        state.metrics.answered(200)
    finally:
        if not done:
            cancel()
