"""Fault injection beyond tests/test_bench_sweep.py (which covers raise, exit, SIGKILL, out of memory and a
sweep killed then resumed): a configuration over its time limit, a sweep killed while a child runs (no
orphan left), and results files damaged in every way a crash or a careless edit can damage them.

The harness's own entry points are used (`bench.isolate.run_isolated`, `python -m bench.sweep`) with the
fake engine, whose `misbehave` option makes a tier hang, raise, exit or eat memory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import psutil
import pytest

from bench.config import MeasureConfig
from bench.isolate import Limits, run_isolated
from bench.report.load import read_jsonl
from bench.schema import ResultRow
from bench.spec import MeasureSpec
from bench.store import append_rows, read_rows

ROOT = Path(__file__).resolve().parent.parent


def fake_spec(tmp: Path, tier: str, misbehave: dict[str, str] | None = None) -> MeasureSpec:
    measure = asdict(MeasureConfig(min_rounds=2, min_duration_s=0.0, max_rounds=5, fidelity=False, flops=False))
    return MeasureSpec(
        run_id="faults", host="test-host", code_version="test",
        engine={"_target_": "bench.engines.fake.FakeEngine", "name": "fake", "rtf": 0.002, "misbehave": misbehave or {}},
        tier=tier, hardware={"name": "cpu-all", "device": "cpu", "threads": 0}, model="tiny", text_label="short",
        text="A short text.", workload={"name": "single", "batch_size": 8}, measure=measure,
        run_dir=str(tmp / "run"), out_dir=str(tmp / "run"), cache_dir=str(tmp / ".cache"),
    )


def _children_running(spec_dir: Path) -> list[psutil.Process]:
    """Live `bench.run_one` processes working on a spec under `spec_dir` (this test's own children only)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info.get("cmdline") or []
        if "bench.run_one" in cmd and any(str(spec_dir) in part for part in cmd):
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
            except psutil.NoSuchProcess:
                pass
    return found


def test_a_configuration_over_its_time_limit_becomes_a_failed_row(tmp_path: Path) -> None:
    spec = fake_spec(tmp_path, "optimized", {"optimized": "hang"})
    (row,) = run_isolated(spec, Limits(time_s=3.0, memory_mb=4096))
    assert row.status == "failed" and row.tier == "optimized"
    assert "timeout" in row.error and "sweep.time_limit_s" in row.error
    assert row.extra["child_wall_s"] >= 3.0 and "log_tail" in row.extra
    assert _children_running(tmp_path) == []  # the whole process group was killed


def test_a_configuration_over_its_memory_limit_names_the_limit(tmp_path: Path) -> None:
    spec = fake_spec(tmp_path, "baseline+oom", {"oom": "oom"})
    (row,) = run_isolated(spec, Limits(time_s=300.0, memory_mb=700))
    assert row.status == "failed" and "out of memory" in row.error and "sweep.memory_limit_mb = 700" in row.error
    assert row.extra["child_peak_rss_mb"] > 700
    assert _children_running(tmp_path) == []


def test_a_healthy_configuration_next_to_the_faulty_ones_is_measured(tmp_path: Path) -> None:
    (row,) = run_isolated(fake_spec(tmp_path, "baseline", {"optimized": "hang"}), Limits(time_s=300.0, memory_mb=4096))
    assert row.status == "ok" and row.latency_p50_s is not None and row.rounds >= 2


def test_a_sweep_killed_while_a_child_runs_leaves_no_orphan(tmp_path: Path) -> None:
    results = tmp_path / "results"
    cmd = [sys.executable, "-m", "bench.sweep", "engine=fake", "measure=quick", "text=short", "+tier=baseline",
           "+engine.misbehave.baseline=hang", f"sweep.results_dir={results}", f"sweep.reports_dir={tmp_path / 'reports'}",
           "sweep.run_id=orphan"]
    sweep = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 240
        while not children and time.monotonic() < deadline and sweep.poll() is None:
            time.sleep(0.2)
            children = _children_running(results)
        assert children, "the sweep never started its measuring child"
        os.kill(sweep.pid, signal.SIGKILL)
        sweep.wait()
        deadline = time.monotonic() + 60
        while _children_running(results) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _children_running(results) == [], "the measuring child outlived its killed sweep"
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
