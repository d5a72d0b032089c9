"""glibc's heap, kept mapped between calls (the `retain_heap` switch).

By default glibc hands large blocks (above a threshold that moves with what was freed last, 128 KiB to 32 MiB)
to `mmap` and unmaps them on `free`, and trims the top of the heap whenever more than twice that threshold is free
there. A synthesis allocates and frees activations of tens of MB per call, so the next call maps them afresh
and the kernel zero-fills every page it touches: on a 2-core AMD EPYC, 130,000-380,000 minor page faults
(0.5-1.5 GB) per long sentence in the optimized tier, how many depending on which blocks the moving threshold
had caught in that process (the same four sentences in four processes; AVX-512 with BF16). With both thresholds fixed
high, freed blocks stay in the heap and the next call reuses pages already mapped: 1,000-19,000 faults per
sentence. The cost is RSS held at the process's high-water mark of activations, which the decoder's windows and
the shape buckets bound (docs/memory.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

__all__ = ["MMAP_THRESHOLD_BYTES", "TRIM_THRESHOLD_BYTES", "retain_heap", "retained"]

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 1 << 30  # blocks up to 1 GiB come from the heap (a 20 s sentence's largest is ~0.2 GB)
TRIM_THRESHOLD_BYTES = (1 << 31) - 1  # free memory at the heap's top is kept up to 2 GiB (mallopt takes an int)
_LOCK = threading.Lock()
_RETAINED: list[bool] = []  # set once per process


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - present in glibc only
        libc.mallopt
    except (OSError, AttributeError):
        return None
    return libc


def retain_heap() -> str | None:
    """Fix glibc's mmap and trim thresholds for this process (process-wide, from now on; a second call does
    nothing). Returns None once they are set, else why they could not be (no glibc, or glibc refused)."""
    with _LOCK:
        if _RETAINED:
            return None
        libc = _libc()
        if libc is None:
            return "not glibc: the C library's allocator is left as it is"
        ok = libc.mallopt(M_MMAP_THRESHOLD, ctypes.c_int(MMAP_THRESHOLD_BYTES)) == 1
        ok = libc.mallopt(M_TRIM_THRESHOLD, ctypes.c_int(TRIM_THRESHOLD_BYTES)) == 1 and ok
        if not ok:
            return "glibc refused mallopt's thresholds"
        _RETAINED.append(True)
        return None


def retained() -> bool:
    """Whether this process's heap is retained (`retain_heap` set its thresholds): then housekeeping leaves the
    heap untrimmed, since a trim hands back the pages the next call would fault in again."""
    return bool(_RETAINED)
