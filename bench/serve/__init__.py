"""Serving under load with MLPerf LoadGen: a SUT/QSL over any bench engine adapter, scenarios, the server search.

Runs inside a process that already holds a loaded adapter: `run_scenario(adapter, scenario, samples, out_dir)`.
"""

from bench.serve.config import BATCHING, SCENARIOS, ScenarioConfig, register
from bench.serve.run import run_scenario

__all__ = ["BATCHING", "SCENARIOS", "ScenarioConfig", "register", "run_scenario"]
