"""Statistics: latency summaries, the noisy flag, paired speedups (geometric mean, bootstrap interval stratified by
text class, its coverage simulated), verdicts only on `MIN_PAIRS` pairs, and the rows' per-class intervals."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from scipy import stats as sps

from bench.measure.rounds import RoundsResult
from bench.measure.rows import ALL, Contender, GroupFacts, build_rows
from bench.results.stats import (
    MIN_PAIRS, NOISY_CV, Speedup, geometric_mean_ci, mean_ci, paired_ratios, paired_speedup, summarize, verdict,
)


def test_summarize_known_values() -> None:
    s = summarize([1.0, 2.0, 3.0, 4.0])
    assert s.rounds == 4 and s.mean_s == pytest.approx(2.5) and s.p50_s == pytest.approx(2.5)
    assert s.std_s == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert s.cv == pytest.approx(s.std_s / 2.5) and s.noisy


def test_single_round_has_no_spread() -> None:
    s = summarize([0.5])
    assert s.std_s == 0.0 and s.cv == 0.0 and not s.noisy


def test_noisy_threshold() -> None:
    assert not summarize([1.0, 1.0 + NOISY_CV / 2]).noisy


def test_paired_ratios_skip_missing_rounds() -> None:
    assert list(paired_ratios([2.0, None, 3.0, 4.0], [1.0, 1.0, None, 2.0])) == [2.0, 2.0]


def test_speedup_is_the_geometric_mean_of_paired_ratios() -> None:
    s = paired_speedup([2.0, 8.0], [1.0, 1.0])  # ratios 2 and 8
    assert s.ratio == pytest.approx(4.0) and s.pairs == 2


def test_pairing_cancels_drift_that_an_unpaired_ratio_would_not() -> None:
    # the machine slows down 3x over the rounds; the candidate is 1.25x faster in every round
    drift = np.linspace(1.0, 3.0, 30)
    base, cand = 1.0 * drift, 0.8 * drift
    s = paired_speedup(base, cand)
    assert s.ratio == pytest.approx(1.25) and s.half_width < 1e-9 and s.excludes_one


def coverage(per_class: list[int], experiments: int, stratified: bool, seed: int) -> tuple[float, float]:
    """Share of simulated experiments whose 95% interval covers the true pooled geometric mean, and the mean
    half-width: lognormal ratios (sd 0.15 in log) around 1.9, 2.5 and 3.6 (the three text classes of one measured
    sweep), `per_class` rounds of each."""
    rng = np.random.default_rng(seed)
    means = np.log([1.9, 2.5, 3.6])[: len(per_class)]
    labels = np.repeat(np.arange(len(per_class)), per_class)
    truth = float(np.exp(means[labels].mean()))
    covered, widths = 0, []
    for trial in range(experiments):
        ratios = np.exp(means[labels] + 0.15 * rng.standard_normal(labels.size))
        s = geometric_mean_ci(ratios, strata=labels if stratified else None, seed=trial, n_resamples=500)
        covered += s.ci_low <= truth <= s.ci_high
        widths.append(s.half_width)
    return covered / experiments, float(np.mean(widths))


def test_stratified_interval_covers_the_true_ratio_about_95_percent_of_the_time() -> None:
    cov, width = coverage([20, 20, 20], 400, stratified=True, seed=0)  # the default budget: 60 rounds
    assert 0.90 <= cov <= 0.99, cov
    unstratified_cov, unstratified_width = coverage([20, 20, 20], 100, stratified=False, seed=0)
    assert unstratified_cov > 0.99 and unstratified_width > 1.5 * width  # the spread between classes is not noise


def test_one_class_interval_covers_about_95_percent_of_the_time() -> None:
    cov, _ = coverage([20], 400, stratified=True, seed=1)
    assert 0.90 <= cov <= 0.99, cov


# MIN_PAIRS against its simulated coverage (the figures in `bench/results/stats.py`). The interval of log ratios is
# affine in them, so coverage does not depend on the log sd (0.1 and 0.15 give the same figures). At MIN_PAIRS rounds
# it covers 0.91 of the time with one class and 0.90 with three classes of 4 + 3 + 3 rounds (4,000 experiments each);
# COVERAGE_EXPERIMENTS give a binomial sd of 0.7%, so MIN_COVERAGE lies nearly 4 sds below the three classes' figure and
# as far above the 0.85 the three classes get without the sqrt(n / (n - 1)) widening.
COVERAGE_EXPERIMENTS = 2000
MIN_COVERAGE = 0.875


def _split(rounds: int, classes: int) -> list[int]:
    """`rounds` dealt over `classes` as evenly as they go (10 over 3: 4, 3, 3), as the round order deals them."""
    q, r = divmod(rounds, classes)
    return [q + 1] * r + [q] * (classes - r)


@pytest.mark.parametrize("classes", [1, 3])
def test_min_pairs_rounds_give_an_interval_that_covers_about_90_percent_of_the_time(classes: int) -> None:
    cov, _ = coverage(_split(MIN_PAIRS, classes), COVERAGE_EXPERIMENTS, stratified=True, seed=2)
    assert MIN_COVERAGE <= cov <= 0.97, cov


def test_two_pairs_give_an_interval_that_covers_far_less_often() -> None:
    # why verdicts wait for MIN_PAIRS: two ratios give a bootstrap of three values, whose interval covers the truth
    # about 0.4 of the time (4,000 experiments at these 500 resamples; 0.35 at the default 2,000; 0.6 were it the
    # percentile interval); 400 experiments give a binomial sd of 2.5%
    cov, _ = coverage([2], 400, stratified=True, seed=2)
    assert cov < 0.7, cov


# The pooled interval against an independent reference. scipy.stats.bootstrap resamples each sample of a multi-sample
# statistic on its own, which is a bootstrap stratified by sample, and takes BCa's acceleration from the jackknife over
# every sample. The reference draws with another seed than `mean_ci`, so the two agree to within the endpoints'
# Monte-Carlo error whatever SciPy's resampling order is: with REFERENCE_RESAMPLES on each side an endpoint's standard
# error is at most 0.6% of the half-width on these data (measured over 10 seeds each side, the skewed classes' upper
# tail the widest), the difference of two estimates' at most 0.9%, and REFERENCE_TOLERANCE allows 4 of them. Each case
# names the wrong intervals its data tell apart from the right one by more than twice the tolerance (checked below,
# so a case cannot quietly stop telling them apart).
REFERENCE_RESAMPLES = 100_000
REFERENCE_TOLERANCE = 0.035  # of the reference interval's half-width
WRONG_INTERVALS = {"percentile": {"method": "percentile"},  # the percentile interval instead of BCa
                   "equal weights": {"by_count": False},  # each class weighted equally instead of by its rounds
                   "unwidened": {"widen": False}}  # no sqrt(n / (n - 1)) widening within each class


def _scipy_interval(groups: list[np.ndarray], method: str = "BCa", *, widen: bool = True, by_count: bool = True,
                    seed: int = 1) -> tuple[float, float]:
    """scipy.stats.bootstrap's 95% interval of the pooled mean of `groups`, each resampled on its own: the groups'
    means weighted by their counts (the mean of every value) or, with `by_count=False`, equally; with `widen` each
    group's deviations from its mean first scaled by sqrt(n / (n - 1)), as `mean_ci` documents."""
    if widen:
        groups = [g.mean() + (g - g.mean()) * math.sqrt(g.size / (g.size - 1)) for g in groups]
    total = sum(g.size for g in groups)
    weights = [g.size / total if by_count else 1.0 / len(groups) for g in groups]

    def pooled_mean(*samples: np.ndarray, axis: int = -1) -> np.ndarray:
        return sum(w * np.mean(s, axis=axis) for w, s in zip(weights, samples))

    seed_arg = "rng" if "rng" in inspect.signature(sps.bootstrap).parameters else "random_state"  # rng: SciPy 1.15+
    ci = sps.bootstrap(tuple(groups), pooled_mean, n_resamples=REFERENCE_RESAMPLES, method=method,
                       **{seed_arg: np.random.default_rng(seed)}).confidence_interval
    return float(ci.low), float(ci.high)


def _reference_cases() -> dict[str, tuple[list[np.ndarray], tuple[str, ...]]]:
    """Named data sets (one array per class) and the wrong intervals each tells apart from the right one."""
    rng = np.random.default_rng(11)

    def normal(n: int, level: float, sd: float) -> np.ndarray:
        return level + sd * rng.standard_normal(n)

    def skewed(n: int, level: float, sd: float = 0.8) -> np.ndarray:
        return level + np.exp(sd * rng.standard_normal(n))

    return {
        # right-skewed: BCa reaches 14% of the half-width further up than the percentile interval
        "one skewed group": ([skewed(20, 0.0)], ("percentile",)),
        # 24, 6 and 3 rounds at different levels: the mean of every round is 0.66, the mean of the classes' means 1.4
        "unequal counts and levels": ([normal(24, 0.2, 0.05), skewed(6, 1.0, 1.0), normal(3, 2.0, 0.3)],
                                      ("equal weights", "percentile", "unwidened")),
        # most of the spread in the classes of 3, which sqrt(n / (n - 1)) widens by 22%
        "small classes": ([normal(3, 0.0, 1.0), normal(8, 1.0, 0.1), normal(3, 3.0, 1.0), normal(4, 2.0, 0.5)],
                          ("unwidened", "percentile", "equal weights")),
        "skewed classes": ([skewed(12, 0.0), skewed(8, 3.0), skewed(10, 6.0)], ("percentile", "equal weights")),
    }


@pytest.mark.parametrize("case", list(_reference_cases()))
def test_pooled_interval_is_the_widened_bca_of_a_bootstrap_within_classes_weighted_by_count(case: str) -> None:
    groups, told_apart = _reference_cases()[case]
    values = np.concatenate(groups)
    labels = np.repeat(np.arange(len(groups)), [g.size for g in groups])
    m = mean_ci(values, strata=labels, seed=0, n_resamples=REFERENCE_RESAMPLES)
    assert m.mean == pytest.approx(values.mean(), rel=1e-12) and m.n == values.size  # every round counts once
    lo, hi = _scipy_interval(groups)
    tol = REFERENCE_TOLERANCE * (hi - lo) / 2
    assert abs(m.ci_low - lo) <= tol and abs(m.ci_high - hi) <= tol, f"{case}: {m.ci_low, m.ci_high} vs {lo, hi}"
    for name in told_apart:
        wrong_lo, wrong_hi = _scipy_interval(groups, **WRONG_INTERVALS[name])
        assert max(abs(wrong_lo - lo), abs(wrong_hi - hi)) > 2 * tol, f"{case}: the data do not tell {name} apart"


def test_spread_between_classes_alone_gives_a_zero_width_stratified_interval() -> None:
    ratios, labels = [2.0, 2.0, 3.0, 3.0, 2.0, 3.0], ["a", "a", "b", "b", "a", "b"]
    assert geometric_mean_ci(ratios, strata=labels).half_width < 1e-12
    assert geometric_mean_ci(ratios).half_width > 0.05


def test_strata_stay_with_their_rounds_when_a_round_is_skipped() -> None:
    # round 2 has no reference figure: the kept ratios 2 | 4, 4 are constant within their classes
    s = paired_speedup([2.0, None, 4.0, 4.0], [1.0, 1.0, 1.0, 1.0], strata=["a", "a", "b", "b"])
    assert s.pairs == 3 and s.half_width < 1e-12
    with pytest.raises(ValueError, match="strata has 3 labels for 4"):
        paired_speedup([2.0, 1.0, 4.0, 4.0], [1.0, 1.0, 1.0, 1.0], strata=["a", "a", "b"])


def test_interval_narrows_with_more_rounds() -> None:
    rng = np.random.default_rng(1)
    noise = np.exp(0.1 * rng.standard_normal(200))
    assert geometric_mean_ci(noise[:10]).half_width > geometric_mean_ci(noise).half_width


def test_one_pair_has_no_interval_and_no_verdict() -> None:
    s = paired_speedup([2.0], [1.0])
    assert math.isinf(s.half_width) and verdict(s).startswith("not enough paired rounds")


def test_a_verdict_needs_min_pairs() -> None:
    assert verdict(paired_speedup([1.1, 1.3], [1.0, 1.0])) == f"not enough paired rounds (2 of {MIN_PAIRS}) for a verdict"
    assert verdict(Speedup(1.2, 1.1, 1.3, MIN_PAIRS - 1)).startswith("not enough paired rounds")
    assert verdict(Speedup(1.2, 1.1, 1.3, MIN_PAIRS)) == "pays"


def test_no_pairs_is_an_error() -> None:
    with pytest.raises(ValueError, match="no paired rounds"):
        paired_speedup([], [])


@pytest.mark.parametrize("lo,hi,word", [(1.1, 1.3, "pays"), (0.7, 0.9, "costs"), (0.95, 1.04, "no measurable difference")])
def test_verdict_needs_an_interval_that_excludes_one(lo: float, hi: float, word: str) -> None:
    assert verdict(Speedup((lo + hi) / 2, lo, hi, 10)).startswith(word)


def test_no_difference_says_how_close() -> None:
    assert verdict(Speedup(1.0, 0.96, 1.03, 10)) == "no measurable difference (within +-4%)"


def test_class_rows_carry_their_own_interval_and_stop_reason() -> None:
    rng = np.random.default_rng(2)
    classes = ["short", "medium", "long"]
    rounds = [{"kind": "round", "r": r, "text_class": classes[r % 3], "results": {
        "base": {"rtf": 0.2 * (1.5 if r % 3 == 2 else 1.0) * float(np.exp(0.1 * rng.standard_normal())),
                 "latency_s": 1.0},
        "opt": {"rtf": 0.1, "latency_s": 0.5}}} for r in range(30)]
    result = RoundsResult(rounds=rounds, stop_reason="round cap (measure.max_rounds = 30); widest interval +-3.0%",
                          target_half_width=0.05)
    hw = {"name": "cpu-all", "device": "cpu"}
    contenders = [Contender("base", {"name": "tts_core"}, "baseline", hw),
                  Contender("opt", {"name": "tts_core"}, "optimized", hw, reference="base")]
    facts = GroupFacts("run", "group", "host", "code", "tiny", "stream", "cmd")
    rows = {(r.contender, r.text): r for r in build_rows(contenders, result, facts)}
    pooled = rows[("opt", ALL)]
    assert pooled.stop_reason == result.stop_reason and pooled.speedup_pairs == 30
    expected = paired_speedup([rd["results"]["base"]["rtf"] for rd in rounds], [0.1] * 30,
                              strata=[rd["text_class"] for rd in rounds])
    assert (pooled.speedup_ci_low, pooled.speedup_ci_high) == (expected.ci_low, expected.ci_high)
    for text_class in classes:
        row = rows[("opt", text_class)]
        half = (row.speedup_ci_high - row.speedup_ci_low) / 2 / row.speedup
        met = "within the target" if half <= 0.05 else "not held to the target"
        assert row.speedup_pairs == 10 and row.verdict == "pays"
        assert row.stop_reason == f"class row: 10 rounds, +-{half:.1%} (target +-5%): {met}"
    assert rows[("base", "short")].stop_reason.startswith("class row: 10 rounds")
    few = RoundsResult(rounds=rounds[:6], stop_reason="time budget", target_half_width=0.05)
    short = next(r for r in build_rows(contenders, few, facts) if (r.contender, r.text) == ("opt", "short"))
    assert short.stop_reason.endswith(f"too few pairs for a verdict (2 of {MIN_PAIRS})")
