"""Paired, interleaved timing of contenders: untimed warm-up rounds, rotating order per round, ratios within a
round, geometric mean and a bootstrap interval over rounds."""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np


def timed(fn: Callable[[], object], sync: Callable[[], None]) -> float:
    """Seconds one call of `fn` takes, `sync` (CUDA synchronize, or nothing) before and after."""
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def rotating(
    contenders: dict[str, Callable[[], float]],
    rounds: int,
    warmup: int = 0,
    before_each: Callable[[str], None] | None = None,
    deadline: float | None = None,
    min_rounds: int = 2,
) -> dict[str, list[float]]:
    """Seconds per round for each contender, as each call returns them (a contender measures itself: a whole
    call, or its first chunk). `warmup` untimed rounds come first (autotuning, lazy loading and caches are paid
    there, not in round 0). Round r starts at contender r mod n, so none always runs first; `before_each(name)`
    runs untimed before each call. With `deadline` (epoch seconds), no round starts after it once `min_rounds`
    are done: the caller sees how many rounds fitted in the length of each list."""
    names = list(contenders)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + rounds):
        if r >= warmup + min_rounds and deadline is not None and time.time() > deadline:
            break
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            if before_each is not None:
                before_each(name)
            seconds = contenders[name]()
            if r >= warmup:
                times[name].append(seconds)
    return times


def interleaved(
    contenders: dict[str, Callable[[], object]],
    rounds: int,
    sync: Callable[[], None],
    before_each: Callable[[str], None] | None = None,
    warmup: int = 0,
    deadline: float | None = None,
) -> dict[str, list[float]]:
    """`rotating` over whole calls of each contender, timed with `sync` around each call."""
    calls = {n: (lambda fn=fn: timed(fn, sync)) for n, fn in contenders.items()}
    return rotating(calls, rounds, warmup, before_each, deadline)


def speedup(reference: list[float], candidate: list[float], seed: int = 0, n_boot: int = 2000) -> dict[str, float]:
    """Speedup of `candidate` over `reference` (> 1 = faster): the geometric mean of per-round ratios
    reference/candidate, with a 95% bootstrap interval over rounds."""
    ratios = np.asarray(reference, dtype=float) / np.asarray(candidate, dtype=float)
    logs = np.log(ratios)
    rng = np.random.default_rng(seed)
    boot = logs[rng.integers(0, len(logs), size=(n_boot, len(logs)))].mean(axis=1)
    return {
        "geomean": float(math.exp(logs.mean())),
        "ci_low": float(math.exp(np.percentile(boot, 2.5))),
        "ci_high": float(math.exp(np.percentile(boot, 97.5))),
        "rounds": int(len(ratios)),
    }
