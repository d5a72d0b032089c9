"""Compute figures: the model's FLOPs, counted once per text on the eager fp32 reference (so every tier of one
engine has the same FLOPs and its achieved GFLOP/s compare), and this machine's matmul peaks per precision,
measured once per machine in a quiet worker and cached.

A fused or quantized kernel does the same model work; PyTorch's FLOP counter has no formula for oneDNN's
fused ops (`mkldnn._convolution_pointwise`), which is why tiers are never counted themselves.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

PEAKS_FILE = "peaks.json"
# module attribute of the VITS model -> the stage `profile_stages` reports it under
STAGE_OF_MODULE = {"enc_p": "encoder", "dp": "encoder", "flow": "flow", "dec": "decoder"}


def stage_classes(model: Any) -> dict[str, str]:
    """Class name of each stage module of a VITS model -> its stage (`TextEncoder` -> encoder, ...)."""
    return {type(module).__name__: STAGE_OF_MODULE[name] for name, module in model.named_children()
            if name in STAGE_OF_MODULE}


def count_stage_flops(fn: Callable[[], Any], stage_of_class: dict[str, str]) -> tuple[dict[str, Any], Any]:
    """FLOPs torch counted while `fn` ran (2 per multiply-add): `{"flops": total, "stage_flops": {stage: n}}`,
    and `fn`'s result. The renderer calls each stage module itself, so the counter's top-level entries are the
    stages' class names (`stage_of_class`, from `stage_classes`)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        result = fn()
    stages: dict[str, float] = {}
    for module, ops in counter.get_flop_counts().items():
        stage = stage_of_class.get(str(module))
        if stage is not None:
            stages[stage] = stages.get(stage, 0.0) + float(sum(ops.values()))
    return {"flops": float(counter.get_total_flops()), "stage_flops": stages}, result


def _matmul_gflops(device: str, dtype: Any, seconds: float, n: int) -> float:
    import torch

    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    for _ in range(3):
        torch.mm(a, b)
    sync()
    iters, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        torch.mm(a, b)
        iters += 1
    sync()
    return 2.0 * n**3 * iters / (time.perf_counter() - t0) / 1e9


def matmul_peaks(device: str, seconds: float = 0.5) -> dict[str, float]:
    """Achieved matmul GFLOP/s per precision on `device` with this process's threads: fp32 (TF32 off) and bf16
    everywhere; on CUDA also tf32 and fp16 (tensor cores). Flags are restored afterwards."""
    import torch

    cuda = device.startswith("cuda")
    n = 4096 if cuda else 1024
    saved = torch.backends.cuda.matmul.allow_tf32
    peaks: dict[str, float] = {}
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        peaks["fp32"] = _matmul_gflops(device, torch.float32, seconds, n)
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = True
            peaks["tf32"] = _matmul_gflops(device, torch.float32, seconds, n)
            torch.backends.cuda.matmul.allow_tf32 = False
            peaks["fp16"] = _matmul_gflops(device, torch.float16, seconds, n)
        peaks["bf16"] = _matmul_gflops(device, torch.bfloat16, seconds, n)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = saved
    return peaks


def peak_key(host: str, cpu: str, device: str, threads: int, torch_version: str) -> str:
    return f"{host}|{cpu}|{device}|{threads}|{torch_version}"


def _busy(load: float | None, cores: int) -> bool:
    """Whether a 1-minute load average says the machine ran other work (above half its cores; None: unknown)."""
    return load is None or float(load) > cores / 2


def cached_peaks(cache_dir: Path, key: str, measure: Callable[[], dict[str, float]]) -> dict[str, float]:
    """The peaks stored under `key` in `cache_dir/peaks.json`, or `measure()` them and store them with the load
    average they were taken at; a measurement taken on a busy machine is taken again the next time the machine is
    quiet (measuring again while it is still busy would give no better figure, and cost a worker every sweep)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / PEAKS_FILE
    with open(cache_dir / f"{PEAKS_FILE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            cache = json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            cache = {}
        load = os.getloadavg()[0]  # before: the measurement's own threads would count otherwise
        cores = len(os.sched_getaffinity(0))
        stored = cache.get(key)
        if stored is None or (_busy(stored.get("load_avg_1m"), stored.get("cores") or 1) and not _busy(load, cores)):
            peaks = measure()
            cache[key] = dict(peaks, load_avg_1m=load, cores=cores)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(cache, indent=1, sort_keys=True))
            os.replace(tmp, path)
        return {k: float(v) for k, v in cache[key].items() if k not in ("load_avg_1m", "cores")}
