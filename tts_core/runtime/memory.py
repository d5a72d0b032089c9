"""Memory readings, a background peak monitor, a memory limit for jobs, and leak checks.

All sizes are in MB (2**20 bytes); times in seconds.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import logging
import threading
import time
from collections import deque
from typing import Callable, Iterator

import psutil
import torch

from tts_core import constants
from tts_core.errors import MemoryLimitError, bad_field
from tts_core.runtime.cycles import find_reference_cycles

__all__ = [
    "MemoryGuard", "MemoryMonitor", "check_memory", "cuda_memory_mb", "default_limit_mb",
    "find_reference_cycles", "memory_limit", "release_memory", "rss_mb",
]

log = logging.getLogger(__name__)
_MB = 1024 * 1024
_PROCESS = psutil.Process()
# The limit of the innermost `memory_limit` block, read by `check_memory(None)`.
_ACTIVE_LIMIT_MB: contextvars.ContextVar[float | None] = contextvars.ContextVar("active_limit_mb", default=None)


def rss_mb() -> float:
    """Resident set size of this process, in MB."""
    return _PROCESS.memory_info().rss / _MB


def cuda_memory_mb(device: torch.device | str | int | None = None) -> dict | None:
    """CUDA memory of `device` in MB: `allocated`, `reserved`, `max_allocated`, `free`, `total`.

    None when CUDA is not available.
    """
    if not torch.cuda.is_available():
        return None
    free, total = torch.cuda.mem_get_info(device)
    return {
        "allocated": torch.cuda.memory_allocated(device) / _MB,
        "reserved": torch.cuda.memory_reserved(device) / _MB,
        "max_allocated": torch.cuda.max_memory_allocated(device) / _MB,
        "free": free / _MB,
        "total": total / _MB,
    }


def default_limit_mb() -> float:
    """The memory limit from `$TTS_CORE_MEMORY_LIMIT_MB` in MB (0 = no limit)."""
    return constants.env_float(constants.ENV_MEMORY_LIMIT_MB, constants.DEFAULT_MEMORY_LIMIT_MB)


class MemoryMonitor:
    """Samples RSS (and CUDA allocated/reserved when available) from a background thread at `hz`.

    `hz` defaults to `$TTS_CORE_MONITOR_HZ`, else 100. Allocations shorter than one sampling period
    can slip between samples; `stop()` takes a last sample. When `limit_mb` is set and RSS goes above
    it, the monitor logs one warning, counts each crossing in `alerts` and calls `on_alert(rss_mb)`.
    Keeps the last `max_samples` samples.
    """

    def __init__(self, hz: float | None = None, limit_mb: float | None = None,
                 on_alert: Callable[[float], None] | None = None, device: torch.device | str | None = None,
                 max_samples: int = 1_000_000) -> None:
        hz = constants.env_float(constants.ENV_MONITOR_HZ, constants.DEFAULT_MONITOR_HZ) if hz is None else hz
        if not hz > 0:
            raise bad_field("MemoryMonitor", "hz", hz,
                            f"a sampling rate > 0 in Hz (or set ${constants.ENV_MONITOR_HZ})")
        if limit_mb is not None and not limit_mb > 0:
            raise bad_field("MemoryMonitor", "limit_mb", limit_mb, "a size in MB > 0, or None for no limit")
        self.hz = float(hz)
        self.limit_mb = limit_mb
        self.on_alert = on_alert
        self.alerts = 0
        self._cuda_device = device if device is not None and str(device).startswith("cuda") else None
        self._use_cuda = torch.cuda.is_available() and (device is None or self._cuda_device is not None)
        self._samples: deque[tuple[float, float]] = deque(maxlen=max_samples)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.perf_counter()
        self._above = False
        self._warned = False
        self.current_mb = rss_mb()
        self.peak_rss_mb = self.current_mb
        self.peak_cuda_mb: float | None = None
        self.peak_cuda_reserved_mb: float | None = None

    @property
    def samples(self) -> list[tuple[float, float]]:
        """(seconds since start, RSS in MB) pairs, oldest first."""
        with self._lock:
            return list(self._samples)

    @property
    def running(self) -> bool:
        """Whether the sampling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> "MemoryMonitor":
        """Start sampling (no-op when already running)."""
        if self.running:
            return self
        self._stop.clear()
        self._t0 = time.perf_counter()
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="MemoryMonitor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling after one last sample."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        self._sample()

    def reset_peak(self) -> None:
        """Restart the peaks from the current reading."""
        with self._lock:
            self.current_mb = rss_mb()
            self.peak_rss_mb = self.current_mb
            self.peak_cuda_mb = None
            self.peak_cuda_reserved_mb = None

    def __enter__(self) -> "MemoryMonitor":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        period = 1.0 / self.hz
        next_t = time.perf_counter() + period
        while not self._stop.wait(max(0.0, next_t - time.perf_counter())):
            self._sample()
            next_t += period
            now = time.perf_counter()
            if next_t < now:  # fell behind (busy machine): do not burst to catch up
                next_t = now + period

    def _sample(self) -> None:
        rss = rss_mb()
        cuda = None
        if self._use_cuda:
            cuda = (torch.cuda.memory_allocated(self._cuda_device) / _MB,
                    torch.cuda.memory_reserved(self._cuda_device) / _MB)
        with self._lock:
            self._samples.append((time.perf_counter() - self._t0, rss))
            self.current_mb = rss
            self.peak_rss_mb = max(self.peak_rss_mb, rss)
            if cuda is not None:
                self.peak_cuda_mb = max(self.peak_cuda_mb or 0.0, cuda[0])
                self.peak_cuda_reserved_mb = max(self.peak_cuda_reserved_mb or 0.0, cuda[1])
        self._check_limit(rss)

    def _check_limit(self, rss: float) -> None:
        if self.limit_mb is None:
            return
        above = rss > self.limit_mb
        if above and not self._above:
            self.alerts += 1
            if not self._warned:
                self._warned = True
                log.warning("Memory use %.0f MB went above the limit of %.0f MB.", rss, self.limit_mb)
            if self.on_alert is not None:
                try:
                    self.on_alert(rss)
                except Exception:  # a broken callback must not kill the sampler
                    log.exception("MemoryMonitor: the `on_alert` callback raised.")
        self._above = above


def _limit_error(current: float, needed: float, limit: float, what: str) -> MemoryLimitError:
    job = f" for {what}" if what else ""
    need = f" + {needed:.0f} MB needed{job}" if needed else job
    return MemoryLimitError(
        f"Memory limit exceeded: RSS {current:.0f} MB{need} is over the limit of {limit:.0f} MB. "
        f"Stream or chunk the input (smaller batches, shorter pieces), or raise the limit with "
        f"${constants.ENV_MEMORY_LIMIT_MB} (0 = no limit)."
    )


def check_memory(limit_mb: float | None = None, needed_mb: float = 0.0, what: str = "") -> float:
    """Raise `MemoryLimitError` if RSS plus `needed_mb` would exceed `limit_mb`; return RSS in MB.

    `limit_mb=None` uses the innermost `memory_limit` block's limit, else `$TTS_CORE_MEMORY_LIMIT_MB`;
    a limit <= 0 means no limit. `what` names the job in the message.
    """
    if limit_mb is None:
        limit_mb = _ACTIVE_LIMIT_MB.get()
        if limit_mb is None:
            limit_mb = default_limit_mb()
    current = rss_mb()
    if limit_mb > 0 and current + needed_mb > limit_mb:
        raise _limit_error(current, needed_mb, limit_mb, what)
    return current


class MemoryGuard:
    """Handle yielded by `memory_limit`: the limit in force and a monitor of the block's peak."""

    def __init__(self, limit_mb: float, monitor: MemoryMonitor | None) -> None:
        self.limit_mb = limit_mb
        self.monitor = monitor

    @property
    def peak_mb(self) -> float:
        """Peak RSS in MB seen in the block so far (the current RSS when no limit is set)."""
        return self.monitor.peak_rss_mb if self.monitor is not None else rss_mb()

    @property
    def exceeded(self) -> bool:
        """Whether RSS went above the limit at some sample in the block."""
        return self.monitor is not None and self.monitor.alerts > 0

    def check(self, needed_mb: float = 0.0, what: str = "") -> float:
        """Raise `MemoryLimitError` now if the limit was crossed, or if `needed_mb` more would cross it."""
        if self.monitor is not None and self.exceeded:
            raise _limit_error(self.monitor.peak_rss_mb, 0.0, self.limit_mb, what or "this block")
        return check_memory(self.limit_mb, needed_mb, what)


@contextlib.contextmanager
def memory_limit(limit_mb: float | None = None, hz: float | None = None) -> Iterator[MemoryGuard]:
    """Run a block under a memory limit in MB (None: `$TTS_CORE_MEMORY_LIMIT_MB`; 0: no limit).

    Raises `MemoryLimitError` on entry if RSS is already over the limit, from `guard.check(...)`
    (and `check_memory()` with no limit given) inside the block, and on exit if the block's sampled
    peak went over it. A Python thread cannot be interrupted safely mid-allocation, so long jobs
    should call `guard.check(needed_mb, what)` between chunks to stop early.
    """
    limit = default_limit_mb() if limit_mb is None else float(limit_mb)
    if limit <= 0:
        token = _ACTIVE_LIMIT_MB.set(0.0)
        try:
            yield MemoryGuard(0.0, None)
        finally:
            _ACTIVE_LIMIT_MB.reset(token)
        return
    check_memory(limit, 0.0, "starting the job")
    monitor = MemoryMonitor(hz=hz, limit_mb=limit).start()
    token = _ACTIVE_LIMIT_MB.set(limit)
    guard = MemoryGuard(limit, monitor)
    try:
        yield guard
    finally:
        _ACTIVE_LIMIT_MB.reset(token)
        monitor.stop()
    if guard.exceeded:  # reached only when the block itself raised nothing
        raise _limit_error(monitor.peak_rss_mb, 0.0, limit, "the job (peak during the block)")


def _malloc_trim() -> bool:
    """Ask glibc to return freed heap pages to the OS (tensors of ever-changing sizes fragment the heap
    and keep RSS high otherwise). False where there is no glibc."""
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False


def release_memory(device: str = "cpu", trim_heap: bool = True) -> dict:
    """Collect garbage, return freed heap pages to the OS (glibc; unless `trim_heap` is False), and on CUDA hand
    cached blocks back to the driver.

    Returns `rss_before_mb`, `rss_after_mb`, `freed_mb`, `collected` (objects), `heap_trimmed`, and on CUDA
    `cuda_reserved_before_mb` / `cuda_reserved_after_mb`.
    """
    before = rss_mb()
    cuda_before = cuda_memory_mb(device) if str(device).startswith("cuda") else None
    collected = gc.collect()
    trimmed = _malloc_trim() if trim_heap else False
    if cuda_before is not None:
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
    after = rss_mb()
    out = {"rss_before_mb": before, "rss_after_mb": after, "freed_mb": before - after, "collected": collected,
           "heap_trimmed": trimmed}
    if cuda_before is not None:
        cuda_after = cuda_memory_mb(device) or {}
        out["cuda_reserved_before_mb"] = cuda_before["reserved"]
        out["cuda_reserved_after_mb"] = cuda_after.get("reserved", 0.0)
    return out
