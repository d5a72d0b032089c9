"""The HTTP side of the harness: the `engine=http` adapter against a stand-in server of our contract
(`tests/http_standin.py`), a tiny sweep over it, managed servers (`sweep.servers`), the simulated listener, and
Piper's own Flask server where flask is installed. Loopback only; every wait is bounded."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.engines.http import HttpEngine, HttpEngineError, HttpServerUnavailable
from bench.engines.http_wire import PcmDecoder, WireFormatError, wav_header
from bench.results.store import read_rows

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_standin  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STANDIN = str(ROOT / "tests" / "http_standin.py")


@pytest.fixture(scope="module")
def standin():
    server, url = http_standin.start_in_thread(voice="tiny", tier="baseline", chunk_delay_s=0.01)
    yield url
    server.shutdown()


def loaded(url: str, **kw) -> HttpEngine:
    engine = HttpEngine(url=url, **kw)
    engine.load(model="tiny", device="cpu", tier="baseline", seed=0)
    return engine


# ---- the adapter ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["pcm", "wav"])
def test_stream_gives_first_audio_before_the_end_and_the_whole_audio(standin: str, fmt: str) -> None:
    engine = loaded(standin, response_format=fmt)
    text = "one two three four five six"
    t0 = time.perf_counter()
    arrivals, chunks = [], []
    for chunk in engine.stream(text):
        arrivals.append(time.perf_counter() - t0)
        chunks.append(chunk)
    expected = http_standin.audio_for(text).astype(np.float32) / 32768.0
    got = np.concatenate([c.samples for c in chunks])
    assert len(chunks) > 1 and arrivals[0] < arrivals[-1]  # streamed: first audio well before the end
    assert arrivals[-1] >= 0.01 * (len(chunks) - 1)  # the stand-in waits 10 ms between chunks
    assert engine.sample_rate == http_standin.RATE and all(c.sample_rate == http_standin.RATE for c in chunks)
    np.testing.assert_array_equal(got, expected)
    assert engine.synthesize(text).duration == pytest.approx(6 * http_standin.WORD_S)


def test_batch_sends_every_text_and_keeps_their_order(standin: str) -> None:
    engine = loaded(standin)
    audios = engine.synthesize_batch(["one", "one two three", "one two"])
    assert [round(a.duration / http_standin.WORD_S) for a in audios] == [1, 3, 2]


def test_decoder_takes_a_streaming_wav_byte_by_byte() -> None:
    samples = (np.arange(-50, 51) * 300).astype("<i2")
    data = wav_header(16000) + samples.tobytes()
    dec = PcmDecoder(wav=True)
    got = np.concatenate([dec.feed(data[i:i + 1]) for i in range(len(data))])
    assert dec.sample_rate == 16000
    np.testing.assert_array_equal(got, samples.astype(np.float32) / 32768.0)
    with pytest.raises(WireFormatError, match="not a WAV"):
        PcmDecoder(wav=True).feed(b"ID3\x04" + bytes(40))


def test_connection_refused_names_the_url_and_how_to_start_the_server() -> None:
    from bench.servers import free_port

    url = f"http://127.0.0.1:{free_port()}/v1/audio/speech"
    with pytest.raises(HttpServerUnavailable, match=r"no server answers at http://127\.0\.0\.1:\d+/health.*tts_core\.serve"):
        HttpEngine(url=url).load(model="tiny", device="cpu", tier="baseline", seed=0)


def test_server_errors_come_back_with_status_and_openai_message(standin: str) -> None:
    engine = loaded(standin)
    with pytest.raises(HttpEngineError, match=r"HTTP 400: `input` is empty.*param 'input'"):
        engine.synthesize("   ")
    with pytest.raises(HttpEngineError, match=r"HTTP 413"):
        engine.synthesize("word " * 1000)
    with pytest.raises(ValueError, match="noise scales"):
        engine.synthesize("hello there", noise_scale=0.0)


def test_another_tier_or_voice_than_served_is_refused(standin: str) -> None:
    with pytest.raises(ValueError, match=r"serves tier 'baseline'.*\+tier=baseline"):
        HttpEngine(url=standin).load(model="tiny", device="cpu", tier="advanced", seed=0)
    with pytest.raises(ValueError, match=r"speaks voice 'tiny'.*model=tiny"):
        HttpEngine(url=standin).load(model="joe-medium", device="cpu", tier="baseline", seed=0)


@pytest.mark.parametrize("field,value,allowed", [("api", "grpc", "openai, piper"), ("response_format", "mp3", "pcm or wav"),
                                                 ("url", "ftp://x/y", "http://HOST:PORT/PATH")])
def test_bad_values_name_the_field(field: str, value: str, allowed: str) -> None:
    with pytest.raises(ValueError, match=rf"`engine\.{field}` = '{value}'.*{allowed}"):
        HttpEngine(**{field: value})


# ---- a tiny sweep over engine=http ---------------------------------------------------------------------------
def sweep(tmp: Path, run_id: str, *overrides: str, timeout: float = 300) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "bench.sweep", "model=tiny", "text=short", "measure=quick", "measure.flops=false",
           "measure.stages=false", f"sweep.results_dir={tmp / 'results'}", f"sweep.reports_dir={tmp / 'reports'}",
           f"sweep.run_id={run_id}", *overrides]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def pooled(tmp: Path, run_id: str):
    return {r.contender: r for r in read_rows(tmp / "results" / run_id / "results.jsonl") if r.text == "all"}


def test_tiny_sweep_over_http_writes_rows_with_time_to_first_audio(tmp_path: Path, standin: str) -> None:
    sweep(tmp_path, "h", "engine=http", f"engine.url={standin}", "+tier=baseline", "sweep.report=false")
    rows = pooled(tmp_path, "h")
    row = rows["http:baseline@cpu-all"]
    assert row.status == "ok" and row.rounds >= 2
    assert 0 < row.ttfa_s < row.latency_p50_s  # first audio bytes before the whole answer
    assert row.rtf is not None and row.audio_s > 0
    assert row.extra["engine"]["tier"]["served"] is True
