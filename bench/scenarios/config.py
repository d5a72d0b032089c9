"""Schemas of the `scenario` config group (values in `configs/scenario/*.yaml`), stored in Hydra's ConfigStore.

Every entry names the `Scenario` class that runs it in `_target_` (`bench.scenarios.base.build_scenario`) and
its `name`. A scenario with no settings of its own uses `base_plain`; one with settings adds a schema here,
a subclass of `ScenarioSchema`, and one line in `register`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from omegaconf import MISSING

from bench.serve.config import ScenarioConfig
from bench.serve.curve_config import CurveConfig

ROUNDS = "bench.scenarios.rounds.PairedRounds"
LOADGEN = "bench.scenarios.loadgen.LoadGen"
CONCURRENCY = "bench.scenarios.concurrency.ConcurrencyCurve"


@dataclass
class ScenarioSchema:
    """What every entry of the `scenario` group holds: the `Scenario` subclass that runs it, and its name (which
    LoadGen's rows and logs carry)."""

    _target_: str = MISSING  # a `bench.scenarios.base.Scenario` subclass, e.g. bench.scenarios.rounds.PairedRounds
    name: str = MISSING


@dataclass
class RoundsSchema(ScenarioSchema):
    """Paired rounds (`configs/scenario/rounds.yaml`, the default). How long they run is the `measure` group's."""

    _target_: str = ROUNDS
    name: str = "rounds"


@dataclass
class LoadGenSchema(ScenarioConfig):
    """A LoadGen scenario (`configs/scenario/{singlestream,offline,server}.yaml`): `bench.serve.config.ScenarioConfig`
    and the class that runs it."""

    _target_: str = LOADGEN


@dataclass
class ConcurrencySchema(CurveConfig):
    """The concurrency curve (`configs/scenario/concurrency.yaml`): `bench.serve.curve_config.CurveConfig` and the
    class that runs it."""

    _target_: str = CONCURRENCY


def register(cs: Any) -> None:
    """Store the group's schemas in Hydra's ConfigStore `cs` (idempotent)."""
    cs.store(group="scenario", name="base_plain", node=ScenarioSchema)
    cs.store(group="scenario", name="base_rounds", node=RoundsSchema)
    cs.store(group="scenario", name="base_loadgen", node=LoadGenSchema)
    cs.store(group="scenario", name="base_concurrency", node=ConcurrencySchema)
