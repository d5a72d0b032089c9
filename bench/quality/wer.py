"""Word and character error rates of a transcript against the text it was made from.

Both sides go through the front-end's normalizer (`tts_core.text.normalize`: numbers, abbreviations,
currency to words), then jiwer's transforms (lowercase, hyphens and slashes to spaces, punctuation removed,
white space collapsed), so "3 cups" and "three cups" agree and only heard differences count.
"""

from __future__ import annotations

import re

from tts_core.text.normalize import normalize

_SEPARATORS = re.compile(r"[-\u2010-\u2015/]")


def _transform():
    import jiwer

    return jiwer.Compose([
        jiwer.ToLowerCase(),
        jiwer.SubstituteRegexes({_SEPARATORS.pattern: " "}),
        jiwer.RemovePunctuation(),
        jiwer.RemoveMultipleSpaces(),
        jiwer.Strip(),
    ])


def canonical(text: str) -> str:
    """`text` as WER compares it: normalized, lowercased, no punctuation, single spaces."""
    return _transform()(normalize(text).replace("\n", " "))


def error_rates(reference: str, hypothesis: str) -> tuple[float, float]:
    """(WER, CER) as fractions (0.0 = identical; 1.0 = all words wrong or missing; may exceed 1 on insertions)."""
    import jiwer

    ref, hyp = canonical(reference), canonical(hypothesis)
    if not ref:
        raise ValueError(f"`text` = {reference!r} has no words to compare against; expected text with words.")
    if not hyp:  # nothing heard: every reference word is a deletion
        return 1.0, 1.0
    return float(jiwer.wer(ref, hyp)), float(jiwer.cer(ref, hyp))
