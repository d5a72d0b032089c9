"""The concurrency curve (`scenario=concurrency`): closed-loop clients on the fake engine and scripted ones, the
figures of a level from made-up streams, a fake-engine sweep's rows as the report reads them, and our real server
(tiny voice) started by the sweep. Assertions are on events (overlaps, texts, underruns), not on wall-clock
thresholds."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from bench.engines.fake import FakeEngine
from bench.errors import BenchConfigError
from bench.serve.curve import FreshTexts, LevelRecord, Sent, run_curve, run_level
from bench.serve.curve_config import CurveConfig
from bench.serve.curve_figures import level_figures, max_overlap
from bench.serve.run import WARMUP_TEXTS
from bench.serve.streams import DispatchedStreams, Stream
from bench.serve.sut import BatchPolicy
from bench.sweep.plan import validate
from bench.workers.engine_thread import EngineThread
from tts_core.audio import Audio

ROOT = Path(__file__).resolve().parent.parent
RATE = 16000
FIELDS = ("ttfa_s", "ttfa_p90_s", "ttfa_p99_s", "first_audible_p90_s", "chunk_gap_p99_s", "underrun_rate",
          "audio_s_per_s", "goodput_qps", "engine_errors", "concurrency")  # what bench.report.concurrency reads


def fake(rtf: float = 0.05) -> FakeEngine:
    engine = FakeEngine(rtf=rtf)
    engine.load(model="tiny", device="cpu", tier="baseline", seed=0)
    return engine


class Scripted:
    """An engine whose stream sends `chunks` chunks of `chunk_s` seconds of tone, `wait_s` apart; records the
    threads it was called from and the groups `synthesize_batch` got."""

    sample_rate = RATE

    def __init__(self, chunks: int = 3, chunk_s: float = 0.05, wait_s: float = 0.0) -> None:
        self.chunks, self.chunk_s, self.wait_s = chunks, chunk_s, wait_s
        self.threads: set[str] = set()
        self.batches: list[int] = []

    def _tone(self) -> Audio:
        t = np.arange(int(self.chunk_s * RATE), dtype=np.float32) / RATE
        return Audio(0.3 * np.sin(2 * np.pi * 220.0 * t).astype(np.float32), RATE)

    def stream(self, text: str, **_: object) -> Iterator[Audio]:
        self.threads.add(threading.current_thread().name)
        for i in range(self.chunks):
            if i:
                time.sleep(self.wait_s)
            yield self._tone()

    def synthesize(self, text: str, **_: object) -> Audio:  # the warm-up's call, outside the levels
        return self._tone()

    def describe(self) -> dict[str, object]:
        return {"name": "scripted", "tier": {"name": "baseline"}}

    def synthesize_batch(self, texts: list[str], **_: object) -> list[Audio]:
        self.threads.add(threading.current_thread().name)
        self.batches.append(len(texts))
        time.sleep(self.wait_s)
        return [self._tone() for _ in texts]


def level(adapter: object, n: int, policy: BatchPolicy = BatchPolicy(), **settings: object) -> LevelRecord:
    config = CurveConfig(**{"seconds_per_level": 0.3, "min_requests": 2 * n, **settings})
    streams = DispatchedStreams(adapter, policy)
    try:
        return run_level(streams, FreshTexts(seed=7), n, config)
    finally:
        streams.close()


# ---- the closed loop, in process ----------------------------------------------------------------------------
def test_two_clients_keep_two_streams_open_each_waiting_for_its_own_and_every_text_is_fresh() -> None:
    record = level(fake(), 2)
    sent = record.requests
    assert {r.client for r in sent} == {0, 1} and len(sent) >= 4
    assert max_overlap([(r.sent_s, r.ended_s) for r in sent]) == 2  # two streams open at one moment
    for k in (0, 1):  # closed loop: a client's next request goes once its last stream has ended
        mine = sorted((r for r in sent if r.client == k), key=lambda r: r.sent_s)
        assert all(b.sent_s >= a.ended_s >= a.stream.arrivals[-1] for a, b in zip(mine, mine[1:]))
    texts = [r.stream.text for r in sent]
    assert len(set(texts)) == len(texts) and not set(texts) & set(WARMUP_TEXTS)
    assert all(r.stream.error is None and r.stream.chunks for r in sent)


def test_in_process_streams_run_on_the_dispatchers_one_thread_and_batch_as_the_policy_says() -> None:
    engine = Scripted(wait_s=0.02)
    level(engine, 2)
    assert engine.threads == {"concurrency-sut"} and engine.batches == []  # batching off: one stream at a time
    batching = Scripted(wait_s=0.02)
    level(batching, 2, BatchPolicy(enabled=True, max_batch=2, max_wait_s=0.2))
    assert batching.threads == {"concurrency-sut"} and 2 in batching.batches


def test_under_the_deadline_policy_in_process_streams_take_turns_chunk_by_chunk() -> None:
    # two clients, streams of 4 chunks 30 ms apart: under `batch` one stream ends before the next starts; under
    # `deadline` a new request's first chunk is due before a playing stream's next, so the streams interleave
    def interleaved(policy: BatchPolicy) -> bool:
        engine = Scripted(chunks=4, chunk_s=0.5, wait_s=0.03)
        record = level(engine, 2, policy)
        assert engine.threads == {"concurrency-sut"} and engine.batches == []
        spans = [(r.stream.arrivals[0], r.stream.arrivals[-1]) for r in record.requests if r.stream.arrivals]
        return any(a0 < b0 < a1 for a0, a1 in spans for b0, _ in spans)

    assert not interleaved(BatchPolicy())
    assert interleaved(BatchPolicy(policy="deadline", max_batch=2, first_audio_s=0.3))


def test_the_curve_config_names_a_bad_policy() -> None:
    with pytest.raises(BenchConfigError, match=r"`scenario.policy` = 'fifo'.*batch, deadline"):
        CurveConfig(policy="fifo")
    assert CurveConfig(policy="deadline", first_audio_ms=150.0).policy == "deadline"


def test_the_curve_of_an_in_process_engine_computes_on_the_thread_that_loaded_it_at_every_level() -> None:
    # the dispatcher orders the work, the engine thread (the one the engine was loaded on) does it: never the
    # clients' threads nor the dispatcher's, whose OpenMP team would slow every call (bench/workers/engine_thread.py)
    for policy in ("batch", "deadline"):
        engine, loaded_on = Scripted(wait_s=0.01), EngineThread(name="loaded-on")
        figures = run_curve(engine, CurveConfig(levels=[1, 2], seconds_per_level=0.2, min_requests=3, policy=policy),
                            seed=1, engine_thread=loaded_on)
        assert [f["concurrency"] for f in figures] == [1, 2] and [f["max_in_flight"] for f in figures] == [1, 2]
        assert engine.threads == {"loaded-on"}
        loaded_on.close()


def test_a_slow_engine_underruns_and_a_fast_one_does_not() -> None:
    # chunks of 50 ms arriving 150 ms apart: playback runs dry before every later chunk
    slow = level_figures(level(Scripted(chunks=3, chunk_s=0.05, wait_s=0.15), 1), RATE, bound_s=10.0)
    assert slow["underrun_rate"] == 1.0 and slow["underruns"] == 2 * slow["queries"] and slow["goodput_qps"] == 0.0
    fast = level_figures(level(Scripted(chunks=3, chunk_s=0.05, wait_s=0.0), 1), RATE, bound_s=10.0)
    assert fast["underrun_rate"] == 0.0 and fast["goodput_qps"] == fast["achieved_qps"] > 0


def test_an_engine_that_raises_is_counted_and_the_level_stops_after_min_requests_failures() -> None:
    broken = FakeEngine(misbehave={"baseline": "raise"})
    broken.load(model="tiny", device="cpu", tier="baseline", seed=0)
    record = level(broken, 2, seconds_per_level=30.0, max_seconds_per_level=60.0)
    figures = level_figures(record, RATE, 0.3)
    assert figures["queries"] == 0 and figures["engine_errors"] == figures["requests"] >= 4
    assert "asked to raise" in figures["first_error"] and "all failed" in record.stopped_early
    assert figures["ttfa_p90_s"] is None and figures["underrun_rate"] is None


# ---- a level's figures from made-up streams -----------------------------------------------------------------
def made_up(client: int, sent: float, arrivals: list[float], chunk_s: float = 0.1, error: str | None = None) -> Sent:
    stream = Stream(f"text {client} {sent}", arrivals=list(arrivals),
                    chunks=[np.full(int(chunk_s * RATE), 0.3, dtype=np.float32) for _ in arrivals], error=error)
    end = (arrivals[-1] if arrivals else sent) + 0.01
    stream.served_s = (sent, end)
    return Sent(client, sent, end, stream)


def test_level_figures_are_the_streams_percentiles_underruns_throughput_and_goodput() -> None:
    record = LevelRecord(2, started_s=0.0, ended_s=2.0, requests=[
        made_up(0, 0.0, [0.1, 0.15, 0.2]),  # first audio 0.1 s, in time
        made_up(1, 0.0, [0.5, 0.55]),  # first audio 0.5 s: over a 0.3 s bound
        made_up(0, 0.22, [0.32, 0.62]),  # second chunk due at 0.42, came 0.62: an underrun
        made_up(1, 0.6, [], error="HttpEngineError: 429"),
    ])
    f = level_figures(record, RATE, bound_s=0.3)
    assert f["concurrency"] == 2 and f["requests"] == 4 and f["queries"] == 3 and f["engine_errors"] == 1
    assert f["first_error"] == "HttpEngineError: 429"
    assert f["ttfa_s"] == pytest.approx(0.1) and f["ttfa_p90_s"] == pytest.approx(np.percentile([0.1, 0.5, 0.1], 90))
    assert f["chunk_gap_p99_s"] == pytest.approx(np.percentile([0.05, 0.05, 0.05, 0.3], 99))
    assert f["underrun_rate"] == pytest.approx(1 / 3) and f["stall_s"] == pytest.approx(0.2)
    assert f["audio_s_per_s"] == pytest.approx(0.7 / 2.0)  # 7 chunks of 0.1 s in 2 s
    assert f["goodput_qps"] == pytest.approx(1 / 2.0)  # only the first: in time and no underrun
    assert f["max_in_flight"] == f["max_served_at_once"] == 2 and f["fresh_text"] is True


def test_overlap_counts_streams_open_at_one_moment() -> None:
    assert max_overlap([(0, 1), (1, 2), (2, 3)]) == 1  # one ends as the next starts
    assert max_overlap([(0, 3), (1, 2), (1.5, 4)]) == 3 and max_overlap([]) == 0


# ---- configuration --------------------------------------------------------------------------------------------
def composed(*overrides: str):
    with initialize_config_module(config_module="configs", version_base="1.3"):
        return validate(compose(config_name="sweep", overrides=["engine=fake", "model=tiny", *overrides]))


def test_the_entry_composes_with_levels_from_the_command_line() -> None:
    cfg = composed("scenario=concurrency", "scenario.levels=[1,2,4]")
    assert list(cfg.scenario.levels) == [1, 2, 4] and cfg.scenario.latency_bound_ms == 300.0
    assert list(composed("scenario=concurrency").scenario.levels) == [1, 2, 4, 8, 16]


@pytest.mark.parametrize("field, value, allowed", [("levels", [], "non-empty list"), ("levels", [1, 0], ">= 1"),
                                                   ("levels", [2, 2], "without repeats"),
                                                   ("min_requests", 0, "integer >= 1"),
                                                   ("max_seconds_per_level", 1.0, ">= seconds_per_level"),
                                                   ("batching", "maybe", "tier, on, off")])
def test_bad_settings_name_the_field(field: str, value: object, allowed: str) -> None:
    with pytest.raises(BenchConfigError, match=rf"`scenario\.{field}` = .*{allowed}"):
        CurveConfig(**{field: value})


# ---- through the sweep -------------------------------------------------------------------------------------------
def sweep(tmp: Path, *overrides: str) -> list[dict]:
    cmd = [sys.executable, "-m", "bench.sweep", "model=tiny", "scenario=concurrency", "scenario.levels=[1,2]",
           "scenario.seconds_per_level=0.5", "scenario.min_requests=4", "sweep.report=false",
           f"sweep.results_dir={tmp / 'results'}", f"sweep.reports_dir={tmp / 'reports'}", "sweep.run_id=c", *overrides]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads(line) for line in (tmp / "results" / "c" / "results.jsonl").read_text().splitlines()]


def curve(rows: list[dict]):
    import pandas as pd

    from bench.report.build import serving_rows
    from bench.report.concurrency import curve_table

    return curve_table(serving_rows(pd.DataFrame(rows)))


def check_levels(rows: list[dict], contender: str, served_at_once: dict[int, int]) -> None:
    mine = {r["extra"]["concurrency"]: r for r in rows if r["contender"] == contender}
    assert sorted(mine) == [1, 2]
    for n, r in mine.items():
        assert (r["status"], r["scenario"], r["workload"]) == ("ok", "concurrency", "serve")
        x = {**r, **r["extra"]}
        assert all(x.get(f) is not None for f in FIELDS), {f: x.get(f) for f in FIELDS}
        assert x["engine_errors"] == 0 and x["requests"] >= 4 and x["fresh_text"] is True
        assert x["max_in_flight"] == n  # at level 2 two requests were open at once
        assert x["max_served_at_once"] == served_at_once[n]
        assert x["ttfa_s"] <= x["ttfa_p90_s"] <= x["ttfa_p99_s"] and x["audio_s_per_s"] > 0


def test_a_fake_engine_sweep_writes_a_row_per_contender_and_level_that_the_report_draws(tmp_path: Path) -> None:
    rows = sweep(tmp_path, "engine=fake", "+tier=baseline", "sweep.peers=[]")
    check_levels(rows, "fake:baseline@cpu-all", {1: 1, 2: 1})  # one engine thread, batching off: one at a time
    table = curve(rows)
    assert list(table["streams"]) == [1, 2] and "first audio p90 (ms)" in table and "goodput (QPS)" in table


def test_our_real_server_is_measured_over_http_with_concurrent_connections(tmp_path: Path) -> None:
    """`sweep.servers=[tts_core:baseline]`: the sweep starts our server on the tiny voice (as a user's run does) and
    its clients stream over HTTP, one connection each."""
    from optional_deps import require

    require("fastapi")
    require("uvicorn")
    rows = sweep(tmp_path, "engine=fake", "+tier=baseline", "sweep.peers=[]", "sweep.servers=[tts_core:baseline]")
    check_levels(rows, "tts_core-http:baseline@cpu-all", {1: 1, 2: 2})  # two connections open at once
    served = [r for r in rows if r["contender"] == "tts_core-http:baseline@cpu-all"]
    assert all(r["extra"]["first_audible_p90_s"] >= r["ttfa_p90_s"] for r in served)  # no sound before the first bytes
    assert list(curve(rows).query("contender == 'tts_core-http:baseline@cpu-all'")["streams"]) == [1, 2]
