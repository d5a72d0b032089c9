"""Heard quality over the rounds' audio, without the models: the gate on intervals, which rounds keep their
audio, and the pass that pairs each contender's texts with its reference's by round (a fake scorer)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import bench.quality as q
from bench.quality.paired import (TRANSCRIPTS_FILE, contender_fields, score_texts, stored_texts,
                                  write_transcripts)
from bench.quality.selection import MIN_WORDS, AudioSelection, select_rounds, words
from bench.texts import SentenceGenerator
from tts_core.audio import Audio

WER_LIMIT, OVRL_LIMIT = q.MAX_WER_INCREASE, q.MAX_OVRL_DROP


# --- the gate on intervals ------------------------------------------------------------------------------------

@pytest.mark.parametrize("wer_ci, ovrl_ci, expected", [
    ((-0.02, 0.01), (-0.1, 0.05), q.PASS),  # both intervals inside the limits, bounds on the limits
    ((-0.01, 0.004), (-0.03, 0.02), q.PASS),
    ((0.011, 0.05), (-0.02, 0.02), q.FAIL),  # WER interval wholly above +1 point
    ((-0.01, 0.0), (-0.5, -0.11), q.FAIL),  # OVRL interval wholly below -0.1
    ((-0.01, 0.03), (-0.02, 0.02), q.UNDECIDED),  # WER interval straddles the limit
    ((-0.01, 0.0), (-0.2, 0.0), q.UNDECIDED),  # OVRL interval straddles the limit
    ((-math.inf, math.inf), (-math.inf, math.inf), q.UNDECIDED),  # one text: no interval, never a pass
    ((math.nan, math.nan), (0.0, 0.0), q.UNDECIDED),
])
def test_interval_gate_outcomes(wer_ci, ovrl_ci, expected):
    assert q.interval_verdict(wer_ci, ovrl_ci) == expected
    assert q.verdict_passed(expected) is {q.PASS: True, q.FAIL: False, q.UNDECIDED: None}[expected]


def test_interval_gate_reads_the_limits_from_one_place():
    assert q.interval_verdict((0.0, WER_LIMIT), (-OVRL_LIMIT, 0.0)) == q.PASS
    assert q.interval_verdict((0.0, WER_LIMIT + 0.001), (-OVRL_LIMIT, 0.0)) == q.UNDECIDED
    assert q.interval_verdict((WER_LIMIT + 0.001, 0.1), (0.0, 0.1)) == q.FAIL


# --- which rounds keep their audio ----------------------------------------------------------------------------

def _rounds(classes: list[str], n: int, seed: int = 0) -> list[tuple[str, str]]:
    """(class, text) of rounds 0..n-1 as the sweep makes them: classes in turn, fresh generated text."""
    gen = SentenceGenerator(seed)
    return [(classes[r % len(classes)], gen.text(classes[r % len(classes)])) for r in range(n)]


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_selection_keeps_four_per_class_and_200_words(seed):
    classes = ["short", "medium", "long"]
    rounds = _rounds(classes, 60, seed)
    kept = select_rounds(rounds, classes, per_class=4)
    assert kept == list(range(12))  # the first 4 of each class already hold more than 200 words
    assert sum(words(rounds[r][1]) for r in kept) >= MIN_WORDS


def test_selection_extends_until_200_words_on_short_texts():
    rounds = _rounds(["short"], 80)
    kept = select_rounds(rounds, ["short"], per_class=4)
    total = [sum(words(rounds[r][1]) for r in kept[:k]) for k in range(len(kept) + 1)]
    assert len(kept) > 4 and kept == list(range(len(kept)))  # 4 short texts hold < 200 words: more are kept
    assert total[-1] >= MIN_WORDS and total[-2] < MIN_WORDS  # and no more than needed


def test_selection_decides_each_round_once_and_skips_repeated_text():
    sel = AudioSelection(["short"], per_class=2, min_words=1000)
    assert sel.keep(0, "short", "one two three") and sel.keep(0, "short", "one two three")  # same answer again
    assert sel.kept == {"short": 1}  # counted once
    assert not sel.keep(1, "short", "one two three")  # the repeated workload's one text: kept once
    assert sel.keep(2, "short", "four five six") and not sel.complete
    with pytest.raises(ValueError, match="measure.quality_texts_per_class"):
        AudioSelection(["short"], per_class=0)


@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_config_rejects_bad_texts_per_class_naming_the_field(value):
    from bench.errors import BenchConfigError
    from bench.sweep.config import MeasureConfig

    with pytest.raises(BenchConfigError, match="`measure.quality_texts_per_class`"):
        MeasureConfig(quality_texts_per_class=value)
    assert MeasureConfig().quality_texts_per_class == 4


def test_resumed_rounds_without_audio_are_made_up_later():
    rounds = _rounds(["short", "medium"], 20)
    sel = AudioSelection(["short", "medium"], per_class=2, min_words=0)
    sel.prime(0, *rounds[0], stored=False)  # a killed sweep's round whose audio is not on disk
    sel.prime(1, *rounds[1], stored=True)
    kept = [r for r in range(2, 20) if sel.keep(r, *rounds[r])]
    assert kept == [2, 3, 4]  # short needs two more (rounds 2, 4), medium one more (3)
    assert sel.complete


# --- the pass over stored audio -------------------------------------------------------------------------------

class FakeScorer:
    """One contender's scorer: (wer, ovrl) from a table by (contender, round's text); every text it is asked to
    score goes to the shared `calls` list."""

    def __init__(self, name: str, table: dict[tuple[str, str], tuple[float, float]], calls: list) -> None:
        self.name, self.table, self.calls = name, table, calls

    def score(self, samples, sample_rate, text):
        self.calls.append((self.name, text))
        wer, ovrl = self.table[(self.name, text)]
        return q.QualityFigures(wer=wer, cer=wer / 2, dnsmos_sig=ovrl + 0.2, dnsmos_bak=4.0, dnsmos_ovrl=ovrl,
                                asr_transcript="heard" if wer else text, reference=text.lower(),
                                heard="heard" if wer else text.lower(), audio_s=samples.size / sample_rate,
                                quality_s=0.01, cached=False)


def _store(tmp: Path, contenders: dict[str, list[int]], rounds: list[tuple[str, str]]) -> list[dict]:
    """Round records as run_rounds writes them, with a WAV for each contender's kept rounds."""
    records = []
    for r, (text_class, text) in enumerate(rounds):
        results = {}
        for name, kept in contenders.items():
            results[name] = {"rtf": 0.1}
            if r in kept:
                path = tmp / "audio" / name / f"r{r:03d}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                Audio(np.full(1600, 0.1 * (r + 1), np.float32), 16000).save_wav(path)
                results[name]["audio_file"] = str(path)
        records.append({"kind": "round", "r": r, "text_class": text_class, "text": text, "results": results})
    return records


def _scored(records, rounds, table_by_round, names, calls=None):
    """Each contender's stored texts scored by a fake scorer given (wer, ovrl) per (contender, round)."""
    table = {(n, rounds[r][1]): v for (n, r), v in table_by_round.items()}
    calls = [] if calls is None else calls
    return {n: score_texts(FakeScorer(n, table, calls), stored_texts(records, n)) for n in names}


def test_pass_pairs_texts_by_round_and_scores_each_contender_on_the_same_texts(tmp_path):
    rounds = [("short", "One two three."), ("medium", "Four five six seven."), ("short", "Eight nine."),
              ("medium", "Ten eleven twelve."), ("short", "Thirteen fourteen."), ("medium", "Fifteen sixteen.")]
    # a resumed group: the reference has no audio of round 1, the candidate none of round 5 (named, not on disk)
    records = _store(tmp_path, {"base": [0, 2, 3, 4, 5], "cand": [0, 1, 2, 3, 4]}, rounds)
    records[5]["results"]["cand"]["audio_file"] = str(tmp_path / "audio" / "gone" / "r005.wav")
    table = {("base", r): (0.0, 3.4) for r in range(6)}
    # every text both have audio of is heard more than MAX_OVRL_DROP worse: any interval over them lies below it
    table.update({("cand", r): (w, o) for r, (w, o) in enumerate([(0.10, 3.2), (0.0, 3.0), (0.05, 3.25),
                                                                   (0.0, 3.25), (0.10, 3.2)])})
    calls: list[tuple[str, str]] = []
    scored = _scored(records, rounds, table, ["base", "cand"], calls)
    base, cand = scored["base"], scored["cand"]
    assert [t for n, t in calls if n == "cand"] == [t for _, t in rounds[:5]]
    assert [t for n, t in calls if n == "base"] == [t for r, (_, t) in enumerate(rounds) if r != 1]

    fields = contender_fields(cand, base)
    pooled = fields["all"]
    paired = [0, 2, 3, 4]  # the rounds both have audio of: the same texts
    assert pooled["quality_texts"] == 4 and pooled["extra_quality_rounds"] == paired
    assert pooled["quality_words"] == sum(words(rounds[r][1]) for r in paired)
    assert pooled["wer_delta"] == pytest.approx((0.10 + 0.05 + 0.10) / 4)
    assert pooled["dnsmos_ovrl_delta"] == pytest.approx((-0.2 - 0.15 - 0.15 - 0.2) / 4)
    assert pooled["wer_delta_ci_low"] <= pooled["wer_delta"] <= pooled["wer_delta_ci_high"]
    assert pooled["dnsmos_ovrl_delta_ci_high"] < -q.MAX_OVRL_DROP
    assert pooled["quality_verdict"] == q.FAIL and pooled["quality_pass"] is False
    assert pooled["quality_gate"] == q.GATE_NAME
    assert fields["short"]["extra_quality_rounds"] == [0, 2, 4] and fields["medium"]["extra_quality_rounds"] == [3]
    assert fields["short"]["wer_delta"] == pytest.approx(0.25 / 3)
    # WER pooled by the reference's words: errors over words said
    said = [len(rounds[r][1].lower().split()) for r in paired]
    assert pooled["wer"] == pytest.approx(sum(w * n for w, n in zip([0.1, 0.05, 0, 0.1], said)) / sum(said))
    assert [t["r"] for t in pooled["extra_quality_transcripts"]] == [0, 2, 4]  # the texts heard otherwise
    # the reference itself: absolute figures, no deltas, no verdict
    alone = contender_fields(base, None)["all"]
    assert alone["quality_texts"] == 5 and alone.get("wer_delta") is None and alone.get("quality_verdict") is None

    (written,) = write_transcripts(cand)
    assert written == tmp_path / "audio" / "cand" / TRANSCRIPTS_FILE
    lines = json.loads(written.read_text())
    assert [x["r"] for x in lines] == [0, 1, 2, 3, 4] and [x["differs"] for x in lines] == [True, False, True, False, True]


def test_pass_decides_only_on_enough_texts(tmp_path):
    rounds = [("short", f"Word number {i} here.") for i in range(8)]
    records = _store(tmp_path, {"base": range(8), "same": range(8), "worse": range(8)}, rounds)
    table = {("base", r): (0.05 * (r % 3), 3.4 + 0.02 * (r % 2)) for r in range(8)}
    table.update({("same", r): (table[("base", r)][0], table[("base", r)][1] + 0.01 * (-1) ** r) for r in range(8)})
    table.update({("worse", r): (table[("base", r)][0] + 0.2 + 0.01 * (r % 3), 3.4 - 0.5) for r in range(8)})
    scored = _scored(records, rounds, table, ["base", "same", "worse"])
    assert contender_fields(scored["same"], scored["base"])["all"]["quality_verdict"] == q.PASS
    worse = contender_fields(scored["worse"], scored["base"])["all"]
    assert worse["quality_verdict"] == q.FAIL and worse["quality_pass"] is False
    one = contender_fields({0: scored["worse"][0]}, scored["base"])["all"]  # one text: no interval, no decision
    assert one["quality_verdict"] == q.UNDECIDED and one["wer_delta_ci_low"] is None and one["quality_pass"] is None
    none = contender_fields(scored["same"], {})["all"]  # a reference without audio: figures, but no verdict
    assert none["quality_texts"] == 8 and none["quality_verdict"] == q.UNDECIDED and none.get("wer_delta") is None


class AmplitudeScorer:
    """Whole-pass stand-in for the scorer: OVRL 4 - the audio's level (each contender's WAVs have their own),
    WER 0; records (level, text) of every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str]] = []
        self.cost = q.QualityCost()

    def score(self, samples, sample_rate, text):
        level = round(float(np.max(np.abs(samples))), 2)
        self.calls.append((level, text))
        return q.QualityFigures(wer=0.0, cer=0.0, dnsmos_sig=3.0, dnsmos_bak=4.0, dnsmos_ovrl=4.0 - level,
                                asr_transcript=text, reference=text, heard=text, audio_s=0.1, quality_s=0.0,
                                cached=False)


def test_sweep_quality_pass_scores_every_contender_on_its_references_texts(tmp_path, monkeypatch):
    from bench.measure.rounds import RoundsResult
    from bench.measure.rows import Contender
    from bench.sweep.plan import Group, RunPaths
    from bench.sweep.quality import quality_pass

    hw = {"name": "cpu-all", "device": "cpu", "threads": 0}
    ours = {"name": "tts_core"}

    def contender(name, tier, reference=None, peer=False, describe=None, engine=ours):
        return Contender(name=name, engine=engine, tier=tier, hardware=hw, reference=reference, peer=peer,
                         load={"describe": describe or {}})

    contenders = [contender("base", "baseline"), contender("adv", "advanced", "base"),
                  contender("adv-fusion", "advanced-fusion", "adv"),
                  contender("piper", "default", "base", True, {"comparable_quality": True}, {"name": "piper"}),
                  contender("espeak", "default", "base", True, {"comparable_quality": False}, {"name": "espeak"})]
    levels = {"base": 0.1, "adv": 0.15, "adv-fusion": 0.2, "piper": 0.12, "espeak": 0.5}
    rounds = [(("short", "medium")[r % 2], f"Text of round {r}.") for r in range(6)]
    records = []
    for r, (text_class, text) in enumerate(rounds):
        results = {}
        for name, level in levels.items():
            path = tmp_path / "audio" / name / f"r{r:03d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            Audio(np.full(800, level, np.float32), 16000).save_wav(path)
            results[name] = {"rtf": 0.1, "audio_file": str(path)}
        records.append({"kind": "round", "r": r, "text_class": text_class, "text": text, "results": results})
    group = Group("g", contenders, ["short", "medium"], {"kind": "generated", "seed": 0}, {"name": "stream"}, "tiny",
                  "v", "h")
    scorer = AmplitudeScorer()
    monkeypatch.setattr(q, "open_scorer", lambda config, note=None: scorer)
    quality_pass(group, RoundsResult(rounds=records), RunPaths.under(tmp_path / "results", "run"))

    texts = {level: [t for lv, t in scorer.calls if lv == level] for level in levels.values()}
    assert all(t == [text for _, text in rounds] for t in texts.values())  # every contender, the same six texts
    by = {c.name: c.quality for c in contenders}
    assert by["base"]["all"]["quality_texts"] == 6 and by["base"]["all"].get("quality_verdict") is None
    for name, ref in (("adv", "base"), ("adv-fusion", "base"), ("piper", "base"), ("espeak", "base")):
        pooled = by[name]["all"]
        assert pooled["extra_quality_reference"] == ref  # tiers: the engine's baseline; peers: our baseline
        assert pooled["dnsmos_ovrl_delta"] == pytest.approx(levels["base"] - levels[name], abs=1e-3)
        assert pooled["quality_texts"] == 6 and by[name]["short"]["quality_texts"] == 3
        assert pooled["extra_quality_cost"] == scorer.cost.figures()
    assert by["adv"]["all"]["quality_verdict"] == q.PASS and by["espeak"]["all"]["quality_verdict"] == q.FAIL
    assert "another voice" in by["espeak"]["all"]["extra_quality_note"] and "extra_quality_note" not in by["piper"]["all"]
