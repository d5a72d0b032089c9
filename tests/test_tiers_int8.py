"""Static INT8 in the fused decoder's low-rate stages: each quantized convolution against the fp32 convolution of
the same quantized input, the real voice against the fp32 baseline under the int8 gate, and the tier's wiring."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tts_core import Engine, TierConfig, resolve_tier
from tts_core.fidelity import compare
from tts_core.tiers.fusion import FusedDecoder, apply_fusion
from tts_core.tiers.int8 import QConv, activation_ranges, int8_convs, quantized_convs, static_int8_available
from tts_core.tiers.precision import Int8Conv, with_own_modules
from tts_core.vits.tiny import build_tiny_model

from calibration_stub import scripted_speedups

pytestmark = pytest.mark.skipif(not static_int8_available(torch.device("cpu")),
                                reason="this PyTorch has no oneDNN quantized convolutions")
SENTENCE = "Static int8 runs the decoder's low-rate stages; the last one stays in full precision."


@pytest.mark.parametrize("channels, kernel, dilation", [(32, 3, 1), (16, 7, 3)])
def test_a_quantized_conv_adds_the_fp32_conv_of_its_dequantized_input(channels, kernel, dilation):
    g = torch.Generator().manual_seed(0)
    conv = torch.nn.Conv1d(channels, channels, kernel, dilation=dilation, padding=(kernel - 1) * dilation // 2)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.1)
    x = torch.randn(1, channels, 1, 300, generator=g).contiguous(memory_format=torch.channels_last)
    residual = torch.randn(1, channels, 1, 300, generator=g).contiguous(memory_format=torch.channels_last)
    q = QConv.build(conv, float(x.min()), float(x.max()), 300)
    qx = q.quantize(x)
    assert qx.dtype == torch.uint8 and qx.shape == x.shape
    x_dq = (qx.float() - q.x_zero) * q.x_scale  # the input as the int8 conv sees it
    assert float((x_dq - x).abs().max()) <= q.x_scale / 2 + 1e-6
    w_q = torch.round(conv.weight.detach() / q.w_scales.view(-1, 1, 1)).clamp(-127, 127) * q.w_scales.view(-1, 1, 1)
    ref = F.conv1d(x_dq[:, :, 0], w_q, conv.bias, padding=conv.padding, dilation=conv.dilation)[:, :, None] + residual
    into = residual.clone()
    out = q.accumulate(qx, into)
    assert out.data_ptr() == into.data_ptr()  # in place: the residual stream is written, not copied
    torch.testing.assert_close(out, ref, atol=1e-4, rtol=1e-4)


def test_quantize_without_quantized_tensors_gives_the_same_levels(monkeypatch):
    conv = torch.nn.Conv1d(8, 8, 3, padding=1)
    x = torch.randn(1, 8, 1, 50, generator=torch.Generator().manual_seed(4)).contiguous(memory_format=torch.channels_last)
    q = QConv.build(conv, float(x.min()), float(x.max()), 50)
    fast = q.quantize(x)
    monkeypatch.delattr(torch, "quantize_per_tensor")  # as in a PyTorch that has removed quantized tensors
    slow = q.quantize(x)
    assert slow.dtype == torch.uint8 and slow.is_contiguous(memory_format=torch.channels_last)
    assert int((slow.int() - fast.int()).abs().max()) <= 1  # the same levels, up to a rounding tie


@pytest.mark.parametrize("speedup, kept", [(1.6, True), (0.9, False)], ids=["faster-kept", "slower-dropped"])
def test_calibration_times_int8_on_the_fused_decoder(tmp_path, monkeypatch, speedup, kept):
    """int8 is measured on top of the fused decoder; with its timing scripted, it is kept exactly when it pays, and
    then runs as it was measured: static int8 in the fused decoder."""
    monkeypatch.setenv("TTS_CORE_CACHE_DIR", str(tmp_path))
    scripted_speedups(monkeypatch, {"int8": speedup})
    tier = resolve_tier("baseline").with_(name=f"cal-int8-fused-{kept}", inference_mode=True, fusion=True,
                                          precision="auto", precision_candidates=("int8",))
    with Engine.load(voice="tiny", tier=tier) as engine:
        m = engine.stats()["calibration"]["measurements"]["int8"]
        assert m.get("timed_against") == {"fusion": True} and m.get("gate") == "int8", m
        assert m["gate_failures"] == [] and m["pays"] is kept, m
        assert engine.tier.fusion is True and isinstance(engine.model.dec, FusedDecoder)
        assert engine.tier.precision == ("int8" if kept else "fp32") and bool(engine.model.dec.int8) is kept


def test_ranges_cover_every_int8_conv_and_contain_zero():
    model = build_tiny_model()
    ids = [[1, 5, 9, 3, 7, 2, 8], [4, 6, 2]]
    ranges = activation_ranges(model, ids)
    convs = int8_convs(model.dec)
    last_stage = len(model.dec.ups) - 1
    assert set(ranges) == set(convs) and convs and all(stage < last_stage for stage, _, _ in convs)
    assert all(lo <= 0.0 <= hi and hi > lo for lo, hi in ranges.values())
    assert activation_ranges(model, ids) == ranges  # seeded: every engine quantizes with the same scales
    with pytest.raises(ValueError, match="activation range"):
        quantized_convs(model.dec, {k: v for k, v in list(ranges.items())[1:]})


def test_the_tiny_voice_runs_int8_stages_and_stays_close_to_fused_fp32():
    model = build_tiny_model()
    ranges = activation_ranges(model, [[1, 5, 9, 3, 7, 2, 8, 4, 4, 6]])
    fused = apply_fusion(with_own_modules(model), 16)
    quant = apply_fusion(with_own_modules(model), 16, int8_ranges=ranges)
    assert isinstance(quant.dec, FusedDecoder) and set(quant.dec.int8) == set(int8_convs(model.dec))
    z = torch.randn(1, model.config.inter_channels, 37, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        ref, out = fused.dec(z), quant.dec(z)
    assert out.shape == ref.shape
    assert not torch.equal(out, ref)  # really quantized
    snr = 10 * torch.log10(ref.pow(2).sum() / (ref - out).pow(2).sum())
    assert snr > 15, f"int8 stages drifted from fused fp32: SNR {float(snr):.1f} dB"


@pytest.fixture(scope="module")
def reference_audio(joe_engine) -> np.ndarray:
    return joe_engine.synthesize(SENTENCE, noise_scale=0, noise_w=0).samples


def test_real_voice_passes_the_int8_gate_and_is_not_exact(reference_audio):
    with Engine.load(voice="joe-medium", tier="baseline+int8_static") as engine:
        assert engine.tier.precision == "int8" and engine.tier.fusion is True
        assert isinstance(engine.model.dec, FusedDecoder) and len(engine.model.dec.int8) == 12
        audio = engine.synthesize(SENTENCE, noise_scale=0, noise_w=0).samples
    result = compare(reference_audio, audio, 22050)
    assert result.passes("int8"), result.failures("int8")
    assert not result.passes("exact")  # lossy: it is judged by the int8 gate, never the exact one


def test_without_quantized_convolutions_int8_falls_back_to_weights_only(monkeypatch, caplog):
    import tts_core.tiers.int8 as int8

    monkeypatch.setattr(int8, "static_int8_available", lambda device: False)
    with caplog.at_level(logging.WARNING, logger="tts_core"):
        with Engine.load(voice="tiny", tier=resolve_tier("baseline+int8_static")) as engine:
            assert engine.tier.fusion is False
            assert any(isinstance(m, Int8Conv) for m in engine.model.dec.modules())
    assert "int8 runs weight-only" in caplog.text


def test_int8_with_fusion_is_a_valid_tier_and_int8_alone_stays_weights_only():
    assert TierConfig(precision="int8", fusion=True).fusion is True
    alone = resolve_tier("baseline+int8")
    assert alone.precision == "int8" and alone.fusion is False
    with Engine.load(voice="tiny", tier=alone) as engine:
        assert not isinstance(engine.model.dec, FusedDecoder)
        assert any(isinstance(m, Int8Conv) for m in engine.model.dec.modules())
