"""espeak-ng's formant synthesizer as a non-neural reference (bench/engines/espeak_ng.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.engines.base import BenchEngine, TierChecking
from bench.engines.espeak_ng import SAMPLE_RATE, EspeakNgEngine
from optional_deps import require

require("espeakng_loader")

TEXT = "Hello there. This is espeak speaking, a formant synthesizer with a long history."


@pytest.fixture(scope="module")
def espeak():
    engine = EspeakNgEngine()
    engine.load(model="joe-medium", device="cpu", tier="baseline", seed=0)
    yield engine
    engine.close()


def test_adapter_follows_the_protocol():
    assert isinstance(EspeakNgEngine(), BenchEngine) and isinstance(EspeakNgEngine(), TierChecking)  # sample_rate needs no load
    assert EspeakNgEngine.available() is None
    EspeakNgEngine.check_tier("default")
    with pytest.raises(ValueError, match="`tier.name` = 'tuned'"):
        EspeakNgEngine.check_tier("tuned")
    with pytest.raises(ValueError, match="`hardware.device`"):
        EspeakNgEngine().load(model="joe-medium", device="cuda", tier="default", seed=0)


def test_synthesizes_non_silent_audio(espeak):
    audio = espeak.synthesize(TEXT)
    assert audio.sample_rate == SAMPLE_RATE == 22050 and audio.samples.dtype == np.float32
    assert 2.0 < audio.duration < 10.0
    assert np.sqrt(np.mean(audio.samples**2)) > 0.01
    slow = espeak.synthesize("Hello there.", length_scale=2.0)
    assert slow.duration > 1.5 * espeak.synthesize("Hello there.").duration
    desc = espeak.describe()
    assert desc["comparable_quality"] is False and desc["fidelity_gate"] is None and "speed reference" in desc["note"]


def test_stream_equals_synthesize_and_can_stop_early(espeak):
    chunks = list(espeak.stream(TEXT))
    assert len(chunks) > 5  # espeak's own buffers, not whole sentences
    streamed = sum(len(c.samples) for c in chunks)  # espeak carries a little state between calls: not bit-equal
    assert streamed == pytest.approx(len(espeak.synthesize(TEXT).samples), rel=0.01)
    stream = espeak.stream("A long text to abandon. " * 40)
    next(stream)
    stream.close()  # cancels the synthesis and frees the espeak lock
    assert espeak.synthesize("Still working.").duration > 0.3


def test_shares_espeak_with_the_tts_core_front_end(espeak):
    from tts_core.text.phonemize import EspeakPhonemizer

    phonemizer = EspeakPhonemizer("en-us")
    before = phonemizer.phonemize(TEXT)
    espeak.synthesize(TEXT, length_scale=1.5)
    assert phonemizer.phonemize(TEXT) == before
