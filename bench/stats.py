"""Statistics of timings: latency summaries, the `noisy` flag, and speedups with bootstrap intervals.

A speedup is the ratio of medians, baseline latency / candidate latency (> 1 means faster), with a
percentile bootstrap interval that resamples each side independently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

NOISY_CV = 0.10  # coefficient of variation above which a measurement is flagged noisy


@dataclass(frozen=True)
class LatencyStats:
    """Summary of per-round latencies, in seconds."""

    rounds: int
    mean_s: float
    std_s: float
    cv: float
    p50_s: float
    p90_s: float
    p99_s: float

    @property
    def noisy(self) -> bool:
        return is_noisy(self.cv)


def summarize(latencies_s: Sequence[float]) -> LatencyStats:
    """Mean, sample standard deviation, CV and percentiles of `latencies_s` (seconds; at least one)."""
    x = np.asarray(latencies_s, dtype=np.float64)
    if x.size == 0:
        raise ValueError("summarize: no latencies; measure at least one round.")
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    p50, p90, p99 = (float(v) for v in np.percentile(x, [50, 90, 99]))
    return LatencyStats(int(x.size), mean, std, std / mean if mean > 0 else 0.0, p50, p90, p99)


def is_noisy(cv: float | None, threshold: float = NOISY_CV) -> bool:
    """True when the coefficient of variation is above `threshold` (10% by default)."""
    return cv is not None and cv > threshold


@dataclass(frozen=True)
class Speedup:
    """Baseline median / candidate median, with its confidence interval."""

    ratio: float
    ci_low: float
    ci_high: float
    confidence: float

    def __str__(self) -> str:
        return f"{self.ratio:.2f}x [{self.ci_low:.2f}, {self.ci_high:.2f}]"


def bootstrap_speedup(
    baseline_s: Sequence[float],
    candidate_s: Sequence[float],
    *,
    n_boot: int = 4000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Speedup:
    """Speedup of the candidate over the baseline with a percentile bootstrap interval on the ratio of medians."""
    a = np.asarray(baseline_s, dtype=np.float64)
    b = np.asarray(candidate_s, dtype=np.float64)
    if a.size == 0 or b.size == 0:
        raise ValueError("bootstrap_speedup: both samples need at least one latency.")
    rng = np.random.default_rng(seed)
    med_a = np.median(a[rng.integers(0, a.size, (n_boot, a.size))], axis=1)
    med_b = np.median(b[rng.integers(0, b.size, (n_boot, b.size))], axis=1)
    ratios = med_a / med_b
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(ratios, [tail, 1.0 - tail])
    return Speedup(float(np.median(a) / np.median(b)), float(low), float(high), confidence)
