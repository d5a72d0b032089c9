"""The parent's handle on one worker process: start it, call its ops, watch its memory and its clock.

While a call runs, the parent samples the worker's RSS (its own process and its children) every
`SAMPLE_S` (100 Hz) from outside, so the sampler costs the worker nothing; the samples form the
contender's memory timeline (an mprof file) and its peaks: overall and per phase (`mark`: load, then steady for the
timed rounds; see `bench.measure.memory`). A call that runs past its time limit, a worker
whose RSS passes the memory limit, or a worker that dies is killed and reported as `WorkerFailure`
with the reason and the tail of the worker's log; the caller turns that into a failed row and goes on.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import psutil

from bench.errors import WorkerFailure
from bench.measure.interference import judge, snapshot
from bench.measure.memory import LOAD, check_phase, phase_peaks
from bench.workers.protocol import WorkerSpec, request
from bench.workers.worker import worker_main

TIMED_OP = "round"  # the op whose calls are timed: probed for interference
SAMPLE_S = 0.01  # RSS sampling period while a worker is busy (100 Hz)
# After a call returns, its thread pools may go on spinning for work (onnxruntime's for about 40 ms on a 2-core
# machine, OpenMP's for a few ms) and take cores from whoever runs next: `Worker.settle` waits until the worker
# uses less than SETTLE_QUIET of one core over a SETTLE_WINDOW_S window, for at most SETTLE_MAX_S.
SETTLE_WINDOW_S = 0.005
SETTLE_QUIET = 0.1
SETTLE_MAX_S = 0.5
LOG_TAIL_CHARS = 1500
RELAY_EVERY_S = 0.5  # the worker's log is read for progress lines this often while a call runs
# worker log lines shown in the sweep's own log as they are written: the tier calibration's (it runs inside
# `load`, about a minute on a fresh 2-core machine, with nothing else to show)
PROGRESS = re.compile(r"^\S+ \S+ tts_core (?:INFO|WARNING) (calibrat.*)$")

log = logging.getLogger("bench.worker")


PAGE = os.sysconf("SC_PAGE_SIZE")
CHILDREN_EVERY_S = 0.5  # the worker's own children (a tier's process pool) are looked up this often


def cpu_seconds(pids: list[int]) -> float:
    """CPU seconds used so far by every thread of `pids`, from /proc/<pid>/task/*/schedstat (nanoseconds; the
    clock-tick counters of /proc/<pid>/stat are too coarse for a 5 ms window)."""
    total = 0
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as fh:
                    total += int(fh.read().split()[0])
            except (OSError, IndexError, ValueError):
                pass
    return total / 1e9


def settle(pids: list[int]) -> float:
    """Wait until `pids` use less than SETTLE_QUIET of one core over a SETTLE_WINDOW_S window (at most
    SETTLE_MAX_S); returns the seconds waited."""
    started = time.monotonic()
    used = cpu_seconds(pids)
    while time.monotonic() - started < SETTLE_MAX_S:
        time.sleep(SETTLE_WINDOW_S)
        now = cpu_seconds(pids)
        if now - used < SETTLE_QUIET * SETTLE_WINDOW_S:
            break
        used = now
    return time.monotonic() - started


class RssSampler:
    """The resident set of a worker and its children, read from /proc/<pid>/statm (about 20 microseconds a read;
    psutil's scan of every process for children would take a share of a core at 100 Hz on a 2-core machine)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._children: list[int] = []
        self._looked = 0.0

    def _refresh_children(self) -> None:
        now = time.monotonic()
        if now - self._looked >= CHILDREN_EVERY_S:
            self._looked = now
            try:
                self._children = [c.pid for c in psutil.Process(self.pid).children(recursive=True)]
            except psutil.Error:
                self._children = []

    @property
    def pids(self) -> list[int]:
        """The worker and its children (looked up at most every CHILDREN_EVERY_S)."""
        self._refresh_children()
        return [self.pid, *self._children]

    def mb(self) -> float:
        """MiB resident now (0.0 once the worker is gone)."""
        total = 0
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/statm", "rb") as fh:
                    total += int(fh.read().split()[1]) * PAGE
            except (OSError, IndexError, ValueError):
                pass
        return total / 2**20


class LogRelay:
    """Follows a worker's log file from where it stood and forwards its `PROGRESS` lines to the sweep's log."""

    def __init__(self, path: str, name: str) -> None:
        self.path, self.name = path, name
        self._pos = self._size()
        self._next = 0.0

    def _size(self) -> int:
        try:
            return os.path.getsize(self.path) if self.path else 0
        except OSError:
            return 0

    def poll(self, elapsed_s: float, force: bool = False) -> None:
        """Forward the complete lines written since the last poll (at most every `RELAY_EVERY_S` unless `force`)."""
        now = time.monotonic()
        if not self.path or (now < self._next and not force):
            return
        self._next = now + RELAY_EVERY_S
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._pos)
                chunk = fh.read()
        except OSError:
            return
        end = chunk.rfind(b"\n") + 1
        self._pos += end
        for line in chunk[:end].decode("utf-8", errors="replace").splitlines():
            if m := PROGRESS.match(line):
                log.info("%s (%.0f s): %s", self.name, elapsed_s, m.group(1))


class Worker:
    """One contender's process. `timeline` holds `(MiB, unix seconds)` samples taken during calls, `marks` the
    `(phase, unix seconds)` where each memory phase began (LOAD from the start)."""

    def __init__(self, spec: WorkerSpec, memory_limit_mb: float) -> None:
        self.spec = spec
        self.memory_limit_mb = memory_limit_mb
        self.timeline: list[tuple[float, float]] = []
        self.marks: list[tuple[str, float]] = [(LOAD, time.time())]
        self.busy_s = 0.0  # wall seconds spent in calls
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=worker_main, args=(child, spec.to_dict(), os.getpid()), daemon=True,
                                 name=f"worker {spec.contender}")
        self._proc.start()
        child.close()
        self._ps = psutil.Process(self._proc.pid)
        self._rss = RssSampler(self._proc.pid)
        self.failed: str | None = None
        self.work_pids: list[int] = []  # processes outside the worker doing its work (a local server it did not start)

    @property
    def pid(self) -> int:
        return int(self._proc.pid or 0)

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    @property
    def peak_rss_mb(self) -> float | None:
        """Peak MiB over every sampled call (load and steady phases together)."""
        return max((m for m, _ in self.timeline), default=None)

    def mark(self, phase: str) -> None:
        """Count the samples from now on in `phase` (one of `bench.measure.memory.PHASES`)."""
        self.marks.append((check_phase(phase), time.time()))

    def phase_peak_rss_mb(self, phase: str) -> float | None:
        """Peak MiB of the samples taken in `phase`; None when none was."""
        return phase_peaks(self.timeline, self.marks).get(check_phase(phase))

    def log_tail(self) -> str:
        try:
            text = Path(self.spec.log_file).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return text[-LOG_TAIL_CHARS:].strip()

    def call(self, op: str, timeout_s: float, sample: bool = True, **args: Any) -> Any:
        """Run `op` in the worker and return its result; raises `WorkerFailure` (the worker is then dead).
        A timed `round` comes back with `interference`: what the machine's counters say of the call
        (`bench.measure.interference`)."""
        if self.failed:
            raise WorkerFailure(self.failed)
        before = snapshot(self._rss.pids + self.work_pids) if op == TIMED_OP else None
        try:
            self._conn.send(request(op, **args))
        except (BrokenPipeError, OSError):
            self._fail(self._death_reason())
        started = time.monotonic()
        relay = LogRelay(self.spec.log_file, self.spec.contender)
        while not self._conn.poll(SAMPLE_S):
            rss = self._rss.mb() if sample else 0.0
            if sample and rss:
                self.timeline.append((rss, time.time()))
            elapsed = time.monotonic() - started
            relay.poll(elapsed)
            if rss > self.memory_limit_mb:
                self._fail(f"killed: out of memory during `{op}` (RSS {rss:.0f} MB > sweep.memory_limit_mb = "
                           f"{self.memory_limit_mb:g}); lower the text size or raise the limit")
            if elapsed > timeout_s:
                self._fail(f"killed: `{op}` ran past {timeout_s:.0f} s (sweep.time_limit_s); the engine may hang")
            if not self._proc.is_alive():
                self._fail(self._death_reason())
        after = snapshot(self._rss.pids + self.work_pids) if before is not None else None
        relay.poll(time.monotonic() - started, force=True)
        try:
            reply = self._conn.recv()
        except (EOFError, OSError):
            self._fail(self._death_reason())
        self.busy_s += time.monotonic() - started
        if not reply["ok"]:
            raise WorkerFailure(reply["error"], self.log_tail(), reply.get("traceback", ""))
        result = reply["result"]
        if op == "load" and isinstance(result, dict):
            self.work_pids = [int(p) for p in result.get("work_pids") or []]
        if before is not None and after is not None and isinstance(result, dict):
            result["interference"] = judge(before, after).to_dict()
        return result

    def settle(self) -> float:
        """Wait until this worker's threads have stopped spinning after its last call, so the next contender
        gets the cores to itself; returns the seconds waited."""
        return settle(self._rss.pids)

    def _death_reason(self) -> str:
        self._proc.join(timeout=2)
        code = self._proc.exitcode
        if code is not None and code < 0:
            return f"worker killed by signal {signal.Signals(-code).name}"
        return f"worker exited with code {code}"

    def _fail(self, reason: str) -> None:
        self.kill()
        self.failed = reason
        raise WorkerFailure(reason, self.log_tail())

    def kill(self) -> None:
        if self._proc.is_alive():
            try:
                for child in self._ps.children(recursive=True):
                    child.kill()
            except psutil.Error:
                pass
            try:
                os.kill(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._proc.join(timeout=5)

    def close(self, timeout_s: float = 30.0) -> None:
        """Ask the worker to release its engine and exit; kill it if it does not."""
        if self.failed is None and self._proc.is_alive():
            try:
                self.call("close", timeout_s, sample=False)
            except WorkerFailure:
                pass
        self._proc.join(timeout=5)
        self.kill()
        self._conn.close()
