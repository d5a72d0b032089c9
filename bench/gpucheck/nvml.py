"""GPU facts through NVML (`nvidia-ml-py`), read without creating a CUDA context."""

from __future__ import annotations

from typing import Any


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def gpu_facts() -> dict[str, Any] | None:
    """Driver and CUDA driver versions, and per GPU: name, memory total/free in MB, compute capability,
    power limit in W. None when pynvml is not importable or no GPU answers."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # pynvml.NVMLError and library-not-found errors
        return None
    try:
        gpus = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            mem = pynvml.nvmlDeviceGetMemoryInfo(h)
            gpu: dict[str, Any] = {"index": i, "name": _text(pynvml.nvmlDeviceGetName(h)),
                                   "memory_total_mb": mem.total / 2**20, "memory_free_mb": mem.free / 2**20}
            try:
                gpu["compute_capability"] = ".".join(map(str, pynvml.nvmlDeviceGetCudaComputeCapability(h)))
                gpu["power_limit_w"] = pynvml.nvmlDeviceGetPowerManagementLimit(h) / 1000.0
            except Exception:  # not supported on every board
                pass
            gpus.append(gpu)
        if not gpus:
            return None
        return {"driver": _text(pynvml.nvmlSystemGetDriverVersion()),
                "cuda_driver": pynvml.nvmlSystemGetCudaDriverVersion(), "gpus": gpus}
    except Exception:
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass
