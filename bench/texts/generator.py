"""Fresh text for every round: a seeded generator of varied, natural English sentences.

A kernel cache (oneDNN, cuDNN) or an audio cache flatters whoever speaks a text the second time, so each
round of a comparison gets a text no contender has spoken in the run. Sentences run from 3 to 40 words
and mix numbers (counts, years, times, money, decimals, percentages), abbreviations, questions,
exclamations and clauses joined by commas and semicolons, so phoneme lengths spread widely.

Text classes (`TEXT_CLASSES`): `short` is one sentence of 3-10 words, `medium` two sentences of 11-22
words, `long` two sentences of 23-40 words. The same seed gives the same sequence of texts, and no
sentence repeats within one generator.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bench.texts.builtin import split_sentences


@dataclass(frozen=True)
class TextClass:
    """How a round's text of one class is built: `sentences` sentences of `min_words`-`max_words` words."""

    name: str
    sentences: int
    min_words: int
    max_words: int


TEXT_CLASSES: dict[str, TextClass] = {c.name: c for c in (
    TextClass("short", 1, 3, 10),
    TextClass("medium", 2, 11, 22),
    TextClass("long", 2, 23, 40),
)}

_ADJ = ("silver", "narrow", "gentle", "bright", "brave", "ancient", "young", "distant", "curious", "patient",
        "quiet", "heavy", "careful", "golden", "hidden", "crooked", "enormous", "tiny", "restless", "frozen",
        "crowded", "empty", "familiar", "peculiar", "wooden", "electric", "muddy", "polished", "forgotten", "noisy")
_NOUN = ("window", "engineer", "letter", "forest", "harbor", "river", "garden", "village", "machine", "library",
         "teacher", "bridge", "painter", "lantern", "orchard", "sailor", "kitchen", "telescope", "violin", "tunnel",
         "merchant", "festival", "blanket", "museum", "compass", "chimney", "journalist", "bicycle", "meadow", "parcel")
_PLURAL = ("apples", "tickets", "boxes", "students", "candles", "lanterns", "pages", "horses", "bottles", "chairs",
           "questions", "stones", "photographs", "envelopes", "sheep", "minutes", "kilometers", "coins")
_VERB = ("crossed", "repaired", "measured", "followed", "remembered", "watched", "carried", "described", "found",
         "painted", "borrowed", "ignored", "admired", "cleaned", "photographed", "delivered", "explored", "sold")
_VERB_BASE = ("cross", "repair", "measure", "follow", "remember", "watch", "carry", "describe", "find", "paint")
_NAME = ("Maria", "Dr. Patel", "the old captain", "Jonathan", "Mrs. Okafor", "our neighbor", "Professor Lindqvist",
         "the youngest twin", "Theodore", "Aunt Rosalind", "the night guard", "Mr. Nakamura", "Isabella", "Kwame")
_PLACE = ("the market", "the lake", "the north gate", "the station", "the hill", "the old mill", "Elm St.",
          "the square", "the harbor wall", "the school", "the airport", "the castle ruins", "the bakery on Main St.",
          "the top floor", "the riverbank")
_ADV = ("slowly", "quietly", "without a word", "twice", "at once", "with great care", "almost by accident",
        "for the first time", "reluctantly", "in a hurry", "again and again")
_LINK = (", and", ", but", "; meanwhile,", ", because", ", while", ", so", ", although", "; later,", ", until")
_OPEN = ("Yesterday,", "In 1987,", "At 7:45 a.m.,", "On Tuesday,", "After the storm,", "By midnight,",
         "Every spring,", "In the end,", "Without warning,", "Around 3 p.m.,", "In March 2019,", "Last week,")


_COMMON = {w.split()[0].lower() for w in _OPEN} | {"the", "nobody", "it", "our"}


def _number(rng: random.Random) -> str:
    kind = rng.randrange(6)
    if kind == 0:
        return str(rng.randint(2, 99))
    if kind == 1:
        return f"{rng.randint(100, 9999):,}"
    if kind == 2:
        return f"${rng.randint(1, 500)}.{rng.randint(0, 99):02d}"
    if kind == 3:
        return f"{rng.randint(1, 99)}.{rng.randint(1, 9)}"
    if kind == 4:
        return f"{rng.randint(2, 95)}%"
    return str(rng.randint(3, 40))


def _clause(rng: random.Random) -> str:
    """One clause of about 3-9 words."""
    kind = rng.randrange(7)
    if kind == 0:
        return f"the {rng.choice(_ADJ)} {rng.choice(_NOUN)} {rng.choice(_VERB)} the {rng.choice(_NOUN)}"
    if kind == 1:
        return f"{rng.choice(_NAME)} {rng.choice(_VERB)} {_number(rng)} {rng.choice(_PLURAL)} near {rng.choice(_PLACE)}"
    if kind == 2:
        return f"{rng.choice(_NAME)} {rng.choice(_VERB)} the {rng.choice(_ADJ)} {rng.choice(_NOUN)} {rng.choice(_ADV)}"
    if kind == 3:
        return f"nobody {rng.choice(_VERB)} the {rng.choice(_NOUN)} at {rng.choice(_PLACE)}"
    if kind == 4:
        return f"{_number(rng)} {rng.choice(_ADJ)} {rng.choice(_PLURAL)} waited by the {rng.choice(_NOUN)}"
    if kind == 5:
        return f"it cost {_number(rng)} to fix the {rng.choice(_NOUN)}"
    return f"{rng.choice(_NAME)} said the {rng.choice(_NOUN)} was {rng.choice(_ADJ)}"


def _words(text: str) -> int:
    return len(text.split())


def make_sentence(rng: random.Random, min_words: int, max_words: int) -> str:
    """One sentence of `min_words`-`max_words` words (3 <= min <= max <= 40)."""
    if not 3 <= min_words <= max_words <= 40:
        raise ValueError(f"make_sentence: words must satisfy 3 <= min <= max <= 40, got {min_words}..{max_words}")
    target = rng.randint(min_words, max_words)
    for _ in range(200):
        parts = [rng.choice(_OPEN)] if rng.random() < 0.3 else []
        body = _clause(rng)
        for _ in range(12):
            if _words(" ".join(parts + [body])) >= target:
                break
            longer = f"{body}{rng.choice(_LINK)} {_clause(rng)}"
            if _words(" ".join(parts + [longer])) > max_words:
                break
            body = longer
        sentence = " ".join(parts + [body])
        if not min_words <= _words(sentence) <= max_words:
            continue
        question = rng.random() < 0.12
        if question:
            first, _, rest = sentence.partition(" ")
            first = first.lower() if first.lower() in _COMMON else first  # names keep their capital
            sentence = f"Did you know that {first} {rest}"
            if _words(sentence) > max_words:
                continue
        sentence = sentence[0].upper() + sentence[1:]
        end = "?" if question else ("!" if rng.random() < 0.08 else ".")
        sentence = sentence.rstrip(",;")
        return sentence if end == "." and sentence.endswith(".") else sentence.rstrip(".") + end
    raise RuntimeError("make_sentence: no sentence fits; widen the word range")


class SentenceGenerator:
    """Seeded source of texts, none of whose sentences repeat (within this generator)."""

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._rng = random.Random(seed)
        self._seen: set[str] = set()

    def sentence(self, min_words: int = 3, max_words: int = 40) -> str:
        """A sentence never returned before by this generator."""
        for _ in range(1000):
            s = make_sentence(self._rng, min_words, max_words)
            if s not in self._seen:
                self._seen.add(s)
                return s
        raise RuntimeError("SentenceGenerator: the grammar ran out of new sentences")

    def text(self, text_class: str) -> str:
        """A fresh text of `text_class` (one of `TEXT_CLASSES`)."""
        if text_class not in TEXT_CLASSES:
            raise ValueError(f"`text_class` = {text_class!r} is unknown; expected one of {', '.join(TEXT_CLASSES)}.")
        c = TEXT_CLASSES[text_class]
        return " ".join(self.sentence(c.min_words, c.max_words) for _ in range(c.sentences))


    def paragraph(self, chars: int) -> str:
        """Fresh sentences of any length joined until the text holds at least `chars` characters."""
        out: list[str] = []
        while sum(len(x) + 1 for x in out) < chars:
            out.append(self.sentence())
        return " ".join(out)


class FileTexts:
    """A user's file spread over rounds: round i speaks the next `per_round` sentences (fewer in the last round);
    once every sentence was spoken, `text` returns None: a sentence spoken again would time the kernel caches
    it warmed, so the rounds stop there (`bench.measure.rounds.run_rounds`)."""

    def __init__(self, text: str, per_round: int = 3) -> None:
        self.sentences = split_sentences(text) or ([text.strip()] if text.strip() else [])
        if not self.sentences:
            raise ValueError("the text file holds no sentences; give a file with at least one sentence of words.")
        self.per_round = max(1, per_round)
        self._next = 0

    def text(self, text_class: str = "file") -> str | None:
        """The next `per_round` unspoken sentences joined by spaces; None when none is left."""
        out = self.sentences[self._next:self._next + self.per_round]
        self._next += len(out)
        return " ".join(out) if out else None
