"""Heard quality, offline: an ASR round trip (Whisper tiny.en via faster-whisper; WER/CER with jiwer) and
DNSMOS P.835 (SIG, BAK, OVRL), each absolute and against the baseline's audio, plus a gate and report pieces.

    reason = available()                      # None, or the one line to print (with the install hint)
    scorer = open_scorer(QualityConfig(cache_dir=folder))   # None when skipped (the line goes to stderr)
    figures = scorer.score(audio.samples, audio.sample_rate, text)     # cached by audio hash
    row.update(row_fields(figures, baseline_figures))                  # wer, cer, dnsmos_*, *_delta, gate
    passed, failures = gate(figures, baseline_figures)
    scorer.cost.line()                        # seconds spent, cache hits

Over the sweep's rounds (`bench.quality.selection` picks the rounds whose audio is kept, `bench.quality.paired`
scores them and pairs each contender's texts with its reference's by round):

    verdict = interval_verdict((wer_lo, wer_hi), (ovrl_lo, ovrl_hi))   # pass / fail / not enough evidence

Needs the `quality` extra: pip install -e '.[quality]'.
"""

from __future__ import annotations

from bench.quality.config import QualityConfig, QualityConfigError
from bench.quality.deps import INSTALL_HINT, available
from bench.quality.gate import (FAIL, GATE_NAME, MAX_OVRL_DROP, MAX_WER_INCREASE, PASS, ROW_FIELDS, UNDECIDED,
                                HeardCheck, deltas, gate, heard_check, interval_verdict, row_fields, verdict_passed)
from bench.quality.scorer import QualityCost, QualityFigures, QualityScorer, open_scorer

__all__ = [
    "FAIL", "GATE_NAME", "HeardCheck", "INSTALL_HINT", "MAX_OVRL_DROP", "MAX_WER_INCREASE", "PASS", "ROW_FIELDS",
    "QualityConfig", "QualityConfigError", "QualityCost", "QualityFigures", "QualityScorer", "UNDECIDED", "available",
    "deltas", "gate", "heard_check", "interval_verdict", "open_scorer", "row_fields", "verdict_passed",
]
