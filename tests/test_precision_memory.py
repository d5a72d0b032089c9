"""A precision tier holds one copy of the weights: no fp32 original stays reachable from the engine."""

from __future__ import annotations

import pytest
import torch

from tts_core import Engine
from tts_core.tiers.precision import Int8Conv


def _tensor_bytes(*modules: torch.nn.Module) -> int:
    """Bytes of the distinct parameters and buffers (by storage) of `modules` together."""
    seen: dict[int, int] = {}
    for module in modules:
        for t in list(module.parameters()) + list(module.buffers()):
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        for m in module.modules():
            cached = getattr(m, "_float", None)
            if isinstance(cached, torch.Tensor):
                seen[cached.untyped_storage().data_ptr()] = cached.untyped_storage().nbytes()
    return sum(seen.values())


def _reachable_bytes(engine: Engine) -> int:
    return _tensor_bytes(engine.model, engine.voice.model, engine._renderer.model, engine._parts.voice.model)


@pytest.fixture(scope="module")
def baseline():
    with Engine.load(voice="tiny", tier="baseline") as engine:
        yield engine


def test_fp16_holds_the_encoder_in_fp32_and_the_flow_and_decoder_in_fp16_only(baseline):
    m = baseline.model
    stay = _tensor_bytes(m.enc_p, m.dp, m.dec.conv_post)  # the waveform's own convolution stays fp32 too
    convert = _tensor_bytes(m.flow, m.dec) - _tensor_bytes(m.dec.conv_post)
    assert _reachable_bytes(baseline) == _tensor_bytes(m)  # baseline itself holds one copy
    with Engine.load(voice="tiny", tier="baseline+fp16") as engine:
        assert _reachable_bytes(engine) == _tensor_bytes(engine.model) == _tensor_bytes(m) - convert // 2
        assert stay == _tensor_bytes(engine.model.enc_p, engine.model.dp, engine.model.dec.conv_post)
        assert engine.model.dec.conv_pre.weight.dtype == torch.float16
        assert engine.model.dec.conv_post.weight.dtype == torch.float32


def test_int8_holds_int8_weights_and_no_float_copy(baseline):
    with Engine.load(voice="tiny", tier="baseline+int8") as engine:
        convs = [c for c in engine.model.modules() if isinstance(c, Int8Conv)]
        assert convs and all(c.qweight.dtype == torch.int8 and c._float is None for c in convs)
        engine.synthesize("Int eight weights.")
        assert all(c._float is None for c in convs)  # dequantized per call, not kept
        quantized_fp32 = sum(4 * c.qweight.numel() for c in convs)
        held = _reachable_bytes(engine)
        assert held == _tensor_bytes(engine.model)
        assert held <= _tensor_bytes(baseline.model) - quantized_fp32 * 3 // 4 + sum(
            c.scale.numel() * 4 for c in convs)


def test_int8_cache_float_keeps_one_dequantized_tensor():
    conv = torch.nn.Conv1d(16, 32, 5)
    q = Int8Conv(conv, cache_float=True)
    x = torch.randn(1, 16, 40)  # (B, C, T)
    y1, y2 = q(x), q(x)
    assert q._float is not None and torch.equal(y1, y2)
    assert torch.allclose(y1, conv(x), atol=0.05)
