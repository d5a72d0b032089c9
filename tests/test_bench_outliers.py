"""What detection misses: the outlier rule on simulated pairs, and the interval over several worker processes on
simulated data with a per-process offset."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.measure.rounds import RoundPlan, Tracked, mark_outliers, outlier_reasons, run_rounds
from bench.results.stats import OUTLIER_MIN_ROUNDS, OUTLIER_Z, paired_speedup, process_variance, robust_z

CLASSES = ["short", "medium", "long"]


def rounds_of(ratios: dict[str, list[float]]) -> list[dict[str, Any]]:
    """Rounds whose candidate is `ratio` times faster than the reference, by class, in the order given."""
    out = []
    for text_class, values in ratios.items():
        for x in values:
            out.append({"r": len(out), "text_class": text_class, "results": {"ref": {"rtf": 0.1 * x}, "cand": {"rtf": 0.1}}})
    return out


def test_robust_z_is_in_standard_deviations_for_normal_data_and_floored_for_identical_values() -> None:
    x = np.random.default_rng(0).normal(0.0, 0.2, 4001)
    assert robust_z(0.6, x) == pytest.approx(3.0, rel=0.1)
    assert robust_z(0.05, [0.0] * 20) == pytest.approx(5.0)  # the floor (0.01): a 5% change in a perfectly flat class


@pytest.mark.parametrize("seed", range(5))
def test_the_outlier_rule_catches_the_pairs_it_should_on_unequal_classes_of_different_ratios(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sizes, levels, spread = {"short": 9, "medium": 25, "long": 14}, {"short": 1.1, "medium": 1.5, "long": 2.4}, 0.08
    ratios = {k: list(levels[k] * np.exp(rng.normal(0, spread, n))) for k, n in sizes.items()}
    ratios["medium"][7] *= 2.0  # a reference call slowed twice over: +0.69 in log, about 8.7 SDs
    ratios["long"][3] /= 1.8  # a candidate call slowed 1.8x: -0.59 in log, about 7.3 SDs
    rounds = rounds_of(ratios)
    flagged = mark_outliers(rounds, [Tracked("cand", "ref", "rtf")])
    caught = {(rd["text_class"], rounds.index(rd) - [r["text_class"] for r in rounds].index(rd["text_class"]))
              for rd in flagged}
    assert caught == {("medium", 7), ("long", 3)}
    assert all(f"> {OUTLIER_Z:g}" in rd["outlier"][0] for rd in flagged)
    assert sum(1 for rd in rounds if rd.get("outlier")) == 2 and len(rounds) == sum(sizes.values())  # marked, kept


def test_no_pair_is_an_outlier_before_the_comparison_and_its_class_hold_enough_rounds() -> None:
    tracked = [Tracked("cand", "ref", "rtf")]
    rounds = rounds_of({"short": [1.0, 1.01, 0.99, 1.02, 0.98, 1.0, 1.01][: OUTLIER_MIN_ROUNDS - 1] + [3.0]})
    assert outlier_reasons(rounds[:-1], rounds[-1], tracked) == []
    rounds = rounds_of({"short": [1.0, 1.01, 0.99, 1.02, 0.98, 1.0, 1.01, 0.99] + [3.0]})
    assert outlier_reasons(rounds[:-1], rounds[-1], tracked)
    rounds = rounds_of({"long": [2.0, 2.02, 1.98, 2.04, 1.96, 2.0, 2.02, 1.98], "short": [1.0, 1.01, 3.0]})
    assert outlier_reasons(rounds[:-1], rounds[-1], tracked) == []  # its class holds two others: no median to judge by
    rounds = rounds_of({"long": [2.0, 2.02, 1.98, 2.04, 1.96, 2.0, 2.02, 1.98], "short": [1.0, 1.01, 0.99, 3.0]})
    assert outlier_reasons(rounds[:-1], rounds[-1], tracked)  # three others: judged by the spread of both classes


class Outlying:
    """A stub worker whose call `slow_at` is 3x slower, with nothing in its interference to say so."""

    def __init__(self, rtf: float, slow_at: int = 0) -> None:
        self.rtf, self.slow_at, self.calls = rtf, slow_at, 0

    def call(self, op: str, timeout_s: float, sample: bool = True, **args: Any) -> Any:
        self.calls += 1
        rtf = self.rtf * (3.0 if self.calls == self.slow_at else 1.0) * (1 + 0.02 * math.sin(self.calls * (1 + self.rtf)))
        return {"rtf": rtf, "latency_s": rtf}

    def settle(self) -> float:
        return 0.0


def test_an_outlier_the_counters_missed_is_marked_kept_and_reported_with_the_interval_without_it(
        tmp_path: Path) -> None:
    from bench.measure.rows import ALL, Contender, GroupFacts, build_rows

    plan = RoundPlan(classes=["short"], min_rounds_per_class=12, max_rounds=24, budget_s=1e9, target_half_width=1e-9,
                     call_timeout_s=10)
    out = run_rounds(plan, {"ref": Outlying(0.2, slow_at=18), "cand": Outlying(0.1)}, lambda k, c: f"{c} {k}",
                     [Tracked("cand", "ref", "rtf")], tmp_path / "r.jsonl")
    assert out.set_aside == [] and len(out.rounds) == 24  # kept: a slow text is part of what an engine costs
    assert [rd["r"] for rd in out.outliers] == [17] and out.rounds[17]["outlier"][0].startswith("cand vs ref: ratio 5.9")
    facts = GroupFacts("run", "g", "host", "v", "tiny", "stream", "cmd")
    ref = Contender("ref", {"name": "tts_core"}, "baseline", {"name": "cpu-all", "device": "cpu"})
    cand = Contender("cand", {"name": "tts_core"}, "optimized", {"name": "cpu-all", "device": "cpu"}, reference="ref")
    row = next(r for r in build_rows([ref, cand], out, facts) if r.contender == "cand" and r.text == ALL)
    assert row.extra["rounds_outliers"] == 1 and row.speedup_pairs == 24
    ratio, low, high, pairs = row.extra["speedup_without_outliers"]
    assert pairs == 23 and ratio == pytest.approx(2.0, rel=0.03) and row.speedup > ratio * 1.03


def simulate(rng: np.random.Generator, offsets_sd: float, processes: int = 4, per_process: int = 15
             ) -> tuple[list[float], list[float], list[str], list[int]]:
    """Rounds of three classes (true speedups 1.2, 1.5, 2.4, geometric mean `TRUE`), `processes` worker processes
    each with its own speed offset (log sd `offsets_sd`), round noise of log sd 0.08."""
    ref, cand, strata, clusters = [], [], [], []
    for p in range(processes):
        offset = rng.normal(0, offsets_sd)
        for i in range(per_process):
            k = CLASSES[i % 3]
            log_ratio = math.log({"short": 1.2, "medium": 1.5, "long": 2.4}[k]) + offset + rng.normal(0, 0.08)
            ref.append(0.1 * math.exp(log_ratio))
            cand.append(0.1)
            strata.append(k)
            clusters.append(p)
    return ref, cand, strata, clusters


TRUE = (1.2 * 1.5 * 2.4) ** (1 / 3)


def coverage(offsets_sd: float, with_processes: bool, n: int = 200) -> float:
    rng, hits = np.random.default_rng(1), 0
    for _ in range(n):
        ref, cand, strata, clusters = simulate(rng, offsets_sd)
        s = paired_speedup(ref, cand, strata=strata, clusters=clusters if with_processes else None, n_resamples=400)
        hits += s.ci_low <= TRUE <= s.ci_high
    return hits / n


def test_with_a_per_process_offset_the_interval_over_processes_covers_what_a_rerun_sees() -> None:
    # the offsets (sd 0.08) are as large as the round noise: an interval over rounds alone misses the truth often
    rounds_only, over_processes = coverage(0.08, False), coverage(0.08, True)
    assert rounds_only < 0.6
    assert over_processes >= 0.8 and over_processes > rounds_only + 0.25


def test_where_processes_agree_the_interval_is_not_widened_much() -> None:
    rng = np.random.default_rng(2)
    widths = []
    for _ in range(60):
        ref, cand, strata, clusters = simulate(rng, 0.0)
        plain = paired_speedup(ref, cand, strata=strata, n_resamples=400)
        over = paired_speedup(ref, cand, strata=strata, clusters=clusters, n_resamples=400)
        assert over.ratio == plain.ratio and over.ci_low <= plain.ci_low and over.ci_high >= plain.ci_high
        widths.append(over.half_width / plain.half_width)
    assert np.median(widths) < 1.05 and np.mean(np.asarray(widths) == 1.0) >= 0.4  # most often not widened at all


def test_process_variance_is_zero_for_one_process_and_recovers_a_large_offset() -> None:
    logs = np.log([1.5, 1.6, 1.4, 1.5] * 5)
    assert process_variance(logs, ["a"] * 20, [0] * 20) == 0.0
    offset = np.repeat([0.0, 0.3], 10)  # two processes, 0.3 apart in log: offsets' variance 0.045
    got = process_variance(logs + offset, ["a"] * 20, list(np.repeat([0, 1], 10)))
    assert got == pytest.approx(0.045 / 2, rel=0.2)  # the mean of two processes carries a quarter of it, twice
