"""Statistics: latency summaries, the noisy flag, paired speedups (geometric mean, bootstrap interval stratified by
text class, its coverage simulated), verdicts only on `MIN_PAIRS` pairs, and the rows' per-class intervals."""

from __future__ import annotations

import math

import warnings

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


def test_one_group_is_scipys_bca_widened_by_the_small_sample_factor() -> None:
    x = np.random.default_rng(5).normal(0.0, 0.2, 30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lo, hi = sps.bootstrap((x,), np.mean, n_resamples=2000, method="BCa",
                               random_state=np.random.default_rng(0)).confidence_interval
    widen = np.sqrt(30 / 29)
    m = mean_ci(x, seed=0)
    assert m.ci_low == pytest.approx(x.mean() + (lo - x.mean()) * widen, abs=1e-12)
    assert m.ci_high == pytest.approx(x.mean() + (hi - x.mean()) * widen, abs=1e-12)


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
