"""Facts about the machine that the engine and the harness both record (no torch import here)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else what `platform` knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """CPU cores this process may run on: the affinity mask (`os.sched_getaffinity`), which respects
    taskset, cgroups cpusets and container limits; `os.cpu_count()` only where there is no mask (not Linux)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def threads_each(n_processes: int) -> int:
    """Intra-op threads for each of `n_processes` processes that split the usable cores between them (at least 1)."""
    return max(1, usable_cores() // n_processes)


# cap oneDNN's, ATen's and MKL's (torch's matmul) vector code below the CPU's best
ISA_CAPS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS")


def isa_caps() -> dict[str, str]:
    """The instruction-set caps set in this process's environment (`ONEDNN_MAX_CPU_ISA=AVX2`,
    `ATEN_CPU_CAPABILITY=avx2` and `MKL_ENABLE_INSTRUCTIONS=AVX2` make torch run as on an AVX2-only CPU;
    onnxruntime ignores all three)."""
    return {name: os.environ[name] for name in ISA_CAPS if os.environ.get(name)}
