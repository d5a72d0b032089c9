"""Interference: the counters read around a timed call call it disturbed when another process held the worker's
core, a disturbed round is set aside and measured again on a fresh text of its class, and the headline does not
move; a machine that stays busy ends the rounds with "machine busy"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.measure.interference import OTHERS_CORES_MAX, WAIT_FRAC_MAX, Snapshot, judge, snapshot
from bench.measure.rounds import RoundPlan, Tracked, compare, round_order, run_rounds, split_rounds
from bench.results.store import read_records
from bench.workers import Worker, WorkerSpec

CLASSES = ["short", "medium", "long"]
BUSY = "print('spinning', flush=True)\nwhile True: pass"


def snap(wall: float, busy: float = 0.0, own: float = 0.0, wait: float = 0.0, steal: float = 0.0) -> Snapshot:
    return Snapshot(wall_s=wall, busy_s=busy, steal_s=steal, psi_some_s=0.0, own_cpu_s=own, wait_s=wait, nivcsw=0)


def test_each_signal_past_its_threshold_calls_the_call_disturbed_and_names_why() -> None:
    quiet = judge(snap(0.0), snap(1.0, busy=1.9, own=1.9, wait=0.02))
    assert quiet.disturbed == () and quiet.wait_frac == pytest.approx(0.02)
    waited = judge(snap(0.0), snap(1.0, busy=1.5, own=1.5, wait=WAIT_FRAC_MAX + 0.05))
    assert len(waited.disturbed) == 1 and "waited for a CPU" in waited.disturbed[0]
    others = judge(snap(0.0), snap(2.0, busy=3.9, own=2.0))  # another process: nearly a core, besides ours
    assert others.others_cores > OTHERS_CORES_MAX and "other processes used" in others.disturbed[0]
    stolen = judge(snap(0.0), snap(2.0, busy=2.0, own=2.0, steal=1.0))
    assert "stole" in stolen.disturbed[0]
    # /proc/stat counts in ticks: a short call's tick error is not another process
    tick = judge(snap(0.0), snap(0.05, busy=0.06, own=0.02))
    assert tick.others_cores == 0.0 and tick.disturbed == ()
    # a few scheduler ticks of waiting are a large share of a very short call, and not a disturbance
    short = judge(snap(0.0), snap(0.05, busy=0.1, own=0.1, wait=0.02))
    assert short.wait_frac == pytest.approx(0.4) and short.disturbed == ()


def test_a_call_records_the_workers_own_cpu_time_and_page_faults() -> None:
    """Where a slow call's time went: faulting in 64 MiB of fresh pages shows as minor faults and CPU time."""
    child = subprocess.Popen([sys.executable, "-c", "import mmap, sys; sys.stdin.readline(); b = mmap.mmap(-1, 64 << 20); "
                              "b.madvise(mmap.MADV_NOHUGEPAGE); b[::4096] = b'x' * len(b[::4096]); "
                              "sum(range(20_000_000)); print('done', flush=True)"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdin is not None and child.stdout is not None
    before = snapshot([child.pid])
    child.stdin.write("go\n")
    child.stdin.flush()
    assert child.stdout.readline().strip() == "done"
    seen = judge(before, snapshot([child.pid]))
    child.wait(timeout=30)
    assert seen.minflt >= (64 << 20) // 4096  # one fault per 4 KiB page
    assert seen.user_s + seen.sys_s > 0.1  # 20 million additions take more than a tenth of a second
    assert seen.to_dict()["majflt"] == seen.majflt


def _busy_on_core(core: int) -> subprocess.Popen:
    """A process spinning on `core`, returned once it spins."""
    proc = subprocess.Popen([sys.executable, "-c", BUSY], stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, {core}))
    assert proc.stdout is not None and proc.stdout.readline().strip() == "spinning"
    return proc


def _spin_worker(tmp_path: Path, tier: str) -> Worker:
    spec = WorkerSpec(contender=f"fake:{tier}", engine={"_target_": "bench.engines.fake.FakeEngine", "rtf": 0.4,
                                                         "work": "spin"},
                      tier=tier, device="cpu", threads=1, model="tiny", seed=0, workload={"name": "single"},
                      log_file=str(tmp_path / f"{tier}.log"))
    worker = Worker(spec, memory_limit_mb=4096)
    worker.call("load", 120)
    for tid in os.listdir(f"/proc/{worker.pid}/task"):  # every thread of it (its engine thread computes) on core 0,
        os.sched_setaffinity(int(tid), {0})  # where the busy process will run
    return worker


class Disturbed:
    """A worker whose calls in the rounds named in `at` run beside a busy process on its core."""

    def __init__(self, worker: Worker, at: set[int]) -> None:
        self.worker, self.at, self.calls = worker, at, 0

    def call(self, op: str, timeout_s: float, sample: bool = True, **args: Any) -> Any:
        self.calls += 1
        busy = _busy_on_core(0) if self.calls in self.at else None
        try:
            return self.worker.call(op, timeout_s, sample, **args)
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()

    def settle(self) -> float:
        return self.worker.settle()


@pytest.mark.alone  # under pytest -n, another test's load would disturb the rounds it expects quiet
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2, reason="needs Linux, 2+ CPUs")
def test_a_round_beside_a_busy_process_is_set_aside_measured_again_and_the_headline_holds(tmp_path: Path) -> None:
    base, adv = _spin_worker(tmp_path, "baseline"), _spin_worker(tmp_path, "advanced")
    try:
        plan = RoundPlan(classes=CLASSES, min_rounds_per_class=3, max_rounds=9, budget_s=600, target_half_width=1e-9,
                         call_timeout_s=120)
        workers = {"base": base, "adv": Disturbed(adv, at={4})}  # advanced's 4th call: round r=3, a short text
        out = run_rounds(plan, workers, lambda k, c: f"{c} text {k} " + "x" * {"short": 20, "medium": 40, "long": 80}[c],
                         [Tracked("adv", "base", "rtf")], tmp_path / "rounds.jsonl")
    finally:
        base.close()
        adv.close()
    # (a machine busy with something else may set aside other rounds too: each is marked and measured again as well)
    assert len(out.rounds) == 9 and 3 in [rd["r"] for rd in out.set_aside]
    assert all(rd["set_aside"] == "disturbed" for rd in out.set_aside)
    aside = next(rd for rd in out.set_aside if rd["r"] == 3)
    assert any(why.startswith("adv: the worker waited for a CPU") for why in aside["set_aside_why"])
    # measured again: the next accepted round of its class, in the same order, on a fresh text
    redo = next(rd for rd in out.rounds if rd["r"] > 3 and rd["text_class"] == aside["text_class"])
    assert (redo["text_class"], redo["order"]) == (aside["text_class"], aside["order"]) and redo["text"] != aside["text"]
    s = compare(out.rounds, "base", "adv", "rtf")
    assert s is not None and 1.6 < s.ratio < 2.5  # advanced does half the fake's work: the disturbance left no mark
    kept, on_disk_aside = split_rounds(read_records(tmp_path / "rounds.jsonl"))
    assert 3 in [rd["r"] for rd in on_disk_aside] and len(kept) == 9  # on disk, marked, out of the statistics
    assert aside["results"]["adv"]["rtf"] > 1.05 * redo["results"]["adv"]["rtf"]  # the set-aside call did run slower


class Scripted:
    """A stub worker: rtf `rtf`, and a disturbed call wherever `disturbed(call number)` says."""

    def __init__(self, rtf: float, disturbed: Any = lambda n: False) -> None:
        self.rtf, self.disturbed, self.calls = rtf, disturbed, 0

    def call(self, op: str, timeout_s: float, sample: bool = True, **args: Any) -> Any:
        self.calls += 1
        why = ["the worker waited for a CPU 40% of the call (> 10%)"] if self.disturbed(self.calls) else []
        return {"rtf": self.rtf, "latency_s": self.rtf, "interference": {"disturbed": why}}

    def settle(self) -> float:
        return 0.0


def plan(**kw: Any) -> RoundPlan:
    args = dict(classes=CLASSES, min_rounds_per_class=2, max_rounds=12, budget_s=1e9, target_half_width=1e-9,
                call_timeout_s=10)
    return RoundPlan(**{**args, **kw})


def text_for(k: int, text_class: str) -> str:
    return f"{text_class} {k}"


def test_set_aside_rounds_keep_the_class_turns_and_the_balanced_order(tmp_path: Path) -> None:
    workers = {"a": Scripted(0.1, lambda n: n in (2, 3, 7)), "b": Scripted(0.2)}
    out = run_rounds(plan(max_rounds=9), workers, text_for, [Tracked("a", "b", "rtf")], tmp_path / "r.jsonl")
    assert [rd["text_class"] for rd in out.rounds] == CLASSES * 3  # the classes in turn, as with no disturbance
    for i, rd in enumerate(out.rounds):
        assert rd["order"] == round_order(["a", "b"], i, 3)
    assert len(out.set_aside) == 3 and all(rd["set_aside"] == "disturbed" for rd in out.set_aside)
    spoken = [rd["text"] for rd in out.rounds + out.set_aside]
    assert len(set(spoken)) == len(spoken)  # a set-aside text is never spoken again


def test_a_machine_that_stays_busy_stops_the_rounds_and_says_so(tmp_path: Path) -> None:
    workers = {"a": Scripted(0.1, lambda n: n > 4), "b": Scripted(0.2)}
    out = run_rounds(plan(max_set_aside=5), workers, text_for, [Tracked("a", "b", "rtf")], tmp_path / "r.jsonl")
    assert out.stop_reason.startswith("machine busy: 5 of 9 rounds disturbed, measured again")
    assert len(out.rounds) == 4


def test_record_mode_keeps_disturbed_rounds_and_marks_them(tmp_path: Path) -> None:
    workers = {"a": Scripted(0.1, lambda n: n == 2), "b": Scripted(0.2)}
    out = run_rounds(plan(max_rounds=6, set_aside=False), workers, text_for, [], tmp_path / "r.jsonl")
    assert len(out.rounds) == 6 and out.set_aside == []
    assert [rd["r"] for rd in out.rounds if rd.get("flagged")] == [1]


def test_a_resumed_group_counts_its_set_aside_rounds_and_never_repeats_their_text(tmp_path: Path) -> None:
    file = tmp_path / "r.jsonl"
    run_rounds(plan(max_rounds=4), {"a": Scripted(0.1, lambda n: n == 2), "b": Scripted(0.2)}, text_for, [Tracked("a", "b", "rtf")], file)
    out = run_rounds(plan(max_rounds=8), {"a": Scripted(0.1), "b": Scripted(0.2)}, text_for, [Tracked("a", "b", "rtf")], file)
    assert [rd["r"] for rd in out.set_aside] == [1] and len(out.rounds) == 8
    spoken = [rd["text"] for rd in out.rounds + out.set_aside]
    assert len(set(spoken)) == len(spoken) and [rd["r"] for rd in out.rounds] == [0, *range(2, 9)]


def test_a_local_server_the_sweep_did_not_start_counts_as_the_contender_s_own_work() -> None:
    from real_server import running

    from bench.engines.http import HttpEngine

    with running() as server:
        engine = HttpEngine(url=server.speech_url)
        assert engine.work_pids() == [server.proc.pid]  # its CPU is the contender's, not another process's
    assert HttpEngine(url="http://192.0.2.1:9/v1/audio/speech").work_pids() == []  # remote: nothing to count


def test_every_contender_gets_a_new_process_every_rounds_per_process_accepted_rounds(tmp_path: Path) -> None:
    made: list[dict[str, Scripted]] = []

    def respawn(old: dict[str, Any]) -> dict[str, Any]:
        made.append({n: Scripted(w.rtf) for n, w in old.items()})
        return made[-1]

    first = {"a": Scripted(0.1, lambda n: n == 2), "b": Scripted(0.2)}
    out = run_rounds(plan(max_rounds=9, rounds_per_process=4), first, text_for, [Tracked("a", "b", "rtf")],
                     tmp_path / "r.jsonl", respawn=respawn)
    assert len(made) == 2  # after 4 and 8 accepted rounds (a set-aside round does not count)
    assert [rd["process"] for rd in out.rounds] == [0] * 4 + [1] * 4 + [2]
    assert out.set_aside[0]["process"] == 0 and out.workers is made[-1]
    assert (first["a"].calls, made[0]["a"].calls, made[1]["a"].calls) == (5, 4, 1)
