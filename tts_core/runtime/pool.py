"""`BufferPool`: reuse of large scratch tensors keyed by (shape, dtype, device)."""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from typing import Iterator, Sequence

import torch

from tts_core.errors import bad_field

_MB = 1024 * 1024
PoolKey = tuple[tuple[int, ...], torch.dtype, torch.device]


def _key(shape: Sequence[int] | torch.Size, dtype: torch.dtype, device: torch.device | str) -> PoolKey:
    dims = tuple(int(d) for d in shape)
    if any(d < 0 for d in dims):
        raise ValueError(f"BufferPool: `shape` {dims} has a negative size; pass sizes >= 0.")
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return dims, dtype, dev


class BufferPool:
    """Keeps released tensors and hands them back out for the same (shape, dtype, device).

    Pooled memory is bounded by `max_mb` (MB); when a release would exceed it, the buffers released
    least recently are dropped first. Thread-safe. A tensor handed out by `acquire` holds whatever the
    previous user left in it (or uninitialized memory): overwrite it entirely before reading it.
    """

    def __init__(self, max_mb: float = 256.0) -> None:
        if not max_mb >= 0:
            raise bad_field("BufferPool", "max_mb", max_mb, "a size in MB >= 0 (0 = pool nothing)")
        self.max_bytes = int(max_mb * _MB)
        self._free: OrderedDict[PoolKey, list[torch.Tensor]] = OrderedDict()
        self._pooled_bytes = 0
        self._lock = threading.Lock()
        self._counts = {"hits": 0, "misses": 0, "released": 0, "dropped": 0}

    def acquire(self, shape: Sequence[int] | torch.Size, dtype: torch.dtype = torch.float32,
                device: torch.device | str = "cpu") -> torch.Tensor:
        """A contiguous tensor of `shape`/`dtype` on `device`; its contents are NOT initialized."""
        key = _key(shape, dtype, device)
        with self._lock:
            bucket = self._free.get(key)
            if bucket:
                tensor = bucket.pop()
                if not bucket:
                    del self._free[key]
                self._pooled_bytes -= tensor.nbytes
                self._counts["hits"] += 1
                return tensor
            self._counts["misses"] += 1
        return torch.empty(key[0], dtype=dtype, device=key[2])

    def release(self, tensor: torch.Tensor) -> None:
        """Give `tensor` back for reuse; the caller must not touch it afterwards.

        Views (tensors that do not own their whole storage) are not pooled. Releasing the same tensor
        twice raises `ValueError`, since it would later be handed to two users at once.
        """
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"BufferPool.release: expected a torch.Tensor, got {type(tensor).__name__}.")
        nbytes = tensor.nbytes
        owns_storage = (tensor.is_contiguous() and tensor.storage_offset() == 0
                        and tensor.untyped_storage().nbytes() == nbytes)
        with self._lock:
            self._counts["released"] += 1
            if not owns_storage or nbytes > self.max_bytes or tensor.requires_grad:
                self._counts["dropped"] += 1
                return
            key = _key(tensor.shape, tensor.dtype, tensor.device)
            bucket = self._free.setdefault(key, [])
            if any(t is tensor or (nbytes and t.data_ptr() == tensor.data_ptr()) for t in bucket):
                raise ValueError("BufferPool.release: this tensor is already in the pool; release each buffer once.")
            bucket.append(tensor)
            self._free.move_to_end(key)
            self._pooled_bytes += nbytes
            self._evict_over_bound()

    @contextlib.contextmanager
    def borrowed(self, shape: Sequence[int] | torch.Size, dtype: torch.dtype = torch.float32,
                 device: torch.device | str = "cpu") -> Iterator[torch.Tensor]:
        """`acquire` for the length of a `with` block, then `release`. Contents are NOT initialized."""
        tensor = self.acquire(shape, dtype, device)
        try:
            yield tensor
        finally:
            self.release(tensor)

    def stats(self) -> dict:
        """`hits`, `misses`, `hit_rate` (0..1), `pooled_bytes`, `pooled_tensors`, `released`, `dropped`, `max_bytes`."""
        with self._lock:
            lookups = self._counts["hits"] + self._counts["misses"]
            return {
                **self._counts,
                "hit_rate": self._counts["hits"] / lookups if lookups else 0.0,
                "pooled_bytes": self._pooled_bytes,
                "pooled_tensors": sum(len(b) for b in self._free.values()),
                "max_bytes": self.max_bytes,
            }

    def clear(self) -> None:
        """Drop every pooled tensor (counters are kept)."""
        with self._lock:
            self._free.clear()
            self._pooled_bytes = 0

    def close(self) -> None:
        """What an engine's close does to its pool: `clear`."""
        self.clear()

    def _evict_over_bound(self) -> None:
        """Drop least recently released buffers until the pool fits (lock held)."""
        while self._pooled_bytes > self.max_bytes and self._free:
            key, bucket = next(iter(self._free.items()))
            dropped = bucket.pop(0)
            if not bucket:
                del self._free[key]
            self._pooled_bytes -= dropped.nbytes
            self._counts["dropped"] += 1
