"""The tiny random-weight model and the config it rests on."""

from __future__ import annotations


import pytest
import torch

import tts_core.vits as vits
from tts_core.errors import ConfigError, VoiceError
from tts_core.vits import VitsConfig, build_tiny_model


pytestmark = pytest.mark.usefixtures("one_thread")  # see the root conftest


def test_public_surface():
    expected = ["VitsConfig", "VitsModel", "onnx_state_dict", "load_weights", "build_model", "build_tiny_model"]
    assert sorted(vits.__all__) == sorted(expected)
    for stage in ("encode", "predict_durations", "expand", "sample_prior", "flow_reverse", "decode", "infer"):
        assert callable(getattr(vits.VitsModel, stage))


def test_builds_deterministically():
    a = build_tiny_model(seed=0)
    b, c = build_tiny_model(seed=0), build_tiny_model(seed=1)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert not a.training


def test_audio_length_is_frames_times_hop():
    model = build_tiny_model()
    ids = torch.randint(3, 150, (1, 25), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        x, m_p, logs_p, x_mask = model.encode(ids, torch.tensor([25]))
        w_ceil = model.predict_durations(x, x_mask, noise_w=0.0, length_scale=1.0)
        audio, sample_lengths = model.infer(ids, torch.tensor([25]), 0.0, 1.0, 0.0)
    frames = int(w_ceil.sum())
    assert model.config.hop_length == 64
    assert audio.shape == (1, 1, frames * 64) and int(sample_lengths[0]) == frames * 64
    assert torch.isfinite(audio).all() and audio.abs().max() <= 1.0 and audio.std() > 0


def test_seeded_noise_reproduces():
    model = build_tiny_model()
    ids, lengths = torch.randint(3, 150, (1, 30), generator=torch.Generator().manual_seed(0)), torch.tensor([30])
    with torch.inference_mode():
        a, _ = model.infer(ids, lengths, 0.667, 1.0, 0.8, generator=torch.Generator().manual_seed(7))
        b, _ = model.infer(ids, lengths, 0.667, 1.0, 0.8, generator=torch.Generator().manual_seed(7))
        c, _ = model.infer(ids, lengths, 0.0, 1.0, 0.0)
        d, _ = model.infer(ids, lengths, 0.0, 1.0, 0.0)
    assert torch.equal(a, b) and torch.equal(c, d)


def test_config_defaults_and_hop():
    c = VitsConfig()
    assert c.hop_length == 256 and c.sample_rate == 22050 and c.resblock == "2"
    assert VitsConfig.tiny().hop_length == 64


@pytest.mark.parametrize(
    "field, value",
    [("resblock", "3"), ("n_heads", 5), ("inter_channels", 7), ("hidden_channels", 0), ("upsample_kernel_sizes", (16, 16)),
     ("resblock_dilation_sizes", ((1, 2),)), ("length_scale", 0.0), ("noise_w", -1.0), ("flow_kernel_size", 4)],
)
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ConfigError, match=f"`{field}`"):
        VitsConfig(**{field: value})


def test_from_voice_rejects_what_it_cannot_run():
    with pytest.raises(VoiceError, match="Piper VITS"):
        VitsConfig.from_voice({}, {})
    state = build_tiny_model().state_dict()
    with pytest.raises(VoiceError, match="num_speakers"):
        VitsConfig.from_voice({"num_speakers": 4}, state)
    assert VitsConfig.from_voice({"inference": {"noise_w": 0.5}}, state).noise_w == 0.5
