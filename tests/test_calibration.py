"""The advanced tier's calibration: decisions by measurement, stored, read back, shown in stats."""

from __future__ import annotations

import itertools

import pytest
import torch

from tts_core import Engine
from tts_core.tiers import BASELINE
from tts_core.calibrate.measure import MIN_SPEEDUP, _interleaved

from calibration_stub import scripted_speedups


def _clock(values):
    it = itertools.cycle(values)
    return lambda _round: next(it)


def test_a_consistently_faster_candidate_wins():
    r = _interleaved(_clock([1.0]), _clock([0.8]), rounds=8, give_up=2.0)
    assert r["won_enough"] and r["speedup"] == pytest.approx(1.25) and r["speedup"] >= MIN_SPEEDUP


def test_one_noisy_round_in_eight_does_not_lose_a_real_gain():
    r = _interleaved(_clock([1.0]), _clock([0.8, 0.8, 1.2, 0.8, 0.8, 0.8, 0.8, 0.8]), rounds=8, give_up=2.0)
    assert r["won_enough"] and r["won_rounds"] == 7 and r["speedup"] == pytest.approx(1.25)


def test_a_candidate_that_loses_too_many_rounds_stops_and_does_not_win():
    r = _interleaved(_clock([1.0]), _clock([0.8, 1.2, 1.2, 1.2, 0.8]), rounds=8, give_up=2.0)
    assert not r["won_enough"] and r["rounds"] == 4  # three losses in eight: it can no longer win six


def test_a_hopeless_candidate_is_dropped_early():
    r = _interleaved(_clock([1.0]), _clock([5.0]), rounds=5, give_up=2.0)
    assert r["rounds"] == 1 and r["speedup"] < 0.3


def test_calibration_runs_once_is_stored_and_shown(monkeypatch, tmp_path):
    """With the timings scripted (bf16 the fastest of three that all pass their gates), the calibration keeps bf16
    whatever the machine's load; the choice is stored, read back by the next load and shown in stats."""
    monkeypatch.setenv("TTS_CORE_CACHE_DIR", str(tmp_path))  # no stored measurement from another test decides it
    speedups = {"fp16": 1.2, "bf16": 1.6, "int8": 1.3, "memory_pool": 1.1}  # the fastest neither first nor last
    timed = scripted_speedups(monkeypatch, speedups)
    tier = BASELINE.with_(name="cal-test", inference_mode=True, precision="auto", streaming="auto", memory_pool="auto")
    first = Engine.load(voice="tiny", tier=tier)
    cal = first.stats()["calibration"]
    assert not cal["cached"] and timed == ["fp16", "bf16", "int8", "memory_pool"]
    m = cal["measurements"]
    for name in ("fp16", "bf16", "int8", "memory_pool"):  # each ran to its gate's verdict, passed and paid
        assert "error" not in m[name] and m[name]["gate_failures"] == [] and m[name]["pays"] is True, (name, m[name])
        assert m[name]["speedup"] == speedups[name]
    assert "ttfa_gain" in m["streaming"]  # first audio is timed for real: the choice follows its measurement
    kept_streaming = {"streaming": True} if m["streaming"]["pays"] else {}  # decided before memory_pool
    assert m["memory_pool"]["timed_against"] == {"precision": "bf16", **kept_streaming}  # on top of what was kept
    assert cal["choices"] == {"precision": "bf16", "memory_pool": True, "streaming": m["streaming"]["pays"]}
    assert first.tier.precision == "bf16" and first.tier.memory_pool is True and first.tier.auto_fields == []
    second = Engine.load(voice="tiny", tier=tier)
    assert second.stats()["calibration"]["cached"] and timed == ["fp16", "bf16", "int8", "memory_pool"]
    assert second.tier == first.tier


def test_a_candidate_that_is_not_faster_is_not_kept(monkeypatch, tmp_path):
    monkeypatch.setenv("TTS_CORE_CACHE_DIR", str(tmp_path))
    scripted_speedups(monkeypatch, {"bf16": 1.04, "int8": 0.9})  # under MIN_SPEEDUP; slower
    tier = BASELINE.with_(name="cal-none", inference_mode=True, precision="auto", precision_candidates=("bf16", "int8"))
    with Engine.load(voice="tiny", tier=tier) as engine:
        m = engine.stats()["calibration"]["measurements"]
        assert m["bf16"]["gate_failures"] == [] and m["bf16"]["pays"] is False  # passes its gate, buys too little
        assert m["int8"]["pays"] is False and engine.tier.precision == "fp32"


def test_calibration_renders_on_the_engines_path_and_logs_each_candidate(monkeypatch, caplog):
    """On CUDA the engine's flow and decoder run batched with masks; calibration must time that path.
    Forced here on a CPU: every render of the calibration's two sentences goes through one masked call."""
    import logging

    from tts_core.render import Renderer
    from tts_core.calibrate.measure import calibrate
    from tts_core.voices import load_voice
    from tts_core.text import TextFrontend

    masked_calls = []
    real = Renderer._vocode
    monkeypatch.setattr(Renderer, "_vocode", lambda self, z, m, n, masked: masked_calls.append((z.shape[0], masked)) or
                        real(self, z, m, n, masked))
    voice = load_voice("tiny")
    frontend = TextFrontend(voice.phoneme_id_map, voice.espeak_voice)
    tier = BASELINE.with_(name="cal-path", inference_mode=True, fusion="auto", bucket_frames=8, bucket_tokens=4)
    with caplog.at_level(logging.INFO, logger="tts_core"):
        cal = calibrate(voice, frontend, torch.device("cpu"), tier, batch_vocoder=True)
    assert cal["render_path"] == "batched-masked" and cal["buckets"] == {"tokens": 4, "frames": 8}
    assert any(b > 1 for b, _ in masked_calls)
    assert all(masked for b, masked in masked_calls if b > 1)  # a lone sentence (the probe) has no padding
    assert any("calibration: fusion" in r.getMessage() for r in caplog.records)
    cpu = calibrate(voice, frontend, torch.device("cpu"), tier.with_(name="cal-path-cpu"))
    assert cpu["render_path"] == "per-item"


@pytest.mark.parametrize("settings, reason", [
    ({"BUDGET_S": 0.0, "MIN_COMPILE_BUILD_S": 0.0}, "budget"),  # any reference repays a build: only the budget refuses
    ({"MIN_COMPILE_BUILD_S": 1e9}, "cannot repay"),  # no reference spends that long on the payback audio
], ids=["budget-spent", "cannot-repay"])
def test_compile_is_skipped_with_the_reason_that_refused_it(monkeypatch, tmp_path, settings, reason):
    from tts_core.calibrate import measure as cal_mod

    import tts_core.tiers.switches.compile as compile_switch

    monkeypatch.setenv("TTS_CORE_CACHE_DIR", str(tmp_path))  # no stored measurement from another test decides it
    monkeypatch.setattr(compile_switch, "COMPILE_ON_CPU", True)  # else the CPU rule refuses it before these do
    monkeypatch.setenv("TTS_CORE_CALIBRATE_IN_PROCESS", "1")  # the patched constants live in this process
    for name, value in settings.items():
        monkeypatch.setattr(cal_mod, name, value)
    tier = BASELINE.with_(name=f"cal-{reason.replace(' ', '-')}", inference_mode=True, compile="auto")
    engine = Engine.load(voice="tiny", tier=tier)
    m = engine.stats()["calibration"]["measurements"]["compile"]
    assert not m["pays"] and reason in m["note"]
    assert engine.tier.compile is False
    engine.close()


def test_compile_is_not_measured_on_a_cpu(monkeypatch, tmp_path):
    monkeypatch.setenv("TTS_CORE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TTS_CORE_CALIBRATE_IN_PROCESS", "1")  # the patched constants live in this process
    from tts_core.calibrate import measure as cal_mod

    monkeypatch.setattr(cal_mod, "MIN_COMPILE_BUILD_S", 0.0)  # any reference could repay a build
    import tts_core.tiers.precision as precision

    monkeypatch.setattr(precision, "apply_compile", lambda model: pytest.fail("compile was built on a CPU"))
    tier = BASELINE.with_(name="cal-cpu-compile", inference_mode=True, compile="auto")
    with Engine.load(voice="tiny", tier=tier) as engine:
        m = engine.stats()["calibration"]["measurements"]["compile"]
        assert not m["pays"] and "on a CPU" in m["note"] and engine.tier.compile is False


def test_a_spent_budget_skips_the_remaining_candidates_with_that_reason(monkeypatch, tmp_path):
    from tts_core.calibrate import measure as cal_mod

    monkeypatch.setenv("TTS_CORE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TTS_CORE_CALIBRATE_IN_PROCESS", "1")  # the patched constants live in this process
    monkeypatch.setattr(cal_mod, "CANDIDATE_RESERVE_S", cal_mod.BUDGET_S + 1)  # nothing is ever left for them
    tier = BASELINE.with_(name="cal-spent", inference_mode=True, precision="auto", precision_candidates=("int8",),
                          memory_pool="auto", streaming="auto")
    with Engine.load(voice="tiny", tier=tier) as engine:
        m = engine.stats()["calibration"]["measurements"]
        for name in ("int8", "memory_pool"):
            assert not m[name]["pays"] and "budget" in m[name]["note"], name
        assert "ttfa_gain" in m["streaming"]  # measured before the budget is checked
        assert engine.tier.precision == "fp32" and engine.tier.memory_pool is False


def test_the_budget_is_handed_in_not_patched_into_the_module(monkeypatch, tmp_path):
    """A caller that bounds the calibration (the GPU check) passes its bound; the module's default stays as it is."""
    from tts_core.calibrate import measure as cal_mod
    from tts_core.voices import load_voice

    monkeypatch.setenv("TTS_CORE_CACHE_DIR", str(tmp_path))
    default = cal_mod.BUDGET_S
    tier = BASELINE.with_(name="cal-bound", inference_mode=True, memory_pool="auto")
    with Engine.from_voice(load_voice("tiny"), tier=tier, calibration_budget_s=0.0) as engine:
        m = engine.stats()["calibration"]["measurements"]["memory_pool"]
        assert not m["pays"] and "0 s calibration budget" in m["note"], m
    assert cal_mod.BUDGET_S == default


def test_every_interleaved_round_renders_its_own_input():
    seen = []
    _interleaved(lambda i: seen.append(("ref", i)) or 1.0, lambda i: seen.append(("cand", i)) or 0.8, rounds=4,
                 give_up=2.0)
    assert sorted({i for _, i in seen}) == [0, 1, 2, 3]
    assert seen[:4] == [("ref", 0), ("cand", 0), ("cand", 1), ("ref", 1)]  # A B, then B A


def test_round_texts_have_lengths_no_other_round_has():
    from tts_core.calibrate.measure import PROBE, ROUND_TEXTS, ROUNDS, TEXT

    assert len(ROUND_TEXTS) >= ROUNDS
    assert len({len(t) for t in (*ROUND_TEXTS, TEXT, PROBE)}) == len(ROUND_TEXTS) + 2


def test_an_instruction_set_cap_is_another_machine_to_the_calibration(monkeypatch):
    """`ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2` runs torch as on an AVX2-only CPU: the choices stored for
    the uncapped CPU must not be reused."""
    from tts_core.machine import isa_caps
    from tts_core.calibrate.stored import tier_key as _key

    tier = BASELINE.with_(fusion="auto")
    for name in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY"):
        monkeypatch.delenv(name, raising=False)
    uncapped = _key("w", torch.device("cpu"), tier, "cpu")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert isa_caps() == {"ONEDNN_MAX_CPU_ISA": "AVX2"}
    assert _key("w", torch.device("cpu"), tier, "cpu") != uncapped
