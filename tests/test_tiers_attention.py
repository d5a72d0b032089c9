"""Banded relative attention: the same sums as VITS's (T, 2T-1) form at every length, padded or not, on a
copy of the model that shares its weights; and the real voice's audio unchanged (exact fp32 gate), with the
windowed decoder too."""

from __future__ import annotations

import pytest
import torch

from tts_core import Engine
from tts_core.fidelity import compare
from tts_core.tiers.attention import apply_banded_attention
from tts_core.vits.attentions import MultiHeadAttention


@pytest.mark.parametrize("length", [1, 2, 4, 5, 9, 37, 160])
def test_banded_attention_gives_the_full_relative_attention(length):
    torch.manual_seed(length)
    layer = MultiHeadAttention(channels=32, n_heads=2, window_size=4).eval()
    x = torch.randn(2, 32, length)
    x_mask = torch.ones(2, 1, length)
    x_mask[1, :, length - length // 3 :] = 0  # the second item is padded
    attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)  # (B, 1, T, T)
    with torch.inference_mode():
        full = layer(x, attn_mask)
        layer.banded = True
        banded = layer(x, attn_mask)
    assert banded.shape == full.shape == (2, 32, length)
    torch.testing.assert_close(banded, full, rtol=1e-5, atol=1e-5)


def test_apply_banded_attention_leaves_the_original_model_alone_and_shares_its_weights(tiny_engine):
    model = tiny_engine.model
    banded = apply_banded_attention(model)
    layers, originals = banded.enc_p.encoder.attn_layers, model.enc_p.encoder.attn_layers
    assert all(layer.banded for layer in layers) and not any(layer.banded for layer in originals)
    assert layers[0].conv_q.weight.data_ptr() == originals[0].conv_q.weight.data_ptr()  # shared, not copied
    assert banded.dec is model.dec and banded.enc_p.emb is model.enc_p.emb


def test_the_banded_tier_gives_the_eager_audio_on_the_real_voice(joe_engine):
    text = "Banded attention must not change a single sample of this sentence, however long it runs on."
    ref = joe_engine.synthesize(text, noise_scale=0, noise_w=0).samples
    with Engine.load(voice="joe-medium", tier="baseline+banded_attention") as engine:
        assert all(layer.banded for layer in engine.model.enc_p.encoder.attn_layers)
        out = engine.synthesize(text, noise_scale=0, noise_w=0).samples
    fid = compare(ref, out, 22050)
    assert fid.frames_equal and fid.passes("exact"), fid.failures("exact")


def test_the_windowed_decoder_tier_gives_the_eager_audio_on_the_real_voice(joe_engine):
    text = ("A sentence long enough to be decoded in several windows of two hundred and fifty-six frames, "
            "each widened by the decoder's reach and cropped, must come out exactly as it does whole.")
    ref = joe_engine.synthesize(text, noise_scale=0, noise_w=0).samples
    with Engine.load(voice="joe-medium", tier="baseline+decode_window") as engine:
        out = engine.synthesize(text, noise_scale=0, noise_w=0).samples
    assert len(ref) > 3 * 256 * 256  # more than three windows
    fid = compare(ref, out, 22050)
    assert fid.frames_equal and fid.passes("exact"), fid.failures("exact")
