"""`run`: every check in order within a time budget, then report.json + report.html; the exit code says
whether a gated check failed."""

from __future__ import annotations

import os
import platform
import tempfile
import traceback
from pathlib import Path
from typing import Any

from bench.gpucheck import bundle, report
from bench.gpucheck.nvml import gpu_facts

NO_CUDA_MESSAGE = "No CUDA device here: nothing was checked (run this on the GPU machine)."


def _environment(device: str) -> dict[str, Any]:
    import torch

    env: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                           "cuda": torch.version.cuda, "cpu_count": os.cpu_count(), "nvml": gpu_facts()}
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(device))
        env["gpu"] = {"name": props.name, "memory_mb": props.total_memory / 2**20,
                      "capability": f"{props.major}.{props.minor}", "cudnn": torch.backends.cudnn.version()}
    return env


def run(bundle_dir: str | Path, out_dir: str | Path, device: str | None = None, rounds: int = 5,
        budget_s: float = 270.0, only: list[str] | None = None) -> int:
    """Run the checks on `device` (default: "cuda" if present); 0 when every gated check passed, 1 when
    one failed. Without CUDA and without an explicit `device`, print that nothing was checked and return 0.
    `device` = "cpu" only exercises the code paths (the report says it is not a GPU check)."""
    import torch

    from bench.gpucheck.checks import CHECKS
    from bench.gpucheck.context import CheckContext

    if device is None:
        if not torch.cuda.is_available():
            print(NO_CUDA_MESSAGE)
            return 0
        device = "cuda"
    unknown = sorted(set(only or []) - set(CHECKS))
    if unknown:
        raise ValueError(f"`--only` = {unknown[0]!r}; expected some of {', '.join(CHECKS)}.")
    os.environ.setdefault("TTS_CORE_CACHE_DIR", tempfile.mkdtemp(prefix="gpucheck-cache-"))  # no stale audio
    ctx = CheckContext(bundle.load(bundle_dir), device, rounds=rounds, budget_s=budget_s)
    results: dict[str, Any] = {}
    for name, check in CHECKS.items():
        if only and name not in only:
            continue
        if ctx.elapsed() > budget_s:
            results[name] = {"status": "skip", "reason": f"time budget of {budget_s:g} s spent"}
            continue
        print(f"[{ctx.elapsed():6.1f} s] {name} ...", flush=True)
        t0 = ctx.elapsed()
        try:
            results[name] = check(ctx)
        except Exception as exc:  # a crash of one check is its failure, reported, not the run's end
            results[name] = {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                             "traceback": traceback.format_exc()[-4000:]}
        results[name]["seconds"] = ctx.elapsed() - t0
        print(f"[{ctx.elapsed():6.1f} s] {name}: {results[name]['status']}", flush=True)
    failed = [n for n, r in results.items() if r["status"] in ("fail", "error")]
    gpu = device.startswith("cuda")
    rep = {"verdict": "fail" if failed else "pass", "failed": failed, "device": device, "gpu_check": gpu,
           "note": None if gpu else "not a GPU check: code paths exercised on the CPU",
           "bundle": {"dir": str(bundle_dir), "voice": ctx.bundle.manifest["voice"]["name"]},
           "rounds": rounds, "seconds": ctx.elapsed(), "environment": _environment(device), "checks": results}
    js, page = report.write(rep, Path(out_dir))
    print(f"{rep['verdict']}: {js} {page}" + (f" (failed: {', '.join(failed)})" if failed else ""))
    return 1 if failed else 0
