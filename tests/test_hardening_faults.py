"""Fault injection beyond tests/test_bench_sweep.py (which covers raise, exit, SIGKILL, out of memory and a
sweep killed then resumed): a worker over its time limit, over its memory limit, a sweep killed while a worker
runs (no orphan left), and results files damaged in every way a crash or a careless edit can damage them.

The harness's own entry points are used (`bench.workers.Worker`, `python -m bench.sweep`) with the fake engine,
whose `misbehave` option makes a tier hang, raise, exit or eat memory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from bench.report.load import read_jsonl
from bench.results.schema import ResultRow
from bench.results.store import append_rows, read_rows
from bench.workers import Worker, WorkerFailure, WorkerSpec

ROOT = Path(__file__).resolve().parent.parent


def fake_worker(tmp: Path, tier: str, misbehave: dict[str, str] | None = None, memory_mb: float = 4096) -> Worker:
    engine = {"_target_": "bench.engines.fake.FakeEngine", "name": "fake", "rtf": 0.002, "misbehave": misbehave or {}}
    spec = WorkerSpec(contender=f"fake:{tier}@cpu", engine=engine, tier=tier, model="tiny",
                      log_file=str(tmp / "logs" / f"{tier}.log"))
    worker = Worker(spec, memory_mb)
    worker.call("load", 120)
    return worker


def test_a_call_over_its_time_limit_kills_the_worker_and_says_so(tmp_path: Path) -> None:
    worker = fake_worker(tmp_path, "optimized", {"optimized": "hang"})
    with pytest.raises(WorkerFailure, match="sweep.time_limit_s") as info:
        worker.call("round", 3.0, text="A short text.")
    assert "ran past 3 s" in info.value.reason and not worker.alive
    with pytest.raises(WorkerFailure):  # a dead worker stays failed
        worker.call("round", 3.0, text="Again.")
    worker.close()


def test_a_worker_over_its_memory_limit_names_the_limit(tmp_path: Path) -> None:
    worker = fake_worker(tmp_path, "baseline+oom", {"oom": "oom"}, memory_mb=700)
    with pytest.raises(WorkerFailure, match=r"sweep.memory_limit_mb = 700") as info:
        worker.call("round", 300.0, text="A short text.")
    assert "out of memory" in info.value.reason and worker.peak_rss_mb > 700
    worker.close()


def test_a_raising_engine_keeps_its_worker_alive(tmp_path: Path) -> None:
    worker = fake_worker(tmp_path, "baseline+x", {"x": "raise"})
    with pytest.raises(WorkerFailure, match="asked to raise") as info:
        worker.call("round", 60.0, text="A short text.")
    assert "Traceback" in info.value.traceback
    assert worker.call("memory", 60.0)["max_rss_mb"] > 0  # the process still answers
    worker.close()


def test_a_sweep_killed_while_a_worker_runs_leaves_no_orphan(tmp_path: Path) -> None:
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "bench.sweep", "engine=fake", "measure=quick", "text=short", "+tier=optimized",
           "+engine.misbehave.optimized=hang", f"sweep.results_dir={results}", f"sweep.reports_dir={tmp_path / 'reports'}",
           "sweep.run_id=orphan"]
    sweep = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 240
        while len(children) < 2 and time.monotonic() < deadline and sweep.poll() is None:
            time.sleep(0.2)
            try:
                children = psutil.Process(sweep.pid).children()
            except psutil.NoSuchProcess:
                break
        assert len(children) >= 2, "the sweep never started its workers"
        os.kill(sweep.pid, signal.SIGKILL)
        sweep.wait()
        gone, alive = psutil.wait_procs(children, timeout=60)
        assert not alive, "a worker outlived its killed sweep"
    finally:
        if sweep.poll() is None:
            sweep.kill()
        for child in children:  # only the processes this test started
            try:
                child.kill()
            except psutil.NoSuchProcess:
                pass


# ---- damaged results files -------------------------------------------------------------------

def _row(i: int) -> ResultRow:
    return ResultRow(run_id="r", config_id=f"c{i}", status="ok", latency_p50_s=0.01 * i, text=f"text {i} é 你好")


DAMAGE = {
    "truncated-json": b'{"run_id": "r", "config_id": "cut", "sta',
    "invalid-utf8": b'{"run_id": "r\xff\xfe", "config_id": "bad-bytes", "status": "nope"}',
    "nul-bytes": b"\x00\x00\x00\x00",
    "unknown-status": b'{"run_id": "r", "config_id": "x", "status": "exploded"}',
    "missing-fields": b'{"latency_p50_s": 1.0}',
    "bad-extra": b'{"run_id": "r", "config_id": "x", "status": "ok", "extra": "not a dict"}',
    "garbage": b"<html>not json</html>",
}
NOT_OBJECTS = {"null": b"null", "list": b"[1, 2]", "number": b"42", "string": b'"row"'}


def _damaged_file(tmp: Path, damage: bytes) -> Path:
    path = tmp / "results.jsonl"
    append_rows(path, [_row(1), _row(2)])
    with path.open("ab") as fh:
        fh.write(damage + b"\r\n")
    append_rows(path, [_row(3)])
    with path.open("ab") as fh:
        fh.write(damage)  # and once more as a truncated last line
    return path


@pytest.mark.parametrize("damage", list(DAMAGE.values()), ids=list(DAMAGE))
def test_store_reader_keeps_every_good_line_around_damage(tmp_path: Path, damage: bytes) -> None:
    path = _damaged_file(tmp_path, damage)
    assert [r.to_dict() for r in read_rows(path)] == [_row(i).to_dict() for i in (1, 2, 3)]
    append_rows(path, [_row(4)])  # a writer after the damage starts on a line of its own
    assert [r.config_id for r in read_rows(path)] == ["c1", "c2", "c3", "c4"]


@pytest.mark.parametrize("damage", list((DAMAGE | NOT_OBJECTS).values()), ids=list(DAMAGE | NOT_OBJECTS))
def test_report_reader_keeps_every_good_line_around_damage(tmp_path: Path, damage: bytes) -> None:
    path = _damaged_file(tmp_path, damage)
    assert [r["config_id"] for r in read_jsonl(path)] == ["c1", "c2", "c3"]


@pytest.mark.parametrize("damage", list(NOT_OBJECTS.values()), ids=list(NOT_OBJECTS))
def test_store_reader_skips_lines_that_are_not_objects(tmp_path: Path, damage: bytes) -> None:
    path = _damaged_file(tmp_path, damage)
    assert [r.config_id for r in read_rows(path)] == ["c1", "c2", "c3"]


def test_results_file_with_only_a_partial_line_reads_empty_then_recovers(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(_row(1).to_dict())[:25])
    assert read_rows(path) == []
    append_rows(path, [_row(2)])
    assert [r.config_id for r in read_rows(path)] == ["c2"]
