"""`python -m bench.sweep`: compose the configuration with Hydra, validate it, run the scenario it names
(`bench/scenarios/`: paired rounds by default, or a LoadGen scenario), then write the report from the stored rows.

    python -m bench.sweep                          # every tier x short/medium/long on the hardware present
    python -m bench.sweep +tier=advanced           # one tier, paired with a baseline in the same rounds
    python -m bench.sweep -m hardware=cpu-1t,cpu-all workload=single,stream
    python -m bench.sweep --fresh                  # measure again what the store already has

See docs/measuring.md. `--help` lists the groups and their options.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from bench.scenarios.base import SweepContext, build_scenario
from bench.sweep.config import register_configs
from bench.sweep.plan import RunPaths, validate
from bench.sweep.summary import report

log = logging.getLogger("bench.sweep")
register_configs()


@hydra.main(version_base="1.3", config_path="../../configs", config_name="sweep")
def main(cfg: DictConfig) -> None:
    bench_cfg = validate(cfg)
    hydra_cfg = HydraConfig.get()
    paths = RunPaths.under(Path(bench_cfg.sweep.results_dir), bench_cfg.sweep.run_id, Path(hydra_cfg.runtime.output_dir))
    scenario = build_scenario(bench_cfg.scenario)  # configs/scenario/<name>.yaml: paired rounds, LoadGen, ...
    scenario.run(SweepContext(bench_cfg, paths))  # workers -> measurement -> rows, stored
    if hydra_cfg.mode == RunMode.RUN and bench_cfg.sweep.report:  # a multirun reports once, from its callback
        report([paths.results_file], Path(bench_cfg.sweep.reports_dir).resolve() / paths.run_id)


def _argv(argv: list[str]) -> list[str]:
    """`--fresh` is shorthand for `sweep.fresh=true`. A bad `sweep.run_id` is refused here, before Hydra
    creates its run folder from it."""
    from bench.sweep.config import RUN_ID_HELP, RUN_ID_RE

    for arg in argv:
        key, _, value = arg.lstrip("+").partition("=")
        if key == "sweep.run_id" and not RUN_ID_RE.fullmatch(value):
            sys.exit(f"error: `sweep.run_id` = {value!r} is not allowed; expected {RUN_ID_HELP}.")
    return ["sweep.fresh=true" if arg == "--fresh" else arg for arg in argv]


if __name__ == "__main__":
    sys.argv = [sys.argv[0], *_argv(sys.argv[1:])]
    main()
