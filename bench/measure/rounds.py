"""Paired rounds: every round, every contender speaks the same text, one worker busy at a time (the next starts
once the last one's thread pools have stopped spinning, so none runs on cores another still holds), in an order
from a Williams design (`round_order`): within every text class each contender runs in every position equally
often and follows every other contender equally often, so drift of the machine and what the contender before
leaves behind hit all contenders alike.

Rounds cycle through the text classes (`class_of_round`) and go on until every tracked comparison's pooled 95%
interval (`compare`: stratified by text class, at least `MIN_PAIRS` pairs) is within the target half-width
(sequential stopping, after a minimum of rounds per class), or the time budget or the round cap is reached;
`stop_reason` says which. Each finished round is appended to the group's
rounds file (fsynced), so a killed sweep resumes where it stopped without losing a round.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

from bench.errors import WorkerFailure
from bench.results.stats import MIN_PAIRS, TARGET_HALF_WIDTH, Speedup, paired_speedup
from bench.results.store import append_records, read_records

log = logging.getLogger("bench.sweep")


class Caller(Protocol):
    """What the rounds need of a worker (`bench.workers.Worker`): a call that answers or raises `WorkerFailure`, and
    a wait until the worker's threads have stopped spinning after it (returns the seconds waited)."""

    def call(self, op: str, timeout_s: float, sample: bool = True, **args: Any) -> Any: ...

    def settle(self) -> float: ...


@dataclass(frozen=True)
class Tracked:
    """A comparison the stopping rule watches: `candidate` vs `reference` on `metric` (rtf or ttfa_s)."""

    candidate: str
    reference: str
    metric: str


@dataclass
class RoundPlan:
    """How the rounds of one group run."""

    classes: list[str]  # text classes, cycled round by round
    min_rounds_per_class: int
    max_rounds: int
    budget_s: float  # wall seconds for all rounds of the group
    target_half_width: float  # stop once every tracked interval is within +-this (0.05 = 5%)
    call_timeout_s: float  # one round of one contender
    warm: bool = False  # repeated text with the cache kept (the warm-cache workload)


@dataclass
class RoundsResult:
    rounds: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = ""
    failures: dict[str, str] = field(default_factory=dict)  # contender -> why it left the rounds
    wall_s: float = 0.0
    target_half_width: float = TARGET_HALF_WIDTH  # the plan's target, which per-class rows are compared with


def class_of_round(r: int, classes: list[str]) -> str:
    """The text class of round `r` (0-based): the classes in turn."""
    if not classes:
        raise ValueError("class_of_round: no text classes; give at least one (sweep.texts).")
    return classes[r % len(classes)]


def williams_design(k: int) -> list[list[int]]:
    """The rows of a Williams design for `k` contenders (indices): each contender once per position per square,
    and each ordered pair (a right before b) once per square; one square for even k, a square and its mirror
    for odd k (where one square cannot balance the pairs). Rows: k for even k, 2k for odd k (1 for k = 1)."""
    if k <= 1:
        return [list(range(k))]
    first, lo, hi = [0], 1, k - 1  # 0, 1, k-1, 2, k-2, ...
    while len(first) < k:
        first.append(lo)
        lo += 1
        if len(first) < k:
            first.append(hi)
            hi -= 1
    square = [[(x + i) % k for x in first] for i in range(k)]
    return square if k % 2 == 0 else square + [row[::-1] for row in square]


def round_order(names: list[str], r: int, n_classes: int) -> list[str]:
    """The order of round `r` (a pure function of r and the contenders still in the rounds, so a resumed run
    repeats it): round r is the (r // n_classes)-th round of its class, and its class walks the rows of the
    Williams design in turn (offset by the class, so neighbouring rounds differ). Over n_classes x rows rounds every
    class sees every row once. After a contender leaves, the design restarts over the rest: balanced from then
    on only over whole cycles (best effort)."""
    if n_classes < 1:
        raise ValueError(f"round_order: n_classes is {n_classes}; give at least 1.")
    rows = williams_design(len(names))
    row = rows[(r // n_classes + r % n_classes) % len(rows)]
    return [names[i] for i in row]


def series(rounds: Iterable[dict[str, Any]], contender: str, metric: str) -> list[float | None]:
    """`metric` of `contender` in each round (None where it has no figure)."""
    return [(rd["results"].get(contender) or {}).get(metric) for rd in rounds]


def compare(rounds: list[dict[str, Any]], reference: str, candidate: str, metric: str) -> Speedup | None:
    """The paired speedup of `candidate` over `reference` on `metric` over `rounds`, its interval resampled within
    text classes (one class: a plain bootstrap); None without a single pair. The stopping rule and the rows both
    use this one statistic."""
    try:
        return paired_speedup(series(rounds, reference, metric), series(rounds, candidate, metric),
                              strata=[rd["text_class"] for rd in rounds])
    except ValueError:
        return None


def interval_ok(rounds: list[dict[str, Any]], tracked: list[Tracked], target: float) -> tuple[bool, float]:
    """Whether every tracked comparison has `MIN_PAIRS` pairs and an interval within `target`, and the widest
    half-width seen."""
    widest, ok = 0.0, True
    for t in tracked:
        s = compare(rounds, t.reference, t.candidate, t.metric)
        if s is None:
            return False, float("inf")
        widest = max(widest, s.half_width)
        ok = ok and s.pairs >= MIN_PAIRS
    return ok and widest <= target, widest


def run_rounds(
    plan: RoundPlan,
    workers: dict[str, Caller],
    text_for: Callable[[int, str], str | None],
    tracked: list[Tracked],
    rounds_file: Path,
    progress: Callable[[str], None] = lambda _: None,
    round_args: Callable[[int, str, str], dict[str, Any]] = lambda r, text_class, name: {},
) -> RoundsResult:
    """Run rounds until the stopping rule holds; `text_for(r, text_class)` gives round r's text (None when no
    text is left that the contenders have not spoken: the rounds stop there rather than time a kernel cache) and
    `round_args(r, text_class, contender)` any further arguments of that contender's `round` call.

    Rounds already in `rounds_file` (a resumed group) count and are not run again."""
    out = RoundsResult(rounds=[rd for rd in read_records(rounds_file) if rd.get("kind") == "round"],
                       target_half_width=plan.target_half_width)
    names = list(workers)
    started = time.monotonic()
    r = len(out.rounds)
    while True:
        alive = [n for n in names if n not in out.failures]
        tracked_alive = [t for t in tracked if t.candidate in alive and t.reference in alive]
        per_class = {c: sum(1 for rd in out.rounds if rd["text_class"] == c) for c in plan.classes}
        enough = min(per_class.values()) >= plan.min_rounds_per_class
        ok, widest = interval_ok(out.rounds, tracked_alive, plan.target_half_width) if len(out.rounds) >= 2 else (
            False, float("inf"))
        if enough and ok:
            out.stop_reason = (f"every interval within +-{plan.target_half_width:.0%} after {len(out.rounds)} rounds"
                               if tracked_alive else f"{len(out.rounds)} rounds (nothing to compare)")
            break
        if len(out.rounds) >= plan.max_rounds:
            out.stop_reason = f"round cap (measure.max_rounds = {plan.max_rounds}); widest interval +-{widest:.1%}"
            break
        if time.monotonic() - started > plan.budget_s and enough:
            out.stop_reason = (f"time budget (measure.budget_s = {plan.budget_s:g} s) after {len(out.rounds)} rounds; "
                               f"widest interval +-{widest:.1%}")
            break
        if not alive:
            out.stop_reason = "every contender failed"
            break
        text_class = class_of_round(r, plan.classes)
        text = text_for(r, text_class)
        if text is None:
            out.stop_reason = (f"out of fresh text after {len(out.rounds)} rounds (no text is spoken twice; give a "
                               f"longer file for more rounds); widest interval "
                               f"{'n/a' if widest == float('inf') else f'+-{widest:.1%}'}")
            log.warning("the rounds ran out of fresh text after %d rounds: %s", len(out.rounds), out.stop_reason)
            break
        order = round_order(alive, r, len(plan.classes))
        results: dict[str, Any] = {}
        for name in order:
            try:
                results[name] = workers[name].call("round", plan.call_timeout_s, text=text, warm=plan.warm,
                                                   **round_args(r, text_class, name))
                results[name]["settle_s"] = workers[name].settle()  # the next contender starts on idle cores
            except WorkerFailure as exc:
                out.failures[name] = exc.reason
                log.error("%s left the rounds: %s", name, exc.reason)
        record = {"kind": "round", "r": r, "text_class": text_class, "text": text, "order": order, "results": results,
                  "timestamp": time.time()}
        append_records(rounds_file, [record])
        out.rounds.append(record)
        progress(f"round {r + 1} ({text_class}, {len(text)} chars): widest interval "
                 f"{'n/a' if widest == float('inf') else f'+-{widest:.1%}'}")
        r += 1
    out.wall_s = time.monotonic() - started
    return out
