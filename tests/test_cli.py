"""`python -m tts_core`: exit codes, messages, WAV output."""

from __future__ import annotations

import subprocess
import sys
import wave

import pytest

from tts_core.cli import main


def _wav_seconds(path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def test_text_to_wav(tmp_path):
    out = tmp_path / "a.wav"
    assert main(["Hello there. A second sentence.", "-o", str(out), "--voice", "tiny", "-q"]) == 0
    assert _wav_seconds(out) > 0.1  # the tiny voice has random durations; the real voice is checked below


def test_file_to_wav(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("First line of a file.\nSecond line, read lazily.\n", encoding="utf-8")
    out = tmp_path / "b.wav"
    assert main(["--file", str(src), "-o", str(out), "--voice", "tiny", "-q"]) == 0
    assert _wav_seconds(out) > 0.1  # the tiny voice has random durations; the real voice is checked below


@pytest.mark.parametrize("args, message", [
    ([""], "empty"),
    (["?!?!"], "pronounce"),
    (["--file", "/nonexistent/file.txt"], "does not exist"),
    (["Hello.", "--tier", "turbo"], "tier"),
    (["Hello.", "--device", "cuda:7"], "device"),
])
def test_errors_exit_nonzero_with_a_message(tmp_path, capsys, args, message):
    out = tmp_path / "x.wav"
    assert main([*args, "-o", str(out), "--voice", "tiny", "-q"]) != 0
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err.lower()
    assert not out.exists() and not (tmp_path / "x.wav.partial").exists()


def test_non_utf8_file(tmp_path, capsys):
    src = tmp_path / "latin1.txt"
    src.write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    assert main(["--file", str(src), "-o", str(tmp_path / "y.wav"), "--voice", "tiny", "-q"]) == 1
    assert "utf-8" in capsys.readouterr().err.lower()


def test_help_and_usage_errors():
    res = subprocess.run([sys.executable, "-m", "tts_core", "--help"], capture_output=True, text=True)
    assert res.returncode == 0 and "--tier" in res.stdout and "--file" in res.stdout
    res = subprocess.run([sys.executable, "-m", "tts_core"], capture_output=True, text=True)
    assert res.returncode == 2 and "either TEXT or --file" in res.stderr


def test_real_voice_cli(tmp_path):
    out = tmp_path / "joe.wav"
    res = subprocess.run(
        [sys.executable, "-m", "tts_core", "The harness measures what each optimization buys.", "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert 1.5 < _wav_seconds(out) < 6
