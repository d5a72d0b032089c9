"""Tier presets, ablation specs, validation, and the precision transforms' fidelity."""

from __future__ import annotations

import numpy as np
import pytest

from tts_core import ConfigError, Engine, TierConfig, resolve_tier
from tts_core.fidelity import GATES, compare
from tts_core.tiers.build import gate as tier_gate
from tts_core.tiers import ADVANCED, BASELINE, OPTIMIZED, SWITCH_NAMES, TIER_NAMES


def test_presets():
    assert TIER_NAMES == ("baseline", "optimized", "advanced")
    assert not BASELINE.inference_mode and not BASELINE.weight_cache and BASELINE.warmup == 0
    assert not BASELINE.batch_sentences and not BASELINE.audio_cache and BASELINE.precision == "fp32"
    assert OPTIMIZED.inference_mode and OPTIMIZED.weight_cache and OPTIMIZED.warmup >= 1 and OPTIMIZED.batch_sentences
    assert ADVANCED.audio_cache and ADVANCED.batch_optimizer
    from tts_core.tiers.switches import CALIBRATED

    assert set(ADVANCED.auto_fields) == {sw.settings[0].name for sw in CALIBRATED}  # advanced lets each be measured
    assert {"precision", "fusion", "streaming"} <= set(ADVANCED.auto_fields)


@pytest.mark.parametrize("switch", SWITCH_NAMES)
def test_every_switch_adds_to_baseline_and_leaves_advanced(switch):
    on = resolve_tier(f"baseline+{switch}")
    assert on != BASELINE.with_(name=on.name)
    off = resolve_tier(f"advanced-{switch}")
    assert off.name == f"advanced-{switch}"


def _diff(a: TierConfig, b: TierConfig) -> dict:
    return {k: (v, b.to_dict()[k]) for k, v in a.to_dict().items() if k != "name" and v != b.to_dict()[k]}


@pytest.mark.parametrize("switch", SWITCH_NAMES)
def test_removing_a_switch_changes_only_its_own_fields(switch):
    from tts_core.tiers.presets import SWITCHES

    changed = _diff(ADVANCED, resolve_tier(f"advanced-{switch}"))
    assert set(changed) <= set(SWITCHES[switch]) | {"precision_candidates"}


def test_removing_what_a_switch_needs_is_not_removing_the_switch():
    assert _diff(ADVANCED, resolve_tier("advanced-batch_optimizer")) == {"batch_optimizer": (True, False)}
    assert _diff(ADVANCED, resolve_tier("advanced-engine_registry")) == {"engine_registry": (True, False)}
    added = resolve_tier("baseline+batch_optimizer")  # adding it brings what it needs
    assert added.batch_optimizer and added.batch_sentences


def test_removing_a_precision_from_auto_removes_that_candidate_only():
    no_fp16 = resolve_tier("advanced-fp16")
    assert no_fp16.precision == "auto" and no_fp16.precision_candidates == ("bf16",)
    assert "int8" not in ADVANCED.precision_candidates  # opt-in: advanced+int8_static
    opted = resolve_tier("advanced+int8_static")
    assert opted.precision == "int8" and opted.fusion is True and opted.audio_cache
    assert resolve_tier("baseline+fp16").precision == "fp16"
    assert resolve_tier("baseline+fp16").with_(name="x") != resolve_tier("baseline-fp16").with_(name="x")
    assert resolve_tier("baseline-fp16").precision == "fp32"


def test_switches_advanced_leaves_alone_resolve_to_advanced_itself():
    for switch in ("threads1", "workers", "deterministic"):
        assert _diff(ADVANCED, resolve_tier(f"advanced-{switch}")) == {}


@pytest.mark.parametrize("spec", ["turbo", "baseline+warp", "advanced-", ""])
def test_bad_tier_names_list_the_allowed_values(spec):
    with pytest.raises(ConfigError) as info:
        resolve_tier(spec)
    assert "baseline" in str(info.value) or "inference_mode" in str(info.value)


@pytest.mark.parametrize("field, value", [
    ("threads", 0), ("warmup", -1), ("max_batch", 0), ("batch_tokens", 0), ("precision", "fp8"), ("compile", "maybe"),
    ("workers", 0), ("cuda_memory_fraction", 1.5), ("memory_limit_mb", -5), ("first_chunk_frames", 0),
])
def test_config_errors_name_the_field(field, value):
    with pytest.raises(ConfigError, match=f"`{field}`"):
        TierConfig(**{field: value})


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ConfigError, match="`turbo`"):
        TierConfig.from_dict({"turbo": True})
    assert TierConfig.from_dict(OPTIMIZED.to_dict()) == OPTIMIZED


def test_gates():
    assert [tier_gate(resolve_tier(f"baseline+{p}")) for p in ("fp16", "bf16", "int8")] == ["half", "half", "int8"]
    assert tier_gate(OPTIMIZED) == "exact" and tier_gate(resolve_tier("optimized+bf16")) == "half"
    x = np.sin(np.linspace(0, 300, 22050)).astype(np.float32) * 0.5
    assert compare(x, x, 22050).passes("exact")
    assert not compare(x, x[:-256], 22050).passes("exact")  # frame counts differ
    for gate in GATES:
        assert compare(x, x, 22050).failures(gate) == []


@pytest.mark.parametrize("precision, gate", [("fp16", "half"), ("int8", "int8")])
def test_reduced_precision_on_the_real_voice_against_its_gate(joe_engine, precision, gate):
    """FP16 and INT8 weight-only pass their gates on this voice. (BF16 does not: its 8-bit mantissa
    through the flow and decoder costs about 0.75 dB MCD; the calibration and the report show it.)
    Speed is the benchmarks' business."""
    ids = joe_engine.text_to_ids("A short sentence checks the numbers.")[0]
    ref = joe_engine.ids_to_audio(ids, noise_scale=0, noise_w=0).samples
    engine = Engine.load(voice="joe-medium", tier=OPTIMIZED.with_(name=f"t-{precision}", precision=precision, warmup=0))
    cand = engine.ids_to_audio(ids, noise_scale=0, noise_w=0).samples
    fid = compare(ref, cand, 22050)
    assert fid.frames_equal  # the duration predictor stays fp32
    assert fid.passes(gate), fid.failures(gate)


def test_tiled_decoder_is_exact_on_the_real_voice(joe_engine):
    import torch

    from tts_core.tiers.tiling import TiledDecoder

    z = torch.randn(1, 192, 200, generator=torch.Generator().manual_seed(0))  # 2.3 s of latents
    tiled = TiledDecoder(joe_engine.model.dec, tile=4096)
    with torch.inference_mode():
        ref, out = joe_engine.model.dec(z)[0, 0].numpy(), tiled(z)[0, 0].numpy()
    assert compare(ref, out, 22050).passes("exact")
