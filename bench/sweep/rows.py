"""Rows of the paired rounds: every figure computed once from the rounds and the untimed passes
(`bench.measure.rows.build_rows`), then stored: the store (for resume and history), this run's `results.jsonl`,
the accepted rounds and those set aside beside it. One line per pooled row goes to the log (`headline`)."""

from __future__ import annotations

import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from bench.measure.rounds import RoundsResult
from bench.measure.rows import GroupFacts, build_rows
from bench.results.schema import ResultRow
from bench.results.store import ResultStore, append_records, append_rows
from bench.servers.figures import add_served_figures
from bench.sweep.plan import Group, RunPaths

log = logging.getLogger("bench.sweep")
SET_ASIDE_FILE = "rounds_set_aside.jsonl"  # beside rounds.jsonl: the rounds no statistic uses, and why


def command_line() -> str:
    """The command that made this run, as a row records it."""
    return "python -m bench.sweep " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def group_rows(group: Group, result: RoundsResult, paths: RunPaths, flops: dict[str, dict[str, Any]],
               peaks: dict[str, float], started: float) -> list[ResultRow]:
    """The group's rows (one per contender and text class, plus the pooled `all`); `started`: `time.monotonic()`
    when the group began (each row's `extra.group_wall_s`)."""
    facts = GroupFacts(run_id=paths.run_id, group_id=group.group_id, host=group.host, code_version=group.code_version,
                       model=group.model, workload=group.workload["name"], command=command_line(), flops=flops,
                       peaks=peaks)
    rows = build_rows(group.contenders, result, facts)
    add_served_figures(rows, result.rounds)  # served contenders: first audio against the same tier in process
    for row in rows:
        row.extra["group_wall_s"] = time.monotonic() - started
    return rows


def save_rows(rows: list[ResultRow], result: RoundsResult, paths: RunPaths, store: ResultStore,
              rounds_file: Path) -> None:
    """Store the rows and the rounds; the unfinished group's partial rounds (`rounds_file`) are then removed."""
    store.append(rows)
    append_rows(paths.results_file, rows)
    append_records(paths.out_dir / "rounds.jsonl", result.rounds)
    append_records(paths.out_dir / SET_ASIDE_FILE, result.set_aside)  # disturbed and outlier rounds, marked
    rounds_file.unlink(missing_ok=True)
    for row in rows:
        if row.text == "all":
            log.info("%s", headline(row))


def headline(row: ResultRow) -> str:
    """One line of the figures that matter for a pooled row."""
    if row.status == "skipped":
        return f"SKIP {row.contender}: {row.reason}"
    if row.status == "failed" and row.rtf is None:
        return f"FAIL {row.contender}: {row.error}"
    parts = [f"RTF {row.rtf:.3f}" if row.rtf is not None else "no rounds"]
    if row.ttfa_s is not None:
        parts.append(f"TTFA {row.ttfa_s * 1e3:.0f} ms")
    if row.speedup is not None:
        parts.append(f"{row.speedup:.2f}x [{row.speedup_ci_low:.2f}, {row.speedup_ci_high:.2f}] vs {row.reference}")
    if row.verdict:
        parts.append(row.verdict)
    for comp in row.comparisons:
        parts.append(f"{comp['speedup']:.2f}x [{comp['ci_low']:.2f}, {comp['ci_high']:.2f}] vs {comp['reference']}")
    if row.fid_pass is not None:
        parts.append(f"fidelity {row.fid_gate} {'pass' if row.fid_pass else 'FAIL'}")
    tag = "OK  " if row.status == "ok" else "FAIL"
    return f"{tag} {row.contender}: " + ", ".join(parts) + (f" -- {row.error}" if row.error else "")
