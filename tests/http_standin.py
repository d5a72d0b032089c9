"""A stand-in for `python -m tts_core.serve` that speaks the same contract, for the HTTP harness tests.

    GET  /health            200 {"status": "ok", "voice", "tier", "sample_rate"} (503 with --never-healthy)
    POST /v1/audio/speech   {"model", "input", "voice", "response_format": "pcm"|"wav", "speed"} -> 200 chunked:
                            a 220 Hz sine, WORD_S seconds of audio per word of `input` (divided by `speed`), sent in
                            CHUNK_S chunks with `chunk_delay_s` between them; `wav` starts with a streaming header.
                            Errors: OpenAI-shaped JSON, 400 (empty input, bad format), 413 (input too long).

Runs in a thread of the test (`start_in_thread`) or as a process with tts_core.serve's arguments:
`python -m tests.http_standin --voice tiny --tier baseline --host 127.0.0.1 --port P` (`--tier crash` exits at once
with code 3, as a server that fails to load; `--never-healthy` answers 503 forever). Loopback only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.engines.http_wire import wav_header  # noqa: E402

RATE = 22050
WORD_S = 0.25  # seconds of audio per word
CHUNK_S = 0.1  # seconds of audio per chunk
MAX_CHARS = 4096


def audio_for(text: str, speed: float = 1.0, rate: int = RATE) -> np.ndarray:
    """The int16 samples the stand-in speaks for `text`."""
    n = int(round(len(text.split()) * WORD_S / speed * rate))
    t = np.arange(n) / rate
    return (0.3 * np.sin(2 * math.pi * 220.0 * t) * 32767).astype("<i2")


def make_handler(voice: str, tier: str, chunk_delay_s: float, healthy: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet in tests
            pass

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except (ConnectionResetError, BrokenPipeError):  # a client that closed its keep-alive connection
                self.close_connection = True

        def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str, param: str | None, code: str) -> None:
            self._json(status, {"error": {"message": message, "type": "invalid_request_error", "param": param,
                                          "code": code}})

        def do_GET(self) -> None:
            if self.path != "/health":
                return self._error(404, f"no route {self.path}", None, "not_found")
            if not healthy:
                return self._json(503, {"status": "loading"})
            self._json(200, {"status": "ok", "voice": voice, "tier": tier, "sample_rate": RATE})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            text, fmt = str(body.get("input") or ""), body.get("response_format", "pcm")
            if self.path != "/v1/audio/speech":
                return self._error(404, f"no route {self.path}", None, "not_found")
            if not text.strip():
                return self._error(400, "`input` is empty", "input", "empty_input")
            if len(text) > MAX_CHARS:
                return self._error(413, f"`input` has {len(text)} characters; at most {MAX_CHARS}", "input", "too_long")
            if fmt not in ("pcm", "wav"):
                return self._error(400, f"`response_format` {fmt!r}: expected pcm or wav", "response_format", "bad_format")
            samples = audio_for(text, float(body.get("speed") or 1.0))
            self.send_response(200)
            self.send_header("Content-Type", "audio/pcm" if fmt == "pcm" else "audio/wav")
            self.send_header("X-Sample-Rate", str(RATE))
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            parts = [wav_header(RATE)] if fmt == "wav" else []
            step = int(CHUNK_S * RATE)
            parts += [samples[i:i + step].tobytes() for i in range(0, len(samples), step)]
            for i, part in enumerate(parts):
                if i and chunk_delay_s:
                    time.sleep(chunk_delay_s)
                self.wfile.write(f"{len(part):X}\r\n".encode() + part + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")

    return Handler


def start_in_thread(voice: str = "tiny", tier: str = "baseline", chunk_delay_s: float = 0.0,
                    healthy: bool = True) -> tuple[ThreadingHTTPServer, str]:
    """Serve on 127.0.0.1 and a free port in a daemon thread; returns the server and its speech URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(voice, tier, chunk_delay_s, healthy))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http-standin", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1/audio/speech"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1"])
    parser.add_argument("--voice", default="tiny")
    parser.add_argument("--tier", default="baseline")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-queue", type=int, default=8)  # the contract's option; the stand-in never queues
    parser.add_argument("--chunk-delay-s", type=float, default=0.0)
    parser.add_argument("--never-healthy", action="store_true")
    args = parser.parse_args()
    if args.tier == "crash":
        print(f"stand-in: cannot load tier {args.tier!r}", file=sys.stderr, flush=True)
        sys.exit(3)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.voice, args.tier, args.chunk_delay_s,
                                                                        not args.never_healthy))
    print(f"listening on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
