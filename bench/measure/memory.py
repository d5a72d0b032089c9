"""Memory timelines in memory_profiler's `mprofile_*.dat` format (`mprof plot FILE` draws them), split into phases.

The samples come from the parent, which reads each busy worker's RSS at 100 Hz from outside
(`bench/workers/client.py`), so each contender's timeline is its own process's and the sampler costs it
nothing; CUDA peaks are read inside the worker (`memory` op).

The parent marks where each phase starts (`Worker.mark`), and a row reports the peak of each apart:

    load      the cold load, the tier's calibration and the first call  -> `load_peak_rss_mb`
    steady    the timed rounds                                          -> `steady_peak_rss_mb`
    untimed   fidelity, FLOPs, stage breakdown, samples (not sampled)   -> in neither

`peak_rss_mb` stays the peak of the whole timeline (load and steady together), as before the phases. A process that
calibrates at load can peak far above its steady state (1,096 MB against 692 MB for the advanced tier, one run
each): the load figure is what a cold start needs, the steady one what a running service holds.
"""

from __future__ import annotations

from pathlib import Path

LOAD, STEADY, UNTIMED = "load", "steady", "untimed"
PHASES = (LOAD, STEADY, UNTIMED)


def check_phase(phase: str) -> str:
    """`phase` if it is one of PHASES; else a ValueError naming the allowed values."""
    if phase not in PHASES:
        raise ValueError(f"`phase` = {phase!r} is not a memory phase; expected one of {', '.join(PHASES)}.")
    return phase


def phase_of(stamp: float, marks: list[tuple[str, float]]) -> str:
    """The phase a sample taken at `stamp` (unix seconds) belongs to: that of the last mark at or before it
    (LOAD before the first mark)."""
    phase = LOAD
    for name, at in marks:
        if at > stamp:
            break
        phase = name
    return phase


def phase_peaks(samples: list[tuple[float, float]], marks: list[tuple[str, float]]) -> dict[str, float]:
    """Peak MiB of each phase that has samples, from `(MiB, unix seconds)` samples and `(phase, unix seconds)` marks
    in time order."""
    peaks: dict[str, float] = {}
    for mem, stamp in samples:
        phase = phase_of(stamp, marks)
        peaks[phase] = max(peaks.get(phase, mem), mem)
    return peaks


def write_mprof(path: Path, samples: list[tuple[float, float]], cmdline: str,
                marks: list[tuple[str, float]] | None = None) -> Path:
    """Write `(MiB, unix seconds)` samples in memory_profiler's `mprofile_*.dat` format; each phase of `marks` that
    has samples becomes a `FUNC` line (its first and last sample), which `mprof plot` draws as a bracket."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        fh.write(f"CMDLINE {cmdline}\n")
        for mem, stamp in samples:
            fh.write(f"MEM {mem:.6f} {stamp:.4f}\n")
        spans: dict[str, list[tuple[float, float]]] = {}
        for mem, stamp in samples if marks is not None else []:
            spans.setdefault(phase_of(stamp, marks or []), []).append((mem, stamp))
        for phase, points in spans.items():
            (m0, t0), (m1, t1) = points[0], points[-1]
            fh.write(f"FUNC {phase} {m0:.6f} {t0:.4f} {m1:.6f} {t1:.4f}\n")
    return path
