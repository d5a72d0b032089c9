"""The built-in texts (`short` one sentence, `medium` a paragraph, `long` several paragraphs) and text helpers."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

BUILTIN_TEXTS = ("short", "medium", "long")
_HERE = Path(__file__).parent
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def text_path(name: str) -> Path:
    """File of the built-in text `name`."""
    return _HERE / f"{name}.txt"


def read_text(path: str | Path) -> str:
    """The text of a UTF-8 file, whitespace collapsed; paragraphs are kept as single spaces."""
    raw = Path(path).read_text(encoding="utf-8")
    return " ".join(raw.split())


def text_sha(text: str) -> str:
    """Short content hash of a text (16 hex digits)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, split after `.`, `!` or `?` followed by white space."""
    return [s for s in (p.strip() for p in _SENTENCE_END.split(text)) if s]
