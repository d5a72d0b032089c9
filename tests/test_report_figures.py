"""What the report's figures mean: cache hits never headline, stage seconds are over the synthesis's own audio,
each roofline stage meets the peak of the precision it runs in, a cost fit says when it is not a finding, and the
noisy flag is the within-class spread of paired ratios (or RTF), not latency across lengths."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench.measure.rounds import RoundsResult
from bench.measure.rows import ALL, Contender, GroupFacts, _stage_fields, _timing_fields, build_rows
from bench.report import analysis, charts, tables, write_report
from bench.report.load import load_results
from bench.report.peaks import stage_peaks, stage_precisions
from bench.report.synthetic import synthetic_rows
from bench.results.schema import ResultRow
from bench.results.stats import NOISY_SPREAD, is_noisy, within_class_spread

ADVANCED = "tts_core:advanced@cpu-all"


def _frame(tmp_path: Path, rows: list[ResultRow]) -> pd.DataFrame:
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in rows))
    return load_results([path])


def _cached_copy(row: ResultRow, speedup: float) -> ResultRow:
    """`row` as a warm-cache (workload=repeated) row with a cache-hit speedup."""
    data = dict(row.to_dict(), cached=True, workload="repeated", config_id=row.config_id + "|warm",
                speedup=speedup, speedup_ci_low=speedup * 0.95, speedup_ci_high=speedup * 1.05, verdict="pays")
    return ResultRow.from_dict(data)


# ---- cached rows -------------------------------------------------------------------------------------------------
def test_cached_rows_never_enter_the_headline_verdicts_or_speedup_chart(tmp_path: Path) -> None:
    rows = synthetic_rows(failures=False)
    warm = [_cached_copy(r, 19.49) for r in rows if r.contender == ADVANCED]
    out = write_report([_write(tmp_path / "r" / "results.jsonl", rows + warm)], tmp_path / "out")
    headline = (out.parent / "headline.csv").read_text()
    verdicts = json.loads((out.parent / "verdicts.json").read_text())
    assert "19.49x" not in headline and all(abs(v["speedup"] - 19.49) > 0.01 for v in verdicts)
    assert sum(v["contender"] == ADVANCED for v in verdicts) == 1  # the fresh row, once
    assert "19.49x" in (out.parent / "cached.csv").read_text()  # shown apart, labelled as cache hits

    only_warm = _frame(tmp_path, warm)
    assert analysis.headline(only_warm).empty and analysis.verdict_records(only_warm) == []
    assert charts.speedup_by_text(only_warm) is None
    fresh = _frame(tmp_path, [r for r in rows if r.contender == ADVANCED])
    assert charts.speedup_by_text(fresh) is not None  # the same rows on fresh text are drawn


def test_a_report_of_cache_hits_only_says_so(tmp_path: Path) -> None:
    warm = [_cached_copy(r, 19.49) for r in synthetic_rows(failures=False)]
    html = write_report([_write(tmp_path / "r" / "results.jsonl", warm)], tmp_path / "out").read_text()
    assert "Only warm-cache (cache-hit) rows" in html and "Warm (cached) rows" in html


def _write(path: Path, rows: list[ResultRow]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in rows))
    return path


# ---- stages ------------------------------------------------------------------------------------------------------
def _staged_row(extra: dict) -> ResultRow:
    return ResultRow(run_id="r", config_id=f"c{len(extra)}", status="ok", engine="tts_core", tier="advanced",
                     contender=ADVANCED, text=ALL, audio_s=5.0, rtf=0.1, stage_frontend_s=0.1, stage_encoder_s=0.2,
                     stage_flow_s=0.4, stage_decoder_s=1.0, extra=extra)


def test_stage_seconds_are_divided_by_the_synthesis_own_audio(tmp_path: Path) -> None:
    frame = tables.stages(_frame(tmp_path, [_staged_row({"stage_audio_s": 2.0, "stage_texts": ["long"]})]))
    line = frame.iloc[0]
    assert line["decoder (s per audio s)"] == pytest.approx(0.5)  # 1.0 s over 2.0 s, not over audio_s = 5.0
    assert line["audio of that synthesis (s)"] == 2.0 and line["timed on"] == "long"
    older = tables.stages(_frame(tmp_path, [_staged_row({})])).iloc[0]  # written before the audio was recorded
    assert older["decoder (s of the synthesis)"] == 1.0 and "decoder (s per audio s)" not in older


def test_rows_carry_the_stage_synthesis_audio() -> None:
    facts = GroupFacts("run", "g", "host", "v", "tiny", "stream", "cmd")
    c = Contender(ADVANCED, {"name": "tts_core"}, "advanced", {"name": "cpu-all"},
                  stages={"long": {"frontend": 0.1, "encoder": 0.2, "flow": 0.3, "decoder": 0.9, "audio_s": 3.5}})
    for text in ("long", ALL):
        fields = _stage_fields(c, text, facts)
        assert fields["extra_stage_audio_s"] == 3.5 and fields["stage_decoder_s"] == 0.9
        assert fields["extra_stage_texts"] == ["long"]


def test_the_worker_stages_op_returns_the_synthesis_audio_seconds() -> None:
    from types import SimpleNamespace

    from bench.workers.protocol import WorkerSpec
    from bench.workers.worker import WorkerState

    class Adapter:
        def clear_cache(self) -> None: ...

        def profile_stages(self, text: str, **scales: float) -> dict[str, float]:
            return {"frontend": 0.01, "encoder": 0.02, "flow": 0.03, "decoder": 0.04}

        def synthesize(self, text: str, **scales: float) -> SimpleNamespace:
            assert scales == {"noise_scale": 0.0, "noise_w": 0.0}  # the same noise-free synthesis
            return SimpleNamespace(duration=2.25)

    state = WorkerState(WorkerSpec(contender="x"))
    state.adapter = Adapter()
    assert state.stages("Some text.") == {"frontend": 0.01, "encoder": 0.02, "flow": 0.03, "decoder": 0.04,
                                          "audio_s": 2.25}


# ---- roofline ----------------------------------------------------------------------------------------------------
def test_stage_precisions_match_what_the_precision_switch_converts() -> None:
    import torch

    from tts_core.tiers.precision import apply_precision
    from tts_core.vits.tiny import build_tiny_model

    modules = {"encoder": ("enc_p", "dp"), "flow": ("flow",), "decoder": ("dec",)}  # the model's weight keys
    for precision, dtype in (("bf16", torch.bfloat16), ("fp16", torch.float16)):
        converted = apply_precision(build_tiny_model(), precision)
        expected = stage_precisions(precision)
        for stage, names in modules.items():
            dtypes = {p.dtype for n in names for p in getattr(converted, n).parameters()}
            runs_in = precision if dtype in dtypes else "fp32"  # the decoder keeps its 32->1 output conv in fp32
            assert expected[stage] == runs_in, (precision, stage, dtypes)
    assert stage_precisions("fp32") == {"encoder": "fp32", "flow": "fp32", "decoder": "fp32"}
    assert stage_precisions("int8", {"fusion": False}) == stage_precisions("fp32")  # dequantized per call
    assert stage_precisions("int8", {"fusion": True})["decoder"] == "int8"


def test_each_roofline_stage_is_held_against_the_peak_of_its_precision(tmp_path: Path) -> None:
    peaks = {"fp32": 160.0, "bf16": 413.0}
    common = dict(run_id="r", status="ok", engine="tts_core", text=ALL, flops_per_audio_s=5.3e9)
    bf16 = ResultRow(config_id="a", tier="advanced", contender=ADVANCED, precision="bf16", peak_gflops=413.0,
                     achieved_gflops=200.0, stage_encoder_gflops=16.0, stage_flow_gflops=41.3, stage_decoder_gflops=206.5,
                     extra={"peaks_gflops": peaks}, **common)
    table = tables.roofline(_frame(tmp_path, [bf16])).iloc[0]
    assert table["encoder + duration GFLOP/s (of peak)"] == "16 (10% of fp32 peak)"  # not 4% of the bf16 peak
    assert table["decoder GFLOP/s (of peak)"] == "206 (50% of bf16 peak)"
    assert table["stage precisions"] == "encoder fp32, flow bf16, decoder bf16"

    older = ResultRow(**{**bf16.to_dict(), "extra": {}})  # no stored peaks: the fp32 peak of a sibling row
    baseline = ResultRow(config_id="b", tier="baseline", contender="tts_core:baseline@cpu-all", precision="fp32",
                         peak_gflops=160.0, achieved_gflops=60.0, **common)
    frame = _frame(tmp_path, [older, baseline])
    row = frame[frame["contender"] == ADVANCED].iloc[0]
    assert stage_peaks(row, frame) == {"encoder": ("fp32", 160.0), "flow": ("bf16", 413.0), "decoder": ("bf16", 413.0)}
    assert charts.roofline(frame) is not None


# ---- cost fit ----------------------------------------------------------------------------------------------------
def _class_row(text: str, audio: float, latency: float, rounds: list[tuple[float, float]] | None = None) -> ResultRow:
    lat = [t for _, t in rounds] if rounds else []
    return ResultRow(run_id="r", config_id=text, status="ok", engine="tts_core", tier="advanced", contender=ADVANCED,
                     text=text, audio_s=audio, latency_p50_s=latency, latencies_s=lat,
                     rtfs=[t / a for a, t in rounds] if rounds else [])


def test_a_fit_over_three_class_medians_is_not_a_finding(tmp_path: Path) -> None:
    rows = [_class_row("short", 2.0, 0.5), _class_row("medium", 9.0, 1.2), _class_row("long", 45.0, 5.0)]
    fit = analysis.cost_fits(_frame(tmp_path, rows)).iloc[0]
    assert fit["fit"].startswith("not a finding: 3 distinct lengths") and pd.isna(fit["fixed cost (s)"])


def test_a_negative_fixed_cost_is_not_a_finding(tmp_path: Path) -> None:
    rounds = [(a, 0.2 * a - 0.3) for a in (2.0, 3.0, 4.0, 5.0, 6.0, 7.0)]  # fixed cost -0.3 s
    fit = analysis.cost_fits(_frame(tmp_path, [_class_row("long", 4.5, 0.6, rounds)])).iloc[0]
    assert "negative fixed cost" in fit["fit"] and pd.isna(fit["cost per audio second (s)"])


def test_a_fit_over_every_round_of_enough_lengths_is_given(tmp_path: Path) -> None:
    rounds = [(a, 0.1 + 0.08 * a) for a in (1.5, 2.0, 2.5, 8.0, 9.0, 40.0)]
    fit = analysis.cost_fits(_frame(tmp_path, [_class_row("mixed", 5.0, 0.5, rounds)])).iloc[0]
    assert fit["fit"] == "trusted" and fit["distinct lengths"] == 6
    assert fit["fixed cost (s)"] == pytest.approx(0.1) and fit["cost per audio second (s)"] == pytest.approx(0.08)


# ---- noisy -------------------------------------------------------------------------------------------------------
def test_the_noisy_rule_is_the_within_class_spread_not_latency_across_lengths() -> None:
    steady = [[1.50, 1.52, 1.49, 1.51], [1.20, 1.21, 1.19, 1.22]]  # two classes at different levels, each steady
    assert within_class_spread(steady) < 0.02 and is_noisy(within_class_spread(steady)) is False
    wobbly = [[1.0, 1.3, 0.8, 1.2], [2.0, 2.6, 1.6, 2.4]]
    assert within_class_spread(wobbly) > NOISY_SPREAD and is_noisy(within_class_spread(wobbly)) is True
    assert within_class_spread([[1.0], [2.0]]) is None and is_noisy(None) is None


def _rounds(ref: list[float], cand: list[float], classes: list[str], audio: list[float]) -> list[dict]:
    return [{"text_class": k, "text": k, "results": {
        "ref": {"latency_s": r * a, "rtf": r, "audio_s": a, "chunk_gaps_s": [0.01 * (i + 1)]},
        "cand": {"latency_s": c * a, "rtf": c, "audio_s": a, "chunk_gaps_s": [0.02 * (i + 1), 0.03]}}}
        for i, (r, c, k, a) in enumerate(zip(ref, cand, classes, audio))]


def test_rows_flag_noise_on_paired_ratios_and_keep_every_rounds_chunk_gaps() -> None:
    rng = np.random.default_rng(0)
    classes = ["short", "long"] * 6
    audio = [2.0 if k == "short" else 40.0 for k in classes]  # latency CV across lengths: about 1
    shared = np.exp(rng.normal(0, 0.3, len(classes)))  # the machine's load: both sides alike
    ref = list(0.2 * shared)
    cand = list(0.1 * shared * np.exp(rng.normal(0, 0.01, len(classes))))
    rounds = _rounds(ref, cand, classes, audio)
    c = Contender("cand", {"name": "tts_core"}, "optimized", {"name": "cpu-all", "device": "cpu"}, reference="ref")
    paired = _timing_fields(c, rounds, "ref")
    assert paired["latency_cv"] > 0.5 and paired["noisy"] is False  # steady ratios: not noisy
    assert paired["extra_noisy_basis"] == "paired ratios within each text class"
    alone = _timing_fields(c, rounds)  # no reference: its RTF within each class, which the load moves
    assert alone["noisy"] is True and alone["extra_noisy_spread"] > NOISY_SPREAD
    assert len(paired["chunk_gaps_s"]) == 2 * len(rounds) and paired["extra_chunk_gap_rounds"] == len(rounds)

    facts = GroupFacts("run", "g", "host", "v", "tiny", "stream", "cmd")
    ref_c = Contender("ref", {"name": "tts_core"}, "baseline", {"name": "cpu-all", "device": "cpu"})
    rows = build_rows([ref_c, c], RoundsResult(rounds=rounds), facts)
    pooled = next(r for r in rows if r.contender == "cand" and r.text == ALL)
    assert pooled.noisy is False and pooled.extra["noisy_spread"] < NOISY_SPREAD
    assert pooled.extra["chunk_gap_rounds"] == len(rounds)


def test_the_noisy_table_shows_the_spread_and_what_it_was_taken_over(tmp_path: Path) -> None:
    frame = tables.noisy(_frame(tmp_path, synthetic_rows(failures=False)))
    assert set(frame["contender"]) == {"tts_core:optimized@cpu-all"}  # the one contender with 14% own noise
    assert set(frame["spread of"]) == {"paired ratios within each text class"} and (frame["spread"] > NOISY_SPREAD).all()
