"""The memory pass, separate from timing: one round under memory_profiler's sampler (a separate
process reading this one's RSS every `interval_s`), written as an mprof `.dat` timeline that
`mprof plot` reads; the OS's lifetime peak (ru_maxrss); CUDA peaks reset for this pass."""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from memory_profiler import memory_usage


@dataclass
class MemoryFigures:
    peak_rss_mb: float  # highest sampled RSS during the round (MiB)
    max_rss_mb: float  # ru_maxrss: the process's peak since it started, load included (MiB)
    sample_hz: float  # achieved sampling rate
    samples: int
    cuda_max_allocated_mb: Optional[float] = None
    cuda_max_reserved_mb: Optional[float] = None


def max_rss_mb() -> float:
    """The OS's peak resident set size of this process, in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def write_mprof(path: Path, samples: list[tuple[float, float]], cmdline: str) -> Path:
    """Write `(MiB, unix seconds)` samples in memory_profiler's `mprofile_*.dat` format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fh.write(f"CMDLINE {cmdline}\n")
        for mem, stamp in samples:
            fh.write(f"MEM {mem:.6f} {stamp:.4f}\n")
    return path


def memory_pass(fn: Callable[[], Any], *, device: str, interval_s: float, mprof_path: Path, label: str) -> tuple[MemoryFigures, Any]:
    """Run `fn` once under the sampler; returns its figures and `fn`'s result."""
    cuda = device.startswith("cuda")
    if cuda:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    samples, result = memory_usage(proc=(fn, (), {}), interval=interval_s, timestamps=True, retval=True,
                                   include_children=False, max_usage=False)
    samples = [(float(m), float(t)) for m, t in samples]
    write_mprof(mprof_path, samples, f"python -m bench.run_one {label}")
    span = samples[-1][1] - samples[0][1] if len(samples) > 1 else 0.0
    figures = MemoryFigures(
        peak_rss_mb=max(m for m, _ in samples),
        max_rss_mb=max_rss_mb(),
        sample_hz=(len(samples) - 1) / span if span > 0 else 0.0,
        samples=len(samples),
    )
    if cuda:
        import torch

        torch.cuda.synchronize()
        figures.cuda_max_allocated_mb = torch.cuda.max_memory_allocated() / 2**20
        figures.cuda_max_reserved_mb = torch.cuda.max_memory_reserved() / 2**20
    return figures, result
