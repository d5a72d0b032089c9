"""The speech server end to end: `python -m tts_core.serve` on 127.0.0.1 (a free port) with the tiny voice."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
from typing import Any, Iterator

import numpy as np
import pytest

from optional_deps import require

httpx = require("httpx")
require("fastapi")
require("uvicorn")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from tts_core.engine import Engine  # noqa: E402

START_TIMEOUT_S = 120.0
LONG_TEXT = " ".join(f"This is sentence number {i}, spoken to make a long stream." for i in range(40))
SERIES = {"tts_requests", "tts_request_errors", "tts_time_to_first_audio_seconds", "tts_request_duration_seconds",
          "tts_queue_depth", "tts_resident_memory_bytes", "tts_cancelled_streams", "tts_batch_size"}


class Server:
    """A server subprocess; `url` once its 'listening on' line came."""

    def __init__(self, *args: str, default_sigint: bool = False) -> None:
        cmd = [sys.executable, "-m", "tts_core.serve", "--voice", "tiny", "--tier", "baseline", "--host",
               "127.0.0.1", "--port", "0", "--log-level", "warning", *args]
        # a shell's background job inherits SIGINT ignored, and Python then keeps ignoring it: `default_sigint`
        # gives the server SIGINT's default, as a terminal's Ctrl-C finds it
        restore = (lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) if default_sigint else None
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "OMP_NUM_THREADS": "1"}, preexec_fn=restore)
        lines: "queue.Queue[str]" = queue.Queue()
        threading.Thread(target=lambda: [lines.put(l) for l in self.proc.stdout], daemon=True).start()  # type: ignore[union-attr]
        try:
            line = lines.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            self.stop()
            raise RuntimeError(f"the server did not start: {self.proc.stderr.read()[-2000:]}")  # type: ignore[union-attr]
        assert line.startswith("listening on http://127.0.0.1:"), line
        self.url = line.split()[-1]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    s = Server("--max-queue", "8")
    yield s
    s.stop()


def speech(**fields: Any) -> dict[str, Any]:
    return {"model": "tts-1", "voice": "tiny", **fields}


def metrics(url: str) -> dict[str, float]:
    """Every sample of /metrics by name (labels dropped: summed)."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for s in family.samples:
            out[s.name] = out.get(s.name, 0.0) + s.value
    return out


def test_health_names_the_loaded_voice(server: Server) -> None:
    r = httpx.get(f"{server.url}/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "voice": "tiny", "tier": "baseline", "sample_rate": 22050}


def test_wav_has_the_samples_the_engine_makes_for_the_same_text_and_seed(server: Server) -> None:
    text = "Hello there. The server speaks two sentences."
    r = httpx.post(f"{server.url}/v1/audio/speech", json=speech(input=text, response_format="wav"), timeout=60)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert r.headers["x-sample-rate"] == "22050"
    body = r.content
    assert body[:4] == b"RIFF" and body[8:16] == b"WAVEfmt " and body[36:40] == b"data"
    channels, rate, bits = struct.unpack("<H", body[22:24])[0], struct.unpack("<I", body[24:28])[0], struct.unpack("<H", body[34:36])[0]
    assert (channels, rate, bits) == (1, 22050, 16)
    served = np.frombuffer(body[44:], dtype="<i2")
    expected = Engine.load(voice="tiny", tier="baseline", seed=0).synthesize(text).to_int16()
    assert len(served) == len(expected) > 0
    pcm = httpx.post(f"{server.url}/v1/audio/speech", json=speech(input=text, response_format="pcm"), timeout=60)
    assert pcm.status_code == 200 and pcm.content == body[44:]  # pcm = the same samples, no header


def test_long_input_streams_chunks_before_the_synthesis_ends(server: Server) -> None:
    arrivals = []
    t0 = time.perf_counter()
    with httpx.stream("POST", f"{server.url}/v1/audio/speech", json=speech(input=LONG_TEXT, response_format="pcm"),
                      timeout=120) as r:
        assert r.status_code == 200 and r.headers.get("transfer-encoding") == "chunked"
        for part in r.iter_raw():
            arrivals.append((time.perf_counter() - t0, len(part)))
    total_s = arrivals[-1][0]
    assert len(arrivals) >= 5, arrivals
    assert arrivals[0][0] < 0.5 * total_s, (arrivals[0], total_s)  # first audio long before the last


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
    server: Server, body: Any, status: int, param: str | None, code: str
) -> None:
    kwargs = {"content": body} if isinstance(body, str) else {"json": body}
    r = httpx.post(f"{server.url}/v1/audio/speech", timeout=30, **kwargs)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["type"] == "invalid_request_error"
    assert (err["param"], err["code"]) == (param, code) and err["message"]
    assert httpx.get(f"{server.url}/health").status_code == 200


def test_fifty_concurrent_requests_on_a_queue_of_eight_give_429s_and_no_crash(server: Server) -> None:
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


def test_a_client_that_leaves_mid_stream_stops_its_synthesis(server: Server) -> None:
    before = metrics(server.url)["tts_cancelled_streams"]
    with httpx.stream("POST", f"{server.url}/v1/audio/speech", json=speech(input=LONG_TEXT), timeout=60) as r:
        assert r.status_code == 200
        next(r.iter_raw())  # the header and first audio, then hang up
    deadline = time.monotonic() + 20
    while metrics(server.url)["tts_cancelled_streams"] <= before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert metrics(server.url)["tts_cancelled_streams"] == before + 1
    t0 = time.perf_counter()
    r = httpx.post(f"{server.url}/v1/audio/speech", json=speech(input="Next, please."), timeout=60)
    assert r.status_code == 200 and time.perf_counter() - t0 < 10.0


def test_metrics_parse_as_prometheus_text_with_the_named_series(server: Server) -> None:
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


def test_a_client_that_leaves_while_queued_is_withdrawn(server: Server) -> None:
    before = metrics(server.url)["tts_cancelled_streams"]
    busy = threading.Thread(target=httpx.post, args=(f"{server.url}/v1/audio/speech",),
                            kwargs={"json": speech(input=LONG_TEXT, speed=0.25), "timeout": 120})  # 4x the audio
    busy.start()
    time.sleep(0.2)
    with pytest.raises(httpx.ReadTimeout):  # gives up while the engine serves the long one
        httpx.post(f"{server.url}/v1/audio/speech", json=speech(input=LONG_TEXT), timeout=httpx.Timeout(10, read=0.3))
    busy.join(timeout=120)
    assert metrics(server.url)["tts_cancelled_streams"] == before + 1
    assert 'tts_requests_total{status="499"}' in httpx.get(f"{server.url}/metrics").text


def test_ctrl_c_stops_the_server_cleanly() -> None:
    """Ctrl-C (SIGINT) ends the server after a graceful shutdown: exit 0, no traceback."""
    s = Server(default_sigint=True)
    s.proc.send_signal(signal.SIGINT)
    _, err = s.proc.communicate(timeout=30)
    assert s.proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err and "stopped (Ctrl-C)" in err
