"""Every statistic the harness states, computed once, here (the report reads them from the rows).

- `summarize`: latency percentiles of one contender's rounds (seconds).
- `paired_speedup`: per-round ratios reference / candidate on the same text in the same round; the speedup is
  their geometric mean, with a 95% bootstrap interval over rounds (BCa; percentile when BCa is degenerate).
  Given each round's text class (`strata`), the bootstrap resamples rounds within each class, keeping each
  class's round count, so the interval measures noise, not the spread between classes. Above 1 means the
  candidate is faster.
  Given each round's worker process (`clusters`), the spread between processes beyond what the rounds' own
  spread explains is added to the interval (`process_variance`).
- `robust_z`: how far a value lies from a sample's median in robust standard deviations (the outlier rule).
- `verdict`: "pays" / "costs" only when the interval excludes 1.0, else "no measurable difference (within +-x%)";
  none at all under `MIN_PAIRS` pairs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
from scipy.special import ndtr, ndtri

NOISY_CV = 0.10  # coefficient of variation above which a contender's rounds are flagged noisy
CONFIDENCE = 0.95
N_RESAMPLES = 2000
TARGET_HALF_WIDTH = 0.05  # default stopping target: the headline interval within +-5%
# The fewest pairs a verdict is given on: the smallest count at which the 95% interval covers the true geometric
# mean at least 90% of the time, simulated (4,000 experiments each, lognormal ratios, sd 0.1-0.15 in log):
# one class 0.39 at 2 pairs, 0.87 at 5, 0.91 at 8 and at 10, 0.93 at 20; three classes of different speedups,
# stratified, 0.83 at 6 rounds, 0.89 at 8, 0.90 at 10, 0.94 at 30, 0.945 at 60.
MIN_PAIRS = 10
# The outlier rule (`bench.measure.rounds.outlier_reasons`): a round's log ratio more than OUTLIER_Z robust SDs
# from its class's median, the SD being 1.4826 x the median absolute deviation of every class's log ratios from
# their own class's median (floored at ROBUST_SD_FLOOR), once the comparison holds OUTLIER_MIN_ROUNDS rounds and
# the class 3. For normal ratios a 5-SD pair happens once in 1.7 million; a call slowed 1.8x moves a ratio by 0.59
# in log, 7 SDs of a quiet class's spread (0.05-0.1). Simulated (classes of 9, 25 and 14 rounds, log sd 0.08, one
# pair slowed 2x and one 1.8x per run, 300 runs): no false outlier, 18 of the 600 slowed pairs missed (4.5 SDs: 1
# false, 3 missed).
MIN_PROCESS_ROUNDS = 6  # rounds a worker process needs before its offset counts in the spread between processes
OUTLIER_Z = 5.0
OUTLIER_MIN_ROUNDS = 8
OUTLIER_MIN_CLASS = 3
ROBUST_SD_FLOOR = 0.01


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
    return _paired(reference, candidate, None)[0]


def _paired(reference: Sequence[float], candidate: Sequence[float],
            strata: Sequence[Any] | None) -> tuple[np.ndarray, list[Any] | None]:
    """The paired ratios and the stratum of each (None without strata)."""
    labels = list(strata) if strata is not None else [None] * len(reference)
    if strata is not None and not (len(labels) == len(reference) == len(candidate)):
        raise ValueError(f"paired_speedup: strata has {len(labels)} labels for {len(reference)} reference and "
                         f"{len(candidate)} candidate rounds; give one label per round.")
    kept = [(a / b, k) for a, b, k in zip(reference, candidate, labels)
            if a is not None and b is not None and a > 0 and b > 0]
    ratios = np.asarray([x for x, _ in kept], dtype=np.float64)
    return ratios, ([k for _, k in kept] if strata is not None else None)


def geometric_mean_ci(ratios: Sequence[float], *, strata: Sequence[Any] | None = None,
                      confidence: float = CONFIDENCE, seed: int = 0, n_resamples: int = N_RESAMPLES) -> Speedup:
    """Geometric mean of `ratios` (one per round) with a bootstrap interval over rounds; with `strata` (one label
    per round, e.g. its text class) the rounds are resampled within each label, each label keeping its count."""
    logs = np.log(np.asarray(ratios, dtype=np.float64))
    if logs.size == 0:
        raise ValueError("geometric_mean_ci: no paired rounds; both contenders need at least one round.")
    m = mean_ci(logs, strata=strata, confidence=confidence, seed=seed, n_resamples=n_resamples)
    return Speedup(float(np.exp(m.mean)), float(np.exp(m.ci_low)), float(np.exp(m.ci_high)), m.n, confidence)


def paired_speedup(reference: Sequence[float], candidate: Sequence[float], *, strata: Sequence[Any] | None = None,
                   clusters: Sequence[Any] | None = None, seed: int = 0, n_resamples: int = N_RESAMPLES) -> Speedup:
    """Speedup of `candidate` over `reference` from per-round costs measured on the same text in the same round;
    `strata` gives each round's text class for a bootstrap within classes (see `geometric_mean_ci`); `clusters`
    each round's worker process, whose spread beyond the rounds' is added to the interval (`process_variance`)."""
    if clusters is not None and len(clusters) != len(reference):
        raise ValueError(f"paired_speedup: clusters has {len(clusters)} labels for {len(reference)} rounds; give one "
                         "label per round.")
    keep = [a is not None and b is not None and a > 0 and b > 0 for a, b in zip(reference, candidate)]
    ratios, kept = _paired(reference, candidate, strata)
    s = geometric_mean_ci(ratios, strata=kept, seed=seed, n_resamples=n_resamples)
    if clusters is None or not math.isfinite(s.half_width):
        return s
    labels = [k for k, ok in zip(clusters, keep) if ok]
    extra = process_variance(np.log(ratios), kept if kept is not None else [None] * len(labels), labels)
    if extra <= 0.0:
        return s
    z = float(ndtri(0.5 + s.confidence / 2))
    log_ratio = math.log(s.ratio)
    lo = log_ratio - math.hypot(log_ratio - math.log(s.ci_low), z * math.sqrt(extra))
    hi = log_ratio + math.hypot(math.log(s.ci_high) - log_ratio, z * math.sqrt(extra))
    return Speedup(s.ratio, math.exp(lo), math.exp(hi), s.pairs, s.confidence)


def process_variance(logs: np.ndarray, strata: Sequence[Any], clusters: Sequence[Any]) -> float:
    """The variance the spread between worker processes adds to the pooled mean of `logs` (one value per round,
    its text class in `strata`, its process in `clusters`), beyond what the rounds' own spread explains; 0.0 with
    one process, or when the processes differ no more than their rounds would by chance.

    A random-effects model, y = class mean + process offset + round noise, estimated by the method of moments: the
    offsets are the processes' mean residuals from their class means; their observed variance less the part the
    round noise gives them (the within-process residual variance over each process's round count) is the offsets'
    variance, and the pooled mean carries sum((n_p / n)^2) of it. With three or four processes per run the
    estimate is rough; it is zero (no widening) where the processes agree, and it widens the interval where a
    process ran at a speed of its own (pyperf spawns 20 processes for the same reason; `docs/measuring.md`)."""
    y = np.asarray(logs, dtype=np.float64)
    s_codes, c_codes = _codes(strata, y.size), _codes(clusters, y.size)
    resid = y.copy()
    for k in np.unique(s_codes):
        resid[s_codes == k] -= y[s_codes == k].mean()
    # a process with a handful of rounds (the last one, cut short by the stopping rule) would make the offsets'
    # spread mostly its own rounds' noise: its rounds count in the mean, not in the spread between processes
    procs = [p for p in np.unique(c_codes) if (c_codes == p).sum() >= MIN_PROCESS_ROUNDS]
    if len(procs) < 2:
        return 0.0
    offsets = np.array([resid[c_codes == p].mean() for p in procs])
    counts = np.array([(c_codes == p).sum() for p in procs], dtype=np.float64)
    within = [resid[c_codes == p] - resid[c_codes == p].mean() for p in procs]
    dof = sum(w.size for w in within) - len(procs) - (np.unique(s_codes).size - 1)
    if dof < 1:
        return 0.0
    noise = sum(float((w ** 2).sum()) for w in within) / dof
    between = float(offsets.var(ddof=1)) - float(np.mean(noise / counts))
    if between <= 0.0:
        return 0.0
    weights = counts / y.size  # every round's share of the pooled mean, the short process's rounds carrying theirs
    return between * float((weights ** 2).sum() + (1 - weights.sum()) ** 2)


def robust_z(value: float, sample: Sequence[float], residuals: Sequence[float] | None = None) -> float:
    """How many robust standard deviations `value` lies from the median of `sample`: (value - median) /
    max(1.4826 x MAD, ROBUST_SD_FLOOR), the MAD taken over `residuals` (values less their own group's median,
    e.g. pooled over text classes: a class of eight rounds alone gives a MAD too noisy to judge by) or else over
    `sample` (the MAD's scale makes it the SD for normal data; the floor keeps a sample of near-identical values
    from calling any change an outlier)."""
    x = np.asarray(sample, dtype=np.float64)
    if x.size == 0:
        raise ValueError("robust_z: an empty sample; give the values to compare with.")
    median = float(np.median(x))
    spread = np.abs(x - median) if residuals is None else np.abs(np.asarray(residuals, dtype=np.float64))
    sd = max(1.4826 * float(np.median(spread)), ROBUST_SD_FLOOR)
    return (value - median) / sd


@dataclass(frozen=True)
class MeanInterval:
    """Mean of per-item values (e.g. per-text quality deltas) with a bootstrap interval over the items."""

    mean: float
    ci_low: float
    ci_high: float
    n: int
    confidence: float = CONFIDENCE


def mean_ci(values: Sequence[float], *, confidence: float = CONFIDENCE, seed: int = 0,
            strata: Sequence[Any] | None = None, n_resamples: int = N_RESAMPLES) -> MeanInterval:
    """Mean of `values` with a `confidence` bootstrap interval over them (BCa; percentile when BCa is degenerate).
    With `strata` (one label per value) values are resampled within each label, each label keeping its count.
    One value gives an infinite interval; values identical within every label a zero-width one."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("mean_ci: no values.")
    labels = np.zeros(x.size, dtype=np.int64) if strata is None else _codes(strata, x.size)
    groups = [x[labels == k] for k in np.unique(labels)]
    point = float(x.mean())
    if x.size < 2:
        return MeanInterval(point, -math.inf, math.inf, 1, confidence)
    if all(np.ptp(g) == 0.0 for g in groups):
        return MeanInterval(point, point, point, int(x.size), confidence)
    lo, hi = _bootstrap_mean(groups, point, confidence, seed, n_resamples)
    return MeanInterval(point, lo, hi, int(x.size), confidence)


def _codes(strata: Sequence[Any], n: int) -> np.ndarray:
    labels = list(strata)
    if len(labels) != n:
        raise ValueError(f"mean_ci: strata has {len(labels)} labels for {n} values; give one label per value.")
    index = {k: i for i, k in enumerate(dict.fromkeys(labels))}
    return np.asarray([index[k] for k in labels], dtype=np.int64)


def _bootstrap_mean(groups: list[np.ndarray], point: float, confidence: float, seed: int,
                    n_resamples: int) -> tuple[float, float]:
    """BCa interval of the mean of all values, resampling within each group (Efron's BCa; the acceleration from
    the empirical influence values, as scipy.stats.bootstrap's jackknife gives for one group); percentile when
    BCa is degenerate (every resample on one side of the estimate). For one group it is scipy.stats.bootstrap's
    BCa interval widened about the mean by sqrt(n / (n - 1))."""
    rng = np.random.default_rng(seed)
    # each group's deviations widened by sqrt(n / (n - 1)), so a resampled group mean has the variance s^2 / n of
    # the group's mean, not (n - 1) / n of it: with 3 text classes and 10 rounds a class holds 3 or 4 rounds, and
    # the plain bootstrap would understate the pooled variance by about a quarter (a group of one stays fixed)
    groups = [g.mean() + (g - g.mean()) * math.sqrt(g.size / (g.size - 1)) if g.size > 1 else g for g in groups]
    total = np.zeros(n_resamples)
    for g in groups:
        total += g[rng.integers(0, g.size, size=(n_resamples, g.size))].sum(axis=1)
    means = total / sum(g.size for g in groups)
    alpha = (1.0 - confidence) / 2.0
    z0 = ndtri(np.mean(means < point))
    influence = np.concatenate([g - g.mean() for g in groups])
    spread = float(np.sum(influence ** 2)) ** 1.5
    accel = float(np.sum(influence ** 3)) / (6.0 * spread) if spread > 0 else 0.0
    z = ndtri(np.array([alpha, 1.0 - alpha]))
    with np.errstate(all="ignore"):
        levels = ndtr(z0 + (z0 + z) / (1.0 - accel * (z0 + z)))
    if not np.all(np.isfinite(levels)):
        levels = np.array([alpha, 1.0 - alpha])
    lo, hi = np.quantile(means, levels)
    return float(lo), float(hi)


def verdict(s: Speedup, what: str = "speedup") -> str:
    """"pays" / "costs" when the interval excludes 1.0; else "no measurable difference (within +-x%)"; under
    `MIN_PAIRS` pairs "not enough paired rounds (n of MIN_PAIRS) for a verdict"."""
    if s.pairs < MIN_PAIRS or not math.isfinite(s.half_width):
        return f"not enough paired rounds ({s.pairs} of {MIN_PAIRS}) for a verdict"
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
