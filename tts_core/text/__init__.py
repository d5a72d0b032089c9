"""Text front-end: normalization, sentence splitting, lazy reading, espeak-ng phonemes, ids."""

from tts_core.text.frontend import Sentence, TextFrontend
from tts_core.text.ids import PhonemeIdMap
from tts_core.text.normalize import normalize
from tts_core.text.phonemize import EspeakPhonemizer
from tts_core.text.reader import iter_sentences, iter_text_file
from tts_core.text.sentences import split_sentences

__all__ = [
    "EspeakPhonemizer",
    "PhonemeIdMap",
    "Sentence",
    "TextFrontend",
    "iter_sentences",
    "iter_text_file",
    "normalize",
    "split_sentences",
]
