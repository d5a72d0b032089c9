"""`python -m bench.headtohead`: unseen paragraphs per contender, rounds in one process, ratios to the first."""

from __future__ import annotations

import json
import re

import pytest

from bench import headtohead


def test_corpus_paragraphs_never_repeat_a_sentence():
    paragraphs = headtohead.corpus(6, 400)
    sentences = [s for p in paragraphs for s in re.split(r"(?<=\.)\s+", p)]
    assert len(paragraphs) == 6 and all(len(p) >= 400 for p in paragraphs)
    assert len(sentences) == len(set(sentences))
    assert headtohead.corpus(2, 100) == headtohead.corpus(2, 100)  # seeded


def test_head_to_head_on_the_tiny_voice_writes_rounds_and_ratios(tmp_path, capsys):
    out = tmp_path / "h2h.json"
    rc = headtohead.main(["--model", "tiny", "--rounds", "2", "--chars", "80",
                          "--contenders", "tts_core:baseline,tts_core:optimized", "--out", str(out)])
    assert rc == 0
    result = json.loads(out.read_text())
    assert set(result["summary"]) == {"tts_core:baseline", "tts_core:optimized"}
    assert "ratio" in result["summary"]["tts_core:optimized"] and "ratio" not in result["summary"]["tts_core:baseline"]
    runs = result["runs"]
    assert all(len(r) == 2 and all(x["audio_s"] > 0 for x in r) for r in runs.values())
    assert "tts_core:optimized" in capsys.readouterr().out


@pytest.mark.parametrize("spec", ["tts_core", "tts_core:baseline", "nope:baseline,tts_core:baseline"])
def test_bad_contenders_say_what_is_expected(spec):
    with pytest.raises(SystemExit) as info:
        headtohead.main(["--model", "tiny", "--contenders", spec])
    assert "ENGINE:TIER" in str(info.value) or "at least two" in str(info.value) or "unknown engine" in str(info.value)


def test_an_unknown_tier_is_an_error_not_a_traceback(capsys):
    assert headtohead.main(["--model", "tiny", "--contenders", "tts_core:baseline,tts_core:turbo"]) == 2
    assert "turbo" in capsys.readouterr().err
