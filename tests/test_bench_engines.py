"""Engine adapters, workloads, and a worker process on the fake engine and the tiny voice."""

from __future__ import annotations

import itertools
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import psutil
import pytest

from bench.engines.base import BenchEngine, CachingEngine, StageProfiling
from bench.engines.fake import FakeEngine
from bench.measure.timing import run_round, stream_figures
from bench.workers import Worker, WorkerSpec
from optional_deps import require

HANG_GUARD_S = 60.0  # only ever reached when something hangs; no test passes or fails on speed


def fake() -> FakeEngine:
    engine = FakeEngine(rtf=0.0)
    engine.load(model="tiny", device="cpu", tier="baseline", seed=0)
    return engine


def test_fake_follows_the_protocols() -> None:
    engine = fake()
    assert isinstance(engine, BenchEngine) and isinstance(engine, CachingEngine) and isinstance(engine, StageProfiling)


def test_stream_figures_count_late_chunks() -> None:
    # chunks of 1 s each; the third arrives at 2.5 s, after the 2 s of audio before it (from 0.1 s) ran out
    gaps, underruns = stream_figures([0.1, 0.5, 2.5], [1.0, 1.0, 1.0])
    assert gaps == pytest.approx([0.4, 2.0]) and underruns == 1
    assert stream_figures([0.1, 0.2, 0.3], [1.0, 1.0, 1.0])[1] == 0
    assert stream_figures([], []) == ([], 0)


@pytest.mark.parametrize("workload", ["single", "batch", "stream", "repeated"])
def test_every_workload_produces_audio(workload: str) -> None:
    text = "One sentence here. Another one there! And a third?"
    result = run_round(fake(), {"name": workload, "batch_size": 2}, text, "cpu")
    assert result.audio_s > 0 and result.latency_s >= 0
    assert (result.ttfa_s is not None) == (workload == "stream")


def test_a_worker_on_the_tiny_voice_answers_every_op(tmp_path: Path) -> None:
    require("tts_core.engine")
    engine = {"_target_": "bench.engines.tts_core_engine.TTSCoreEngine", "name": "tts_core"}
    spec = WorkerSpec(contender="tts_core:baseline@cpu", engine=engine, tier="baseline", model="tiny",
                      log_file=str(tmp_path / "w.log"))
    worker = Worker(spec, memory_limit_mb=8000)
    try:
        load = worker.call("load", 300)
        assert load["load_s"] > 0 and load["describe"]["tier"]["name"] == "baseline" and load["env"]["cpu"]
        assert load["env"]["gpu"] is None and "cudnn" not in load["env"]  # a CPU worker never touches CUDA
        text = "The quick brown fox jumps over the lazy dog."
        r = worker.call("round", 120, text=text)
        assert r["ttfa_s"] is not None and r["rtf"] > 0 and r["audio_s"] > 0 and r["underruns"] is not None
        assert worker.peak_rss_mb and worker.timeline  # sampled from outside while it worked
        flops = worker.call("flops", 120, text=text)
        assert flops["flops"] > 0 and set(flops["stage_flops"]) == {"encoder", "flow", "decoder"}
        assert sum(flops["stage_flops"].values()) <= flops["flops"]
        assert set(worker.call("stages", 120, text=text)) >= {"encoder", "flow", "decoder"}
        a, b = (worker.call("fidelity", 120, text=text) for _ in range(2))
        assert (a["samples"] == b["samples"]).all()  # noise zeroed: deterministic
        wav = worker.call("sample", 120, text=text, path=str(tmp_path / "s.wav"), max_s=1.0)
        assert Path(wav["path"]).stat().st_size > 44
        assert worker.call("memory", 60)["max_rss_mb"] > 0
    finally:
        worker.close()
    assert not worker.alive


def test_an_unavailable_engine_is_skipped_with_its_reason(monkeypatch) -> None:
    from hydra import compose, initialize_config_module

    from bench.engines.piper_onnx import PiperOnnxEngine
    from bench.sweep.plan import build_group, validate

    monkeypatch.setattr(PiperOnnxEngine, "available", classmethod(lambda cls: "piper-tts not installed; pip install -e .[peers]"))
    with initialize_config_module(config_module="configs", version_base="1.3"):
        cfg = validate(compose(config_name="sweep", overrides=["+tier=optimized"]))
    piper = next(c for c in build_group(cfg).contenders if c.engine_name == "piper-onnxruntime")
    assert piper.peer and "pip install" in piper.skipped


def test_the_calibration_progress_in_a_workers_log_reaches_the_sweeps_log(tmp_path: Path, caplog) -> None:
    from bench.workers.client import LogRelay

    path = tmp_path / "w.log"
    path.write_text("2026-12-03 07:00:00,000 tts_core INFO calibrating joe-medium (an earlier call)\n")
    relay = LogRelay(str(path), "tts_core:advanced@cpu")  # follows the file from where it stands
    with path.open("a") as fh:
        fh.write("2026-12-03 07:00:01,000 tts_core INFO calibration: fusion         1.58x (kept)\n"
                 "2026-12-03 07:00:01,100 bench.worker INFO load done\n"
                 "2026-12-03 07:00:02,000 tts_core INFO calibration: bf16 (fused)")  # not finished yet
    with caplog.at_level(logging.INFO, logger="bench.worker"):
        relay.poll(12.0, force=True)
        with path.open("a") as fh:
            fh.write("  2.06x (kept)\n")
        relay.poll(20.0, force=True)
    said = [r.getMessage() for r in caplog.records]
    assert said == ["tts_core:advanced@cpu (12 s): calibration: fusion         1.58x (kept)",
                    "tts_core:advanced@cpu (20 s): calibration: bf16 (fused)  2.06x (kept)"]


class _ScriptedClock:
    """Stands in for `bench.workers.client`'s `time`: `sleep` moves a clock of its own instead of waiting, so
    the settle loop is followed window by window whatever the machine's load."""

    def __init__(self) -> None:
        self.now, self.sleeps = 0.0, 0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds


def _settle_on(monkeypatch: pytest.MonkeyPatch, readings: Iterator[float]) -> tuple[float, _ScriptedClock, list[float]]:
    """`settle` over scripted CPU readings (seconds used so far): the seconds it says it waited, its clock, and
    the readings it took."""
    from bench.workers import client

    clock, taken = _ScriptedClock(), []

    def cpu_seconds(pids: list[int]) -> float:
        taken.append(next(readings))
        return taken[-1]

    monkeypatch.setattr(client, "time", clock)
    monkeypatch.setattr(client, "cpu_seconds", cpu_seconds)
    return client.settle([1]), clock, taken


def test_settle_waits_out_a_spinning_process_and_not_an_idle_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer's thread pool that spins after its call would take cores from the next contender: the rounds wait
    until the worker is quiet (under SETTLE_QUIET of a core over one window), and no longer."""
    from bench.workers.client import SETTLE_QUIET, SETTLE_WINDOW_S as W

    busy = [0.0, W, 2 * W, 3 * W, 3 * W]  # a full core for three windows, then nothing
    waited, clock, taken = _settle_on(monkeypatch, iter(busy))
    assert taken == busy and clock.sleeps == 4 and waited == pytest.approx(4 * W)
    waited, clock, taken = _settle_on(monkeypatch, iter([5.0, 5.0, 9.0]))  # idle: one window, then done
    assert taken == [5.0, 5.0] and clock.sleeps == 1 and waited == pytest.approx(W)
    edge = [0.0, SETTLE_QUIET * W, SETTLE_QUIET * W * 1.99]  # exactly the threshold is busy; just under is quiet
    waited, clock, taken = _settle_on(monkeypatch, iter(edge))
    assert taken == edge and clock.sleeps == 2


def test_settle_gives_up_at_its_cap_on_a_process_that_never_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.workers.client import SETTLE_MAX_S, SETTLE_WINDOW_S as W

    waited, clock, taken = _settle_on(monkeypatch, itertools.count(0.0, W))
    assert SETTLE_MAX_S <= waited < SETTLE_MAX_S + W * 1.01 and clock.sleeps == round(SETTLE_MAX_S / W)


def test_cpu_seconds_counts_a_spinning_process_and_not_a_sleeping_one() -> None:
    from bench.workers.client import cpu_seconds, settle

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"],
                               stdout=subprocess.PIPE, text=True)
    try:
        ticks = psutil.Process(spinner.pid)  # the kernel's clock-tick count, read another way, as a reference
        deadline = time.monotonic() + HANG_GUARD_S
        while sum(ticks.cpu_times()[:2]) < 0.2 and time.monotonic() < deadline:
            time.sleep(0.01)
        before, reference, after = cpu_seconds([spinner.pid]), sum(ticks.cpu_times()[:2]), cpu_seconds([spinner.pid])
        assert reference >= 0.2 and before - 0.05 <= reference <= after + 0.05  # seconds, as the kernel counts them
        assert sleeper.stdout is not None and sleeper.stdout.readline() == "up\n"  # now in its sleep
        idle = cpu_seconds([sleeper.pid])
        assert idle > 0 and settle([sleeper.pid]) >= 0  # one quiet window: settle returns
        assert cpu_seconds([sleeper.pid]) - idle < 0.01
        assert cpu_seconds([2**22 + 7]) == 0.0  # a process that is gone counts nothing
    finally:
        for proc in (spinner, sleeper):
            proc.kill()
            proc.wait()
