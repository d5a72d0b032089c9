"""`create_app`: the FastAPI app of the speech server (`POST /v1/audio/speech`, `GET /health`, `GET /metrics`).

Request handlers never touch the engine: they queue a `SpeechJob` with the dispatcher (one thread owns
the engine) and await its chunks on an asyncio queue that the dispatcher fills through
`loop.call_soon_threadsafe`. The response starts when the first chunk is ready, so a bad text still gets
a 400 rather than a broken 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from typing import Any, AsyncIterator, Callable, Optional, Union

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from tts_core.errors import EmptyTextError, TextError, UnspeakableTextError
from tts_core.runtime.dispatch import Dispatcher, QueueFullError
from tts_core.serve.config import RETRY_AFTER_S, ServeConfig
from tts_core.serve.errors import (CLIENT_CLOSED, EMPTY_INPUT, INVALID_INPUT, LOADING, QUEUE_FULL, RETRY_STATUSES,
                                   SYNTHESIS_FAILED, UNSPEAKABLE_INPUT, ApiError)
from tts_core.serve.metrics import ServerMetrics
from tts_core.serve.request import SpeechRequest, parse_speech_request, streaming_wav_header
from tts_core.serve.worker import DONE, EngineWorker, SpeechJob

log = logging.getLogger("tts_core.serve")
DISCONNECT_POLL_S = 0.25  # how often a request still waiting for its first chunk checks its client
MEDIA_TYPES = {"wav": "audio/wav", "pcm": "audio/pcm"}
GONE = object()  # the client left before its first audio


class ServerState:
    """The engine (once loaded), its dispatcher and the metrics of one app."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.engine: Any = None
        self.load_error: Optional[str] = None
        self.ready = threading.Event()
        self.dispatcher: Optional[Dispatcher[SpeechJob]] = None
        self.worker: Optional[EngineWorker] = None
        self.metrics = ServerMetrics(
            queue_depth=lambda: self.dispatcher.depth if self.dispatcher else 0,
            cancelled_streams=lambda: self.worker.cancelled_streams if self.worker else 0,
        )

    def attach(self, engine: Any) -> None:
        """Serve with `engine`: start its dispatcher under the configured policy (batching as the tier does)."""
        self.engine = engine
        self.worker = EngineWorker(engine, on_batch=self.metrics.batch_size.observe)
        self.dispatcher = Dispatcher(self.worker, self.config.batch_policy(engine.tier), self.config.max_queue,
                                     name="tts-serve-dispatcher", open_stream=self.worker.open)
        self.ready.set()

    def load(self, loader: Callable[[], Any]) -> None:
        """Load the engine with `loader` (in a thread of its own); a failure is kept for `/health`."""
        try:
            self.attach(loader())
        except Exception as exc:  # noqa: BLE001 - reported by /health and by the command line
            log.exception("the engine failed to load")
            self.load_error = f"{type(exc).__name__}: {exc}"

    @property
    def voices(self) -> tuple[str, ...]:
        """Names a request may give as `voice`: the configured name, the loaded voice's name, "default"."""
        return tuple(dict.fromkeys((self.config.voice, self.engine.voice.name, "default")))

    def close(self) -> None:
        if self.dispatcher is not None:
            self.dispatcher.close(timeout_s=1.0)


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
    startup in a thread (`/health` answers 503 until it is ready). The app's state is `app.state.tts`."""
    state = ServerState(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if callable(engine) and not hasattr(engine, "stream"):
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
        e = state.engine
        return JSONResponse({"status": "ok", "voice": e.voice.name, "tier": e.tier.name, "sample_rate": e.sample_rate})

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
        job = SpeechJob(req.text, state.engine.voice.length_scale / req.speed,
                        deliver=lambda item: loop.call_soon_threadsafe(queue.put_nowait, item), arrived_s=t0)

        def cancel() -> None:
            job.cancelled.set()
            if state.dispatcher.withdraw(job):
                state.worker.count_cancelled()  # never started: counted here, the worker never sees it

        try:
            state.dispatcher.submit(job)
        except QueueFullError as exc:
            return _error(ApiError(QUEUE_FULL, f"The server is busy: {exc} Retry after {RETRY_AFTER_S} s."), state)
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
                                 headers={"X-Sample-Rate": str(state.engine.sample_rate)})

    return app


async def _body(req: SpeechRequest, first: object, queue: "asyncio.Queue[object]", cancel: Callable[[], None],
                state: ServerState, t0: float) -> AsyncIterator[bytes]:
    """The response body: the WAV header (wav only), then each chunk as the dispatcher delivers it. A
    client that leaves cancels the synthesis (the generator is closed, `finally` runs)."""
    done = False
    try:
        if req.response_format == "wav":
            yield streaming_wav_header(state.engine.sample_rate)
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
