"""The fused decoder, kernel-1 convolutions as matrix products, and shape bucketing: each must give the
eager model's audio (exact fp32 gate), on the tiny voice for both resblock kinds and on the real voice."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from tts_core import ConfigError, Engine, TierConfig, resolve_tier
from tts_core.fidelity import compare
from tts_core.tiers import ADVANCED, OPTIMIZED
from tts_core.tiers.fusion import FusedDecoder, PointwiseConv1d, apply_fusion, onednn_fusion_available
from tts_core.tiers.precision import with_own_modules
from tts_core.vits.config import VitsConfig
from tts_core.vits.decoder import Generator

FUSED_OPS = [True, False] if onednn_fusion_available(torch.device("cpu")) else [False]


def _generator(resblock: str) -> Generator:
    """A tiny HiFi-GAN of either resblock kind, with random weights scaled so activations stay O(1)."""
    dilations = ((1, 3, 5),) * 3 if resblock == "1" else ((1, 2), (2, 6), (3, 12))
    gen = Generator(replace(VitsConfig.tiny(), resblock=resblock, resblock_dilation_sizes=dilations)).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in gen.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (0.5 / max(p[0].numel(), 1) ** 0.5 if p.dim() > 1 else 0.05))
    return gen


def _snr_db(ref: torch.Tensor, out: torch.Tensor) -> float:
    return float(10 * torch.log10(ref.pow(2).sum() / (ref - out).pow(2).sum().clamp_min(1e-30)))


@pytest.mark.parametrize("resblock", ["1", "2"])
@pytest.mark.parametrize("fused_ops", FUSED_OPS)
@pytest.mark.parametrize("bucket", [0, 16])
@pytest.mark.parametrize("frames", [1, 7, 16, 45])
def test_fused_decoder_equals_the_generator(resblock, fused_ops, bucket, frames):
    gen = _generator(resblock)
    fused = FusedDecoder(gen, fused_ops=fused_ops, bucket_frames=bucket)
    z = torch.randn(2, gen.conv_pre.in_channels, frames, generator=torch.Generator().manual_seed(frames))
    with torch.inference_mode():
        ref, out = gen(z), fused(z)
    assert out.shape == ref.shape == (2, 1, frames * gen.hop)
    assert _snr_db(ref, out) > 80
    assert float((ref - out).abs().max()) < 1e-4


def test_fused_decoder_with_a_mask_runs_the_generator_itself():
    gen = _generator("2")
    fused = FusedDecoder(gen)
    z = torch.randn(2, gen.conv_pre.in_channels, 9)
    mask = torch.ones(2, 1, 9)
    mask[1, :, 5:] = 0
    with torch.inference_mode():
        assert torch.equal(fused(z, mask), gen(z, mask))


@pytest.mark.parametrize("bucket", [8, 32])
def test_generator_bucketing_pads_and_masks_to_the_same_audio(bucket):
    gen = _generator("2")
    z = torch.randn(1, gen.conv_pre.in_channels, 13)
    with torch.inference_mode():
        ref = gen(z)
        gen.bucket_frames = bucket
        out = gen(z)
    assert out.shape == ref.shape
    assert _snr_db(ref, out) > 80


def test_pointwise_conv_is_the_convolution():
    conv = torch.nn.Conv1d(12, 20, 1)
    x = torch.randn(3, 12, 17)
    with torch.inference_mode():
        ref, out = conv(x), PointwiseConv1d(conv)(x)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="kernel 1"):
        PointwiseConv1d(torch.nn.Conv1d(4, 4, 3))


def test_apply_fusion_leaves_the_original_model_alone_and_shares_its_weights():
    engine = Engine.load(voice="tiny", tier="baseline")
    model = engine.model
    before = {name: type(m) for name, m in model.named_modules()}
    fused = apply_fusion(with_own_modules(model), bucket_frames=8)
    assert {name: type(m) for name, m in model.named_modules()} == before  # untouched
    assert isinstance(fused.dec, FusedDecoder) and fused.dec.bucket_frames == 8
    assert any(isinstance(m, PointwiseConv1d) for m in fused.enc_p.modules())
    assert fused.enc_p.emb.weight.data_ptr() == model.enc_p.emb.weight.data_ptr()  # shared, not copied
    engine.close()


@pytest.mark.parametrize("tier", ["baseline+fusion", "baseline+bucketing"])
def test_fusion_and_bucketing_tiers_give_the_eager_audio_on_the_real_voice(joe_engine, tier):
    text = "Fusion and bucketing must not change a single sample of this sentence."
    ref = joe_engine.synthesize(text, noise_scale=0, noise_w=0).samples
    with Engine.load(voice="joe-medium", tier=tier) as engine:
        out = engine.synthesize(text, noise_scale=0, noise_w=0).samples
    fid = compare(ref, out, 22050)
    assert fid.frames_equal and fid.passes("exact"), fid.failures("exact")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_a_16_bit_fused_decoder_keeps_the_waveform_in_fp32_and_matches_its_eager_twin(precision):
    from tts_core.tiers.precision import DTYPES, apply_precision

    gen = _generator("2")
    holder = torch.nn.Module()
    holder.flow, holder.dec = torch.nn.Identity(), gen
    apply_precision(holder, precision, in_place=True)
    fused = FusedDecoder(gen, bucket_frames=16)
    assert gen.conv_pre.weight.dtype == DTYPES[precision] and gen.conv_post.weight.dtype == torch.float32
    assert fused.dtype == DTYPES[precision] and fused.post_dtype == torch.float32
    z = torch.randn(1, gen.conv_pre.in_channels, 45, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        eager, out = gen(z.to(DTYPES[precision])), fused(z)
    assert eager.dtype == out.dtype == torch.float32
    assert _snr_db(eager, out) > 20  # the same arithmetic, rounded in other places


@pytest.mark.skipif(not onednn_fusion_available(torch.device("cpu"), torch.bfloat16),
                    reason="oneDNN reports no BF16 support on this CPU")
def test_the_fused_bf16_tier_passes_the_half_gate_on_the_real_voice(joe_engine):
    text = "Sixteen bits for the body of the decoder, thirty-two for the waveform it writes."
    ref = joe_engine.synthesize(text, noise_scale=0, noise_w=0).samples
    tier = OPTIMIZED.with_(name="fused-bf16", fusion=True, precision="bf16", bucket_frames=8, warmup=0,
                           engine_registry=False)
    with Engine.load(voice="joe-medium", tier=tier) as engine:
        assert engine.model.dec.fused_ops  # oneDNN's fused ops run the 16-bit body
        out = engine.synthesize(text, noise_scale=0, noise_w=0).samples
    fid = compare(ref, out, 22050)
    assert fid.frames_equal and fid.passes("half"), fid.failures("half")


def test_fused_streaming_equals_fused_whole(joe_engine):
    tier = OPTIMIZED.with_(name="fused-stream", fusion=True, bucket_frames=32, streaming=True, warmup=0,
                           engine_registry=False)
    text = "Streaming in chunks through the fused decoder gives the whole sentence's samples."
    ref = joe_engine.synthesize(text, noise_scale=0, noise_w=0).samples
    with Engine.load(voice="joe-medium", tier=tier) as engine:
        chunks = [c.samples for c in engine.stream(text, noise_scale=0, noise_w=0)]
    import numpy as np

    assert len(chunks) > 1
    assert compare(ref, np.concatenate(chunks), 22050).passes("exact")


def test_fusion_validation_names_the_fields():
    with pytest.raises(ConfigError, match="decoder_tiling"):
        TierConfig(fusion=True, decoder_tiling=True)
    assert TierConfig(fusion=True, precision="int8").fusion is True  # static int8 (tests/test_tiers_int8.py)
    with pytest.raises(ConfigError, match="bucket_frames"):
        TierConfig(bucket_frames=-1)
    assert ADVANCED.fusion == "auto" and ADVANCED.bucket_frames > 0
    assert resolve_tier("advanced-bucketing").bucket_frames == 0
    assert resolve_tier("advanced-bucketing").fusion == "auto"
