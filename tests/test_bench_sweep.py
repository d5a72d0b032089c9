"""The sweep end to end on the fake engine: isolation, failures, resume, SIGKILL, workloads, launchers.

Each test runs `python -m bench.sweep` in a subprocess with its own results folder. No timing thresholds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.store import read_rows

ROOT = Path(__file__).resolve().parent.parent
FAKE = ["engine=fake", "measure=quick", "text=short"]


def sweep(tmp: Path, *overrides: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    flags = [o for o in overrides if o.startswith("-")]  # argparse wants flags before the overrides
    overrides = tuple(o for o in overrides if not o.startswith("-"))
    cmd = [sys.executable, "-m", "bench.sweep", *flags, *FAKE, f"sweep.results_dir={tmp / 'results'}",
           f"sweep.reports_dir={tmp / 'reports'}", *overrides]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def store(tmp: Path):
    return read_rows(tmp / "results" / "store.jsonl")


def run_rows(tmp: Path, run_id: str):
    return [r for p in sorted((tmp / "results" / run_id).glob("**/results.jsonl")) for r in read_rows(p)]


def test_failures_become_rows_and_the_others_complete(tmp_path: Path) -> None:
    sweep(
        tmp_path, "sweep.run_id=f", "sweep.tiers=[baseline,optimized,advanced,baseline+sig,baseline+oom]",
        "+engine.misbehave.optimized=raise", "+engine.misbehave.advanced=exit", "+engine.misbehave.sig=sigkill",
        "+engine.misbehave.oom=oom", "sweep.memory_limit_mb=1500",
    )
    rows = {r.tier: r for r in run_rows(tmp_path, "f")}
    assert rows["baseline"].status == "ok" and rows["baseline"].latency_p50_s is not None
    assert rows["optimized"].status == "failed" and "asked to raise" in rows["optimized"].error
    assert rows["advanced"].status == "failed" and "exited with code 3" in rows["advanced"].error
    assert rows["baseline+sig"].status == "failed" and "SIGKILL" in rows["baseline+sig"].error
    assert rows["baseline+oom"].status == "failed" and "out of memory" in rows["baseline+oom"].error
    assert len(store(tmp_path)) == 5


def test_fidelity_failure_is_recorded(tmp_path: Path) -> None:
    sweep(tmp_path, "sweep.run_id=g", "+tier=optimized", "+engine.misbehave.optimized=fidelity")
    rows = {r.tier: r for r in run_rows(tmp_path, "g")}
    assert rows["baseline"].status == "ok" and rows["baseline"].fid_pass
    bad = rows["optimized"]
    assert bad.status == "failed" and bad.fid_pass is False and "fidelity gate exact failed" in bad.error
    assert bad.latency_p50_s is not None  # the figures are kept


def test_resume_skips_finished_and_fresh_redoes(tmp_path: Path) -> None:
    sweep(tmp_path, "sweep.run_id=a", "+tier=baseline")
    assert len(store(tmp_path)) == 1
    second = sweep(tmp_path, "sweep.run_id=b", "+tier=baseline")
    assert "resumed" in second.stderr + second.stdout
    assert len(store(tmp_path)) == 1  # nothing measured again
    assert [r.run_id for r in run_rows(tmp_path, "b")] == ["a"]  # the new run lists the stored row
    sweep(tmp_path, "sweep.run_id=c", "+tier=baseline", "--fresh")
    assert [r.run_id for r in store(tmp_path)] == ["a", "c"]


def test_sigkill_midway_then_rerun_keeps_every_row(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "bench.sweep", *FAKE, f"sweep.results_dir={tmp_path / 'results'}",
           f"sweep.reports_dir={tmp_path / 'reports'}", "sweep.run_id=k", "sweep.tiers=[baseline,optimized,advanced]"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while len(store(tmp_path)) < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = store(tmp_path)
    assert 1 <= len(before) < 3
    sweep(tmp_path, "sweep.run_id=k2", "sweep.tiers=[baseline,optimized,advanced]")
    after = run_rows(tmp_path, "k2")
    assert sorted(r.tier for r in after) == ["advanced", "baseline", "optimized"]
    assert all(r.status == "ok" for r in after)
    kept = {(r.config_id, r.run_id) for r in before}
    assert kept <= {(r.config_id, r.run_id) for r in after}  # finished rows resumed, not re-measured


def test_repeated_workload_reports_cached_and_uncached_rows(tmp_path: Path) -> None:
    sweep(tmp_path, "sweep.run_id=r", "+tier=advanced", "workload=repeated")
    rows = run_rows(tmp_path, "r")
    assert sorted((r.tier, r.cached) for r in rows) == [
        ("advanced", False), ("advanced", True), ("baseline", False), ("baseline", True)]
    assert len({r.config_id for r in rows}) == 4 and all(r.status == "ok" for r in rows)
    cached = next(r for r in rows if r.tier == "advanced" and r.cached)
    assert cached.speedup is not None and cached.fid_pass


def test_stream_workload_and_absent_cuda_is_skipped(tmp_path: Path) -> None:
    sweep(tmp_path, "sweep.run_id=s", "+tier=baseline", "workload=stream")
    (row,) = run_rows(tmp_path, "s")
    assert row.ttfa_s is not None and row.underruns is not None and len(row.chunk_gaps_s) >= 1
    proc = sweep(tmp_path, "sweep.run_id=cu", "+tier=baseline", "hardware=cuda")
    (row,) = run_rows(tmp_path, "cu")
    if row.status == "skipped":
        assert "cuda" in row.reason
    assert proc.returncode == 0


def test_interleaved_compare_runs_both_in_one_child(tmp_path: Path) -> None:
    sweep(tmp_path, "sweep.run_id=i", "+tier=advanced", "sweep.compare=interleaved")
    rows = {r.tier: r for r in run_rows(tmp_path, "i")}
    assert set(rows) == {"baseline", "advanced"} and all(r.compare == "interleaved" for r in rows.values())
    adv = rows["advanced"]
    assert adv.speedup_ci_low <= adv.speedup <= adv.speedup_ci_high
    assert adv.rounds == rows["baseline"].rounds


def test_bad_override_fails_at_once_naming_the_field(tmp_path: Path) -> None:
    proc = sweep(tmp_path, "hardware.threads=-1", check=False, timeout=120)
    assert proc.returncode != 0 and "hardware.threads" in proc.stderr
    assert not (tmp_path / "results" / "store.jsonl").exists()


def test_help_lists_groups() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.sweep", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    for word in ("tier:", "hardware:", "workload:", "+tier=advanced"):
        assert word in proc.stdout


def test_multirun_basic_launcher_merges_jobs(tmp_path: Path) -> None:
    proc = sweep(tmp_path, "-m", "sweep.run_id=m", "+tier=baseline,optimized")
    rows = run_rows(tmp_path, "m")
    assert {r.tier for r in rows} == {"baseline", "optimized"}
    assert len(list((tmp_path / "results" / "m").glob("job*/results.jsonl"))) == 2
    assert "optimized" in proc.stdout  # the merged summary table


@pytest.mark.slow  # two jobs plus a duplicated baseline: about a minute
def test_joblib_launcher_warns(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    proc = sweep(tmp_path, "-m", "sweep.run_id=j", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "+tier=baseline,optimized")
    assert "distort" in proc.stderr + proc.stdout
    assert {r.tier for r in run_rows(tmp_path, "j")} >= {"baseline", "optimized"}


@pytest.mark.slow
def test_submitit_local_launcher(tmp_path: Path) -> None:
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep(tmp_path, "-m", "sweep.run_id=sl", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "+tier=baseline",
          timeout=600)
    rows = run_rows(tmp_path, "sl")
    assert [r.tier for r in rows] == ["baseline"] and rows[0].status == "ok"
