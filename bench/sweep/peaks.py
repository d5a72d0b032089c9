"""This machine's matmul peaks per precision, measured once by a worker that runs nothing else (the FLOP
figures' denominators)."""

from __future__ import annotations

import logging

from bench.measure.compute import cached_peaks, peak_key
from bench.sweep.plan import Group, RunPaths
from bench.workers import Worker, WorkerFailure, WorkerSpec

log = logging.getLogger("bench.sweep")


def machine_peaks(group: Group, paths: RunPaths, limits: dict[str, float]) -> dict[str, float]:
    """Matmul GFLOP/s per precision of this machine, measured once (per host, CPU, threads, torch) by a worker
    that runs nothing else, and cached in the machine's cache (`tts_core.constants.cache_dir()`/peaks.json, beside
    the calibration: a fact of the machine, not of one results folder)."""
    import torch

    from tts_core.constants import cache_dir
    from tts_core.machine import cpu_model

    hw = group.contenders[0].hardware
    key = peak_key(group.host, cpu_model(), hw["device"], int(hw.get("threads") or 0), torch.__version__)

    def measure() -> dict[str, float]:
        spec = WorkerSpec(contender="peak", device=hw["device"], threads=int(hw.get("threads") or 0),
                          log_file=str(paths.out_dir / "logs" / "peak.log"))
        worker = Worker(spec, limits["memory_mb"])
        try:
            log.info("measuring this machine's matmul peaks (once per machine)")
            return worker.call("peak", limits["time_s"], sample=False, seconds=0.5)
        finally:
            worker.close()

    try:
        return cached_peaks(cache_dir(), key, measure)
    except WorkerFailure as exc:
        log.warning("matmul peaks not measured: %s", exc.reason)
        return {}

