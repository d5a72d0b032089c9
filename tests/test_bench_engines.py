"""Engine adapters, workloads and the child measurement on the fake engine and the tiny voice."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.engines.base import BenchEngine, CachingEngine, StageProfiling
from bench.engines.fake import FakeEngine
from bench.isolate import Limits, run_isolated
from bench.measure.timing import run_round, steady_state, stream_figures
from bench.plan import RunPaths
from bench.spec import MeasureSpec

QUICK = dict(min_rounds=2, min_duration_s=0.0, max_rounds=5, stage_rounds=1, memory_interval_s=0.005,
             sample_wav_s=1.0, fidelity=True, flops=True, seed=0)


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


def test_steady_state_meets_both_minimums() -> None:
    engine = fake()
    cleared = []
    rounds = steady_state(lambda: run_round(engine, {"name": "single"}, "Hi there.", "cpu"), min_rounds=3,
                          min_duration_s=0.0, max_rounds=10, before_round=lambda: cleared.append(1))
    assert len(rounds) == 3 and len(cleared) == 3
    capped = steady_state(lambda: run_round(engine, {"name": "single"}, "Hi.", "cpu"), min_rounds=1,
                          min_duration_s=1e9, max_rounds=4)
    assert len(capped) == 4


def spec_for(tmp_path: Path, engine: dict, model: str, workload: str, tier: str = "baseline") -> MeasureSpec:
    paths = RunPaths.under(tmp_path / "results", "t")
    return MeasureSpec(run_id="t", host="h", code_version="v", engine=engine, tier=tier,
                       hardware={"name": "cpu-all", "device": "cpu", "threads": 0}, model=model, text_label="short",
                       text="The quick brown fox jumps over the lazy dog.", workload={"name": workload, "batch_size": 8},
                       measure=dict(QUICK), run_dir=str(paths.run_dir), out_dir=str(paths.out_dir),
                       cache_dir=str(paths.cache_dir))


def test_child_on_the_tiny_voice_fills_a_complete_row(tmp_path: Path) -> None:
    pytest.importorskip("tts_core.engine")
    engine = {"_target_": "bench.engines.tts_core_engine.TTSCoreEngine", "name": "tts_core"}
    (row,) = run_isolated(spec_for(tmp_path, engine, "tiny", "stream"), Limits(time_s=300, memory_mb=8000))
    assert row.status == "ok", row.error
    for name in ("load_s", "first_call_s", "latency_p50_s", "rtf", "ttfa_s", "underruns", "stage_decoder_s",
                 "peak_rss_mb", "max_rss_mb", "flops_per_audio_s", "achieved_gflops", "peak_gflops", "fid_max_abs",
                 "sample_wav", "mprof_file"):
        assert getattr(row, name) is not None, name
    assert row.fid_pass and row.fid_gate == "exact" and row.env["torch"] and row.env["cpu"]
    assert Path(row.mprof_file).read_text().startswith("CMDLINE") and Path(row.sample_wav).stat().st_size > 44
    assert row.cuda_max_allocated_mb is None  # absent, never 0


def test_an_unavailable_engine_is_skipped_with_its_reason(monkeypatch) -> None:
    from bench.engines.piper_onnx import PiperOnnxEngine
    from bench.measure import session

    monkeypatch.setattr(PiperOnnxEngine, "available", classmethod(lambda cls: "piper-tts not installed; pip install -e .[peers]"))

    class Spec:
        engine = {"_target_": "bench.engines.piper_onnx.PiperOnnxEngine"}

    assert "pip install" in session.unavailable_reason(Spec())
