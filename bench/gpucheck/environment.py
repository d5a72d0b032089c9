"""What a GPU check's figures depend on: versions, the GPU and its driver, and the process-wide torch flags
(TF32 for matmuls and cuDNN, `cudnn.benchmark`, the allocator's settings)."""

from __future__ import annotations

import os
import platform
from typing import Any

from bench.gpucheck.nvml import gpu_facts

ALLOCATOR_ENV = ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF", "CUBLAS_WORKSPACE_CONFIG")


def flags_now() -> dict[str, Any]:
    """torch's process-wide numeric flags as they stand: TF32 for matmuls and for cuDNN convolutions,
    `float32_matmul_precision`, `cudnn.benchmark`, `cudnn.deterministic`."""
    import torch

    return {"matmul_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
            "cudnn_tf32": bool(torch.backends.cudnn.allow_tf32),
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
            "cudnn_deterministic": bool(torch.backends.cudnn.deterministic)}


def allocator(device: str) -> dict[str, Any]:
    """The caching allocator's settings: its environment variables (as set, or None), and on CUDA its backend
    and this process's memory fraction where torch can tell."""
    out: dict[str, Any] = {name: os.environ.get(name) for name in ALLOCATOR_ENV}
    if device.startswith("cuda"):
        import torch

        dev = torch.device(device)
        out["backend"] = torch.cuda.get_allocator_backend()
        get_fraction = getattr(torch.cuda, "get_per_process_memory_fraction", None)  # not in every torch
        if get_fraction is not None:
            out["memory_fraction"] = get_fraction(dev)
    return out


def environment(device: str) -> dict[str, Any]:
    """Python, torch, CUDA runtime and cuDNN versions, the GPU (name, memory, capability), NVML's driver and CUDA
    driver versions, the flags and the allocator's settings at the run's start."""
    import torch

    env: dict[str, Any] = {"python": platform.python_version(), "torch": torch.__version__,
                           "cuda_runtime": torch.version.cuda, "cpu_count": os.cpu_count(), "nvml": gpu_facts(),
                           "flags_at_start": flags_now(), "allocator": allocator(device)}
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(torch.device(device))
        env["gpu"] = {"name": props.name, "memory_mb": props.total_memory / 2**20,
                      "capability": f"{props.major}.{props.minor}", "cudnn": torch.backends.cudnn.version()}
        nvml = env["nvml"] or {}
        env["gpu"]["driver"] = nvml.get("driver")
        env["gpu"]["cuda_driver"] = nvml.get("cuda_driver")
    return env
