"""Text to IPA phonemes with espeak-ng, grouped by sentence the way Piper groups them.

espeak-ng is reached through ctypes on the library and data that `espeakng_loader` ships.
The library keeps global state (one voice, one input pointer), so it is initialized once per
process and every call holds one module-level lock.

Piper asks espeak for each clause's terminator (`espeak_TextToPhonemesWithTerminator`, a
function of its own espeak build). The stock library lacks it, so the terminator is read back
from the text espeak consumed for the clause: the same punctuation espeak itself stopped at.
"""

from __future__ import annotations

import ctypes
import re
import threading
import unicodedata
from dataclasses import dataclass

from tts_core.errors import VoiceError

_AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: synthesize without playing
_CHARS_UTF8 = 1  # espeakCHARS_UTF8
_PHONEMES_IPA = 0x02  # espeakPHONEMES_IPA
_EE_OK = 0

_LANG_SWITCH = re.compile(r"\([^)]+\)")  # "(fr)" flags around words of another language
_CLAUSE_PUNCT = ".,!?;:\u2026"
_CLOSERS = "\"')]}\u201d\u2019\u00bb"  # espeak reads these as part of the terminator
_TERMINATORS = {".": (".", True), "?": ("?", True), "!": ("!", True), ",": (",", False), ":": (":", False), ";": (";", False)}


@dataclass(frozen=True)
class Clause:
    """One clause as espeak returns it: IPA string, Piper's terminator, whether a sentence ends."""

    text: str  # the source text espeak consumed for this clause (approximate at the edges)
    ipa: str
    terminator: str  # one of . ? ! , : ; or "" (no punctuation, ellipsis, end of text)
    end_of_sentence: bool


class _Espeak:
    """The process-wide espeak-ng library handle; use through `_engine()` under `_LOCK`."""

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError as exc:  # pragma: no cover - installed with the project
            raise VoiceError("espeak-ng is not available: `pip install espeakng-loader`.") from exc
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        data_path = str(espeakng_loader.get_data_path())
        if lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), 0) < 0:
            raise VoiceError(f"espeak-ng failed to initialize with data folder {data_path}; reinstall espeakng-loader.")
        self.lib = lib
        self.voice: str | None = None

    def set_voice(self, voice: str) -> None:
        """Select `voice` (an espeak voice name such as "en-us"), reloading only when it changes."""
        if voice == self.voice:
            return
        if self.lib.espeak_SetVoiceByName(voice.encode()) != _EE_OK:
            self.voice = None
            raise VoiceError(f"espeak-ng has no voice named {voice!r}; use an espeak voice name such as 'en-us'.")
        self.voice = voice

    def clauses(self, text: str) -> list[Clause]:
        """Run espeak over `text` one clause at a time."""
        data = text.encode("utf-8")  # NUL-terminated in memory; espeak only reads it
        # Point at the bytes object itself: `create_string_buffer` would make a new array *type* per
        # text length, and each such type is cyclic garbage once the call returns (a slow leak).
        buf = ctypes.c_char_p(data)  # keeps `data` alive for the call
        start = ctypes.cast(buf, ctypes.c_void_p).value
        ptr = ctypes.c_void_p(start)
        out: list[Clause] = []
        while ptr.value is not None:
            before = ptr.value - start
            raw = self.lib.espeak_TextToPhonemes(ctypes.byref(ptr), _CHARS_UTF8, _PHONEMES_IPA)
            at_end = ptr.value is None  # espeak may hold the last character back for one more call
            after = len(data) if at_end else min(ptr.value - start, len(data))
            consumed = data[before:after].decode("utf-8", errors="ignore")
            terminator, end = _terminator(consumed, at_end)
            out.append(Clause(consumed, (raw or b"").decode("utf-8", errors="ignore"), terminator, end))
        return out


_LOCK = threading.Lock()
_ENGINE: _Espeak | None = None


def _engine() -> _Espeak:
    """The lazily created process-wide espeak handle (caller holds `_LOCK`)."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _Espeak()
    return _ENGINE


def _terminator(consumed: str, at_end: bool) -> tuple[str, bool]:
    """Piper's (terminator, end_of_sentence) for a clause, from the text espeak consumed for it.

    Unless at the end of the text, espeak has read one character of the next clause ahead.
    """
    body = consumed
    if not at_end:
        body = body[:-1] if body and body[-1] not in _CLAUSE_PUNCT and not body[-1].isspace() else body
    paragraph = "\n\n" in body[-8:].replace("\r", "") or "\n\n" in body.rstrip(" \t")[-4:]
    body = body.rstrip().rstrip(_CLOSERS).rstrip()
    run = len(body) - len(body.rstrip(_CLAUSE_PUNCT))
    punct = body[len(body) - run :] if run else ""
    if not punct:
        return "", at_end or paragraph
    if punct.startswith("..") or punct[0] == "\u2026":
        return "", at_end
    return _TERMINATORS.get(punct[0], ("", at_end))


class EspeakPhonemizer:
    """Text to phonemes grouped by sentence, as Piper's espeak phonemizer returns them."""

    def __init__(self, voice: str = "en-us") -> None:
        """Check that espeak-ng knows `voice`; raises `VoiceError` naming it if not."""
        self.voice = voice
        with _LOCK:
            _engine().set_voice(voice)

    def clauses(self, text: str) -> list[Clause]:
        """espeak's clauses of `text` with Piper's terminators; NUL characters are dropped."""
        text = text.replace("\x00", " ")
        if not text.strip():
            return []
        with _LOCK:
            engine = _engine()
            engine.set_voice(self.voice)
            return engine.clauses(text)

    def phonemize_with_text(self, text: str) -> list[tuple[str, list[str]]]:
        """Like `phonemize`, each sentence paired with the source text espeak read for it."""
        groups: list[tuple[str, list[str]]] = []
        source: list[str] = []
        phonemes: list[str] = []
        for clause in self.clauses(text):
            ipa = _LANG_SWITCH.sub("", clause.ipa) + clause.terminator
            if clause.terminator in (",", ":", ";"):
                ipa += " "  # Piper keeps a space after a clause that does not end the sentence
            phonemes.extend(unicodedata.normalize("NFD", ipa))
            source.append(clause.text)
            if clause.end_of_sentence:
                groups.append(("".join(source).strip(), phonemes))
                source, phonemes = [], []
        if phonemes:
            groups.append(("".join(source).strip(), phonemes))
        return groups

    def phonemize(self, text: str) -> list[list[str]]:
        """One list of phonemes (single codepoints after NFD, punctuation kept) per sentence."""
        return [phonemes for _, phonemes in self.phonemize_with_text(text)]
