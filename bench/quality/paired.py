"""Heard quality over the rounds' own audio: every contender scored on the same texts, paired with its reference.

    stored = stored_texts(rounds, contender)            # the WAVs the timed rounds kept (that exist on disk)
    scored = score_texts(scorer, stored)                # round -> transcript, WER/CER, DNSMOS (cached by audio hash)
    fields = contender_fields(scored, reference_scored) # text class -> row fields, and the pooled set under "all"

Texts pair by round: the candidate's and the reference's audio of round r spoke the same text with the same
seed. Per text the deltas are candidate minus reference; `wer_delta` and `dnsmos_ovrl_delta` are their
means over the texts, with a 95% bootstrap interval over the texts (`bench.results.stats.mean_ci`), and
the gate decides on those intervals (`bench.quality.gate.interval_verdict`). Absolute WER and CER are
pooled by the reference's words and characters (errors over words said); DNSMOS is the mean over texts.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Protocol

from bench.quality.audio import read_wav
from bench.quality.gate import GATE_NAME, METRICS, UNDECIDED, interval_verdict, verdict_passed
from bench.quality.scorer import QualityFigures
from bench.quality.selection import words
from bench.results.stats import mean_ci

# beside each contender's stored WAVs: a JSON list, one object per line (not .jsonl: the report reads every
# .jsonl below a results folder as result rows)
TRANSCRIPTS_FILE = "transcripts.json"


class Scorer(Protocol):
    """What the pass needs of `bench.quality.QualityScorer`."""

    def score(self, samples: Any, sample_rate: int, text: str) -> QualityFigures: ...


@dataclass(frozen=True)
class StoredText:
    """The audio one contender produced in round `r` (of `text_class`, speaking `text`), stored at `path`."""

    r: int
    text_class: str
    text: str
    path: Path


@dataclass(frozen=True)
class ScoredText:
    """A stored text and its heard-quality figures."""

    stored: StoredText
    figures: QualityFigures

    @property
    def differs(self) -> bool:
        """The transcript differs from the text once both are normalized."""
        return self.figures.heard != self.figures.reference


def stored_texts(rounds: Iterable[dict[str, Any]], contender: str) -> list[StoredText]:
    """The texts whose audio `contender`'s rounds stored (`audio_file` in its round results) and that exist on
    disk; a resumed group's early rounds may have none."""
    out = []
    for rd in rounds:
        path = (rd["results"].get(contender) or {}).get("audio_file")
        if path and Path(path).is_file():
            out.append(StoredText(int(rd["r"]), str(rd["text_class"]), str(rd["text"]), Path(path)))
    return out


def score_texts(scorer: Scorer, texts: Iterable[StoredText]) -> dict[int, ScoredText]:
    """Round -> the stored text scored (ASR + DNSMOS, cached by the scorer by audio hash)."""
    out = {}
    for t in texts:
        samples, rate = read_wav(t.path)
        out[t.r] = ScoredText(t, scorer.score(samples, rate, t.text))
    return out


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def set_fields(cand: list[ScoredText], ref: list[ScoredText] | None) -> dict[str, Any]:
    """Row fields of one set of texts: `cand` and, when given, `ref` the reference's scores of the same texts in
    the same order. WER/CER fractions, DNSMOS in MOS, deltas candidate minus reference; seconds and counts."""
    figs = [s.figures for s in cand]
    ref_words = [max(len(f.reference.split()), 1) for f in figs]
    ref_chars = [max(len(f.reference), 1) for f in figs]
    row: dict[str, Any] = {
        "wer": sum(f.wer * n for f, n in zip(figs, ref_words)) / sum(ref_words),
        "cer": sum(f.cer * n for f, n in zip(figs, ref_chars)) / sum(ref_chars),
        **{m: sum(getattr(f, m) for f in figs) / len(figs) for m in ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")},
        "asr_transcript": None,  # one per text: in extra_quality_transcripts and beside the audio
        "quality_s": sum(f.quality_s for f in figs),
        "quality_texts": len(figs), "quality_words": sum(words(s.stored.text) for s in cand),
        "extra_quality_audio_s": sum(f.audio_s for f in figs),
        "extra_quality_rounds": [s.stored.r for s in cand],
        "extra_quality_transcripts": [
            {"r": s.stored.r, "text_class": s.stored.text_class, "wer": s.figures.wer, "said": s.figures.reference,
             "heard": s.figures.heard, "audio": str(s.stored.path)} for s in cand if s.differs],
    }
    if ref is None:
        return row
    for m in METRICS:
        row[f"{m}_delta"] = sum(getattr(c.figures, m) - getattr(b.figures, m) for c, b in zip(cand, ref)) / len(cand)
    wer = mean_ci([c.figures.wer - b.figures.wer for c, b in zip(cand, ref)])
    ovrl = mean_ci([c.figures.dnsmos_ovrl - b.figures.dnsmos_ovrl for c, b in zip(cand, ref)])
    verdict = interval_verdict((wer.ci_low, wer.ci_high), (ovrl.ci_low, ovrl.ci_high))
    row.update(wer_delta_ci_low=_finite(wer.ci_low), wer_delta_ci_high=_finite(wer.ci_high),
               dnsmos_ovrl_delta_ci_low=_finite(ovrl.ci_low), dnsmos_ovrl_delta_ci_high=_finite(ovrl.ci_high),
               quality_gate=GATE_NAME, quality_verdict=verdict, quality_pass=verdict_passed(verdict))
    return row


def contender_fields(cand: dict[int, ScoredText], ref: dict[int, ScoredText] | None,
                     pooled_key: str = "all") -> dict[str, dict[str, Any]]:
    """Text class -> row fields of `cand`'s texts of that class, and `pooled_key` -> the whole set. With a
    reference, only the rounds both have audio of count (the same texts); a reference with none of them
    leaves the deltas out and the verdict "not enough evidence"."""
    rounds = sorted(cand) if not ref else sorted(set(cand) & set(ref))
    if not rounds and ref is not None:
        rounds = sorted(cand)
        ref = {}
    out: dict[str, dict[str, Any]] = {}
    classes = list(dict.fromkeys(cand[r].stored.text_class for r in rounds))
    for key, chosen in [*((k, [r for r in rounds if cand[r].stored.text_class == k]) for k in classes),
                        (pooled_key, rounds)]:
        if not chosen:
            continue
        fields = set_fields([cand[r] for r in chosen], [ref[r] for r in chosen] if ref else None)
        if ref is not None and not ref:
            fields.update(quality_gate=GATE_NAME, quality_verdict=UNDECIDED, quality_pass=None)
        out[key] = fields
    return out


def write_transcripts(scored: dict[int, ScoredText]) -> list[Path]:
    """Write `transcripts.json` beside the stored WAVs (a list, one object a line per text: round, class, WAV, text,
    what the ASR heard, WER/CER, DNSMOS OVRL, whether it differs from the text); returns the files written."""
    by_folder: dict[Path, list[ScoredText]] = {}
    for r in sorted(scored):
        by_folder.setdefault(scored[r].stored.path.parent, []).append(scored[r])
    for folder, items in by_folder.items():
        lines = [json.dumps({"r": s.stored.r, "text_class": s.stored.text_class, "audio": s.stored.path.name,
                             "text": s.stored.text, "said": s.figures.reference, "heard": s.figures.heard,
                             "asr_transcript": s.figures.asr_transcript, "wer": s.figures.wer, "cer": s.figures.cer,
                             "dnsmos_ovrl": s.figures.dnsmos_ovrl, "differs": s.differs}, ensure_ascii=False)
                 for s in items]
        (folder / TRANSCRIPTS_FILE).write_text("[\n" + ",\n".join(lines) + "\n]\n", encoding="utf-8")
    return [folder / TRANSCRIPTS_FILE for folder in by_folder]
