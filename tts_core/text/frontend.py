"""The text front-end: raw text to per-sentence phoneme ids, lazily."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from tts_core.errors import EmptyTextError, UnspeakableTextError
from tts_core.text.ids import PhonemeIdMap
from tts_core.text.phonemize import EspeakPhonemizer
from tts_core.text.reader import iter_sentences, iter_text_file
from tts_core.text.sentences import DEFAULT_MAX_CHARS

_NOT_SPEECH = frozenset(" !\"'(),-.:;?")  # punctuation Piper keeps as symbols; alone it says nothing


@dataclass(frozen=True)
class Sentence:
    """One sentence ready for the model."""

    text: str  # normalized sentence text
    phonemes: list[str]  # single codepoints (NFD), punctuation included, as Piper makes them
    ids: list[int]  # BOS, pad, (phoneme id, pad)..., EOS


class TextFrontend:
    """normalize -> split -> phonemize (espeak-ng) -> ids, one sentence at a time."""

    def __init__(
        self,
        phoneme_id_map: Mapping[str, Sequence[int]],
        espeak_voice: str = "en-us",
        max_sentence_chars: int = DEFAULT_MAX_CHARS,
    ) -> None:
        """`phoneme_id_map` from the voice JSON; `espeak_voice` its espeak voice; sentences are
        cut to at most `max_sentence_chars` characters before phonemization."""
        self.id_map = PhonemeIdMap(phoneme_id_map)
        self.phonemizer = EspeakPhonemizer(espeak_voice)
        self.max_sentence_chars = max_sentence_chars

    def _speakable(self, text: str, phonemes: list[str]) -> bool:
        """Words in the text and a sound in the phonemes (espeak would read bare "!" aloud)."""
        has_letter = any(unicodedata.category(ch).startswith("L") for ch in text)
        return has_letter and any(p not in _NOT_SPEECH and p in self.id_map for p in phonemes)

    def sentences(self, text: str | Iterable[str]) -> Iterator[Sentence]:
        """Yield one `Sentence` per sentence of `text` (a string or an iterable of text blocks).

        Sentences with no pronounceable phoneme are skipped. Raises `EmptyTextError` if the text
        is empty or whitespace, `UnspeakableTextError` if nothing in it can be pronounced.
        """
        if isinstance(text, str) and not text.strip():
            raise EmptyTextError("The text is empty or only whitespace; give some words to speak.")
        return self._sentences(text)

    def _sentences(self, text: str | Iterable[str]) -> Iterator[Sentence]:
        seen = [isinstance(text, str)]  # any non-whitespace input at all (str input was checked)

        def watched(blocks: Iterable[str]) -> Iterator[str]:
            for block in blocks:
                seen[0] = seen[0] or not block.isspace() and bool(block)
                yield block

        yielded = False
        source_blocks = text if isinstance(text, str) else watched(text)
        for sentence_text in iter_sentences(source_blocks, self.max_sentence_chars):
            for source, phonemes in self.phonemizer.phonemize_with_text(sentence_text):
                if self._speakable(source or sentence_text, phonemes):
                    yielded = True
                    yield Sentence(source or sentence_text, phonemes, self.id_map.to_ids(phonemes))
        if not yielded:
            if not seen[0]:
                raise EmptyTextError("The text is empty or only whitespace; give some words to speak.")
            raise UnspeakableTextError(
                "The text contains nothing the voice can pronounce (only punctuation/emoji/symbols "
                "or control characters); give words."
            )

    def sentences_from_file(self, path: str | os.PathLike[str]) -> Iterator[Sentence]:
        """Like `sentences`, reading a UTF-8 text file incrementally; file problems raise `InputFileError`."""
        return self._sentences(iter_text_file(path))

    def text_to_ids(self, text: str) -> list[list[int]]:
        """One id list per sentence of `text` (eager; use `sentences` for long input)."""
        return [sentence.ids for sentence in self.sentences(text)]
