"""`Scenario`: one way of measuring what a sweep's config asks for, as optimum-benchmark's `Benchmark.run(backend,
scenario)` has it. The driver (`bench/sweep/__main__.py`) reads top to bottom and never names a scenario:

    scenario = build_scenario(cfg.scenario)           # the class the group entry's `_target_` names
    rows = scenario.run(SweepContext(cfg, paths))     # workers -> measurement -> rows, stored
    report(...)                                       # drawn from the rows on disk

A scenario starts its own worker processes (`bench.sweep.launch`), measures, turns what it measured into rows,
stores them (`results.jsonl`, the store) and returns them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from hydra.utils import get_class

from bench.errors import bad_field
from bench.results.schema import ResultRow
from bench.sweep.config import BenchConfig
from bench.sweep.plan import RunPaths


@dataclass(frozen=True)
class SweepContext:
    """What every scenario runs with: the validated config and where this run reads and writes."""

    cfg: BenchConfig
    paths: RunPaths

    @property
    def limits(self) -> dict[str, float]:
        """Per worker: `time_s`, seconds a call may take; `memory_mb`, megabytes of RSS (the worker is killed past
        either)."""
        return {"time_s": self.cfg.sweep.time_limit_s, "memory_mb": self.cfg.sweep.memory_limit_mb}


class Scenario(ABC):
    """A way of measuring. Built with its entry of the `scenario` group (`self.config`, a schema of
    `bench.scenarios.config`); `run` measures every contender the config names and returns the rows it stored."""

    def __init__(self, config: Any) -> None:
        self.config = config

    @abstractmethod
    def run(self, ctx: SweepContext) -> list[ResultRow]:
        """Measure, store the rows (`ctx.paths.results_file` and the store) and return them."""


def build_scenario(config: Any) -> Scenario:
    """The scenario `config` (an entry of the `scenario` group) names in `_target_`; raises `BenchConfigError`
    naming `scenario._target_` when it is not a `Scenario` subclass."""
    target = getattr(config, "_target_", None)
    try:
        cls = get_class(str(target))
    except Exception:  # hydra raises ImportError or ValueError, wrapped differently across versions
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, Scenario)):
        raise bad_field("scenario", "_target_", target, "a bench.scenarios.base.Scenario subclass, e.g. "
                        "bench.scenarios.rounds.PairedRounds (configs/scenario/*.yaml)")
    return cls(config)
