"""BufferPool: reuse by (shape, dtype, device), the byte bound, and thread safety."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from tts_core.errors import ConfigError
from tts_core.runtime.pool import BufferPool

HANG_GUARD_S = 60.0  # the threads' joins wait this long in all; only ever reached when something hangs


def test_released_buffer_is_reused_for_the_same_key() -> None:
    pool = BufferPool(max_mb=16)
    first = pool.acquire((4, 256))
    ptr = first.data_ptr()
    pool.release(first)
    again = pool.acquire([4, 256], torch.float32, "cpu")
    assert again.data_ptr() == ptr and again.shape == (4, 256)
    s = pool.stats()
    assert (s["hits"], s["misses"], s["hit_rate"], s["pooled_bytes"]) == (1, 1, 0.5, 0)


def test_different_shape_or_dtype_misses() -> None:
    pool = BufferPool()
    pool.release(pool.acquire((8,)))
    assert pool.acquire((9,)).shape == (9,)
    assert pool.acquire((8,), torch.float64).dtype == torch.float64
    s = pool.stats()
    assert s["hits"] == 0 and s["misses"] == 3 and s["pooled_tensors"] == 1 and s["pooled_bytes"] == 32


def test_borrowed_returns_the_buffer() -> None:
    pool = BufferPool()
    with pool.borrowed((2, 3), torch.int64) as t:
        t.fill_(7)
    with pool.borrowed((2, 3), torch.int64) as again:
        assert again.data_ptr() == t.data_ptr()
    assert pool.stats()["hits"] == 1


def test_byte_bound_drops_least_recently_released() -> None:
    pool = BufferPool(max_mb=1)
    n = 300 * 1024 // 4  # float32 elements in 300 KB
    olds = [pool.acquire((n,)) for _ in range(3)]
    newest = pool.acquire((n + 1,))
    for t in olds:
        pool.release(t)
    pool.release(newest)  # 4 x 300 KB > 1 MB: the first released goes
    s = pool.stats()
    assert s["pooled_bytes"] <= 1024 * 1024 and s["pooled_tensors"] == 3 and s["dropped"] == 1
    assert pool.acquire((n,)).data_ptr() in {t.data_ptr() for t in olds[1:]}
    assert pool.acquire((n + 1,)).data_ptr() == newest.data_ptr()
    pool.release(pool.acquire((2 * 1024 * 1024,)))  # larger than the whole bound: not kept
    assert pool.stats()["pooled_bytes"] <= 1024 * 1024


def test_views_and_double_release_are_handled() -> None:
    pool = BufferPool()
    base = torch.empty(10)
    pool.release(base[2:5])  # a view does not own its storage
    assert pool.stats()["pooled_tensors"] == 0 and pool.stats()["dropped"] == 1
    pool.release(base)
    with pytest.raises(ValueError, match="already in the pool"):
        pool.release(base)
    pool.clear()
    assert pool.stats()["pooled_bytes"] == 0
    with pytest.raises(ConfigError, match="`max_mb`"):
        BufferPool(max_mb=-1)
    with pytest.raises(ValueError, match="negative"):
        pool.acquire((2, -1))


def test_threads_never_share_a_buffer() -> None:
    pool = BufferPool(max_mb=64)
    errors: list[str] = []

    def work(tag: int) -> None:
        for _ in range(200):
            t = pool.acquire((64,))
            t.fill_(tag)
            if not bool((t == tag).all()):
                errors.append(f"thread {tag} saw another thread's data")
            pool.release(t)

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(4)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + HANG_GUARD_S  # one overall guard, not one per thread
    for th in threads:
        th.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(th.is_alive() for th in threads), f"a thread did not finish within {HANG_GUARD_S} s"
    assert errors == []
    assert pool.stats()["hits"] + pool.stats()["misses"] == 800
