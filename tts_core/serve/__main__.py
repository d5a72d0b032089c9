"""`python -m tts_core.serve`: load one engine (or `--workers N` engine processes) and serve it over HTTP until
interrupted."""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import threading
import time
from dataclasses import fields
from typing import Any, Optional, Sequence

from tts_core.errors import ConfigError
from tts_core.runtime.dispatch import POLICIES
from tts_core.serve.config import LOG_LEVELS, ServeConfig

MISSING_EXTRA = ("the speech server needs the `server` extra (FastAPI, uvicorn, prometheus-client): "
                 "pip install -e '.[server]'  (missing: {name})")
_D = {f.name: f.default for f in fields(ServeConfig)}


def parse_args(argv: Optional[Sequence[str]] = None) -> ServeConfig:
    """The command line as a validated `ServeConfig` (raises `ConfigError` naming the bad option)."""
    p = argparse.ArgumentParser(prog="python -m tts_core.serve", description=(
        "Serve one voice over HTTP: POST /v1/audio/speech (OpenAI's fields; wav or pcm, streamed), "
        "GET /health, GET /metrics (Prometheus). See docs/serving.md."))
    p.add_argument("--voice", default=_D["voice"], help="voice to load: joe-medium or tiny (default %(default)s)")
    p.add_argument("--tier", default=_D["tier"], help="optimization tier: baseline, optimized, advanced or an "
                   "ablation such as baseline+compile (default %(default)s)")
    p.add_argument("--host", default=_D["host"], help="address to listen on; loopback by default, use 0.0.0.0 "
                   "to expose it on purpose (default %(default)s)")
    p.add_argument("--port", type=int, default=_D["port"], help="TCP port; 0 picks a free one, printed on the "
                   "'listening on' line (default %(default)s)")
    p.add_argument("--device", default=_D["device"], help="cpu, cuda, cuda:N or auto (default %(default)s)")
    p.add_argument("--seed", type=int, default=_D["seed"], help="sampling seed: same text, same audio "
                   "(default %(default)s)")
    p.add_argument("--max-queue", type=int, default=_D["max_queue"], help="requests waiting for the engine "
                   "before new ones get 429 with Retry-After (default %(default)s)")
    p.add_argument("--max-batch", type=int, default=_D["max_batch"], help="most waiting requests served in one "
                   "synthesize_batch, on tiers that batch or have workers (default %(default)s)")
    p.add_argument("--max-wait-ms", type=float, default=_D["max_wait_ms"], help="milliseconds the first waiting "
                   "request waits for others to batch with (default %(default)s)")
    p.add_argument("--policy", default=_D["policy"], choices=POLICIES, help="batch: requests served whole, batched "
                   "where the tier batches; deadline: every request streams, one chunk at a time, the chunk due "
                   "soonest first (--max-batch streams at once) (default %(default)s)")
    p.add_argument("--first-audio-ms", type=float, default=_D["first_audio_ms"], help="deadline policy: a new "
                   "request's first chunk is due this many milliseconds after it came (default %(default)g)")
    p.add_argument("--max-input-chars", type=int, default=_D["max_input_chars"], help="longest `input` in "
                   "characters; longer gets 413 (default %(default)s, OpenAI's limit)")
    p.add_argument("--workers", type=int, default=_D["workers"], help="engines: 1 serves from one engine in this "
                   "process; N > 1 starts N engine processes, each with the usable cores divided by N as torch "
                   "threads, and sends each request to the one with the fewest in flight; --policy, --max-batch and "
                   "--first-audio-ms apply inside each, --max-queue to all together (default %(default)s)")
    p.add_argument("--log-level", default=_D["log_level"], choices=LOG_LEVELS, help="(default %(default)s)")
    a = p.parse_args(argv)
    return ServeConfig(voice=a.voice, tier=a.tier, host=a.host, port=a.port, device=a.device, seed=a.seed,
                       max_queue=a.max_queue, max_batch=a.max_batch, max_wait_ms=a.max_wait_ms,
                       policy=a.policy, first_audio_ms=a.first_audio_ms, max_input_chars=a.max_input_chars,
                       log_level=a.log_level, workers=a.workers)


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on `host`:`port` (0: a free port, read back with getsockname)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _announce(server: Any, state: Any, url: str, result: dict[str, int]) -> None:
    """Print the 'listening on' line once the server accepts and the engine (every engine process) is loaded; stop
    it if loading failed."""
    while not (server.started and (state.ready.is_set() or state.load_error)):
        if server.should_exit:
            return
        time.sleep(0.02)
    if state.load_error:
        print(f"error: the engine did not load: {state.load_error}", file=sys.stderr, flush=True)
        result["rc"] = 1
        server.should_exit = True
        return
    print(f"listening on {url}", flush=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the server; returns the exit status (0 after Ctrl-C, 1 if the engine fails to load, 2 on bad options)."""
    try:
        config = parse_args(argv)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        import uvicorn

        from tts_core.serve.app import create_app
    except ImportError as exc:
        print(f"error: {MISSING_EXTRA.format(name=exc.name)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        sock = bind(config.host, config.port)
    except OSError as exc:
        print(f"error: cannot listen on {config.host}:{config.port}: {exc}; pick another --port (0: any free one).",
              file=sys.stderr)
        return 2
    host, port = sock.getsockname()[:2]
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def load() -> Any:
        from tts_core.engine import Engine

        return Engine.load(voice=config.voice, device=config.device, tier=config.tier, seed=config.seed)

    app = create_app(load, config)
    server = uvicorn.Server(uvicorn.Config(app, log_level=config.log_level, access_log=config.log_level == "debug",
                                           timeout_graceful_shutdown=5, lifespan="on"))
    result = {"rc": 0}
    threading.Thread(target=_announce, args=(server, app.state.tts, url, result), daemon=True).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # Ctrl-C: uvicorn has shut down gracefully, then re-raises the signal it caught
        print("stopped (Ctrl-C)", file=sys.stderr)
    return result["rc"]


if __name__ == "__main__":
    sys.exit(main())
