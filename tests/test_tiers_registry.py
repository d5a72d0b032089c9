"""The registry of switches: one file each, one ordered tuple, fields and ablations from it; the calibration builds
each candidate by the engine's own route."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tts_core import ConfigError, Engine
from tts_core.tiers import ADVANCED, TierConfig, resolve_tier
from tts_core.tiers.switches import ABLATIONS, CALIBRATED, SETTINGS, SWITCHES
from tts_core.tiers.switches.base import ACTS_ON, GATES, SHOWS_IN


def test_every_field_belongs_to_exactly_one_switch():
    owned = [s.name for sw in SWITCHES for s in sw.settings]
    assert len(owned) == len(set(owned))
    assert [f.name for f in dataclasses.fields(TierConfig)] == ["name", *owned]
    for sw in SWITCHES:
        assert sw.name and sw.settings and set(sw.acts_on) <= set(ACTS_ON) and sw.shows_in in SHOWS_IN, sw
        assert all(set(fields) <= set(SETTINGS) for fields in sw.ablation_fields().values()), sw
        assert set(sw.requires) <= set(SETTINGS), sw


def test_a_calibrated_switch_accepts_auto_and_others_do_not():
    for sw in SWITCHES:
        first = sw.settings[0].name
        if sw.calibrated:
            assert TierConfig(**{first: "auto"}).auto_fields == [first]
        else:
            with pytest.raises(ConfigError, match=f"`{first}`"):
                TierConfig(**{first: "auto"})


def test_each_switchs_gate_is_a_known_gate():
    for name, sw in ABLATIONS.items():
        assert sw.gate(resolve_tier(f"baseline+{name}")) in GATES, name
    assert ABLATIONS["bf16"].gate(resolve_tier("baseline+bf16")) == "half"


def test_errors_name_the_field_and_the_allowed_values():
    with pytest.raises(ConfigError, match=r"`tile_samples` = 10 .*an integer >= 1024"):
        TierConfig(tile_samples=10)
    with pytest.raises(ConfigError, match=r"`fusion` = 'yes' .*true or false or 'auto'"):
        TierConfig(fusion="yes")
    with pytest.raises(ConfigError, match=r"`precision_candidates`"):
        TierConfig(precision_candidates=("fp8",))


def _route(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record which switches' transforms run; torch.compile is recorded, not built (it can abort on this CPU)."""
    calls: list[str] = []
    for sw in SWITCHES:
        real = sw.transform

        def spy(model, tier, ctx, sw=sw, real=real):
            calls.append(sw.name)
            return model if sw.name == "compile" else real(model, tier, ctx)

        monkeypatch.setattr(sw, "transform", spy)
    return calls


def _shape(model: torch.nn.Module) -> list[tuple[str, str]]:
    return [(name, type(m).__name__) for name, m in model.named_modules()]


def _renderer_facts(r) -> dict:
    return {"grad": r.grad, "tokens": r.token_bucket, "frames": r.frame_bucket, "window": r.decode_window,
            "pool": r.pool is not None, "batched": r.batch_vocoder}


@pytest.mark.parametrize("switch", [sw.name for sw in CALIBRATED])
def test_the_calibration_builds_each_candidate_by_the_engines_route(monkeypatch, tmp_path, switch):
    """For every candidate of every switch the calibration may choose: the same transforms run in the same order,
    the model has the same modules and the renderer the same options as the engine that runs that choice."""
    from tts_core.calibrate.measure import candidate_renderer
    from tts_core.text import TextFrontend
    from tts_core.voices import load_voice

    monkeypatch.setenv("TTS_CORE_CACHE_DIR", str(tmp_path))
    sw = next(s for s in CALIBRATED if s.name == switch)
    calls = _route(monkeypatch)
    for changes in sw.candidates(ADVANCED):
        tier = ADVANCED.undecided_off().with_(name=f"route-{switch}", warmup=0, engine_registry=False, **changes)
        voice = load_voice("tiny")
        calls.clear()
        candidate = candidate_renderer(voice, TextFrontend(voice.phoneme_id_map, voice.espeak_voice),
                                       torch.device("cpu"), tier)
        calibrated_route = list(calls)
        calls.clear()
        with Engine.load(voice="tiny", tier=tier) as engine:
            assert calls == calibrated_route and switch_name_in(sw, calls), (changes, calls)
            assert _shape(engine.model) == _shape(candidate.model), changes
            assert _renderer_facts(engine._renderer) == _renderer_facts(candidate), changes


def switch_name_in(sw, calls: list[str]) -> bool:
    """A switch acting on the model ran its transform; one acting elsewhere did not need to."""
    return sw.name in calls if "model" in sw.acts_on else True
