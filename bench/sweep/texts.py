"""The texts the paired rounds speak: the k-th fresh text of each class, the same whether a sweep runs through or
resumes (`TextSource`)."""

from __future__ import annotations

from typing import Any

from bench.texts import FileTexts, SentenceGenerator, read_text


class TextSource:
    """The k-th fresh text of each class, the same whether the sweep runs through or resumes, whatever order the
    classes' rounds came in: generated texts come from one seeded generator per class (no sentence repeats within
    it; the classes' lengths differ), a file's from its next sentences in the order asked (None once the file is
    spoken: the rounds stop rather than repeat it). The first-call text is a medium text no round speaks."""

    FIRST_CALL = "first call"  # the generator of the first-call text

    def __init__(self, text: dict[str, Any], classes: list[str]) -> None:
        self.kind = text["kind"]
        self.spec = text
        self.classes = classes
        self._made: dict[str, list[str | None]] = {}
        if self.kind == "generated":
            seed = int(text["seed"])
            gens = {k: SentenceGenerator(seed + 7919 * (i + 1)) for i, k in enumerate(classes)}
            first = SentenceGenerator(seed)
            self._next = lambda text_class: (first.text("medium") if text_class == self.FIRST_CALL
                                             else gens[text_class].text(text_class))
        elif self.kind == "file":
            source = FileTexts(read_text(text["path"]), int(text["per_round"]))
            self._next = lambda text_class: source.text()

    def _nth(self, text_class: str, k: int) -> str | None:
        made = self._made.setdefault(text_class, [])
        while len(made) <= k:
            made.append(self._next(text_class))
        return made[k]

    def first_call(self, k: int = 0) -> str:
        """The first-call text of the k-th set of worker processes (a medium text no round speaks; a file's first
        sentences, which the rounds then skip)."""
        if self.kind == "repeated":
            return read_text(next(iter(self.spec["files"].values())))
        if self.kind == "file":
            return self._nth(self.classes[0], 0) or ""  # a file has at least one sentence (FileTexts refuses none)
        return self._nth(self.FIRST_CALL, k) or ""

    def for_class(self, k: int, text_class: str) -> str | None:
        """The k-th text (0-based) of `text_class` the rounds speak."""
        if self.kind == "repeated":
            return read_text(self.spec["files"][text_class])
        return self._nth(text_class, k + 1 if self.kind == "file" else k)

