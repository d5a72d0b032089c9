"""The sweep's closing step: the report (`bench.report.write_report`), or a pandas summary table
when the report cannot be written."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import pandas as pd

from bench.results.store import read_frame

log = logging.getLogger("bench.sweep")

COLUMNS = ["tier", "text", "hardware", "workload", "cached", "status", "latency_p50_s", "latency_cv", "rtf",
           "speedup", "speedup_ci_low", "speedup_ci_high", "ttfa_s", "load_s", "peak_rss_mb", "fid_gate", "fid_pass"]


def summary_table(results_paths: Sequence[Path]) -> pd.DataFrame:
    """One line per configuration with the headline figures."""
    frame = read_frame(results_paths)
    if frame.empty:
        return frame
    return frame[[c for c in COLUMNS if c in frame.columns]].reset_index(drop=True)


def print_summary(results_paths: Sequence[Path]) -> None:
    table = summary_table(results_paths)
    with pd.option_context("display.width", 200, "display.max_columns", None, "display.precision", 3):
        print(table.to_string(index=False) if not table.empty else "(no results)")


def report(results_paths: Sequence[Path], out_dir: Path) -> Path | None:
    """Write the report with `bench.report.write_report`; print the summary table as well (or instead,
    when the report module is missing or fails)."""
    print_summary(results_paths)
    try:
        from bench.report import write_report
    except ImportError as exc:
        log.warning("bench.report is not available (%s); printed the summary above instead", exc)
        return None
    try:
        path = write_report(list(results_paths), out_dir)
    except Exception as exc:  # the measurements are safe on disk; a broken report must not lose them
        log.exception("the report failed (%s); results stay in %s", exc, ", ".join(map(str, results_paths)))
        return None
    log.info("report: %s", path)
    return path
