"""The `scenario` group: every shipped entry composes and builds the Scenario its `_target_` names; a bad
`_target_` is refused naming the field; LoadGen's entries still load as `bench.serve`'s settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module

from bench.errors import BenchConfigError
from bench.scenarios.base import Scenario, build_scenario
from bench.scenarios.config import ScenarioSchema
from bench.serve.config import ScenarioConfig
from bench.sweep.plan import validate

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p.stem for p in (ROOT / "configs" / "scenario").glob("*.yaml"))


def composed(*overrides: str):
    with initialize_config_module(config_module="configs", version_base="1.3"):
        return validate(compose(config_name="sweep", overrides=["engine=fake", "model=tiny", *overrides]))


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_scenario_builds_the_class_it_names(name: str) -> None:
    cfg = composed(f"scenario={name}")
    scenario = build_scenario(cfg.scenario)
    assert isinstance(scenario, Scenario) and scenario.config is cfg.scenario and cfg.scenario.name == name


def test_the_default_is_the_paired_rounds() -> None:
    from bench.scenarios.rounds import PairedRounds

    assert type(build_scenario(composed().scenario)) is PairedRounds


def test_a_target_that_is_no_scenario_names_the_field() -> None:
    with pytest.raises(BenchConfigError, match=r"`scenario\._target_` = 'bench\.sweep\.plan\.Group'.*Scenario subclass"):
        build_scenario(ScenarioSchema(_target_="bench.sweep.plan.Group", name="x"))
    with pytest.raises(BenchConfigError, match=r"`scenario\._target_` = 'no\.such\.Thing'"):
        build_scenario(ScenarioSchema(_target_="no.such.Thing", name="x"))


@pytest.mark.parametrize("name", ["singlestream", "offline", "server"])
def test_loadgen_entries_are_the_serve_settings_the_worker_takes(name: str) -> None:
    from bench.scenarios.loadgen import loadgen_settings
    from bench.serve.__main__ import load_scenario

    cfg = composed(f"scenario={name}")
    assert isinstance(cfg.scenario, ScenarioConfig)
    settings = loadgen_settings(cfg.scenario)
    assert "_target_" not in settings and ScenarioConfig(**settings) == load_scenario(name, [])
