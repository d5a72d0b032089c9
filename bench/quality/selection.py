"""Which timed rounds keep their audio for the heard-quality pass.

The pass scores audio the rounds already produced, so every contender is scored on the same texts, spoken
with the same seed, in the same round. A round keeps its audio while its class has fewer than `per_class`
kept texts; once every class has `per_class`, further rounds keep theirs until the kept texts hold at least
`min_words` words. A text already kept (the repeated workload speaks one text every round) is not kept again.

The decision for round r is made once and is the same for every contender of that round; rounds of a
resumed group whose audio is on disk count as kept, those without audio do not (later rounds make up for them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

MIN_WORDS = 200  # words the kept texts hold at least, all classes together
PER_CLASS = 4  # kept texts per class at least (the sweep's default of `measure.quality_texts_per_class`)


def words(text: str) -> int:
    """Words of `text` as the text classes count them (white-space separated)."""
    return len(text.split())


@dataclass
class AudioSelection:
    """The rounds whose audio the quality pass scores; `keep(r, text_class, text)` decides round r once."""

    classes: list[str]
    per_class: int = PER_CLASS
    min_words: int = MIN_WORDS
    decided: dict[int, bool] = field(default_factory=dict)  # round -> kept
    kept: dict[str, int] = field(default_factory=dict)  # class -> texts kept
    kept_words: int = 0
    _texts: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if isinstance(self.per_class, bool) or not isinstance(self.per_class, int) or self.per_class < 1:
            raise ValueError(f"`measure.quality_texts_per_class` = {self.per_class!r} is not allowed; "
                             "expected an integer >= 1.")
        if not self.classes:
            raise ValueError("`classes` is empty; expected the text classes the rounds cycle through.")

    @property
    def complete(self) -> bool:
        """Every class has `per_class` kept texts and the kept texts hold `min_words` words."""
        return self._classes_full() and self.kept_words >= self.min_words

    def _classes_full(self) -> bool:
        return all(self.kept.get(c, 0) >= self.per_class for c in self.classes)

    def _wanted(self, text_class: str, text: str) -> bool:
        if text in self._texts:
            return False
        if self.kept.get(text_class, 0) < self.per_class:
            return True
        return self._classes_full() and self.kept_words < self.min_words

    def _count(self, r: int, text_class: str, text: str, kept: bool) -> bool:
        self.decided[r] = kept
        if kept:
            self.kept[text_class] = self.kept.get(text_class, 0) + 1
            self.kept_words += words(text)
            self._texts.add(text)
        return kept

    def keep(self, r: int, text_class: str, text: str) -> bool:
        """Whether round r (of `text_class`, speaking `text`) keeps its audio; the same answer on every call."""
        if r in self.decided:
            return self.decided[r]
        return self._count(r, text_class, text, self._wanted(text_class, text))

    def forget(self, r: int, text_class: str, text: str) -> None:
        """Round r was set aside (disturbed, an outlier; `bench.measure.rounds`): its audio no longer counts, and a
        later round of its class takes its place."""
        if self.decided.pop(r, False):
            self.kept[text_class] -= 1
            self.kept_words -= words(text)
            self._texts.discard(text)

    def prime(self, r: int, text_class: str, text: str, stored: bool) -> None:
        """Count a round of a resumed group that already ran: kept when it was wanted and its audio is `stored`."""
        if r not in self.decided:
            self._count(r, text_class, text, stored and self._wanted(text_class, text))


def select_rounds(rounds: Iterable[tuple[str, str]], classes: list[str], per_class: int = PER_CLASS,
                  min_words: int = MIN_WORDS) -> list[int]:
    """Indices of the rounds, given as (text class, text) in order, that keep their audio."""
    selection = AudioSelection(list(classes), per_class, min_words)
    return [r for r, (text_class, text) in enumerate(rounds) if selection.keep(r, text_class, text)]
