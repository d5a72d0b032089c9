"""Every statistic the harness states, computed once, here (the report reads them from the rows).

- `summarize`: latency percentiles of one contender's rounds (seconds).
- `paired_speedup`: per-round ratios reference / candidate on the same text in the same round; the speedup is
  their geometric mean, with a 95% bootstrap interval over rounds (`scipy.stats.bootstrap`, BCa; percentile
  when BCa is degenerate). Above 1 means the candidate is faster.
- `verdict`: "pays" / "costs" only when the interval excludes 1.0, else "no measurable difference (within +-x%)".
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
from scipy import stats as sps

NOISY_CV = 0.10  # coefficient of variation above which a contender's rounds are flagged noisy
CONFIDENCE = 0.95
N_RESAMPLES = 2000
TARGET_HALF_WIDTH = 0.05  # default stopping target: the headline interval within +-5%


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
        return self.cv > NOISY_CV


def summarize(latencies_s: Sequence[float]) -> LatencyStats:
    """Mean, sample standard deviation, CV and percentiles of `latencies_s` (seconds; at least one)."""
    x = np.asarray(latencies_s, dtype=np.float64)
    if x.size == 0:
        raise ValueError("summarize: no latencies; measure at least one round.")
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    p50, p90, p99 = (float(v) for v in np.percentile(x, [50, 90, 99]))
    return LatencyStats(int(x.size), mean, std, std / mean if mean > 0 else 0.0, p50, p90, p99)


@dataclass(frozen=True)
class Speedup:
    """Geometric mean of paired ratios (reference / candidate, > 1 = candidate faster) and its interval."""

    ratio: float
    ci_low: float
    ci_high: float
    pairs: int
    confidence: float = CONFIDENCE

    @property
    def half_width(self) -> float:
        """Half the interval's width relative to the ratio (0.05 = +-5%); inf without an interval."""
        if not (math.isfinite(self.ci_low) and math.isfinite(self.ci_high)) or self.ratio <= 0:
            return math.inf
        return (self.ci_high - self.ci_low) / 2.0 / self.ratio

    @property
    def excludes_one(self) -> bool:
        return self.ci_low > 1.0 or self.ci_high < 1.0

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), half_width=self.half_width)

    def __str__(self) -> str:
        return f"{self.ratio:.2f}x [{self.ci_low:.2f}, {self.ci_high:.2f}] over {self.pairs} pairs"


def paired_ratios(reference: Sequence[float], candidate: Sequence[float]) -> np.ndarray:
    """reference[i] / candidate[i] for each round i where both were measured (None or <= 0 is skipped).

    Pass costs (seconds, RTF): the ratio is above 1 when the candidate costs less."""
    pairs = [(a, b) for a, b in zip(reference, candidate) if a is not None and b is not None and a > 0 and b > 0]
    return np.asarray([a / b for a, b in pairs], dtype=np.float64)


def geometric_mean_ci(ratios: Sequence[float], *, confidence: float = CONFIDENCE, seed: int = 0) -> Speedup:
    """Geometric mean of `ratios` with a bootstrap interval over them (one ratio per round)."""
    logs = np.log(np.asarray(ratios, dtype=np.float64))
    if logs.size == 0:
        raise ValueError("geometric_mean_ci: no paired rounds; both contenders need at least one round.")
    point = float(np.exp(logs.mean()))
    if logs.size < 2 or np.ptp(logs) == 0.0:
        return Speedup(point, point if logs.size > 1 else -math.inf, point if logs.size > 1 else math.inf,
                       int(logs.size), confidence)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BCa warns on small or degenerate samples; we fall back below
        result = sps.bootstrap((logs,), np.mean, confidence_level=confidence, n_resamples=N_RESAMPLES,
                               method="BCa", random_state=np.random.default_rng(seed))
        lo, hi = result.confidence_interval
        if not (np.isfinite(lo) and np.isfinite(hi)):
            result = sps.bootstrap((logs,), np.mean, confidence_level=confidence, n_resamples=N_RESAMPLES,
                                   method="percentile", random_state=np.random.default_rng(seed))
            lo, hi = result.confidence_interval
    return Speedup(point, float(np.exp(lo)), float(np.exp(hi)), int(logs.size), confidence)


def paired_speedup(reference: Sequence[float], candidate: Sequence[float], *, seed: int = 0) -> Speedup:
    """Speedup of `candidate` over `reference` from per-round costs measured on the same text in the same round."""
    return geometric_mean_ci(paired_ratios(reference, candidate), seed=seed)


@dataclass(frozen=True)
class MeanInterval:
    """Mean of per-item values (e.g. per-text quality deltas) with a bootstrap interval over the items."""

    mean: float
    ci_low: float
    ci_high: float
    n: int
    confidence: float = CONFIDENCE


def mean_ci(values: Sequence[float], *, confidence: float = CONFIDENCE, seed: int = 0) -> MeanInterval:
    """Mean of `values` with a `confidence` bootstrap interval over them (BCa; percentile when BCa is degenerate).
    One value gives an infinite interval; identical values a zero-width one."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("mean_ci: no values.")
    point = float(x.mean())
    if x.size < 2:
        return MeanInterval(point, -math.inf, math.inf, 1, confidence)
    if np.ptp(x) == 0.0:
        return MeanInterval(point, point, point, int(x.size), confidence)
    lo, hi = _bootstrap_mean(x, confidence, seed)
    return MeanInterval(point, lo, hi, int(x.size), confidence)


def _bootstrap_mean(x: np.ndarray, confidence: float, seed: int) -> tuple[float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BCa warns on small or degenerate samples; we fall back below
        for method in ("BCa", "percentile"):
            result = sps.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=N_RESAMPLES,
                                   method=method, random_state=np.random.default_rng(seed))
            lo, hi = result.confidence_interval
            if np.isfinite(lo) and np.isfinite(hi):
                break
    return float(lo), float(hi)


def verdict(s: Speedup, what: str = "speedup") -> str:
    """"pays" / "costs" when the interval excludes 1.0; else "no measurable difference (within +-x%)"."""
    if s.pairs < 2 or not math.isfinite(s.half_width):
        return f"not enough paired rounds ({s.pairs}) for a verdict"
    if s.ci_low > 1.0:
        return "pays"
    if s.ci_high < 1.0:
        return "costs"
    return f"no measurable difference (within +-{max(abs(s.ci_low - 1), abs(s.ci_high - 1)) * 100:.0f}%)"


NOISY_SPREAD = 0.10  # within-class spread (std of log) of a contender's paired ratios, else of its RTF, above which
# its rounds are flagged noisy; about a CV of 10%. Latency across texts of different lengths is not noise.


def within_class_spread(groups: Sequence[Sequence[float | None]]) -> float | None:
    """Pooled within-group standard deviation of log(values), dimensionless (about the CV for small spreads).

    One group per text class (a contender's paired ratios of that class, or its RTFs): each group's own level is
    removed, so classes of different text lengths never count as spread. Values that are None or <= 0 are
    skipped; None when no group has two values."""
    logs = [np.log(np.asarray([v for v in g if v is not None and v > 0], dtype=np.float64)) for g in groups]
    logs = [x for x in logs if x.size > 0]
    dof = sum(x.size for x in logs) - len(logs)
    if dof < 1:
        return None
    return float(math.sqrt(sum(float(((x - x.mean()) ** 2).sum()) for x in logs) / dof))


def is_noisy(spread: float | None) -> bool | None:
    """Whether a `within_class_spread` exceeds `NOISY_SPREAD`; None when there was no spread to judge."""
    return None if spread is None else spread > NOISY_SPREAD
