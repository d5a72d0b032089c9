"""Run one configuration in a fresh process (`python -m bench.run_one <spec.json>`) under time and memory limits.

The child writes its rows to a file; the parent watches the child's RSS and the clock and kills the
whole process group past either limit. A child that raises, is killed (OOM, timeout, signal) or
exits without rows becomes `failed` rows saying why, so the sweep goes on.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.env import ROOT
from bench.schema import ResultRow
from bench.spec import MeasureSpec
from bench.store import read_rows

POLL_S = 0.05
LOG_TAIL_CHARS = 1500


@dataclass(frozen=True)
class Limits:
    time_s: float  # wall seconds for the whole child (load, all passes)
    memory_mb: float  # RSS of the child and its own children


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child_env(spec: MeasureSpec) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    threads = int(spec.hardware.get("threads") or 0)
    if threads > 0:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(threads)
    return env


def _rss_mb(proc: psutil.Process) -> float:
    total = 0
    try:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total / 2**20


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _tail(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return text[-LOG_TAIL_CHARS:].strip()


def run_isolated(spec: MeasureSpec, limits: Limits) -> list[ResultRow]:
    """Measure `spec` in a fresh child process; always returns one row per expected row id."""
    cid = spec.config_id()
    work = Path(spec.out_dir) / "work"
    logs = Path(spec.out_dir) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    spec_file = spec.save(work / f"{cid}.json")
    rows_file = work / f"{cid}.rows"  # not .jsonl: folder readers must not take it for results
    rows_file.unlink(missing_ok=True)
    log_file = logs / f"{cid}.log"
    cmd = [sys.executable, "-m", "bench.run_one", str(spec_file), "--out", str(rows_file)]

    started = time.monotonic()
    peak_mb = 0.0
    killed: str | None = None
    with log_file.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=_child_env(spec), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent,
        )
        watched = psutil.Process(proc.pid)
        while proc.poll() is None:
            rss = _rss_mb(watched)
            peak_mb = max(peak_mb, rss)
            elapsed = time.monotonic() - started
            if rss > limits.memory_mb:
                killed = f"killed: out of memory (RSS {rss:.0f} MB > sweep.memory_limit_mb = {limits.memory_mb:g})"
            elif elapsed > limits.time_s:
                killed = f"killed: timeout after {elapsed:.0f} s (sweep.time_limit_s = {limits.time_s:g})"
            if killed:
                _kill_group(proc)
                proc.wait()
                break
            time.sleep(POLL_S)
    wall = time.monotonic() - started

    rows = read_rows(rows_file)
    expected = set(spec.row_ids())
    if killed is None and rows and expected <= {r.config_id for r in rows}:
        for row in rows:
            row.extra.setdefault("child_wall_s", wall)
        return rows
    if killed is None:
        code = proc.returncode
        if code is not None and code < 0:
            killed = f"killed by signal {signal.Signals(-code).name}"
        else:
            killed = f"child exited with code {code} without results"
    tail = _tail(log_file)
    return spec.failed_rows(killed, extra={"child_wall_s": wall, "child_peak_rss_mb": peak_mb, "log_tail": tail})
