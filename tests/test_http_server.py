"""The speech server end to end: `python -m tts_core.serve` on 127.0.0.1 (a free port) with the tiny voice."""

from __future__ import annotations

import asyncio
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Iterator

import numpy as np
import pytest

from optional_deps import require

httpx = require("httpx")
require("fastapi")
require("uvicorn")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from real_server import SEED, TIER, VOICE, RealServer, running  # noqa: E402
from tts_core.engine import Engine  # noqa: E402
from tts_core.serve.errors import ERRORS  # noqa: E402

HANG_GUARD_S = 60.0  # a condition polled for longer than this is a hang, not a slow machine
SENTENCES = [f"This is sentence number {i}, spoken to make a long stream." for i in range(40)]
LONG_TEXT = " ".join(SENTENCES)
SERIES = {"tts_requests", "tts_request_errors", "tts_time_to_first_audio_seconds", "tts_request_duration_seconds",
          "tts_queue_depth", "tts_resident_memory_bytes", "tts_cancelled_streams", "tts_batch_size"}


@pytest.fixture(scope="module")
def server() -> Iterator[RealServer]:
    with running("--max-queue", "8") as s:
        yield s


def speech(**fields: Any) -> dict[str, Any]:
    return {"model": "tts-1", "voice": "tiny", **fields}


def metrics(url: str) -> dict[str, float]:
    """Every sample of /metrics by name (labels dropped: summed)."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for s in family.samples:
            out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def answered(url: str, status: str) -> float:
    """How many speech requests the server answered with `status` (its `tts_requests_total`)."""
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for s in family.samples:
            if s.name == "tts_requests_total" and s.labels.get("status") == status:
                return s.value
    return 0.0


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll `condition` until it holds; fails after HANG_GUARD_S (a hang, not a slow machine)."""
    deadline = time.monotonic() + HANG_GUARD_S
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {HANG_GUARD_S:g} s"
        time.sleep(0.05)


def engine() -> Engine:
    """The engine the server runs, loaded here: same voice, tier and seed."""
    return Engine.load(voice=VOICE, tier=TIER, seed=SEED)


def test_health_names_the_loaded_voice(server: RealServer) -> None:
    r = httpx.get(f"{server.url}/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "voice": "tiny", "tier": "baseline", "sample_rate": 22050}


def test_wav_has_the_samples_the_engine_makes_for_the_same_text_and_seed(server: RealServer, one_thread: None) -> None:
    text = "Hello there. The server speaks two sentences."
    r = httpx.post(f"{server.url}/v1/audio/speech", json=speech(input=text, response_format="wav"), timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert r.headers["x-sample-rate"] == "22050"
    body = r.content
    assert body[:4] == b"RIFF" and body[8:16] == b"WAVEfmt " and body[36:40] == b"data"
    channels, rate, bits = struct.unpack("<H", body[22:24])[0], struct.unpack("<I", body[24:28])[0], struct.unpack("<H", body[34:36])[0]
    assert (channels, rate, bits) == (1, 22050, 16)
    served = np.frombuffer(body[44:], dtype="<i2")
    expected = engine().synthesize(text).to_int16()
    assert len(expected) > 0
    np.testing.assert_array_equal(served, expected)  # sample for sample: int16 on both sides, the same seed
    pcm = httpx.post(f"{server.url}/v1/audio/speech", json=speech(input=text, response_format="pcm"), timeout=60)
    assert pcm.status_code == 200 and pcm.content == body[44:]  # pcm = the same samples, no header


def test_long_input_streams_chunks_before_the_synthesis_ends(server: RealServer, one_thread: None) -> None:
    """Each sentence goes out as its own chunk, the engine's stream chunk for chunk (a body gathered first would
    come as one). That the first chunk leaves while the engine is still at work is shown by events in
    `test_a_client_that_leaves_mid_stream_stops_its_synthesis`: hanging up after it stops the synthesis."""
    text = " ".join(SENTENCES[:8])
    expected = [c.to_int16().tobytes() for c in engine().stream(text)]
    with httpx.stream("POST", f"{server.url}/v1/audio/speech", json=speech(input=text, response_format="pcm"),
                      timeout=120) as r:
        assert r.status_code == 200 and r.headers.get("transfer-encoding") == "chunked"
        parts = list(r.iter_raw())  # one per chunk of the body, or pieces of one: never two chunks merged
    assert len(expected) >= 5 and b"".join(parts) == b"".join(expected)
    wire_ends = set(np.cumsum([len(p) for p in parts]).tolist())
    sentence_ends = np.cumsum([len(c) for c in expected]).tolist()
    assert all(end in wire_ends for end in sentence_ends), (len(parts), len(expected))


BAD = [
    ("not json", 400, None, "invalid_json"),
    (speech(), 400, "input", "missing_required_parameter"),
    ({"model": "tts-1", "input": "Hi."}, 400, "voice", "missing_required_parameter"),
    (speech(input=""), 400, "input", "empty_input"),
    (speech(input="?! ... !!"), 400, "input", "unspeakable_input"),
    (speech(input="x" * 4097), 413, "input", "input_too_long"),
    (speech(input="Hi.", voice="alloy"), 400, "voice", "invalid_voice"),
    (speech(input="Hi.", response_format="mp3"), 400, "response_format", "unsupported_format"),
    (speech(input="Hi.", speed=10), 400, "speed", "invalid_speed"),
    (speech(input="Hi.", stream_format="sse"), 400, "stream_format", "unsupported_stream_format"),
]


@pytest.mark.parametrize("body, status, param, code", BAD, ids=[b[3] for b in BAD])
def test_bad_request_gets_an_openai_error_and_the_server_stays_up(
    server: RealServer, body: Any, status: int, param: str | None, code: str
) -> None:
    kwargs = {"content": body} if isinstance(body, str) else {"json": body}
    r = httpx.post(f"{server.url}/v1/audio/speech", timeout=30, **kwargs)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["type"] == "invalid_request_error"
    assert (err["param"], err["code"]) == (param, code) and err["message"]
    assert ERRORS[code].status == status  # the one table the server (and the tests' stand-in) answer from
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_fifty_concurrent_requests_on_a_queue_of_eight_give_429s_and_no_crash(server: RealServer) -> None:
    text = " ".join(["A sentence of moderate length keeps the engine busy for a while."] * 4)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=60)) as client:
            return await asyncio.gather(*[client.post(f"{server.url}/v1/audio/speech", json=speech(input=text))
                                          for _ in range(50)])

    responses = asyncio.run(burst())
    statuses = [r.status_code for r in responses]
    busy = [r for r in responses if r.status_code == 429]
    assert busy and set(statuses) == {200, 429}, statuses
    assert statuses.count(200) >= 8  # at least a queue's worth was admitted
    assert all(r.headers["retry-after"] == "1" and r.json()["error"]["code"] == "queue_full" for r in busy)
    assert httpx.get(f"{server.url}/health").status_code == 200
    assert metrics(server.url)["tts_queue_depth"] == 0


def test_a_client_that_leaves_mid_stream_stops_its_synthesis(server: RealServer) -> None:
    before = metrics(server.url)["tts_cancelled_streams"]
    with httpx.stream("POST", f"{server.url}/v1/audio/speech", json=speech(input=LONG_TEXT), timeout=60) as r:
        assert r.status_code == 200
        next(r.iter_raw())  # the header and first audio, then hang up
    wait_for(lambda: metrics(server.url)["tts_cancelled_streams"] > before, "the synthesis stopped")
    assert metrics(server.url)["tts_cancelled_streams"] == before + 1
    r = httpx.post(f"{server.url}/v1/audio/speech", json=speech(input="Next, please."), timeout=60)
    assert r.status_code == 200 and len(r.content) > 44  # the engine is free for the next one


def test_metrics_parse_as_prometheus_text_with_the_named_series(server: RealServer) -> None:
    httpx.post(f"{server.url}/v1/audio/speech", json=speech(input="Count me."), timeout=60)
    families = {f.name: f for f in text_string_to_metric_families(httpx.get(f"{server.url}/metrics").text)}
    assert SERIES <= set(families), SERIES - set(families)
    m = metrics(server.url)
    assert m["tts_requests_total"] >= 1 and m["tts_time_to_first_audio_seconds_count"] >= 1
    assert m["tts_resident_memory_bytes"] > 10 * 2**20


def test_the_command_line_rejects_a_bad_option_naming_it() -> None:
    r = subprocess.run([sys.executable, "-m", "tts_core.serve", "--max-queue", "0"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "`max_queue`" in r.stderr and ">= 1" in r.stderr


def test_without_the_extra_the_command_names_it_and_the_engine_needs_none() -> None:
    code = ("import sys; sys.modules['uvicorn'] = None; import tts_core.engine, tts_core.serve; "
            "assert 'fastapi' not in sys.modules; from tts_core.serve.__main__ import main; sys.exit(main(['--voice', 'tiny']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "`server` extra" in r.stderr and "uvicorn" in r.stderr, r.stderr


def test_a_client_that_leaves_while_queued_is_withdrawn(server: RealServer) -> None:
    """Withdrawn at once, while the engine still serves another: not dropped later when its turn comes."""
    before, gone_before = metrics(server.url)["tts_cancelled_streams"], answered(server.url, "499")
    serving, statuses = threading.Event(), []

    def long_one() -> None:  # 4x the audio of LONG_TEXT: the engine is busy with it for seconds
        with httpx.stream("POST", f"{server.url}/v1/audio/speech", json=speech(input=LONG_TEXT, speed=0.25),
                          timeout=120) as r:
            statuses.append(r.status_code)
            for _ in r.iter_raw():
                serving.set()

    busy = threading.Thread(target=long_one)
    busy.start()
    try:
        assert serving.wait(HANG_GUARD_S), "the long request got no audio"
        host, port = server.url.removeprefix("http://").split(":")
        body = httpx.Request("POST", f"{server.url}/v1/audio/speech", json=speech(input="Queued, then gone.")).read()
        with socket.create_connection((host, int(port)), timeout=HANG_GUARD_S) as sock:  # a client that gives up
            sock.sendall(f"POST /v1/audio/speech HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            wait_for(lambda: metrics(server.url)["tts_queue_depth"] == 1, "the request queued behind the long one")
        wait_for(lambda: answered(server.url, "499") > gone_before, "the server saw its client leave")
        m = metrics(server.url)  # the long one is still being synthesized: only a withdrawal empties the queue
        assert (m["tts_queue_depth"], m["tts_cancelled_streams"]) == (0, before + 1)
    finally:
        busy.join(timeout=120)
    assert statuses == [200] and not busy.is_alive()
    assert answered(server.url, "499") == gone_before + 1


def test_ctrl_c_stops_the_server_cleanly() -> None:
    """Ctrl-C (SIGINT) ends the server after a graceful shutdown: exit 0, no traceback."""
    s = RealServer(default_sigint=True)
    s.proc.send_signal(signal.SIGINT)
    s.proc.wait(timeout=30)
    err = s.stderr()
    assert s.proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err and "stopped (Ctrl-C)" in err
