"""Statistics: latency summaries, the noisy flag, paired speedups (geometric mean, bootstrap interval), verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.results.stats import (
    NOISY_CV, Speedup, geometric_mean_ci, paired_ratios, paired_speedup, summarize, verdict,
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


def test_interval_covers_the_true_ratio_most_of_the_time() -> None:
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(40):
        noise = np.exp(0.1 * rng.standard_normal(20))
        s = geometric_mean_ci(1.3 * noise, seed=trial)
        covered += s.ci_low <= 1.3 <= s.ci_high
    assert covered >= 32  # nominal 95%; BCa on 20 points is a little narrow


def test_interval_narrows_with_more_rounds() -> None:
    rng = np.random.default_rng(1)
    noise = np.exp(0.1 * rng.standard_normal(200))
    assert geometric_mean_ci(noise[:10]).half_width > geometric_mean_ci(noise).half_width


def test_one_pair_has_no_interval_and_no_verdict() -> None:
    s = paired_speedup([2.0], [1.0])
    assert math.isinf(s.half_width) and verdict(s).startswith("not enough paired rounds")


def test_no_pairs_is_an_error() -> None:
    with pytest.raises(ValueError, match="no paired rounds"):
        paired_speedup([], [])


@pytest.mark.parametrize("lo,hi,word", [(1.1, 1.3, "pays"), (0.7, 0.9, "costs"), (0.95, 1.04, "no measurable difference")])
def test_verdict_needs_an_interval_that_excludes_one(lo: float, hi: float, word: str) -> None:
    assert verdict(Speedup((lo + hi) / 2, lo, hi, 10)).startswith(word)


def test_no_difference_says_how_close() -> None:
    assert verdict(Speedup(1.0, 0.96, 1.03, 10)) == "no measurable difference (within +-4%)"
