"""The advanced tier's calibration: decisions by measurement, stored, read back, shown in stats."""

from __future__ import annotations

import itertools

from tts_core import Engine
from tts_core.tiers import BASELINE
from tts_core.tiers.calibrate import MIN_SPEEDUP, _interleaved


def _clock(values):
    it = itertools.cycle(values)
    return lambda: next(it)


def test_a_consistently_faster_candidate_wins():
    r = _interleaved(_clock([1.0]), _clock([0.8]), rounds=5, give_up=2.0)
    assert r["won_all"] and r["speedup"] >= MIN_SPEEDUP


def test_a_candidate_that_loses_one_round_does_not_win():
    r = _interleaved(_clock([1.0]), _clock([0.8, 0.8, 1.2, 0.8, 0.8]), rounds=5, give_up=2.0)
    assert not r["won_all"] and r["rounds"] == 3  # stops once it cannot win every round


def test_a_hopeless_candidate_is_dropped_early():
    r = _interleaved(_clock([1.0]), _clock([5.0]), rounds=5, give_up=2.0)
    assert r["rounds"] == 1 and r["speedup"] < 0.3


def test_calibration_runs_once_is_stored_and_shown():
    tier = BASELINE.with_(name="cal-test", inference_mode=True, precision="auto", streaming="auto", memory_pool="auto")
    first = Engine.load(voice="tiny", tier=tier)
    cal = first.stats()["calibration"]
    assert not cal["cached"]
    assert set(cal["choices"]) == {"precision", "streaming", "memory_pool"}
    for name in ("fp16", "bf16", "int8", "streaming", "memory_pool"):
        assert "pays" in cal["measurements"][name]
    for name in ("fp16", "bf16", "int8"):  # each either ran to a fidelity verdict or was dropped with a reason
        m = cal["measurements"][name]
        assert "gate_failures" in m or "note" in m or "error" in m
    assert first.tier.precision in ("fp32", "fp16", "bf16", "int8") and first.tier.auto_fields == []
    second = Engine.load(voice="tiny", tier=tier)
    assert second.stats()["calibration"]["cached"]
    assert second.tier == first.tier
