"""Process-wide torch flags scoped to one engine's calls: threads, cudnn.benchmark, TF32, determinism.

torch keeps these flags per process, so an engine that set them at load would change every other engine
in the same process (a benchmark loads several tiers side by side). `flag_scope` sets a tier's flags on
entry and restores the previous values on exit; `Engine` wraps every synthesis, stream step, batch,
warmup and calibration in it. A flag the tier leaves at its default is not touched at all, so the
baseline runs under PyTorch's own defaults ("as commonly written").

Three settings cannot be scoped and are handled at load: the inter-op thread count (settable once per
process, before any parallel work), the CUDA memory fraction (a cap of the caching allocator per
device: a second engine asking a different cap on the same device is refused), for a tier with
`kernel_cache`, oneDNN's primitive-cache cap (an environment variable oneDNN reads once, at its first
primitive: it bounds memory only in a process whose first engine asks for it, see docs/memory.md) and, for a
tier with `retain_heap`, glibc's mmap and trim thresholds (process-wide from then on).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Iterator

import torch

from tts_core.constants import (
    CUBLAS_DETERMINISTIC_CONFIG,
    ENV_CUBLAS_WORKSPACE_CONFIG,
    ENV_ONEDNN_PRIMITIVE_CACHE,
    ensure_env,
    size_onednn_primitive_cache,
)
from tts_core.errors import ConfigError
from tts_core.runtime.heap import retain_heap
from tts_core.tiers.config import TierConfig
from tts_core.tiers.switches import NotApplicable

log = logging.getLogger("tts_core")
_SCOPE_LOCK = threading.RLock()  # two engines on two threads must not interleave set/restore
_MEMORY_FRACTIONS: dict[int, float] = {}  # CUDA device index -> fraction set in this process


def cuda_index(device: torch.device) -> int:
    """The CUDA device index of `device` ("cuda" alone means the current device)."""
    return device.index if device.index is not None else torch.cuda.current_device()


def apply_load_flags(tier: TierConfig, device: torch.device) -> list[NotApplicable]:
    """The flags that cannot be scoped, set once at load: oneDNN's primitive-cache size (a tier with
    `kernel_cache`, unless the user set it), inter-op threads, the CUDA memory fraction (for the engine's own
    device index), and the cuBLAS workspace setting a deterministic tier needs. Returns the switches that could
    not take effect in this process, with the reason (a switch that cannot act on the device at all is the
    registry's note: `tts_core.tiers.build.not_applicable`). Raises `ConfigError` when another engine in this
    process already capped the same device at a different fraction."""
    not_applicable: list[NotApplicable] = []
    if tier.kernel_cache is not None and device.type == "cpu":  # the baseline keeps oneDNN's default
        size = size_onednn_primitive_cache(tier.kernel_cache)
        if size != str(tier.kernel_cache):
            not_applicable.append(NotApplicable("kernel_cache", ("kernel_cache",),
                                                f"the environment's {ENV_ONEDNN_PRIMITIVE_CACHE}={size} is kept"))
    if tier.retain_heap:
        reason = retain_heap()
        if reason:
            not_applicable.append(NotApplicable("retain_heap", ("retain_heap",), reason))
    if tier.interop_threads is not None and torch.get_num_interop_threads() != tier.interop_threads:
        try:
            torch.set_num_interop_threads(tier.interop_threads)
        except RuntimeError:  # only settable before the first parallel work in the process
            not_applicable.append(NotApplicable("threads", ("interop_threads",), "already fixed in this process"))
    if device.type != "cuda":
        return not_applicable
    if tier.deterministic:
        note = _prepare_cublas()
        if note:
            not_applicable.append(NotApplicable("deterministic", ("deterministic",), note))
    if tier.cuda_memory_fraction is not None:
        set_memory_fraction(tier.cuda_memory_fraction, device)
    return not_applicable


def _prepare_cublas() -> str | None:
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
    """Cap this process's CUDA caching allocator on `device` (its own index) at `fraction` of the GPU."""
    index = cuda_index(device)
    with _SCOPE_LOCK:
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
    with _SCOPE_LOCK:
        torch.cuda.set_per_process_memory_fraction(1.0, index)
        _MEMORY_FRACTIONS.pop(index, None)


@contextlib.contextmanager
def flag_scope(tier: TierConfig, device: torch.device) -> Iterator[None]:
    """Set `tier`'s threads and CUDA flags for the block, then restore what the process had."""
    with _SCOPE_LOCK:
        restore: list[tuple[object, str, object]] = []

        def put(obj: object, name: str, value: object) -> None:
            old = getattr(obj, name)
            if old != value:
                restore.append((obj, name, old))
                setattr(obj, name, value)

        threads = torch.get_num_threads()
        det = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
        try:
            if tier.threads is not None and tier.threads != threads:
                torch.set_num_threads(tier.threads)
            if device.type == "cuda":
                if tier.cudnn_benchmark:
                    put(torch.backends.cudnn, "benchmark", True)
                if tier.tf32:
                    put(torch.backends.cuda.matmul, "allow_tf32", True)
                    put(torch.backends.cudnn, "allow_tf32", True)
                if tier.deterministic:
                    put(torch.backends.cudnn, "deterministic", True)
                    put(torch.backends.cudnn, "benchmark", False)  # autotuning may pick differently per run
                    torch.use_deterministic_algorithms(True, warn_only=True)
            yield
        finally:
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
            for obj, name, old in reversed(restore):
                setattr(obj, name, old)
            if (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()) != det:
                torch.use_deterministic_algorithms(det[0], warn_only=det[1])
