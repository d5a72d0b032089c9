"""The results store: tidy `ResultRow`s as JSON lines, appended atomically, read back tolerantly.

Every append writes one full line under an exclusive lock, then flushes and fsyncs, so a sweep
killed at any moment (SIGKILL included) loses at most the line being written. The reader skips a
line that does not parse (a truncated last line) and keeps every line before and after it.
Non-finite floats (an SNR of +inf between identical signals) are stored as null: the files are
strict JSON.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import math
import os
import shutil
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from bench.results.schema import ResultRow

log = logging.getLogger(__name__)

FINISHED = ("ok", "skipped")  # statuses resume does not measure again
ROW_FILES = ("sample_wav", "mprof_file")  # fields naming a file of the run folder, which a reused group takes along


def _finite(value: Any) -> Any:
    """`value` with every non-finite float replaced by None (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def encode_record(record: dict[str, Any]) -> str:
    """One strict JSON line (with its newline) for any JSON-able record."""
    return json.dumps(_finite(record), allow_nan=False, sort_keys=True, default=str) + "\n"


def append_rows(path: str | Path, rows: Iterable[ResultRow]) -> None:
    """Append `rows` to the JSONL file at `path` (see `append_records`)."""
    append_records(path, (row.to_dict() for row in rows))


def append_records(path: str | Path, records: Iterable[dict[str, Any]]) -> None:
    """Append `records` to the JSONL file at `path`, one locked write + fsync per record.

    If the file ends in a partial line (a writer killed mid-line), a newline is written first so the
    new record starts on its own line; the reader then skips only the broken fragment.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for record in records:
            data = encode_record(record).encode("utf-8")
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data
                os.write(fd, data)
                os.fsync(fd)
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Every JSON object of the JSONL file at `path` (none if it does not exist); broken lines are skipped."""
    path = Path(path)
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                log.warning("%s:%d: skipped an unreadable line (%s)", path, number, exc)
                continue
            if isinstance(record, dict):
                out.append(record)
    return out


def read_rows(path: str | Path) -> list[ResultRow]:
    """Every row of the JSONL file at `path` (none if it does not exist); broken lines are skipped."""
    path = Path(path)
    if not path.exists():
        return []
    rows: list[ResultRow] = []
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append(ResultRow.from_dict(json.loads(line)))
            except (json.JSONDecodeError, TypeError, ValueError) as exc:
                log.warning("%s:%d: skipped an unreadable line (%s)", path, number, exc)
    return rows


def read_many(paths: Iterable[str | Path], dedupe: bool = True) -> list[ResultRow]:
    """Rows of several files in order. `dedupe` keeps the last row per (host, config_id, code_version)."""
    rows = [row for path in paths for row in read_rows(path)]
    if not dedupe:
        return rows
    last: dict[tuple[str, str, str], ResultRow] = {}
    for row in rows:
        key = (row.host, row.config_id, row.code_version)
        last.pop(key, None)
        last[key] = row
    return list(last.values())


def read_frame(paths: Iterable[str | Path] | str | Path, dedupe: bool = True) -> pd.DataFrame:
    """The rows of one or more JSONL files as a pandas DataFrame, one column per `ResultRow` field."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    rows = read_many(paths, dedupe=dedupe)
    return pd.DataFrame([row.to_dict() for row in rows])


class ResultStore:
    """The long-lived store (`results/store.jsonl`): every finished group's rows, for resume and history."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._rows = read_rows(self.path)

    def append(self, rows: Iterable[ResultRow]) -> None:
        rows = list(rows)
        append_rows(self.path, rows)
        self._rows.extend(rows)

    def group(self, group_id: str) -> list[ResultRow]:
        """The rows of the last finished measurement of comparison group `group_id` (its id holds the host,
        the code version and every axis), or none. A group is stored whole, so its pairs stay together."""
        rows = [row for row in self._rows if row.group_id == group_id]
        if not rows:
            return []
        last_run = rows[-1].run_id
        return [row for row in rows if row.run_id == last_run]

    def reuse(self, group_id: str, out_dir: str | Path) -> list[ResultRow]:
        """Copies of the rows of `group(group_id)` for a run writing to `out_dir`, marked `resumed_from_run`, with
        their files (`ROW_FILES`) carried into `out_dir` (see `carry_files`): a report of the new run reads only
        inside its own folders, so it can embed them."""
        rows = [dataclasses.replace(row, extra=dict(row.extra, resumed_from_run=row.run_id))
                for row in self.group(group_id)]
        return carry_files(rows, Path(out_dir), self.path.parent)


def carry_files(rows: list[ResultRow], out_dir: Path, results_dir: Path) -> list[ResultRow]:
    """`rows` with each file they name (`ROW_FILES`) hard-linked (copied across file systems) to
    `out_dir/<its folder name>/<its name>`, and the field pointing there. A file is looked for where the row says,
    then under `results_dir` from the row's run folder on (a results folder that moved); one that is nowhere keeps
    its path, with a warning (the report then lists it as missing or refused)."""
    carried: dict[str, str] = {}
    for row in rows:
        for name in ROW_FILES:
            raw = getattr(row, name)
            if not raw:
                continue
            if raw not in carried:
                source = _find_file(Path(raw), row.run_id, results_dir)
                if source is None:
                    log.warning("%s of %s: %s not found; the reused row keeps the path", name, row.contender, raw)
                    carried[raw] = raw
                    continue
                target = out_dir / source.parent.name / source.name
                if source.resolve() != target.resolve():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.unlink(missing_ok=True)
                    try:
                        os.link(source, target)
                    except OSError:
                        shutil.copy2(source, target)
                carried[raw] = str(target)
            setattr(row, name, carried[raw])
    return rows


def _find_file(path: Path, run_id: str, results_dir: Path) -> Path | None:
    """`path` if it is a file, else the same path from its run folder (`run_id`) on, under `results_dir`."""
    if path.is_file():
        return path
    parts = path.parts
    if run_id in parts:
        moved = results_dir.joinpath(*parts[parts.index(run_id):])
        if moved.is_file():
            return moved
    return None
