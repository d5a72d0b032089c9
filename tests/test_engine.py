"""The engine's public contract, on the tiny voice (fast) and, where it matters, the real voice."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import tts_core
from tts_core import Audio, ConfigError, EmptyTextError, Engine, SynthesisConfig, TextError, UnspeakableTextError
from tts_core.fidelity import compare

TEXT = "Hello there. This is a test of the engine, with a second and somewhat longer sentence."
ZERO = {"noise_scale": 0.0, "noise_w": 0.0}


def test_public_surface_is_pinned():
    assert sorted(tts_core.__all__) == sorted([
        "Audio", "ConfigError", "EmptyTextError", "Engine", "InputFileError", "MemoryLimitError", "SynthesisConfig",
        "TIER_NAMES",
        "TTSError", "TextError", "TierConfig", "UnspeakableTextError", "VOICE_NAMES", "VoiceError", "resolve_tier",
    ])
    public = {n for n, _ in inspect.getmembers(Engine) if not n.startswith("_")}
    assert public == {
        "load", "stream", "stream_file", "synthesize", "synthesize_batch", "text_to_ids", "ids_to_audio",
        "sentences", "profile_stages", "model", "stats", "clear_cache", "close",
        "from_voice", "housekeep", "pending_housekeeping",
    }
    assert set(inspect.signature(Engine.load).parameters) == {"voice", "device", "tier", "seed"}
    assert {"samples", "sample_rate"} <= set(Audio.__dataclass_fields__) and {"duration", "save_wav"} <= set(dir(Audio))


def test_synthesize_returns_float32_audio(tiny_engine):
    audio = tiny_engine.synthesize(TEXT)
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert audio.sample_rate == tiny_engine.sample_rate
    assert audio.duration == pytest.approx(len(audio.samples) / audio.sample_rate)
    assert audio.duration > 0.5


def test_same_seed_same_samples_other_seed_other_samples():
    a = Engine.load(voice="tiny", seed=7).synthesize(TEXT)
    b = Engine.load(voice="tiny", seed=7).synthesize(TEXT)
    c = Engine.load(voice="tiny", seed=8).synthesize(TEXT)
    np.testing.assert_array_equal(a.samples, b.samples)
    assert len(a.samples) != len(c.samples) or not np.array_equal(a.samples, c.samples)


def test_stream_concatenates_to_synthesize(tiny_engine):
    chunks = list(tiny_engine.stream(TEXT))
    assert len(chunks) == 2  # one per sentence under baseline
    np.testing.assert_array_equal(np.concatenate([c.samples for c in chunks]), tiny_engine.synthesize(TEXT).samples)


def test_batch_items_equal_single_syntheses():
    engine = Engine.load(voice="tiny", tier="baseline+batching")
    texts = ["Short one.", "A much longer sentence, with many more words in it than the first.", "Mid length here."]
    batch = engine.synthesize_batch(texts, **ZERO)
    for text, audio in zip(texts, batch):
        single = engine.synthesize(text, **ZERO)
        assert len(single.samples) == len(audio.samples)
        assert compare(single.samples, audio.samples, audio.sample_rate).passes("exact")


def test_batch_with_noise_is_reproducible_per_sentence():
    engine = Engine.load(voice="tiny", tier="baseline+batching", seed=3)
    texts = ["Short one.", "A much longer sentence, with many more words in it than the first."]
    batch = engine.synthesize_batch(texts)
    for text, audio in zip(texts, batch):
        assert compare(engine.synthesize(text).samples, audio.samples, audio.sample_rate).passes("exact")


def test_streaming_chunks_equal_one_shot(tiny_engine):
    streaming = Engine.load(voice="tiny", tier="baseline+streaming")
    chunks = list(streaming.stream(TEXT, **ZERO))
    assert len(chunks) > 2  # sub-sentence chunks
    whole = tiny_engine.synthesize(TEXT, **ZERO).samples
    assert compare(whole, np.concatenate([c.samples for c in chunks]), 22050).passes("exact")


@pytest.mark.parametrize("n,first,largest", [(230, 16, 256), (1000, 16, 256), (5, 16, 256), (700, 256, 256)])
def test_chunks_cover_the_sentence_and_grow_at_most_fourfold_on_the_audio_before_them(n, first, largest):
    from tts_core.streaming import GROWTH, chunk_bounds

    bounds = chunk_bounds(n, first, largest)
    assert bounds[0][0] == 0 and bounds[-1][1] == n and all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    assert bounds[0][1] == min(n, first)
    for start, end in bounds[1:]:
        assert end - start <= min(largest, GROWTH * start)
    assert all(end - start == min(largest, GROWTH * start) for start, end in bounds[1:-1])  # as large as allowed


@pytest.mark.parametrize("n", [230, 1000, 5])
def test_aligned_chunks_fill_the_decoders_bucket_with_their_margins(n):
    from tts_core.streaming import GROWTH, chunk_bounds

    margin, align = 12, 32
    bounds = chunk_bounds(n, 16, 256, margin, align)
    assert bounds[0][0] == 0 and bounds[-1][1] == n and all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    windows = [min(n, end + margin) - max(0, start - margin) for start, end in bounds]
    assert all(w % align == 0 for w in windows[:-1])  # only the last window is padded
    for start, end in bounds[1:]:
        assert end - start < min(256, GROWTH * start) + align  # grown by less than one bucket


def test_ids_api(tiny_engine):
    ids = tiny_engine.text_to_ids(TEXT)
    assert len(ids) == 2 and all(isinstance(i, int) for seq in ids for i in seq)
    a = tiny_engine.ids_to_audio(ids[0], noise_scale=0, noise_w=0, length_scale=1)
    b = tiny_engine.ids_to_audio(ids[0], noise_scale=0, noise_w=0, length_scale=1)
    np.testing.assert_array_equal(a.samples, b.samples)
    slow = tiny_engine.ids_to_audio(ids[0], noise_scale=0, noise_w=0, length_scale=2)
    assert slow.duration > a.duration
    with pytest.raises(ValueError, match="ids"):
        tiny_engine.ids_to_audio([])
    with pytest.raises(ValueError, match="outside"):
        tiny_engine.ids_to_audio([1, 10_000, 2])
    with pytest.raises(ValueError, match="length_scale"):
        tiny_engine.synthesize("Hello.", length_scale=-1)


def test_per_call_settings_are_one_config_where_none_is_the_voices_default(tiny_engine):
    ids = tiny_engine.text_to_ids(TEXT)[0]
    by_config = tiny_engine.ids_to_audio(ids, SynthesisConfig(noise_scale=0, noise_w=0, length_scale=1.5))
    by_keyword = tiny_engine.ids_to_audio(ids, noise_scale=0, noise_w=0, length_scale=1.5)
    np.testing.assert_array_equal(by_config.samples, by_keyword.samples)
    default = tiny_engine.synthesize(TEXT, SynthesisConfig(noise_scale=0, noise_w=0))
    voice = tiny_engine.voice
    spelled = tiny_engine.synthesize(TEXT, SynthesisConfig(0, voice.length_scale, 0))
    np.testing.assert_array_equal(default.samples, spelled.samples)
    with pytest.raises(TypeError, match="noise_scale, length_scale, noise_w"):
        tiny_engine.synthesize(TEXT, speed=2.0)
    with pytest.raises(ConfigError, match="`noise_w`"):
        tiny_engine.synthesize(TEXT, SynthesisConfig(noise_w=-1))


@pytest.mark.parametrize("text, error", [
    ("", EmptyTextError),
    ("   \n\t ", EmptyTextError),
    ("?!... ;;", UnspeakableTextError),
    ("\U0001F600\U0001F680\U0001F389", UnspeakableTextError),
    ("\x00\x01\x02\x1b", TextError),
])
def test_unspeakable_text_raises_a_clear_value_error(tiny_engine, text, error):
    with pytest.raises(error) as info:
        tiny_engine.synthesize(text)
    assert isinstance(info.value, ValueError)
    assert len(str(info.value)) > 20  # a sentence that says what is wrong


@pytest.mark.parametrize("text", ["Hello\x00 world\x07.", "Hello Привет 你好 world.", "Price: $5 & 10% off!"])
def test_odd_but_speakable_text_gives_audio(tiny_engine, text):
    assert tiny_engine.synthesize(text).duration > 0


def test_huge_text_streams_lazily(tiny_engine, monkeypatch):
    """The first chunk of a long text comes out when its one sentence is phonemized and rendered, before the
    other 3,999 are even read; each further chunk costs one more sentence."""
    text = " ".join(f"This is sentence {i} of a very long text." for i in range(4000))  # ~180,000 characters
    phonemizer, renderer = tiny_engine._parts.frontend.phonemizer, tiny_engine._renderer
    phonemized: list[str] = []
    rendered: list[int] = []
    phonemize, render = phonemizer.phonemize_with_text, renderer.render
    monkeypatch.setattr(phonemizer, "phonemize_with_text", lambda t: phonemized.append(t) or phonemize(t))
    monkeypatch.setattr(renderer, "render", lambda batch, *a: rendered.append(len(batch)) or render(batch, *a))
    tiny_engine.clear_cache()  # every sentence is rendered, none comes from an earlier test's cache
    chunks = tiny_engine.stream(text)
    assert phonemized == [] and rendered == []  # nothing is done until the first chunk is asked for
    first = next(chunks)
    assert first.duration > 0 and first.text == "This is sentence zero of a very long text."
    assert len(phonemized) == 1 and sum(rendered) == 1
    second = next(chunks)
    assert second.text == "This is sentence one of a very long text." and len(phonemized) == 2 and sum(rendered) == 2
    chunks.close()


def test_too_long_for_one_call_says_what_to_do(tiny_engine, monkeypatch):
    monkeypatch.setenv("TTS_CORE_MAX_TEXT_CHARS", "100")
    with pytest.raises(TextError, match="stream it from a file"):
        tiny_engine.synthesize("word " * 50)


def test_registry_and_close():
    a = Engine.load(voice="tiny", tier="optimized")
    b = Engine.load(voice="tiny", tier="optimized")
    assert a is b and b.load_info["source"] == "registry"
    a.close()
    with pytest.raises(RuntimeError, match="closed"):
        a.synthesize("Hello.")
    c = Engine.load(voice="tiny", tier="optimized")
    assert c is not a
    c.close()


def test_audio_cache_hits_and_clear():
    with Engine.load(voice="tiny", tier="baseline+audio_cache") as engine:
        first = engine.synthesize(TEXT)
        second = engine.synthesize(TEXT)
        np.testing.assert_array_equal(first.samples, second.samples)
        stats = engine.stats()["audio_cache"]
        assert stats["hits_memory"] + stats["hits_disk"] >= 2
        engine.clear_cache()
        assert engine.stats()["audio_cache"]["entries"] == 0


def test_stats_report_device_tier_and_calls(tiny_engine):
    tiny_engine.synthesize("Counting calls.")
    stats = tiny_engine.stats()
    assert stats["device"] == "cpu" and stats["tier"] == "baseline" and stats["calls"] >= 1
    assert stats["audio_s"] > 0


def test_profile_stages_cover_the_pipeline(tiny_engine):
    stages = tiny_engine.profile_stages(TEXT)
    assert set(stages) == {"frontend", "encoder", "flow", "decoder", "audio_s"}
    assert all(v > 0 for v in stages.values())
    # the audio seconds of that very synthesis: noise-free, a synthesis of the same text has the same length
    quiet = tiny_engine.profile_stages(TEXT, noise_scale=0, noise_w=0)
    assert quiet["audio_s"] == pytest.approx(tiny_engine.synthesize(TEXT, noise_scale=0, noise_w=0).duration)


def test_unknown_voice_device_and_tier_are_clear():
    with pytest.raises(ValueError, match="joe-medium"):
        Engine.load(voice="nobody")
    with pytest.raises(ValueError, match="baseline"):
        Engine.load(voice="tiny", tier="turbo")
    with pytest.raises(ValueError, match="device"):
        Engine.load(voice="tiny", device="tpu")


def test_cuda_flags_are_recorded_not_applicable_on_cpu():
    engine = Engine.load(voice="tiny", tier="baseline+cuda_flags")
    assert engine.stats()["not_applicable"] == [
        {"switch": "cuda_flags", "fields": ["cudnn_benchmark", "tf32"], "reason": "no CUDA device"}]


def test_real_voice_speaks_plausibly(joe_engine):
    text = "The quick brown fox jumps over the lazy dog. It was a bright, cold day in April."
    audio = joe_engine.synthesize(text)
    assert 3.0 < audio.duration < 9.0  # about 13 characters per second of speech
    assert float(np.sqrt(np.mean(audio.samples**2))) > 0.01  # not silent


def test_real_voice_streaming_is_exact(joe_engine):
    from tts_core import Engine

    streaming = Engine.load(voice="joe-medium", tier="optimized+streaming")
    text = "Streaming decodes this sentence in chunks, and the chunks must join without a seam."
    chunks = [c.samples for c in streaming.stream(text, **ZERO)]
    assert len(chunks) > 3
    whole = joe_engine.synthesize(text, **ZERO).samples
    fid = compare(whole, np.concatenate(chunks), 22050)
    assert fid.passes("exact"), fid.failures("exact")


def test_worker_processes_give_the_single_process_results():
    texts = ["Hello there one.", "Second text here.", "Third one, the longest of them all."]
    single = Engine.load(voice="tiny", tier="baseline")
    with Engine.load(voice="tiny", tier="baseline+workers") as engine:
        results = engine.synthesize_batch(texts, noise_scale=0.3)
    for text, audio in zip(texts, results):
        np.testing.assert_array_equal(audio.samples, single.synthesize(text, noise_scale=0.3).samples)


def test_batched_stream_yields_the_first_sentence_alone():
    engine = Engine.load(voice="tiny", tier="baseline+batching")
    text = " ".join(f"Sentence number {w} is here." for w in ("one", "two", "three", "four", "five", "six", "seven"))
    stream = engine.stream(text)
    next(stream)
    assert engine.stats()["batching"]["batches"] == 1  # only the first sentence has been rendered
    assert len(list(stream)) == 6
