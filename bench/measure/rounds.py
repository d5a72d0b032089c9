"""Paired rounds: every round, every contender speaks the same text, one worker busy at a time (the next starts
once the last one's thread pools have stopped spinning, so none runs on cores another still holds), in an order
that rotates every round (a Latin square, reversed on alternate cycles so each contender runs early and
late as often: ABC, BCA, CAB, CBA, BAC, ACB, ...), so drift of the machine hits all contenders alike.

Rounds cycle through the text classes and go on until every tracked comparison's 95% interval is within
the target half-width (sequential stopping, after a minimum of rounds per class), or the time budget or
the round cap is reached; `stop_reason` says which. Each finished round is appended to the group's
rounds file (fsynced), so a killed sweep resumes where it stopped without losing a round.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

from bench.errors import WorkerFailure
from bench.results.stats import paired_speedup
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


def rotation(names: list[str], r: int) -> list[str]:
    """The order of round `r`: rotated by r, and reversed on every other cycle of len(names) rounds."""
    k = len(names)
    if k == 0:
        return []
    order = names[r % k:] + names[: r % k]
    return order[::-1] if (r // k) % 2 else order


def series(rounds: Iterable[dict[str, Any]], contender: str, metric: str) -> list[float | None]:
    """`metric` of `contender` in each round (None where it has no figure)."""
    return [(rd["results"].get(contender) or {}).get(metric) for rd in rounds]


def interval_ok(rounds: list[dict[str, Any]], tracked: list[Tracked], target: float) -> tuple[bool, float]:
    """Whether every tracked comparison's interval is within `target`, and the widest half-width seen."""
    widest = 0.0
    for t in tracked:
        ref, cand = series(rounds, t.reference, t.metric), series(rounds, t.candidate, t.metric)
        try:
            widest = max(widest, paired_speedup(ref, cand).half_width)
        except ValueError:
            return False, float("inf")
    return widest <= target, widest


def run_rounds(
    plan: RoundPlan,
    workers: dict[str, Caller],
    text_for: Callable[[int, str], str],
    tracked: list[Tracked],
    rounds_file: Path,
    progress: Callable[[str], None] = lambda _: None,
    round_args: Callable[[int, str, str], dict[str, Any]] = lambda r, text_class, name: {},
) -> RoundsResult:
    """Run rounds until the stopping rule holds; `text_for(r, text_class)` gives round r's text and
    `round_args(r, text_class, contender)` any further arguments of that contender's `round` call.

    Rounds already in `rounds_file` (a resumed group) count and are not run again."""
    out = RoundsResult(rounds=[rd for rd in read_records(rounds_file) if rd.get("kind") == "round"])
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
        text_class = plan.classes[r % len(plan.classes)]
        text = text_for(r, text_class)
        order = rotation(alive, r)
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
