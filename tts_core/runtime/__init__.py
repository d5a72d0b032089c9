"""Runtime components the engine's optimization tiers switch on: caching, memory control, buffer reuse,
batching and worker processes. Each module holds one idea and has no dependency on the engine."""

from __future__ import annotations

from tts_core.runtime.audio_cache import AudioCache
from tts_core.runtime.batching import (
    BatchSizeOptimizer,
    bucket_by_length,
    default_bytes_per_item,
    default_memory_budget_mb,
    is_out_of_memory,
    restore_order,
)
from tts_core.runtime.cycles import find_reference_cycles
from tts_core.runtime.memory import (
    MemoryGuard,
    MemoryMonitor,
    check_memory,
    cuda_memory_mb,
    memory_limit,
    release_memory,
    rss_mb,
)
from tts_core.runtime.pool import BufferPool
from tts_core.runtime.workers import WorkerDiedError, WorkerError, WorkerPool, WorkerTimeoutError

__all__ = [
    "AudioCache",
    "BatchSizeOptimizer",
    "BufferPool",
    "MemoryGuard",
    "MemoryMonitor",
    "WorkerDiedError",
    "WorkerError",
    "WorkerPool",
    "WorkerTimeoutError",
    "bucket_by_length",
    "check_memory",
    "cuda_memory_mb",
    "default_bytes_per_item",
    "default_memory_budget_mb",
    "find_reference_cycles",
    "is_out_of_memory",
    "memory_limit",
    "release_memory",
    "restore_order",
    "rss_mb",
]
