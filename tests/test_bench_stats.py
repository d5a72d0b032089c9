"""Statistics: latency summaries, the noisy flag, bootstrap intervals of speedups."""

from __future__ import annotations

import numpy as np
import pytest

from bench.stats import bootstrap_speedup, is_noisy, summarize


def test_summarize_known_values() -> None:
    s = summarize([1.0, 2.0, 3.0, 4.0])
    assert s.rounds == 4 and s.mean_s == pytest.approx(2.5) and s.p50_s == pytest.approx(2.5)
    assert s.std_s == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert s.cv == pytest.approx(s.std_s / 2.5) and s.noisy


def test_single_round_has_no_spread() -> None:
    s = summarize([0.5])
    assert s.std_s == 0.0 and s.cv == 0.0 and not s.noisy


def test_noisy_threshold() -> None:
    assert not is_noisy(0.10) and is_noisy(0.1001) and not is_noisy(None)


def test_bootstrap_ci_covers_the_true_ratio() -> None:
    """Lognormal latencies with known medians: the 95% interval should cover the true ratio ~95% of the time."""
    rng = np.random.default_rng(1)
    true_ratio, hits, trials = 1.6, 0, 60
    for trial in range(trials):
        base = np.exp(rng.normal(np.log(1.6), 0.08, 40))  # median 1.6 s
        cand = np.exp(rng.normal(np.log(1.0), 0.08, 40))  # median 1.0 s
        s = bootstrap_speedup(base, cand, n_boot=1000, seed=trial)
        assert s.ci_low <= s.ratio <= s.ci_high
        hits += s.ci_low <= true_ratio <= s.ci_high
    assert hits / trials >= 0.85


def test_bootstrap_single_dataset_contains_truth() -> None:
    rng = np.random.default_rng(7)
    s = bootstrap_speedup(2.0 * (1 + 0.03 * rng.standard_normal(200)), 1 + 0.03 * rng.standard_normal(200))
    assert s.ci_low < 2.0 < s.ci_high and s.ci_high - s.ci_low < 0.1


def test_bootstrap_needs_data() -> None:
    with pytest.raises(ValueError):
        bootstrap_speedup([], [1.0])
