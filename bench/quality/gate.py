"""The heard-quality gate for lossy switches, beside the fidelity gate; its thresholds live here only.

A candidate passes when, on the same text and seed as the baseline tier's audio, its WER is at most
`MAX_WER_INCREASE` (1 percentage point) above the baseline's and its DNSMOS OVRL at most `MAX_OVRL_DROP`
(0.1 MOS) below. Exact switches need no such gate: the fidelity gate already holds them to float noise.

Over several texts (`interval_verdict`) the gate decides on the 95% intervals of the mean per-text deltas:
pass when the WER-delta interval lies at or below the limit and the OVRL-delta interval at or above its
limit; fail when either interval lies wholly beyond its limit; otherwise "not enough evidence".
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from bench.quality.scorer import QualityFigures, QualityScorer

# (reference samples, candidate samples, sample rate Hz, text) -> failures; plain types, so code that cannot
# import bench (the tier calibration in tts_core) can declare and accept one
HeardCheck = Callable[[np.ndarray, np.ndarray, int, str], list[str]]

MAX_WER_INCREASE = 0.01  # WER as a fraction: 0.01 = one percentage point
MAX_OVRL_DROP = 0.1  # DNSMOS OVRL, MOS points (1-5 scale)
GATE_NAME = f"wer<=+{MAX_WER_INCREASE * 100:g}pt,ovrl>=-{MAX_OVRL_DROP:g}"
PASS, FAIL, UNDECIDED = "pass", "fail", "not enough evidence"  # the verdicts of the gate on intervals
VERDICTS = (PASS, FAIL, UNDECIDED)
_EPS = 1e-12
METRICS = ("wer", "cer", "dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")
ROW_FIELDS = (*METRICS, *(f"{m}_delta" for m in METRICS), "asr_transcript", "quality_gate", "quality_pass",
              "quality_s")


def deltas(candidate: QualityFigures, baseline: QualityFigures) -> dict[str, float]:
    """Candidate minus baseline for each metric, as `<metric>_delta` (WER/CER as fractions, DNSMOS in MOS)."""
    return {f"{m}_delta": float(getattr(candidate, m)) - float(getattr(baseline, m)) for m in METRICS}


def gate_values(wer_delta: float, ovrl_delta: float) -> list[str]:
    """The gate on plain numbers (for code that cannot import these figures): failures, empty when it passes."""
    failures = []
    if wer_delta > MAX_WER_INCREASE + _EPS:
        failures.append(f"WER rose {wer_delta * 100:.2f} points over the baseline (limit {MAX_WER_INCREASE * 100:g})")
    if ovrl_delta < -MAX_OVRL_DROP - _EPS:
        failures.append(f"DNSMOS OVRL fell {-ovrl_delta:.3f} below the baseline (limit {MAX_OVRL_DROP:g})")
    return failures


def interval_verdict(wer_delta_ci: tuple[float, float], ovrl_delta_ci: tuple[float, float]) -> str:
    """The gate on intervals over texts: `wer_delta_ci` (low, high) of the mean WER delta (fraction: 0.01 = one
    point) and `ovrl_delta_ci` (low, high) of the mean DNSMOS OVRL delta (MOS), candidate minus reference.

    PASS when WER high <= +MAX_WER_INCREASE and OVRL low >= -MAX_OVRL_DROP; FAIL when WER low > +MAX_WER_INCREASE
    or OVRL high < -MAX_OVRL_DROP; else UNDECIDED (the interval is too wide to decide; infinite or NaN bounds,
    as from one text, never pass)."""
    (w_lo, w_hi), (o_lo, o_hi) = (tuple(float(v) for v in ci) for ci in (wer_delta_ci, ovrl_delta_ci))
    if any(math.isnan(v) for v in (w_lo, w_hi, o_lo, o_hi)):
        return UNDECIDED
    if w_lo > MAX_WER_INCREASE + _EPS or o_hi < -MAX_OVRL_DROP - _EPS:
        return FAIL
    if w_hi <= MAX_WER_INCREASE + _EPS and o_lo >= -MAX_OVRL_DROP - _EPS:
        return PASS
    return UNDECIDED


def verdict_passed(verdict: str | None) -> bool | None:
    """`quality_pass` of a row from its `quality_verdict`: True (pass), False (fail), None (undecided or none)."""
    return {PASS: True, FAIL: False}.get(verdict or "")


def gate(candidate: QualityFigures, baseline: QualityFigures) -> tuple[bool, list[str]]:
    """(passed, failures) of the heard-quality gate for `candidate` against the baseline's audio of the same text."""
    d = deltas(candidate, baseline)
    failures = gate_values(d["wer_delta"], d["dnsmos_ovrl_delta"])
    return not failures, failures


def row_fields(candidate: QualityFigures | None, baseline: QualityFigures | None = None) -> dict[str, Any]:
    """Every quality field of a result row (`ROW_FIELDS`). No baseline: deltas, gate and pass are None.
    No candidate (pass skipped or off): every field None."""
    row: dict[str, Any] = dict.fromkeys(ROW_FIELDS)
    if candidate is None:
        return row
    row.update(candidate.row())
    if baseline is not None:
        row.update(deltas(candidate, baseline))
        passed, _ = gate(candidate, baseline)
        row.update(quality_gate=GATE_NAME, quality_pass=passed)
    return row


def heard_check(scorer: QualityScorer) -> HeardCheck:
    """The gate as a plain callable over audio, for injection into code that cannot import bench: it scores
    the reference (baseline tier, same text and seed) and the candidate, and returns the failures."""

    def check(reference: np.ndarray, candidate: np.ndarray, sample_rate: int, text: str) -> list[str]:
        return gate(scorer.score(candidate, sample_rate, text), scorer.score(reference, sample_rate, text))[1]

    return check
