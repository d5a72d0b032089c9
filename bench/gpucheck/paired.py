"""Paired, interleaved timing of contenders: rotating order per round, ratios within a round, geometric
mean and a bootstrap interval over rounds."""

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


def interleaved(
    contenders: dict[str, Callable[[], object]],
    rounds: int,
    sync: Callable[[], None],
    before_each: Callable[[str], None] | None = None,
) -> dict[str, list[float]]:
    """Seconds per round for each contender. Round r starts at contender r mod n, so none always runs
    first; `before_each(name)` runs untimed before each call (e.g. clearing an audio cache)."""
    names = list(contenders)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            if before_each is not None:
                before_each(name)
            times[name].append(timed(contenders[name], sync))
    return times


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
