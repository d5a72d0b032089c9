"""Compute figures: model FLOPs counted by torch's FlopCounterMode, and this machine's fp32 matmul
peak (measured once per sweep and cached in the run folder, per device and thread count)."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

PEAK_FILE = "peak_gflops.json"


def count_flops(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Floating-point operations torch counted while `fn` ran (2 per multiply-add), and `fn`'s result."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        result = fn()
    return float(counter.get_total_flops()), result


def measure_peak_gflops(device: str, seconds: float = 1.0, n: int = 1024) -> float:
    """Achieved GFLOP/s of an n x n fp32 matmul on `device` with the current torch threads."""
    import torch

    if device.startswith("cuda"):
        n = 4096
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    for _ in range(3):
        torch.mm(a, b)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    sync()
    iters, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        torch.mm(a, b)
        iters += 1
    sync()
    return 2.0 * n**3 * iters / (time.perf_counter() - t0) / 1e9


def peak_gflops(run_dir: Path, host: str, device: str, threads: int) -> float:
    """The cached peak for (host, device, threads) in `run_dir`, measured on first use."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path, key = run_dir / PEAK_FILE, f"{host}|{device}|{threads}"
    with open(run_dir / f"{PEAK_FILE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cache = json.loads(path.read_text()) if path.exists() else {}
        if key not in cache:
            cache[key] = measure_peak_gflops(device)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
            os.replace(tmp, path)
        return float(cache[key])
