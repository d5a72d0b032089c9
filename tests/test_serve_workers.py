"""The server's `--workers N` end to end on the tiny voice: N engine processes behind one HTTP server give the same
audio and the same errors as one engine, spread concurrent requests over the processes, stream, cancel, and keep
serving when one process dies. Order by events, never by wall time."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any, Callable, Iterator

import pytest

from optional_deps import require

httpx = require("httpx")
require("fastapi")
require("uvicorn")

from real_server import RealServer, running  # noqa: E402
from tts_core.errors import ConfigError  # noqa: E402
from tts_core.serve.__main__ import parse_args  # noqa: E402
from tts_core.serve.config import ServeConfig  # noqa: E402

HANG_GUARD_S = 60.0  # only reached when something hangs; no test passes or fails on speed
# about a minute of audio at speed 0.25: the engine works on it for a second or more, far longer than the few
# milliseconds between its first chunk reaching the test and the test's next request reaching the server
LONG_TEXT = " ".join(f"This is sentence number {i}, spoken to make a long stream." for i in range(40))


@contextlib.contextmanager
def two_cores() -> Iterator[None]:
    """Start a server inside this block on at most two cores (children inherit the mask): each of two engine
    processes then runs one torch thread, as the single-engine server does (OMP_NUM_THREADS=1), so the float
    arithmetic and thus the samples are the same on any machine."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, sorted(before)[:2])
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@pytest.fixture(scope="module")
def one() -> Iterator[RealServer]:
    with running() as s:
        yield s


@pytest.fixture(scope="module")
def two() -> Iterator[RealServer]:
    with two_cores():
        server = RealServer("--workers", "2")
    try:
        yield server
    finally:
        server.stop()


def speech(**fields: Any) -> dict[str, Any]:
    return {"model": "tts-1", "voice": "tiny", "response_format": "pcm", **fields}


def pcm(url: str, text: str, speed: float = 1.0) -> bytes:
    r = httpx.post(f"{url}/v1/audio/speech", json=speech(input=text, speed=speed), timeout=HANG_GUARD_S)
    assert r.status_code == 200, r.text
    return r.content


def engines(url: str) -> list[dict[str, Any]]:
    r = httpx.get(f"{url}/health", timeout=HANG_GUARD_S)
    return r.json()["engines"]


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {HANG_GUARD_S:g} s"
        time.sleep(0.05)


def test_the_server_listens_once_every_engine_process_is_loaded(two: RealServer) -> None:
    r = httpx.get(f"{two.url}/health")
    assert r.status_code == 200  # 'listening on' came after both loaded: no 503 "loading" in between
    body = r.json()
    assert (body["status"], body["voice"], body["workers"]) == ("ok", "tiny", 2)
    assert [(e["index"], e["alive"]) for e in body["engines"]] == [(0, True), (1, True)]
    assert len({e["pid"] for e in body["engines"]} | {two.proc.pid}) == 3  # three processes


def test_two_concurrent_requests_go_to_both_processes_and_get_the_single_engines_audio(
        one: RealServer, two: RealServer) -> None:
    before = [e["requests"] for e in engines(two.url)]
    with httpx.stream("POST", f"{two.url}/v1/audio/speech", json=speech(input=LONG_TEXT, speed=0.25),
                      timeout=HANG_GUARD_S) as long:
        assert long.status_code == 200
        parts = long.iter_raw()
        first = next(parts)  # the long request is being served: in flight on one process
        short = pcm(two.url, "A second request, while the first one streams.")  # least loaded: the other one
        long_audio = first + b"".join(parts)
    after = [e["requests"] for e in engines(two.url)]
    assert [a - b for a, b in zip(after, before)] == [1, 1], (before, after)
    assert long_audio == pcm(one.url, LONG_TEXT, speed=0.25)  # sample for sample, the same seed
    assert short == pcm(one.url, "A second request, while the first one streams.")


def test_a_long_text_streams_in_chunks_from_an_engine_process(one: RealServer, two: RealServer) -> None:
    text = " ".join(LONG_TEXT.split(". ")[:8])
    with httpx.stream("POST", f"{two.url}/v1/audio/speech", json=speech(input=text), timeout=HANG_GUARD_S) as r:
        assert r.status_code == 200 and r.headers.get("transfer-encoding") == "chunked"
        parts = [p for p in r.iter_raw() if p]
    assert len(parts) > 1 and b"".join(parts) == pcm(one.url, text)


def test_a_client_that_leaves_mid_stream_stops_the_synthesis_in_its_process(two: RealServer) -> None:
    def cancelled() -> float:
        text = httpx.get(f"{two.url}/metrics").text
        return float(next(line.split()[1] for line in text.splitlines() if line.startswith("tts_cancelled_streams ")))

    before = cancelled()
    with httpx.stream("POST", f"{two.url}/v1/audio/speech", json=speech(input=LONG_TEXT, speed=0.25),
                      timeout=HANG_GUARD_S) as r:
        assert r.status_code == 200
        next(r.iter_raw())  # the first audio, then hang up
    wait_for(lambda: cancelled() > before, "the engine process stopped the synthesis")
    wait_for(lambda: all(e["in_flight"] == 0 for e in engines(two.url)), "the request ended in its process")
    assert cancelled() == before + 1
    assert pcm(two.url, "Next, please.")  # served again


@pytest.mark.parametrize("text", ["", "?! ... !!"], ids=["empty", "unspeakable"])
def test_bad_text_gets_the_same_error_as_from_one_engine(one: RealServer, two: RealServer, text: str) -> None:
    answers = [httpx.post(f"{s.url}/v1/audio/speech", json=speech(input=text), timeout=HANG_GUARD_S)
               for s in (one, two)]
    assert answers[0].status_code == 400 and answers[0].json()["error"]["param"] == "input"
    assert [(a.status_code, a.json()) for a in answers[1:]] == [(answers[0].status_code, answers[0].json())]


def test_workers_must_be_at_least_one_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"`workers` = 0 .*>= 1"):
        ServeConfig(workers=0)
    with pytest.raises(ConfigError, match=r"`workers`"):
        parse_args(["--workers", "0"])
    assert ServeConfig().workers == 1 and parse_args(["--workers", "3"]).workers == 3


def test_an_engine_process_that_fails_to_load_makes_the_server_exit_1() -> None:
    r = subprocess.run([sys.executable, "-m", "tts_core.serve", "--voice", "nope", "--port", "0", "--workers", "2"],
                       capture_output=True, text=True, timeout=HANG_GUARD_S, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 1, r.stderr[-2000:]
    assert "the engine did not load" in r.stderr and "'nope'" in r.stderr and "listening on" not in r.stdout


def test_a_process_that_dies_fails_its_request_and_the_others_serve_on() -> None:
    with two_cores():
        server = RealServer("--workers", "2")
    try:
        url = server.url
        with httpx.stream("POST", f"{url}/v1/audio/speech", json=speech(input=LONG_TEXT, speed=0.25),
                          timeout=HANG_GUARD_S) as r:
            assert r.status_code == 200
            parts = r.iter_raw()
            next(parts)  # in flight on engine 0 (the least loaded; ties go to the lowest index)
            os.kill(engines(url)[0]["pid"], signal.SIGKILL)
            with pytest.raises(httpx.RemoteProtocolError):  # the body ends early, as for any mid-stream failure
                for _ in parts:
                    pass
        assert [e["alive"] for e in engines(url)] == [False, True]
        assert pcm(url, "Still serving.")  # on engine 1
        errors = httpx.get(f"{url}/metrics").text
        assert 'tts_request_errors_total{code="synthesis_failed"} 1.0' in errors
        os.kill(engines(url)[1]["pid"], signal.SIGKILL)
        wait_for(lambda: httpx.get(f"{url}/health").status_code == 503, "health says no engine is left")
        assert httpx.get(f"{url}/health").json()["status"] == "failed"
        r = httpx.post(f"{url}/v1/audio/speech", json=speech(input="Anyone?"), timeout=HANG_GUARD_S)
        assert (r.status_code, r.json()["error"]["code"]) == (503, "no_engine")
    finally:
        server.stop()
    assert server.proc.returncode is not None


def test_engine_processes_load_one_after_another() -> None:
    """A tier that calibrates measures alone, once: the second process starts loading only after the first has
    loaded (and stored its choices for this thread count). Read from the order of the processes' log lines."""
    with two_cores():
        server = RealServer("--workers", "2", "--log-level", "info")
    server.stop()
    log = server.stderr()  # complete once the server has exited
    loaded, second = log.find("[engine 0]: engine loaded"), log.find("[engine 1]: loading the engine")
    assert loaded >= 0 and second >= 0, log[-2000:]
    assert loaded < second, log[-2000:]

