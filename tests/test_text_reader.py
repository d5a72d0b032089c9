"""Lazy file reading: blocks end at sentences, errors say what to do, memory stays bounded."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from tts_core.errors import InputFileError
from tts_core.text.reader import iter_sentences, iter_text_file

PARAGRAPH = "Doctor Smith went home at 3:30 pm. It rained all day! Did he care? No.\n\n"


def test_blocks_are_sentence_complete(tmp_path: Path) -> None:
    path = tmp_path / "book.txt"
    path.write_text(PARAGRAPH * 500, encoding="utf-8")
    blocks = list(iter_text_file(path, block_chars=1000))
    assert len(blocks) > 10
    assert "".join(blocks) == PARAGRAPH * 500
    assert all(b.rstrip().endswith((".", "!", "?")) for b in blocks)


def test_sentences_carry_across_blocks() -> None:
    blocks = ["The quick brown ", "fox jumps. Over the ", "lazy dog."]
    assert list(iter_sentences(blocks)) == ["The quick brown fox jumps.", "Over the lazy dog."]


def test_string_input_is_lazy() -> None:
    text = "One more sentence here. " * 20_000
    sentences = iter_sentences(text, block_chars=4096)
    assert next(sentences) == "One more sentence here."


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="does not exist"):
        iter_text_file(tmp_path / "nope.txt")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="is a directory"):
        iter_text_file(tmp_path)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_permission_denied(tmp_path: Path) -> None:
    path = tmp_path / "secret.txt"
    path.write_text("hello")
    path.chmod(0)
    with pytest.raises(InputFileError, match="permission denied"):
        iter_text_file(path)


def test_not_utf8_names_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"Hello there. Caf\xe9 au lait.")
    with pytest.raises(InputFileError, match=r"byte offset 16.*iconv"):
        list(iter_text_file(path))


def test_not_utf8_offset_in_later_block(tmp_path: Path) -> None:
    path = tmp_path / "late.txt"
    path.write_bytes(b"a" * 10_000 + b"\xff")
    with pytest.raises(InputFileError, match="byte offset 10000"):
        list(iter_text_file(path, block_chars=333))


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(InputFileError, match="binary"):
        list(iter_text_file(path))


def test_bom_is_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffHello.".encode())
    assert list(iter_text_file(path)) == ["Hello."]


def test_memory_bounded_on_50mb_file(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    line = ("All work and no play makes a dull day. " * 25 + "\n").encode()
    with open(path, "wb") as handle:
        for _ in range(50 * 2**20 // len(line)):
            handle.write(line)
    assert path.stat().st_size > 45 * 2**20
    tracemalloc.start()
    try:
        total = 0
        for block in iter_text_file(path, block_chars=65536):
            total += len(block)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == path.stat().st_size
    assert peak < 4 * 2**20, f"peak {peak / 2**20:.1f} MB while reading a 50 MB file"
