"""Hydra callbacks for multiruns: warn when jobs run in parallel, and merge every job's results into
one report when the multirun ends (each job, local or on a cluster, wrote its own results.jsonl)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from bench.sweep.summary import report

log = logging.getLogger("bench.sweep")

PARALLEL_LAUNCHERS = ("joblib", "ray", "submitit_local")


class SweepCallback(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        target = str(config.hydra.launcher.get("_target_", "")).lower()
        if "joblib" in target:
            log.warning(
                "hydra/launcher=joblib runs configurations in parallel on this machine: they compete for cores "
                "and memory bandwidth, so timings are distorted. Use the default (sequential) launcher for numbers "
                "you compare."
            )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.sweep.report:
            return
        sweep_dir = Path(config.hydra.sweep.dir).resolve()
        paths = sorted(sweep_dir.glob("**/results.jsonl"))
        if not paths:
            log.warning("no results.jsonl under %s; nothing to report", sweep_dir)
            return
        report(paths, Path(config.sweep.reports_dir).resolve() / str(config.sweep.run_id))
