"""Process-wide CUDA settings a switch makes at load: the caching allocator's cap per device, and the cuBLAS
workspace deterministic algorithms need. Neither can be scoped to one engine's calls (see `tts_core.flags`)."""

from __future__ import annotations

import logging
import threading

import torch

from tts_core.constants import CUBLAS_DETERMINISTIC_CONFIG, ENV_CUBLAS_WORKSPACE_CONFIG, ensure_env
from tts_core.errors import ConfigError

log = logging.getLogger("tts_core")
_LOCK = threading.Lock()
_MEMORY_FRACTIONS: dict[int, float] = {}  # CUDA device index -> fraction set in this process


def cuda_index(device: torch.device) -> int:
    """The CUDA device index of `device` ("cuda" alone means the current device)."""
    return device.index if device.index is not None else torch.cuda.current_device()


def prepare_cublas() -> str | None:
    """Set CUBLAS_WORKSPACE_CONFIG for deterministic cuBLAS if unset; a note when it cannot take effect."""
    already = torch.cuda.is_initialized()
    value = ensure_env(ENV_CUBLAS_WORKSPACE_CONFIG, CUBLAS_DETERMINISTIC_CONFIG)
    if value not in (CUBLAS_DETERMINISTIC_CONFIG, ":16:8"):
        log.warning("%s=%s is not a deterministic cuBLAS setting; use %s", ENV_CUBLAS_WORKSPACE_CONFIG,
                    value, CUBLAS_DETERMINISTIC_CONFIG)
        return f"deterministic cuBLAS ({ENV_CUBLAS_WORKSPACE_CONFIG}={value}; set {CUBLAS_DETERMINISTIC_CONFIG})"
    if already and value == CUBLAS_DETERMINISTIC_CONFIG:
        log.warning("CUDA was initialised before %s was set, so cuBLAS may not be deterministic in this process; "
                    "export %s=%s before starting Python", ENV_CUBLAS_WORKSPACE_CONFIG,
                    ENV_CUBLAS_WORKSPACE_CONFIG, CUBLAS_DETERMINISTIC_CONFIG)
    return None


def set_memory_fraction(fraction: float, device: torch.device) -> None:
    """Cap this process's CUDA caching allocator on `device` (its own index) at `fraction` of the GPU. Raises
    `ConfigError` when another engine in this process already capped the same device at a different fraction."""
    index = cuda_index(device)
    with _LOCK:
        previous = _MEMORY_FRACTIONS.get(index)
        if previous is not None and previous != fraction:
            raise ConfigError(
                f"`cuda_memory_fraction` = {fraction!r}: cuda:{index} is already capped at {previous!r} by another "
                "engine in this process, and the cap is per process; use the same fraction or a separate process."
            )
        torch.cuda.set_per_process_memory_fraction(fraction, index)
        _MEMORY_FRACTIONS[index] = fraction


def release_memory_fraction(device: torch.device) -> None:
    """Lift this process's cap on `device` (fraction 1.0) and forget it, so a later engine may set another.
    For a harness that tests the cap; an engine never lifts it itself (others in the process may rely on it)."""
    index = cuda_index(device)
    with _LOCK:
        torch.cuda.set_per_process_memory_fraction(1.0, index)
        _MEMORY_FRACTIONS.pop(index, None)
