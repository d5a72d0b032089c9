"""Normalization pinned by a table of input -> expected output."""

from __future__ import annotations

import pytest

from tts_core.text.normalize import normalize
from tts_core.text.numbers import cardinal, ordinal, year

CASES = [
    # numbers
    ("I have 1,234 apples.", "I have one thousand two hundred thirty-four apples."),
    ("It is -5 degrees.", "It is minus five degrees."),
    ("Pi is 3.14.", "Pi is three point one four."),
    ("The 21st century.", "The twenty-first century."),
    ("1,000,000 users", "one million users"),
    ("Call 007", "Call zero zero seven"),
    ("Room 12B", "Room twelve B"),
    ("Version 2.0.1", "Version two point zero point one"),
    ("Pages 10-20", "Pages ten to twenty"),
    # money and percentages
    ("It costs $5.20.", "It costs five dollars and twenty cents."),
    ("€3 and £10", "three euros and ten pounds"),
    ("$1", "one dollar"),
    ("$0.99", "ninety-nine cents"),
    ("$5 million", "five million dollars"),
    ("50% off", "fifty percent off"),
    ("3.5% growth", "three point five percent growth"),
    # years, dates, times
    ("In 1999 we met.", "In nineteen ninety-nine we met."),
    ("The 1990s", "The nineteen nineties"),
    ("On 2024-03-05 it rained.", "On March fifth, twenty twenty-four it rained."),
    ("March 5, 2024", "March fifth, twenty twenty-four"),
    ("It was Jan. 5th.", "It was January fifth."),
    ("At 3:30 pm.", "At three thirty P M."),
    ("At 10:05.", "At ten oh five."),
    ("At 3:00", "At three o'clock"),
    # abbreviations
    ("Dr. Smith met Mr. Jones on St. James St.", "Doctor Smith met Mister Jones on Saint James Street."),
    ("Apples, pears, etc. are fruit", "Apples, pears, et cetera are fruit"),
    ("e.g. this vs. that", "for example, this versus that"),
    ("No. 5 is here", "number five is here"),
    ("Say no. Then go", "Say no. Then go"),
    # symbols
    ("Tom & Jerry", "Tom and Jerry"),
    ("2 + 2 = 4", "two plus two equals four"),
    ("#1 fan", "number one fan"),
    ("I am @home", "I am at home"),
    ("Temperature 20°C", "Temperature twenty degrees Celsius"),
    # URLs and e-mail
    ("Visit https://www.example.com/docs?x=1 now", "Visit example dot com slash docs now"),
    ("Mail john.doe@example.com today", "Mail john dot doe at example dot com today"),
    ("example.org is nice", "example dot org is nice"),
    # quotes, dashes, control characters, whitespace
    ("“Hi,” she said — ‘ok’…", "\"Hi,\" she said, 'ok'..."),
    ("a\x00b\x07c\td", "abc d"),
    ("line one\nline two\n\n\nNew para", "line one line two\nNew para"),
    ("Wait!!! Really??", "Wait! Really?"),
    ("Hi 😀 there", "Hi there"),
    ("", ""),
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_normalize_table(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("n", "words"),
    [(0, "zero"), (13, "thirteen"), (101, "one hundred one"), (-7, "minus seven"),
     (2_000_000_021, "two billion twenty-one")],
)
def test_cardinal(n: int, words: str) -> None:
    assert cardinal(n) == words


@pytest.mark.parametrize(("n", "words"), [(1, "first"), (12, "twelfth"), (20, "twentieth"), (103, "one hundred third")])
def test_ordinal(n: int, words: str) -> None:
    assert ordinal(n) == words


@pytest.mark.parametrize(("n", "words"), [(1905, "nineteen oh five"), (2005, "two thousand five"), (1900, "nineteen hundred")])
def test_year(n: int, words: str) -> None:
    assert year(n) == words


def test_normalize_leaves_no_digits() -> None:
    text = "On 12/25 at 7:45am we paid $1,234.56 (12.5%) for 3 items, #4 and 1st place in 2023."
    assert not any(ch.isdigit() for ch in normalize(text))
