"""A stand-in for `python -m tts_core.serve`, only for what the real server cannot be made to do on purpose: hold
its stream after the first chunk (a slow server), end a stream early (a synthesis that fails mid-stream), or never
get healthy (a server stuck loading). Everything else is tested against the real server (`tests/real_server.py`).

It speaks the server's contract from the server's own code: the body is checked by `parse_speech_request`, every
error comes from `tts_core.serve.errors` (the one table of statuses and codes), a `wav` answer starts with the
server's streaming header. Its audio is its own: a 220 Hz sine, WORD_S seconds per word of `input` (divided by
`speed`), sent in CHUNK_S chunks.

    start_in_thread(hold=event)         after the first audio chunk, send nothing more until `event` is set
    start_in_thread(fail_after=n)       after n audio chunks, close the connection without the body's end, as
                                        tts_core.serve does when the synthesis fails mid-stream
    python -m tests.http_standin --port P --never-healthy   (tts_core.serve's other options accepted)
                                        GET /health answers 503 "loading" forever

Loopback only.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tts_core.serve.config import RETRY_AFTER_S, ServeConfig  # noqa: E402
from tts_core.serve.errors import EMPTY_INPUT, LOADING, RETRY_STATUSES, ApiError  # noqa: E402
from tts_core.serve.request import parse_speech_request, streaming_wav_header  # noqa: E402

RATE = 22050
WORD_S = 0.25  # seconds of audio per word
CHUNK_S = 0.1  # seconds of audio per chunk
HOLD_GUARD_S = 60.0  # a held stream goes on after this long anyway: a hang guard, not a timing


def audio_for(text: str, speed: float = 1.0, rate: int = RATE) -> np.ndarray:
    """The int16 samples the stand-in speaks for `text`."""
    n = int(round(len(text.split()) * WORD_S / speed * rate))
    t = np.arange(n) / rate
    return (0.3 * np.sin(2 * math.pi * 220.0 * t) * 32767).astype("<i2")


@dataclass
class Behaviour:
    """What the stand-in does differently from the real server, and what it reports back to the test."""

    voice: str = "tiny"
    tier: str = "baseline"
    healthy: bool = True
    hold: Optional[threading.Event] = None  # after the first audio chunk, wait for it
    fail_after: Optional[int] = None  # audio chunks sent before the stream is cut
    finished: threading.Event = field(default_factory=threading.Event)  # set once a whole body has been sent


def make_handler(b: Behaviour) -> type[BaseHTTPRequestHandler]:
    config = ServeConfig(voice=b.voice, tier=b.tier)
    voices = (b.voice, "default")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt: str, *args: Any) -> None:  # quiet in tests
            pass

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except (ConnectionResetError, BrokenPipeError):  # a client that closed its connection
                self.close_connection = True

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status in RETRY_STATUSES:
                self.send_header("Retry-After", str(RETRY_AFTER_S))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path != "/health":
                return self._json(404, {"detail": "Not Found"})
            if not b.healthy:
                return self._json(LOADING.status, {"status": "loading", "error": None})
            self._json(200, {"status": "ok", "voice": b.voice, "tier": b.tier, "sample_rate": RATE})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/v1/audio/speech":
                return self._json(404, {"detail": "Not Found"})
            try:
                if not b.healthy:
                    raise ApiError(LOADING, "The engine is still loading; retry shortly.")
                req = parse_speech_request(raw, config, voices)
                if not req.text.strip():  # the engine's EmptyTextError, as the server answers it
                    raise ApiError(EMPTY_INPUT, "The text is empty.", "input")
            except ApiError as exc:
                return self._json(exc.status, exc.body())
            self._stream(req.response_format, audio_for(req.text, req.speed))

        def _stream(self, fmt: str, samples: np.ndarray) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "audio/pcm" if fmt == "pcm" else "audio/wav")
            self.send_header("X-Sample-Rate", str(RATE))
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            step = int(CHUNK_S * RATE)
            parts = [samples[i:i + step].tobytes() for i in range(0, len(samples), step)]
            if fmt == "wav":
                parts[0] = streaming_wav_header(RATE) + parts[0]
            for i, part in enumerate(parts):
                if b.fail_after is not None and i == b.fail_after:
                    self.close_connection = True  # cut: no terminating chunk, as the server's body raising
                    return
                if i == 1 and b.hold is not None:
                    b.hold.wait(HOLD_GUARD_S)
                self.wfile.write(f"{len(part):X}\r\n".encode() + part + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            b.finished.set()

    return Handler


def start_in_thread(behaviour: Optional[Behaviour] = None, **kw: Any) -> tuple[ThreadingHTTPServer, str]:
    """Serve on 127.0.0.1 and a free port in a daemon thread; returns the server and its speech URL.
    `kw` are `Behaviour` fields when no `behaviour` is given."""
    b = behaviour or Behaviour(**kw)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(b))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http-standin", daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1/audio/speech"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1"])
    parser.add_argument("--voice", default="tiny")
    parser.add_argument("--tier", default="baseline")
    # the server's options; unused here
    for option in ("--device", "--seed", "--max-queue", "--max-batch", "--max-wait-ms", "--policy", "--first-audio-ms"):
        parser.add_argument(option)
    parser.add_argument("--never-healthy", action="store_true")
    args = parser.parse_args()
    behaviour = Behaviour(voice=args.voice, tier=args.tier, healthy=not args.never_healthy)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(behaviour))
    print(f"listening on http://127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
