"""First audible audio: the chunk that holds the first frame within 30 dB of the utterance's own level."""

from __future__ import annotations

import numpy as np
import pytest

from bench.measure.audible import AUDIBLE_DB, FRAME_S, first_audible_s, first_audible_sample

SR = 16000


def tone(seconds: float, amplitude: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * 200 * t)).astype(np.float32)


def test_a_stream_that_opens_with_silence_is_timed_from_its_first_sound() -> None:
    chunks = [np.zeros(int(0.2 * SR), np.float32), tone(0.05, 1e-4), tone(0.5, 0.3), tone(0.5, 0.3)]
    # 1e-4 against 0.3 is 70 dB down: inaudible, like VITS's leading silence
    assert first_audible_s([0.05, 0.09, 0.2, 0.4], chunks, SR) == 0.2
    assert first_audible_s([0.05], [tone(1.0, 0.3)], SR) == 0.05  # sound at once: the first chunk


def test_the_threshold_is_relative_to_the_utterance_and_a_click_does_not_set_it() -> None:
    quiet = tone(1.0, 0.01)  # a quiet voice: audible by its own level
    frame = int(FRAME_S * SR)
    assert first_audible_sample(np.concatenate([np.zeros(SR // 10, np.float32), quiet]), SR) == pytest.approx(
        SR // 10, abs=8)
    clicked = np.concatenate([np.zeros(SR // 10, np.float32), quiet, np.zeros(SR // 2, np.float32)])
    clicked[-SR // 4:-SR // 4 + 20] = 1.0  # a loud click after the voice: the level stays the voice's
    assert first_audible_sample(clicked, SR) == pytest.approx(SR // 10, abs=8)
    below = tone(0.2, 0.01 * 10 ** ((AUDIBLE_DB - 3) / 20))  # 33 dB below the voice
    assert first_audible_sample(np.concatenate([below, quiet]), SR) == pytest.approx(len(below), abs=frame)


def test_silence_has_no_first_audible_sound() -> None:
    assert first_audible_sample(np.zeros(SR, np.float32), SR) is None
    assert first_audible_s([], [], SR) is None


def test_rows_carry_first_audible_audio_how_many_rounds_were_set_aside_and_the_outliers_kept() -> None:
    from bench.measure.rows import ALL, Contender, GroupFacts, build_rows
    from bench.measure.rounds import RoundsResult

    def rd(r: int, k: str, process: int, **mark: object) -> dict:
        res = {"ref": {"latency_s": 1.0, "rtf": 0.2, "audio_s": 5.0, "ttfa_s": 0.10, "first_audible_s": 0.15 + r / 1e3},
               "cand": {"latency_s": 0.5, "rtf": 0.1, "audio_s": 5.0, "ttfa_s": 0.05, "first_audible_s": 0.05}}
        return {"r": r, "text_class": k, "text": f"{k} {r}", "process": process, "results": res, **mark}

    kept = [rd(r, "short" if r % 2 else "long", r // 4, **({"outlier": ["why"]} if r == 5 else {})) for r in range(8)]
    aside = [rd(8, "long", 1, set_aside="disturbed"), rd(10, "short", 1, set_aside="disturbed")]
    facts = GroupFacts("run", "g", "host", "v", "tiny", "stream", "cmd")
    ref = Contender("ref", {"name": "tts_core"}, "baseline", {"name": "cpu-all", "device": "cpu"})
    cand = Contender("cand", {"name": "tts_core"}, "optimized", {"name": "cpu-all", "device": "cpu"}, reference="ref")
    rows = {(r.contender, r.text): r for r in build_rows([ref, cand], RoundsResult(rounds=kept, set_aside=aside), facts)}
    assert rows[("cand", ALL)].first_audible_s == 0.05 and rows[("ref", ALL)].first_audible_s == pytest.approx(0.1535)
    assert (rows[("cand", ALL)].extra["rounds_disturbed"], rows[("cand", ALL)].extra["rounds_outliers"]) == (2, 1)
    assert (rows[("cand", "short")].extra["rounds_disturbed"], rows[("cand", "long")].extra["rounds_disturbed"]) == (1, 1)
    assert rows[("cand", ALL)].extra["processes"] == 2
