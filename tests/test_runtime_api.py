"""Pins the public surface of `tts_core.runtime`: a change here is a change to what the engine imports."""

from __future__ import annotations

import inspect

import tts_core.runtime as runtime


def test_public_names() -> None:
    assert sorted(runtime.__all__) == [
        "AudioCache", "BatchSizeOptimizer", "BufferPool", "MemoryGuard", "MemoryMonitor",
        "WorkerDiedError", "WorkerError", "WorkerPool", "WorkerTimeoutError",
        "bucket_by_length", "check_memory", "cuda_memory_mb", "default_bytes_per_item",
        "default_memory_budget_mb", "find_reference_cycles", "is_out_of_memory", "memory_limit",
        "release_memory", "restore_order", "rss_mb",
    ]
    assert all(hasattr(runtime, name) for name in runtime.__all__)


def test_public_methods_and_signatures() -> None:
    def public(cls: type) -> set[str]:
        return {n for n, _ in inspect.getmembers(cls) if not n.startswith("_")}

    assert {"key", "get", "get_with_rate", "put", "stats", "clear", "path_for"} <= public(runtime.AudioCache)
    assert {"acquire", "release", "borrowed", "stats", "clear"} <= public(runtime.BufferPool)
    assert {"pick", "run", "stats"} <= public(runtime.BatchSizeOptimizer)
    assert {"map", "close"} <= public(runtime.WorkerPool)
    assert {"start", "stop", "reset_peak", "samples", "running"} <= public(runtime.MemoryMonitor)
    assert list(inspect.signature(runtime.AudioCache.key).parameters) == [
        "voice", "weights_hash", "text", "params", "seed", "precision"]
    assert list(inspect.signature(runtime.bucket_by_length).parameters) == ["lengths", "max_batch", "max_ratio", "max_tokens"]
    assert list(inspect.signature(runtime.check_memory).parameters) == ["limit_mb", "needed_mb", "what"]
