"""Paired rounds: every round, every contender speaks the same text, one worker busy at a time (the next starts
once the last one's thread pools have stopped spinning, so none runs on cores another still holds), in an order
from a Williams design (`round_order`): within every text class each contender runs in every position equally
often and follows every other contender equally often, so drift of the machine and what the contender before
leaves behind hit all contenders alike.

Rounds take the text classes in turn and go on until every tracked comparison's pooled 95% interval (`compare`:
stratified by text class, at least `MIN_PAIRS` pairs, widened by the spread between worker processes) is within the
target half-width (sequential stopping, after a minimum of rounds per class), or the time budget or the round cap
is reached; `stop_reason` says which. Every `rounds_per_process` accepted rounds each contender gets a new worker
process, so the interval covers how a rerun's processes differ, not only how rounds do.

Trust: a round during which the machine was not the workers' alone (`bench.measure.interference`, read around every
call) is set aside, kept on disk marked, and measured again on a fresh text of the same class; a machine that stays
busy ends the rounds with "machine busy". Rounds whose pairs lie far outside their class (`outlier_reasons`) are
marked once the rounds are over (`mark_outliers`), kept in the statistics, and reported with the interval they
would give without them. Each
finished round is appended to the group's rounds file (fsynced), so a killed sweep resumes where it stopped
without losing a round.
"""

from __future__ import annotations

import logging
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

from bench.errors import WorkerFailure
from bench.results.stats import (MIN_PAIRS, OUTLIER_MIN_CLASS, OUTLIER_MIN_ROUNDS, OUTLIER_Z, TARGET_HALF_WIDTH, Speedup, paired_speedup,
                                 robust_z)
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
    rounds_per_process: int = 0  # accepted rounds per worker process before each contender gets a new one (0: one)
    max_set_aside: int = 30  # disturbed rounds set aside before the rounds stop: "machine busy"
    busy_budget_s: float = 300.0  # wall seconds of set-aside rounds the budget does not count, at most
    set_aside: bool = True  # False: disturbed rounds are only marked (`flagged`), kept in the statistics


@dataclass
class RoundsResult:
    rounds: list[dict[str, Any]] = field(default_factory=list)  # accepted: every statistic is over these
    set_aside: list[dict[str, Any]] = field(default_factory=list)  # disturbed, measured again
    outliers: list[dict[str, Any]] = field(default_factory=list)  # accepted rounds marked `outlier` (kept)
    workers: dict[str, Any] = field(default_factory=dict)  # the worker processes at the end (after any respawn)
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
    text classes (one class: a plain bootstrap) and widened by the spread between worker processes where the rounds
    ran in several (`process`); None without a single pair. The stopping rule and the rows both use this one
    statistic."""
    try:
        return paired_speedup(series(rounds, reference, metric), series(rounds, candidate, metric),
                              strata=[rd["text_class"] for rd in rounds],
                              clusters=[rd.get("process", 0) for rd in rounds])
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


def outlier_reasons(rounds: list[dict[str, Any]], record: dict[str, Any], tracked: list[Tracked]) -> list[str]:
    """Why `record`'s pairs lie far outside their class's spread among the accepted `rounds`: for each tracked
    comparison, the log ratio's distance from the median of its class, in robust SDs pooled over every class
    (`bench.results.stats.robust_z`), beyond `OUTLIER_Z`, once the comparison holds `OUTLIER_MIN_ROUNDS` other rounds
    and the class `OUTLIER_MIN_CLASS`. Empty: not an outlier (or too few rounds to say)."""
    others = [rd for rd in rounds if rd is not record]
    if len(others) < OUTLIER_MIN_ROUNDS:
        return []
    out = []
    for t in tracked:
        a, b = series([record], t.reference, t.metric)[0], series([record], t.candidate, t.metric)[0]
        if not (a and b and a > 0 and b > 0):
            continue
        logs: dict[str, list[float]] = {}
        for rd in others:
            x, y = series([rd], t.reference, t.metric)[0], series([rd], t.candidate, t.metric)[0]
            if x and y and x > 0 and y > 0:
                logs.setdefault(rd["text_class"], []).append(math.log(x / y))
        own = logs.get(record["text_class"], [])
        if sum(map(len, logs.values())) < OUTLIER_MIN_ROUNDS or len(own) < OUTLIER_MIN_CLASS:
            continue
        residuals = [v - statistics.median(g) for g in logs.values() if len(g) >= OUTLIER_MIN_CLASS for v in g]
        z = robust_z(math.log(a / b), own, residuals)
        if abs(z) > OUTLIER_Z:
            out.append(f"{t.candidate} vs {t.reference}: ratio {a / b:.3g}, {z:+.1f} robust SDs from its class's "
                       f"median (> {OUTLIER_Z:g})")
    return out


def split_rounds(records: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A rounds file's records as (accepted rounds, rounds set aside as disturbed)."""
    kept, aside = [], []
    for rd in records:
        if rd.get("kind") == "round":
            (aside if rd.get("set_aside") else kept).append(rd)
    return kept, aside


def run_rounds(
    plan: RoundPlan,
    workers: dict[str, Caller],
    text_for: Callable[[int, str], str | None],
    tracked: list[Tracked],
    rounds_file: Path,
    progress: Callable[[str], None] = lambda _: None,
    round_args: Callable[[int, str, str, str], dict[str, Any]] = lambda r, text_class, text, name: {},
    respawn: Callable[[dict[str, Caller]], dict[str, Caller]] | None = None,
) -> RoundsResult:
    """Run rounds until the stopping rule holds. `text_for(k, text_class)` gives the k-th fresh text of a class
    (k counts every round of the class, set-aside ones too: a text is never spoken twice; None when none is left:
    the rounds stop there rather than time a kernel cache); `round_args(r, text_class, text, contender)` any
    further arguments of that contender's `round` call; `respawn(workers)` closes the workers and starts a new
    process per contender (every `plan.rounds_per_process` accepted rounds; None: one process each).

    A round during which the machine was not the workers' alone (`bench.measure.interference`) is kept on disk
    marked `set_aside`, stays out of every statistic, and is measured again on a fresh text of its class; once the
    rounds are over, those whose pairs lie far outside their class's spread are marked `outlier` (`mark_outliers`).
    Rounds already in `rounds_file` (a resumed group) count and are not run again."""
    out = RoundsResult(target_half_width=plan.target_half_width)
    out.rounds, out.set_aside = split_rounds(read_records(rounds_file))
    names = list(workers)
    started = time.monotonic()
    r = len(out.rounds) + len(out.set_aside)
    process = max((rd.get("process", 0) for rd in out.rounds + out.set_aside), default=0)
    aside_s = 0.0  # wall seconds of set-aside rounds: not charged to the budget, up to plan.busy_budget_s
    while True:
        alive = [n for n in names if n not in out.failures]
        tracked_alive = [t for t in tracked if t.candidate in alive and t.reference in alive]
        per_class = {c: sum(1 for rd in out.rounds if rd["text_class"] == c) for c in plan.classes}
        enough = min(per_class.values()) >= plan.min_rounds_per_class
        ok, widest = interval_ok(out.rounds, tracked_alive, plan.target_half_width) if len(out.rounds) >= 2 else (
            False, float("inf"))
        width = "n/a" if widest == float("inf") else f"+-{widest:.1%}"
        elapsed = time.monotonic() - started
        if enough and ok:
            out.stop_reason = (f"every interval within +-{plan.target_half_width:.0%} after {len(out.rounds)} rounds"
                               if tracked_alive else f"{len(out.rounds)} rounds (nothing to compare)")
            break
        if len(out.rounds) >= plan.max_rounds:
            out.stop_reason = f"round cap (measure.max_rounds = {plan.max_rounds}); widest interval {width}"
            break
        if len(out.set_aside) >= plan.max_set_aside or aside_s > plan.busy_budget_s:
            out.stop_reason = (f"machine busy: {len(out.set_aside)} of {len(out.rounds) + len(out.set_aside)} rounds "
                               f"disturbed, measured again (measure.max_set_aside = {plan.max_set_aside}, "
                               f"{aside_s:.0f} s of {plan.busy_budget_s:g} s); widest interval {width}")
            log.warning("%s", out.stop_reason)
            break
        if elapsed - min(aside_s, plan.busy_budget_s) > plan.budget_s and enough:
            out.stop_reason = (f"time budget (measure.budget_s = {plan.budget_s:g} s) after {len(out.rounds)} rounds; "
                               f"widest interval {width}")
            break
        if not alive:
            out.stop_reason = "every contender failed"
            break
        if (respawn is not None and plan.rounds_per_process > 0 and out.rounds
                and len(out.rounds) // plan.rounds_per_process > process):
            process = len(out.rounds) // plan.rounds_per_process
            progress(f"new worker processes ({process + 1} per contender so far): the interval covers how a new "
                     "process differs, not only how rounds do")
            workers = respawn({n: workers[n] for n in alive})
            for n in alive:
                if n not in workers:
                    out.failures[n] = "its new worker process failed to start (see the log)"
            continue
        # the classes in turn, counted on accepted rounds: a round set aside is measured again in its own class
        text_class = min(plan.classes, key=lambda c: (per_class[c], plan.classes.index(c)))
        spoken = sum(1 for rd in out.rounds + out.set_aside if rd["text_class"] == text_class)
        text = text_for(spoken, text_class)
        if text is None:
            out.stop_reason = (f"out of fresh text after {len(out.rounds)} rounds (no text is spoken twice; give a "
                               f"longer file for more rounds); widest interval {width}")
            log.warning("the rounds ran out of fresh text after %d rounds: %s", len(out.rounds), out.stop_reason)
            break
        # the order walks the Williams design over the class's accepted rounds, as if the classes took turns
        order = round_order(alive, per_class[text_class] * len(plan.classes) + plan.classes.index(text_class),
                            len(plan.classes))
        results: dict[str, Any] = {}
        t0 = time.monotonic()
        for name in order:
            try:
                results[name] = workers[name].call("round", plan.call_timeout_s, text=text, warm=plan.warm,
                                                   **round_args(r, text_class, text, name))
                results[name]["settle_s"] = workers[name].settle()  # the next contender starts on idle cores
            except WorkerFailure as exc:
                out.failures[name] = exc.reason
                log.error("%s left the rounds: %s", name, exc.reason)
        record = {"kind": "round", "r": r, "text_class": text_class, "text": text, "order": order, "results": results,
                  "process": process, "timestamp": time.time()}
        disturbed = {n: res["interference"]["disturbed"] for n, res in results.items()
                     if (res.get("interference") or {}).get("disturbed")}
        why = [f"{n}: {w}" for n, why in disturbed.items() for w in why]
        if why and not plan.set_aside:
            record["flagged"] = why  # seen, not acted on (measure.interference = record)
        elif why:
            record["set_aside"], record["set_aside_why"] = "disturbed", why
            aside_s += time.monotonic() - t0
            forget = getattr(round_args, "forget", None)  # its audio no longer counts for the quality pass
            if callable(forget):
                forget(r, text_class, text)
        append_records(rounds_file, [record])
        (out.set_aside if record.get("set_aside") else out.rounds).append(record)
        note = f"; set aside ({record['set_aside']}: {record['set_aside_why'][0]}), measured again" if record.get(
            "set_aside") else ""
        progress(f"round {r + 1} ({text_class}, {len(text)} chars): widest interval {width}{note}")
        r += 1
    out.outliers = mark_outliers(out.rounds, tracked)
    if out.outliers:
        log.warning("%d round(s) lie far outside their class's spread (kept, marked `outlier`): %s", len(out.outliers),
                    "; ".join(rd["outlier"][0] for rd in out.outliers))
    out.wall_s = time.monotonic() - started
    out.workers = workers
    return out


def mark_outliers(rounds: list[dict[str, Any]], tracked: list[Tracked]) -> list[dict[str, Any]]:
    """Mark the accepted rounds that `outlier_reasons` calls outliers against every other round (`outlier`: the
    reasons) and return them. They stay in the statistics: a text on which one engine is much slower (a new shape,
    a heap that grows) is part of what it costs, and dropping it would bias the headline; the rows give the interval
    without them beside it (`bench.measure.rows`). What detection misses shows here."""
    flagged = [(rd, why) for rd in rounds if (why := outlier_reasons(rounds, rd, tracked))]
    for rd, why in flagged:
        rd["outlier"] = why
    return [rd for rd, _ in flagged]
