"""Lazy text input: files read incrementally into sentence-complete blocks, then sentences.

Memory stays bounded whatever the input size: a file is read `block_chars` at a time and at
most about two blocks of text are held at once.
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from tts_core.errors import InputFileError
from tts_core.text.normalize import normalize
from tts_core.text.sentences import DEFAULT_MAX_CHARS, split_sentences

DEFAULT_BLOCK_CHARS = 65536
_ABBREVIATIONS = frozenset("mr mrs ms dr st jr sr vs no mt prof".split())
# Safe places to cut raw text: a paragraph break, else a sentence end that is not an abbreviation.
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_LAST_WORD = re.compile(r"(\w+)\.$")


def _is_abbreviation(tail: str) -> bool:
    """Whether text ending in "." ends with a title or a dotted abbreviation ("Dr.", "e.g.")."""
    word = _LAST_WORD.search(tail)
    return bool(word) and (word.group(1).lower() in _ABBREVIATIONS or tail[: word.start()].endswith("."))


def _cut(buffer: str, block_chars: int, final: bool) -> int:
    """Index up to which `buffer` can be handed on as whole sentences (0: wait for more text)."""
    if final:
        return len(buffer)
    if len(buffer) < block_chars:
        return 0
    paragraph = buffer.rfind("\n\n", len(buffer) // 4)
    if paragraph > 0:
        return paragraph + 2
    for match in reversed(list(_SENTENCE_END.finditer(buffer, len(buffer) // 4))):
        if not _is_abbreviation(buffer[max(0, match.start() - 8) : match.start() + 1]):
            return match.end()
    if len(buffer) < 2 * block_chars:
        return 0
    space = max(buffer.rfind(" "), buffer.rfind("\n"))  # no sentence end at all: cut at a word
    return space + 1 if space > 0 else len(buffer)


def sentence_blocks(chunks: Iterable[str], block_chars: int = DEFAULT_BLOCK_CHARS) -> Iterator[str]:
    """Regroup arbitrary text chunks into blocks that end at sentence boundaries (about `block_chars` each)."""
    buffer = ""
    for chunk in chunks:
        buffer += chunk
        cut = _cut(buffer, block_chars, final=False)
        while cut:
            yield buffer[:cut]
            buffer = buffer[cut:]
            cut = _cut(buffer, block_chars, final=False)
    if buffer.strip():
        yield buffer


def _open(path: str | os.PathLike[str]) -> BinaryIO:
    """Open `path` for binary reading, turning OS errors into `InputFileError` that say what to do."""
    p = Path(path)
    try:
        if p.is_dir():
            raise InputFileError(f"{p} is a directory; give the path of a UTF-8 text file inside it.")
        return open(p, "rb")  # noqa: SIM115 - the generator closes it
    except FileNotFoundError:
        raise InputFileError(f"{p} does not exist; check the path (relative paths start at {Path.cwd()}).") from None
    except PermissionError:
        raise InputFileError(f"{p} cannot be read (permission denied); fix its permissions or copy it somewhere readable.") from None
    except IsADirectoryError:
        raise InputFileError(f"{p} is a directory; give the path of a UTF-8 text file inside it.") from None
    except OSError as exc:
        raise InputFileError(f"{p} cannot be opened: {exc.strerror}; check the path and the disk.") from None


def _decoded(handle: BinaryIO, path: str, read_bytes: int) -> Iterator[str]:
    """UTF-8 text of `handle`, `read_bytes` at a time; bad bytes raise `InputFileError` with their offset."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0  # bytes fed to the decoder so far
    first = True
    with handle:
        while True:
            data = handle.read(read_bytes)
            nul = data.find(b"\x00")
            if nul >= 0:
                raise InputFileError(
                    f"{path} looks binary (NUL byte at byte offset {offset + nul}); give a plain UTF-8 text file."
                )
            pending = len(decoder.getstate()[0])
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                at = offset - pending + exc.start
                raise InputFileError(
                    f"{path} is not UTF-8 (invalid byte at byte offset {at}); convert it, e.g. "
                    f"`iconv -f LATIN1 -t UTF-8 in.txt > out.txt`."
                ) from None
            offset += len(data)
            if first and text:
                text, first = text.removeprefix("\ufeff"), False
            if text:
                yield text
            if not data:
                return


def iter_text_file(path: str | os.PathLike[str], block_chars: int = DEFAULT_BLOCK_CHARS) -> Iterator[str]:
    """Yield sentence-complete blocks of about `block_chars` characters from a UTF-8 text file.

    The file is read incrementally (memory bounded whatever its size). Opening problems raise
    `InputFileError` at once; encoding problems (not UTF-8, NUL bytes) when the reader reaches them.
    """
    if block_chars < 1:
        raise ValueError(f"block_chars = {block_chars} must be at least 1; the default is {DEFAULT_BLOCK_CHARS}.")
    handle = _open(path)
    return sentence_blocks(_decoded(handle, str(path), block_chars), block_chars)


def _slices(text: str, size: int) -> Iterator[str]:
    for start in range(0, len(text), size):
        yield text[start : start + size]


def iter_sentences(
    text_or_blocks: str | Iterable[str],
    max_chars: int = DEFAULT_MAX_CHARS,
    block_chars: int = DEFAULT_BLOCK_CHARS,
) -> Iterator[str]:
    """Normalize and split lazily: a string or an iterable of text blocks to normalized sentences.

    A sentence cut between two blocks is carried over and completed by the next block.
    """
    chunks = _slices(text_or_blocks, block_chars) if isinstance(text_or_blocks, str) else text_or_blocks
    for block in sentence_blocks(chunks, block_chars):
        yield from split_sentences(normalize(block), max_chars)
