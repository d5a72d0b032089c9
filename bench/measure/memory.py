"""Memory timelines in memory_profiler's `mprofile_*.dat` format (`mprof plot FILE` draws them).

The samples come from the parent, which reads each busy worker's RSS at 100 Hz from outside
(`bench/workers/client.py`), so each contender's timeline is its own process's and the sampler costs it
nothing; CUDA peaks are read inside the worker (`memory` op)."""

from __future__ import annotations

from pathlib import Path


def write_mprof(path: Path, samples: list[tuple[float, float]], cmdline: str) -> Path:
    """Write `(MiB, unix seconds)` samples in memory_profiler's `mprofile_*.dat` format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fh.write(f"CMDLINE {cmdline}\n")
        for mem, stamp in samples:
            fh.write(f"MEM {mem:.6f} {stamp:.4f}\n")
    return path
