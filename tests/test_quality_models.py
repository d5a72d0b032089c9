"""bench.quality with its real models (the `quality` extra): sanity of the figures on known audio.

The real voice speaks the built-in texts with a low WER; the tiny voice's noise is not heard as words and
scores a low DNSMOS; white noise at 10 dB SNR lowers the background score (BAK); a second score is a cache hit.
"""

from __future__ import annotations

import numpy as np
import pytest

import bench.quality as q
from optional_deps import needs

pytestmark = needs(q.available())


@pytest.fixture(scope="module")
def scorer() -> q.QualityScorer:
    return q.QualityScorer(q.QualityConfig(cache_dir=None))


@pytest.fixture(scope="module")
def joe():
    from tts_core import Engine

    with Engine.load(voice="joe-medium", tier="baseline", seed=0) as engine:
        yield engine


SENTENCE = "The river keeps its own slow time beneath the old stone bridge."


def with_white_noise(samples: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    """`samples` plus white noise at `snr_db` dB below the signal's mean power."""
    x = samples.astype(np.float64)
    noise = np.random.default_rng(seed).standard_normal(x.size) * np.sqrt(np.mean(x**2) / 10 ** (snr_db / 10))
    return np.clip(x + noise, -1.0, 1.0).astype(np.float32)


def test_tiny_voice_noise_is_not_heard_as_speech(scorer):
    from tts_core import Engine

    with Engine.load(voice="tiny", tier="baseline", seed=0) as engine:
        audio = engine.synthesize(SENTENCE)
    figures = scorer.score(audio.samples, audio.sample_rate, SENTENCE)
    assert figures.wer >= 0.9, figures.asr_transcript
    assert figures.dnsmos_ovrl < 2.0 and figures.dnsmos_sig < 2.5


def test_white_noise_lowers_background_score(scorer, joe):
    audio = joe.synthesize(SENTENCE)
    clean = scorer.dnsmos.score(audio.samples, audio.sample_rate)
    noisy = scorer.dnsmos.score(with_white_noise(audio.samples, 10.0), audio.sample_rate)
    assert noisy.bak < clean.bak - 1.0, (clean, noisy)
    assert noisy.ovrl < clean.ovrl


def test_real_voice_sentence_is_heard_and_cached(tmp_path, joe):
    audio = joe.synthesize(SENTENCE)
    first = q.QualityScorer(q.QualityConfig(cache_dir=tmp_path))
    a = first.score(audio.samples, audio.sample_rate, SENTENCE)
    assert not a.cached and a.wer <= 0.1, a.asr_transcript
    assert 2.5 < a.dnsmos_ovrl <= 5.0 and a.dnsmos_bak > 3.0
    again = q.QualityScorer(q.QualityConfig(cache_dir=tmp_path))  # a later process reads the file
    b = again.score(audio.samples, audio.sample_rate, SENTENCE)
    assert b.cached and again.cost.hits == 1 and again.cost.misses == 0
    assert (b.wer, b.dnsmos_ovrl, b.asr_transcript) == (a.wer, a.dnsmos_ovrl, a.asr_transcript)
    assert q.gate(b, a) == (True, [])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["short", "medium", "long"])
def test_real_voice_builtin_texts_have_low_wer(scorer, joe, name):
    from bench.texts import read_text, text_path

    text = read_text(text_path(name))
    audio = joe.synthesize(text)
    figures = scorer.score(audio.samples, audio.sample_rate, text)
    assert figures.wer <= 0.10, (figures.reference, figures.heard)
    assert figures.dnsmos_ovrl > 3.0
