"""Sentence splitting."""

from __future__ import annotations

import pytest

from tts_core.text.sentences import split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello world. How are you? Fine!", ["Hello world.", "How are you?", "Fine!"]),
        ('He said "Go!" Then left.', ['He said "Go!"', "Then left."]),
        ("Pi is three point one four. Yes", ["Pi is three point one four.", "Yes"]),
        ("Say no. then go", ["Say no. then go"]),
        ("First line\nSecond line", ["First line", "Second line"]),
        ("Wait... What?", ["Wait...", "What?"]),
        ("", []),
        ("   \n  ", []),
    ],
)
def test_split(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_long_sentence_is_bounded_at_words() -> None:
    text = "word " * 500
    pieces = split_sentences(text, max_chars=100)
    assert all(len(p) <= 100 for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_long_sentence_prefers_clause_punctuation() -> None:
    text = ", ".join(["alpha beta gamma delta"] * 40) + "."
    pieces = split_sentences(text, max_chars=120)
    assert all(len(p) <= 120 for p in pieces)
    assert all(p.endswith((",", ".")) for p in pieces)


def test_unbroken_token_is_cut_hard() -> None:
    assert [len(p) for p in split_sentences("x" * 1000, max_chars=400)] == [400, 400, 200]


def test_bad_max_chars() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        split_sentences("hi", max_chars=0)
