"""The round order and the stopping rule: a Williams design balanced within every text class, the class of a round
in one function (rounds and texts agree), deterministic resumes, contenders leaving, and verdicts only on
`MIN_PAIRS` pairs of the pooled, class-stratified statistic."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench.errors import WorkerFailure
from bench.measure.rounds import (
    RoundPlan, Tracked, class_of_round, compare, interval_ok, round_order, run_rounds, williams_design,
)
from bench.results.stats import MIN_PAIRS
from bench.sweep.texts import TextSource
from bench.texts import SentenceGenerator

CLASSES = ["short", "medium", "long"]


@pytest.mark.parametrize("n_classes", [1, 2, 3, 4])
@pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
def test_every_class_sees_every_position_and_predecessor_equally_often(k: int, n_classes: int) -> None:
    names = [f"c{i}" for i in range(k)]
    cycle = n_classes * len(williams_design(k))
    classes = [f"class{i}" for i in range(n_classes)]
    for text_class in classes:
        orders = [round_order(names, r, n_classes) for r in range(cycle) if class_of_round(r, classes) == text_class]
        assert all(sorted(o) == names for o in orders)
        positions = Counter((pos, name) for o in orders for pos, name in enumerate(o))
        assert set(positions.values()) == {len(orders) // k} and len(positions) == k * k
        follows = Counter((a, b) for o in orders for a, b in zip(o, o[1:]))
        assert len(follows) == k * (k - 1) and len(set(follows.values())) == 1, follows


def test_three_contenders_no_longer_keep_one_in_the_middle_on_one_class() -> None:
    # the former rotation gave each class 2 of the 6 orders with 3 contenders and 3 classes
    names = ["a", "b", "c"]
    short = [tuple(round_order(names, r, 3)) for r in range(0, 18, 3)]
    assert len(set(short)) == 6 and {o[1] for o in short} == set(names)


def test_order_is_a_pure_function_of_the_round_and_the_alive_names() -> None:
    assert round_order(["a", "b", "c", "d"], 7, 3) == round_order(["a", "b", "c", "d"], 7, 3)
    assert sorted(round_order(["a", "c"], 7, 3)) == ["a", "c"] and round_order(["a"], 5, 3) == ["a"]
    assert round_order([], 0, 3) == []


def test_each_class_has_its_own_text_sequence_whatever_order_the_rounds_ask_in() -> None:
    one, two = TextSource({"kind": "generated", "seed": 3}, CLASSES), TextSource({"kind": "generated", "seed": 3}, CLASSES)
    cycled = [(k, c) for k in range(4) for c in CLASSES]
    redone = [("long", 0), ("long", 1), ("short", 0), ("long", 2), ("medium", 0), ("short", 1)]  # set-aside rounds
    got = {(c, k): one.for_class(k, c) for k, c in cycled}
    assert all(two.for_class(k, c) == got[(c, k)] for c, k in redone)
    texts = list(got.values()) + [one.first_call(0), one.first_call(1)]
    assert len(set(texts)) == len(texts)  # no text spoken twice, first calls included
    lengths = {c: [len(got[(c, k)]) for k in range(4)] for c in CLASSES}
    assert max(lengths["short"]) < min(lengths["long"])  # each sequence is of its own class
    assert one.first_call(0) == TextSource({"kind": "generated", "seed": 3}, CLASSES).first_call(0)


class StubWorker:
    """A worker whose rtf is `rtf` (x 1.2 on long texts), failing from round `fail_at` on."""

    def __init__(self, rtf: float, fail_at: int | None = None) -> None:
        self.rtf, self.fail_at, self.calls = rtf, fail_at, 0

    def call(self, op: str, timeout_s: float, sample: bool = True, **args: Any) -> Any:
        self.calls += 1
        if self.fail_at is not None and self.calls > self.fail_at:
            raise WorkerFailure("stub failure")
        rtf = self.rtf * (1.2 if len(args["text"]) > 5 else 1.0)
        return {"rtf": rtf, "latency_s": rtf, "ttfa_s": rtf / 2}

    def settle(self) -> float:
        return 0.0


def plan(max_rounds: int, min_rounds: int = 2) -> RoundPlan:
    return RoundPlan(classes=CLASSES, min_rounds_per_class=min_rounds, max_rounds=max_rounds, budget_s=1e9,
                     target_half_width=0.05, call_timeout_s=10)


def text_for(r: int, text_class: str) -> str:
    return f"{text_class} text {r}"


def test_rounds_use_the_class_and_order_functions_and_resume_deterministically(tmp_path: Path) -> None:
    def workers() -> dict[str, StubWorker]:
        return {"a": StubWorker(0.1), "b": StubWorker(0.2), "c": StubWorker(0.3), "d": StubWorker(0.4)}

    whole = run_rounds(plan(10, min_rounds=4), workers(), text_for, [], tmp_path / "whole.jsonl").rounds
    run_rounds(plan(4), workers(), text_for, [], tmp_path / "resumed.jsonl")
    resumed = run_rounds(plan(10, min_rounds=4), workers(), text_for, [], tmp_path / "resumed.jsonl").rounds
    key = [(rd["r"], rd["text_class"], rd["order"]) for rd in whole]
    assert key == [(rd["r"], rd["text_class"], rd["order"]) for rd in resumed]
    assert key == [(r, class_of_round(r, CLASSES), round_order(list("abcd"), r, 3)) for r in range(10)]


def test_a_contender_that_fails_leaves_a_valid_order_of_the_rest(tmp_path: Path) -> None:
    workers = {"a": StubWorker(0.1), "b": StubWorker(0.2, fail_at=3), "c": StubWorker(0.3)}
    out = run_rounds(plan(8, min_rounds=4), workers, text_for, [], tmp_path / "r.jsonl")
    assert out.failures == {"b": "stub failure"}
    after = [rd for rd in out.rounds if rd["r"] > 3]
    assert after and all(rd["order"] == round_order(["a", "c"], rd["r"], 3) for rd in after)


def test_the_stopping_rule_waits_for_min_pairs_even_when_every_interval_is_zero(tmp_path: Path) -> None:
    workers = {"a": StubWorker(0.1), "b": StubWorker(0.2)}  # the same ratio within every class: zero width
    out = run_rounds(plan(60, min_rounds=2), workers, text_for, [Tracked("a", "b", "rtf")], tmp_path / "r.jsonl")
    assert len(out.rounds) == MIN_PAIRS and out.stop_reason.startswith("every interval within")
    assert interval_ok(out.rounds[:-1], [Tracked("a", "b", "rtf")], 0.05)[0] is False


def test_the_pooled_statistic_is_stratified_by_text_class() -> None:
    # ratio 2 on short and medium texts, 2.4 on long ones, without noise: the spread is between classes, not noise
    rounds = [{"text_class": class_of_round(r, CLASSES), "results": {
        "ref": {"rtf": 0.2 * (1.2 if r % 3 == 2 else 1.0)}, "cand": {"rtf": 0.1}}} for r in range(12)]
    s = compare(rounds, "ref", "cand", "rtf")
    assert s is not None and s.pairs == 12 and s.half_width < 1e-12
    assert s.ratio == pytest.approx((2.0 ** 8 * 2.4 ** 4) ** (1 / 12))
    assert compare(rounds, "ref", "nobody", "rtf") is None


def test_rounds_stop_when_the_text_runs_out_instead_of_repeating_it(tmp_path: Path) -> None:
    from bench.texts import FileTexts

    source = FileTexts("One. Two. Three. Four. Five.", per_round=2)
    assert [source.text(), source.text(), source.text(), source.text()] == ["One. Two.", "Three. Four.", "Five.", None]
    spoken = FileTexts("Alpha beta. Gamma delta. Epsilon zeta.", per_round=1)
    workers = {"a": StubWorker(0.1), "b": StubWorker(0.2)}
    out = run_rounds(plan(60, min_rounds=10), workers, lambda r, c: spoken.text(), [Tracked("a", "b", "rtf")],
                     tmp_path / "r.jsonl")
    assert [rd["text"] for rd in out.rounds] == ["Alpha beta.", "Gamma delta.", "Epsilon zeta."]
    assert out.stop_reason.startswith("out of fresh text after 3 rounds")
