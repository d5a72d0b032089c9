"""The server's `--policy deadline` end to end on the tiny voice: overlapping requests are served chunk by chunk,
interleaved, where `batch` serves one whole before the next. Order by events, never by wall time."""

from __future__ import annotations

import threading
from typing import Iterator

import pytest

from optional_deps import require

httpx = require("httpx")
require("fastapi")
require("uvicorn")

from real_server import RealServer, running  # noqa: E402

HANG_GUARD_S = 60.0  # only reached when the server hangs; no test passes or fails on speed
LONG_TEXT = " ".join(f"This is sentence number {i}, spoken to make a long stream." for i in range(40))


@pytest.fixture(scope="module")
def server() -> Iterator[RealServer]:
    with running("--policy", "deadline") as s:
        yield s


def _body(url: str, text: str, speed: float) -> Iterator[bytes]:
    with httpx.stream("POST", f"{url}/v1/audio/speech", timeout=HANG_GUARD_S,
                      json={"model": "tts-1", "voice": "tiny", "input": text, "response_format": "pcm",
                            "speed": speed}) as r:
        assert r.status_code == 200, r.read()
        yield from (chunk for chunk in r.iter_raw() if chunk)


def test_a_second_request_gets_its_first_chunk_before_the_first_request_ends(server: RealServer) -> None:
    events: list[str] = []
    lock, first_playing = threading.Lock(), threading.Event()

    def note(event: str) -> None:
        with lock:
            events.append(event)

    def second() -> None:
        first_playing.wait(HANG_GUARD_S)
        for _ in _body(server.url, "A short second request.", 1.0):
            note("second: first chunk")
            break

    client = threading.Thread(target=second, name="second-client")
    client.start()
    n_chunks = 0
    for _ in _body(server.url, LONG_TEXT, 0.25):  # slow speech: minutes of audio, the listener far from running out
        n_chunks += 1
        first_playing.set()
    note("first: last chunk")
    client.join(HANG_GUARD_S)
    assert n_chunks > 1 and events == ["second: first chunk", "first: last chunk"]
