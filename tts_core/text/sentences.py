"""Normalized text to sentences of bounded length."""

from __future__ import annotations

import re

DEFAULT_MAX_CHARS = 400  # longest sentence handed to espeak and the model (bounds memory per sentence)

# A sentence ends at . ! ? (or "...") followed by space and a capital, digit, quote or bracket,
# or at a line break. A period before a lowercase word is not an end (espeak agrees).
_END = re.compile(r"""[.!?]+["')\]]*(?=\s+["'(\[]?[^\sa-z])|\n""")
_CLAUSE_BREAK = re.compile(r"[,;:](?=\s)")


def _bounded(sentence: str, max_chars: int) -> list[str]:
    """Split a too-long sentence at the last clause punctuation, else the last space, else hard."""
    pieces: list[str] = []
    while len(sentence) > max_chars:
        window = sentence[: max_chars + 1]
        cut = max((m.end() for m in _CLAUSE_BREAK.finditer(window)), default=0)
        if cut < max_chars // 4:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = max_chars
        pieces.append(sentence[:cut].strip())
        sentence = sentence[cut:].strip()
    if sentence:
        pieces.append(sentence)
    return [p for p in pieces if p]


def split_sentences(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> list[str]:
    """Split normalized text into sentences at . ! ? and line breaks.

    A sentence longer than `max_chars` characters is cut further at clause punctuation
    (, ; :) or word boundaries so that no piece exceeds `max_chars`.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars = {max_chars} must be at least 1; the default is {DEFAULT_MAX_CHARS}.")
    out: list[str] = []
    start = 0
    for match in _END.finditer(text):
        out.extend(_bounded(text[start : match.end()].strip(), max_chars))
        start = match.end()
    out.extend(_bounded(text[start:].strip(), max_chars))
    return out
