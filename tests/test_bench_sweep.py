"""The sweep end to end on the fake engine: worker processes, paired rounds, failures, resume, SIGKILL,
ablation verdicts, workloads, launchers.

Each test runs `python -m bench.sweep` in a subprocess with its own results folder. No timing thresholds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.results.store import read_records, read_rows
from optional_deps import require

ROOT = Path(__file__).resolve().parent.parent
FAKE = ["engine=fake", "measure=quick", "text=short"]


def sweep(tmp: Path, *overrides: str, check: bool = True, timeout: float = 300,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m bench.sweep` on the fake engine with `overrides`; `env`: variables set for it on top of ours."""
    flags = [o for o in overrides if o.startswith("-")]  # argparse wants flags before the overrides
    overrides = tuple(o for o in overrides if not o.startswith("-"))
    cmd = [sys.executable, "-m", "bench.sweep", *flags, *FAKE, f"sweep.results_dir={tmp / 'results'}",
           f"sweep.reports_dir={tmp / 'reports'}", *overrides]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=None if env is None else {**os.environ, **env})
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def store(tmp: Path):
    return read_rows(tmp / "results" / "store.jsonl")


def run_rows(tmp: Path, run_id: str, pooled: bool = True):
    rows = [r for p in sorted((tmp / "results" / run_id).glob("**/results.jsonl")) for r in read_rows(p)]
    return [r for r in rows if (r.text == "all") == pooled]


def by_tier(rows):
    return {r.tier: r for r in rows}


def test_contenders_share_rounds_in_rotating_order(tmp_path: Path) -> None:
    sweep(tmp_path, "sweep.run_id=p", "sweep.tiers=[baseline,optimized,advanced]", "text=medium", "measure.min_rounds=6")
    rows = by_tier(run_rows(tmp_path, "p"))
    assert set(rows) == {"baseline", "optimized", "advanced"}
    assert len({r.group_id for r in rows.values()}) == 1
    rounds = read_records(tmp_path / "results" / "p" / "rounds.jsonl")
    assert len({rd["text"] for rd in rounds}) == len(rounds)  # fresh text every round
    assert len({tuple(rd["order"]) for rd in rounds}) >= 3  # the order rotates
    assert all(set(rd["results"]) == {r.contender for r in rows.values()} for rd in rounds)
    # each call waited for quiet (its cap is checked on a scripted clock in test_bench_engines)
    assert all(res["settle_s"] >= 0 for rd in rounds for res in rd["results"].values())
    adv = rows["advanced"]
    assert adv.reference == rows["baseline"].contender and adv.speedup_pairs == len(rounds)
    assert adv.speedup_ci_low <= adv.speedup <= adv.speedup_ci_high and adv.verdict == "pays"
    assert rows["baseline"].speedup is None and rows["baseline"].ttfa_s is not None  # every round streams
    assert "within" in adv.stop_reason or "budget" in adv.stop_reason or "cap" in adv.stop_reason
    assert len({r.extra["worker_pid"] for r in rows.values()}) == 3  # each contender in its own process


def test_failures_become_rows_and_the_others_complete(tmp_path: Path) -> None:
    sweep(
        tmp_path, "sweep.run_id=f", "sweep.tiers=[baseline,optimized,advanced,baseline+sig,baseline+oom]",
        "+engine.misbehave.optimized=raise", "+engine.misbehave.advanced=exit", "+engine.misbehave.sig=sigkill",
        "+engine.misbehave.oom=oom", "sweep.memory_limit_mb=1500",
    )
    rows = by_tier(run_rows(tmp_path, "f"))
    assert rows["baseline"].status == "ok" and rows["baseline"].latency_p50_s is not None
    assert rows["optimized"].status == "failed" and "asked to raise" in rows["optimized"].error
    assert rows["advanced"].status == "failed" and "exited with code 3" in rows["advanced"].error
    assert rows["baseline+sig"].status == "failed" and "SIGKILL" in rows["baseline+sig"].error
    assert rows["baseline+oom"].status == "failed" and "out of memory" in rows["baseline+oom"].error
    assert rows["optimized"].extra.get("log_tail")  # what the worker said before it failed


def test_fidelity_failure_is_recorded(tmp_path: Path) -> None:
    sweep(tmp_path, "sweep.run_id=g", "+tier=optimized", "+engine.misbehave.optimized=fidelity")
    rows = by_tier(run_rows(tmp_path, "g"))
    assert rows["baseline"].status == "ok" and rows["baseline"].fid_pass is None  # the reference itself
    bad = rows["optimized"]
    assert bad.status == "failed" and bad.fid_pass is False and "fidelity gate exact failed" in bad.error
    assert bad.fid_reference == rows["baseline"].contender and bad.latency_p50_s is not None  # figures kept


def test_a_finished_group_is_reused_and_fresh_measures_again(tmp_path: Path) -> None:
    sweep(tmp_path, "sweep.run_id=a", "+tier=optimized")
    n = len(store(tmp_path))
    second = sweep(tmp_path, "sweep.run_id=b", "+tier=optimized")
    assert "reusing" in second.stderr + second.stdout
    assert len(store(tmp_path)) == n  # nothing measured again
    assert {r.run_id for r in run_rows(tmp_path, "b")} == {"a"}
    sweep(tmp_path, "sweep.run_id=c", "+tier=optimized", "--fresh")
    assert {r.run_id for r in store(tmp_path)} == {"a", "c"}


def test_sigkill_midway_then_rerun_keeps_every_round(tmp_path: Path) -> None:
    args = [*FAKE, f"sweep.results_dir={tmp_path / 'results'}", f"sweep.reports_dir={tmp_path / 'reports'}",
            "sweep.tiers=[baseline,optimized]", "engine.rtf=0.05", "measure.min_rounds=6", "measure.budget_s=60",
            "measure.target_half_width=1e-9", "measure.max_rounds=12"]
    proc = subprocess.Popen([sys.executable, "-m", "bench.sweep", *args, "sweep.run_id=k"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    partial = tmp_path / "results" / ".cache" / "rounds"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        files = list(partial.glob("*.jsonl"))
        if files and len(read_records(files[0])) >= 3:
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    (file,) = partial.glob("*.jsonl")
    before = [rd["text"] for rd in read_records(file) if not rd.get("set_aside")]
    assert len(before) >= 3
    out = sweep(tmp_path, *args[3:], "sweep.run_id=k2")
    assert "resuming" in out.stderr + out.stdout
    after = [rd["text"] for rd in read_records(tmp_path / "results" / "k2" / "rounds.jsonl")]
    assert after[: len(before)] == before and len(after) == 12  # nothing lost, nothing run twice
    rows = by_tier(run_rows(tmp_path, "k2"))
    assert rows["optimized"].speedup_pairs == 12 and not list(partial.glob("*.jsonl"))


def test_ablations_get_verdicts_only_where_their_effect_shows(tmp_path: Path) -> None:
    sweep(tmp_path, "sweep.run_id=ab", "sweep.tiers=[baseline,advanced,advanced-noop,advanced-streaming,advanced-warmup,advanced-workers]")
    rows = by_tier(run_rows(tmp_path, "ab"))
    assert rows["advanced-noop"].verdict == "identical here" and rows["advanced-noop"].verdict_metric is None
    assert rows["advanced-noop"].reference == rows["advanced"].contender
    assert rows["advanced-streaming"].verdict.startswith("time to first audio:")
    assert rows["advanced-streaming"].switch_diff == {"streaming": [None, False]}
    assert rows["advanced-warmup"].verdict.startswith("shows in load and first call")
    assert rows["advanced-workers"].verdict.startswith("not exercised by this workload")
    for tier in ("advanced-noop", "advanced-streaming", "advanced-warmup", "advanced-workers"):
        assert rows[tier].verdict_metric != "throughput"


def test_repeated_workload_is_labelled_warm(tmp_path: Path) -> None:
    sweep(tmp_path, "sweep.run_id=r", "+tier=advanced", "workload=repeated")
    rows = by_tier(run_rows(tmp_path, "r"))
    assert all(r.cached for r in rows.values()) and all(r.status == "ok" for r in rows.values())
    rounds = read_records(tmp_path / "results" / "r" / "rounds.jsonl")
    assert len({rd["text"] for rd in rounds}) == 1


def test_text_file_is_spread_over_rounds(tmp_path: Path) -> None:
    text = tmp_path / "mine.txt"
    text.write_text(" ".join(f"Sentence number {i} of my own file." for i in range(40)))
    sweep(tmp_path, "sweep.run_id=tf", "+tier=optimized", "text=file", f"text.path={text}")
    rounds = read_records(tmp_path / "results" / "tf" / "rounds.jsonl")
    assert rounds[0]["text"] != rounds[1]["text"] and "Sentence number" in rounds[0]["text"]
    assert {r.text for r in run_rows(tmp_path, "tf", pooled=False)} == {"file:mine.txt"}


def test_absent_cuda_is_skipped_with_the_reason(tmp_path: Path) -> None:
    # no GPU visible to the sweep, whatever this machine has: the skip is what is under test
    proc = sweep(tmp_path, "sweep.run_id=cu", "+tier=baseline", "hardware=cuda", env={"CUDA_VISIBLE_DEVICES": ""})
    rows = run_rows(tmp_path, "cu")
    assert [(r.tier, r.status) for r in rows] == [("baseline", "skipped")]
    assert rows[0].reason == "cuda not available on this machine"
    assert proc.returncode == 0


def test_bad_override_fails_at_once_naming_the_field(tmp_path: Path) -> None:
    proc = sweep(tmp_path, "hardware.threads=-1", check=False, timeout=120)
    assert proc.returncode != 0 and "hardware.threads" in proc.stderr
    assert not (tmp_path / "results" / "store.jsonl").exists()


def test_help_lists_groups() -> None:
    proc = subprocess.run([sys.executable, "-m", "bench.sweep", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0
    for word in ("tier:", "hardware:", "workload:", "+tier=advanced", "measure.target_half_width"):
        assert word in proc.stdout


def test_multirun_basic_launcher_merges_jobs(tmp_path: Path) -> None:
    proc = sweep(tmp_path, "-m", "sweep.run_id=m", "+tier=optimized,advanced")
    rows = run_rows(tmp_path, "m")
    assert {r.tier for r in rows} == {"baseline", "optimized", "advanced"}
    assert len(list((tmp_path / "results" / "m").glob("job*/results.jsonl"))) == 2
    assert "optimized" in proc.stdout  # the merged summary table


@pytest.mark.slow
def test_submitit_local_launcher(tmp_path: Path) -> None:
    require("hydra_plugins.hydra_submitit_launcher")
    sweep(tmp_path, "-m", "sweep.run_id=sl", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
          "+tier=baseline", timeout=600)
    rows = run_rows(tmp_path, "sl")
    assert [r.tier for r in rows] == ["baseline"] and rows[0].status == "ok"


def test_rows_are_strict_json(tmp_path: Path) -> None:
    sweep(tmp_path, "sweep.run_id=j", "+tier=optimized")
    for line in (tmp_path / "results" / "j" / "results.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda c: pytest.fail(f"non-finite {c} in a row"))


def test_scenario_server_keeps_loadgen_logs_and_rows(tmp_path: Path) -> None:
    require("mlperf_loadgen")
    # a fake engine (milliseconds a query) at 20 and 40 QPS against a 60 s bound: both probes are VALID on any
    # machine, so the search doubles once and stops at its run limit (44 queries a probe: what is checked here is
    # the logs and rows, not the p90's decision, which tests/test_serve_queries.py checks against LoadGen itself)
    sweep(tmp_path, "sweep.run_id=sv", "+tier=baseline", "scenario=server", "scenario.search_max_runs=2",
          "scenario.target_qps=20", "scenario.latency_bound_ms=60000", "scenario.min_query_count=44")
    rows = [r for p in (tmp_path / "results" / "sv").glob("**/results.jsonl") for r in read_rows(p)]
    assert rows and all(r.workload == "serve" and r.scenario == "server" for r in rows)
    rows.sort(key=lambda r: r.target_qps)
    assert [(r.status, r.target_qps, r.valid) for r in rows] == [("ok", 20.0, "VALID"), ("ok", 40.0, "VALID")]
    assert all(r.achieved_qps > 0 for r in rows)
    assert all(Path(r.loadgen_summary).read_text().count("Result is : VALID") == 1 for r in rows)
    assert all(Path(r.loadgen_detail).is_file() for r in rows)


def test_an_impossible_latency_bound_is_invalid_not_a_crash(tmp_path: Path) -> None:
    require("mlperf_loadgen")
    sweep(tmp_path, "sweep.run_id=iv", "+tier=baseline", "scenario=server", "scenario.search=false",
          "scenario.latency_bound_ms=0.001")
    (row,) = [r for p in (tmp_path / "results" / "iv").glob("**/results.jsonl") for r in read_rows(p)]
    assert row.status == "ok" and row.valid == "INVALID"
