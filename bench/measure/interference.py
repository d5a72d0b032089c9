"""Was the machine the worker's alone while it was timed? Signals read around each timed call, and the rule that
calls a round disturbed.

Around every `round` call the parent reads, from Linux's own counters (no sampling thread, nothing in the
worker):
- `wait_frac`: the seconds the worker's threads were runnable but waited for a CPU (`/proc/<pid>/task/*/schedstat`,
  field 2, nanoseconds), over the call's wall seconds. A thread of ours that waits is a thread another task held
  the core from: the most direct sign, exact to the nanosecond, and meaningful for a 50 ms call.
- `others_cores`: CPU time of every other task on the machine (`/proc/stat` busy time less the worker's and this
  process's own), in cores over the call, less the tick error of `/proc/stat` (two 10 ms ticks per CPU): a
  process on another core does not make ours wait but takes memory bandwidth and shared cache.
- `steal_cores`: time the hypervisor ran someone else's virtual CPU on ours (`/proc/stat` steal), in cores.
- `psi_some` (Linux pressure stall information, `/proc/pressure/cpu` "some": the share of the call during which
  some task waited for a CPU) and `nivcsw` (the worker's involuntary context switches): recorded for the
  report, not judged (PSI counts this process's own sampler waking beside the worker; `nivcsw` counts a
  timer tick's preemption the same as a busy neighbour's).
- `user_s`, `sys_s`, `minflt`, `majflt`: the worker processes' own CPU seconds in user space and in the kernel, and
  their minor and major page faults, over the call (`/proc/<pid>/stat`; CPU time in 10 ms ticks): where a slow call's
  time went (a call that maps and faults in its memory anew spends it in the kernel). Recorded, not judged.

The thresholds below call a call disturbed; each says why it is where it is. A disturbed round is measured again
(`bench.measure.rounds`) and kept on disk, marked, out of the statistics.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from typing import Any

# Thresholds, from the real voice's three-tier sweep on a 2-core AMD EPYC (AVX-512, BF16), 180 calls a run:
# quiet, wait_frac 0.02-0.10 (median 0.045: this process's 100 Hz RSS sampler and kernel threads preempt a worker
# thread now and then); others_cores at most 0.02. With one CPU-bound process beside it: 0.57-0.82 and 0.58-0.79
# on the calls it overlapped (the worker's two threads share that core). 0.25 sits 2.5x above the quiet maximum
# and 2.3x below the smallest busy reading, for both.
WAIT_FRAC_MAX = 0.25
# ...and at least this long in seconds: in the default sweep (five workers, peers included) short calls on a quiet
# machine waited 2-25 ms now and then (a few 4 ms scheduler ticks, this process's own look-ups), which is 25-54%
# of a 5-100 ms call; a busy process beside a call that short still shows in `others_cores` (a whole core less
# the tick error).
WAIT_MIN_S = 0.030
OTHERS_CORES_MAX = 0.25
# Steal: 0.00-0.05 cores on calls not otherwise disturbed here; a tenth of a core stolen for a call is a neighbour the figures feel.
STEAL_CORES_MAX = 0.10
TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")  # /proc/stat's unit
N_CPUS = os.cpu_count() or 1


@dataclass(frozen=True)
class Snapshot:
    """Counters at one instant: seconds, except `nivcsw` (a count) and `psi_some_s` (None without PSI)."""

    wall_s: float
    busy_s: float  # every CPU's non-idle time, steal excluded
    steal_s: float
    psi_some_s: float | None
    own_cpu_s: float  # the worker's threads (and this process's) CPU time
    wait_s: float  # the worker's threads' time runnable but waiting for a CPU
    nivcsw: int
    user_s: float = 0.0  # the worker processes' CPU seconds in user space
    sys_s: float = 0.0  # ... and in the kernel
    minflt: int = 0  # their minor page faults
    majflt: int = 0  # ... and major ones (read from disk)


@dataclass(frozen=True)
class Interference:
    """What the counters say of one call: see the module's docstring for each field; `disturbed` lists why the
    call counts as disturbed (empty: it does not)."""

    wall_s: float
    wait_frac: float
    others_cores: float
    steal_cores: float
    psi_some: float | None
    nivcsw: int
    disturbed: tuple[str, ...]
    user_s: float = 0.0
    sys_s: float = 0.0
    minflt: int = 0
    majflt: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), disturbed=list(self.disturbed))


def _proc_stat() -> tuple[float, float]:
    """(busy seconds without steal, steal seconds) over every CPU, from /proc/stat's first line."""
    try:
        with open("/proc/stat", "rb") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) * TICK_S, steal * TICK_S


def _psi_some() -> float | None:
    """Seconds some task waited for a CPU since boot (/proc/pressure/cpu), None where the kernel has no PSI."""
    try:
        with open("/proc/pressure/cpu", "rb") as fh:
            line = fh.readline().decode()
        return int(line.rsplit("total=", 1)[1]) / 1e6
    except (OSError, IndexError, ValueError):
        return None


def _threads(pids: list[int]) -> list[str]:
    out = []
    for pid in pids:
        try:
            out.extend(f"/proc/{pid}/task/{tid}" for tid in os.listdir(f"/proc/{pid}/task"))
        except OSError:
            continue
    return out


def _sched(pids: list[int]) -> tuple[float, float, int]:
    """(CPU seconds, runqueue wait seconds, involuntary context switches) of every thread of `pids`."""
    run = wait = 0
    nivcsw = 0
    for task in _threads(pids):
        try:
            with open(f"{task}/schedstat", "rb") as fh:
                a, b = fh.read().split()[:2]
            run, wait = run + int(a), wait + int(b)
            with open(f"{task}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"nonvoluntary_ctxt_switches"):
                        nivcsw += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return run / 1e9, wait / 1e9, nivcsw


def _proc_usage(pids: list[int]) -> tuple[float, float, int, int]:
    """(user seconds, system seconds, minor faults, major faults) of the processes `pids`, from /proc/<pid>/stat."""
    user = system = 0.0
    minflt = majflt = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()  # fields from the 3rd (state) on
        except (OSError, IndexError):
            continue
        minflt, majflt = minflt + int(fields[7]), majflt + int(fields[9])
        user, system = user + int(fields[11]) * TICK_S, system + int(fields[12]) * TICK_S
    return user, system, minflt, majflt


def snapshot(worker_pids: list[int]) -> Snapshot:
    """Read every counter now for the worker processes `worker_pids` (this process's CPU counts as theirs)."""
    busy, steal = _proc_stat()
    psi = _psi_some()
    run, wait, nivcsw = _sched(worker_pids)
    own, _, _ = _sched([os.getpid()])
    user, system, minflt, majflt = _proc_usage(worker_pids)
    return Snapshot(time.monotonic(), busy, steal, psi, run + own, wait, nivcsw, user, system, minflt, majflt)


def judge(before: Snapshot, after: Snapshot) -> Interference:
    """The signals between two snapshots of the same worker, and whether they call the call disturbed."""
    wall = max(after.wall_s - before.wall_s, 1e-9)
    wait_frac = max(after.wait_s - before.wait_s, 0.0) / wall
    tick_error = 2 * TICK_S * N_CPUS
    others = max(after.busy_s - before.busy_s - (after.own_cpu_s - before.own_cpu_s) - tick_error, 0.0) / wall
    steal = max(after.steal_s - before.steal_s - 2 * TICK_S * N_CPUS, 0.0) / wall
    psi = None if before.psi_some_s is None or after.psi_some_s is None else (
        (after.psi_some_s - before.psi_some_s) / wall)
    reasons = []
    if wait_frac > WAIT_FRAC_MAX and wait_frac * wall > WAIT_MIN_S:
        reasons.append(f"the worker waited for a CPU {wait_frac:.0%} of the call (> {WAIT_FRAC_MAX:.0%})")
    if others > OTHERS_CORES_MAX:
        reasons.append(f"other processes used {others:.2f} cores (> {OTHERS_CORES_MAX:.2f})")
    if steal > STEAL_CORES_MAX:
        reasons.append(f"the hypervisor stole {steal:.2f} cores (> {STEAL_CORES_MAX:.2f})")
    return Interference(wall, wait_frac, others, steal, psi, max(after.nivcsw - before.nivcsw, 0), tuple(reasons),
                        user_s=max(after.user_s - before.user_s, 0.0), sys_s=max(after.sys_s - before.sys_s, 0.0),
                        minflt=max(after.minflt - before.minflt, 0), majflt=max(after.majflt - before.majflt, 0))
