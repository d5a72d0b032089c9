"""Length bucketing and a batch-size chooser that backs off when memory runs out."""

from __future__ import annotations

import gc
import logging
from typing import Any, Callable, Sequence, TypeVar

import psutil
import torch

from tts_core.errors import ConfigError, MemoryLimitError, bad_field

log = logging.getLogger(__name__)
T = TypeVar("T")
_MB = 1024 * 1024

# Rough peak bytes of one utterance per phoneme for a VITS medium voice: about 6 latent frames per
# phoneme, 256 samples per frame, and a few 32-channel float32 activations at the full sample rate
# in the decoder's last stage.
_BYTES_PER_PHONEME = 6 * 256 * 32 * 4 * 3
_BYTES_PER_ITEM_FIXED = 1 * _MB


def default_bytes_per_item(length: int) -> float:
    """Rough peak bytes of synthesizing one utterance of `length` phoneme ids (VITS medium voice)."""
    return _BYTES_PER_ITEM_FIXED + _BYTES_PER_PHONEME * max(0, int(length))


def bucket_by_length(
    lengths: Sequence[int], max_batch: int, max_ratio: float = 1.5, max_tokens: int | None = None
) -> list[list[int]]:
    """Group indices of `lengths` into batches of similar length, to waste little padding.

    Indices are sorted by (length, index); a new batch starts when the current one holds `max_batch`
    items, when adding the next would make longest / shortest exceed `max_ratio` (a length of 0
    counts as 1), or when the batch padded to the next length would hold more than `max_tokens` (None: no
    bound; a single longer item still makes a batch of its own). Every index appears exactly once;
    `restore_order` puts per-batch results back.
    """
    if not isinstance(max_batch, int) or max_batch < 1:
        raise bad_field("bucket_by_length", "max_batch", max_batch, "an integer >= 1")
    if not max_ratio >= 1.0:
        raise bad_field("bucket_by_length", "max_ratio", max_ratio, "a ratio >= 1.0")
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise bad_field("bucket_by_length", "max_tokens", max_tokens, "an integer >= 1, or None (no bound)")
    if any(n < 0 for n in lengths):
        raise ValueError("bucket_by_length: `lengths` holds a negative length; pass sizes >= 0.")
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        full = len(current) >= max_batch or (max_tokens is not None and (len(current) + 1) * lengths[i] > max_tokens)
        if current and (full or lengths[i] > max_ratio * max(1, lengths[current[0]])):
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    return batches


def restore_order(batches: Sequence[Sequence[int]], results: Sequence[Sequence[T]]) -> list[T]:
    """Flatten per-batch `results` back into the original index order given by `batches`."""
    total = sum(len(b) for b in batches)
    out: list[Any] = [None] * total
    for batch, batch_results in zip(batches, results, strict=True):
        if len(batch) != len(batch_results):
            raise ValueError(f"restore_order: a batch of {len(batch)} indices has {len(batch_results)} results.")
        for i, r in zip(batch, batch_results):
            out[i] = r
    return out


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` means memory ran out (CUDA/CPU allocator, `MemoryError`, our memory limit)."""
    oom_type = getattr(torch, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    if isinstance(exc, MemoryError):  # includes MemoryLimitError
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def default_memory_budget_mb(device: str = "cpu", fraction: float = 0.5) -> float:
    """A memory budget in MB for batching: `fraction` of available RAM (CPU) or of free device memory (CUDA)."""
    if not 0 < fraction <= 1:
        raise bad_field("default_memory_budget_mb", "fraction", fraction, "a fraction in (0, 1]")
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"default_memory_budget_mb: `device` = {device!r} but CUDA is not available; use 'cpu'.")
        free, _ = torch.cuda.mem_get_info(dev)
        return fraction * free / _MB
    if dev.type != "cpu":
        raise bad_field("default_memory_budget_mb", "device", device, "'cpu' or 'cuda[:N]'")
    return fraction * psutil.virtual_memory().available / _MB


class BatchSizeOptimizer:
    """Chooses batch sizes within a memory budget (MB) and halves them when a batch runs out of memory.

    `bytes_per_item_estimate(length)` gives the peak bytes of one item padded to `length`
    (default: `default_bytes_per_item`). After an out-of-memory the smaller size is remembered as a
    cap for later batches.
    """

    def __init__(self, memory_budget_mb: float, bytes_per_item_estimate: Callable[[int], float] | None = None,
                 max_batch: int = 16) -> None:
        if not memory_budget_mb > 0:
            raise bad_field("BatchSizeOptimizer", "memory_budget_mb", memory_budget_mb,
                            "a budget in MB > 0 (see `default_memory_budget_mb`)")
        if not isinstance(max_batch, int) or max_batch < 1:
            raise bad_field("BatchSizeOptimizer", "max_batch", max_batch, "an integer >= 1")
        self.memory_budget_mb = float(memory_budget_mb)
        self.estimate = bytes_per_item_estimate or default_bytes_per_item
        self.max_batch = max_batch
        self.cap = max_batch
        self._counts = {"batches": 0, "items": 0, "backoffs": 0, "oom_errors": 0}

    def pick(self, lengths: Sequence[int]) -> int:
        """Largest batch size (1..min(cap, len(lengths))) whose items, padded to the longest, fit the budget."""
        if not lengths:
            return 0
        per_item = max(1.0, float(self.estimate(max(lengths))))
        fits = int(self.memory_budget_mb * _MB // per_item)
        return max(1, min(fits, self.cap, len(lengths)))

    def run(self, fn: Callable[[list[int]], list[T]], indices: Sequence[int],
            lengths: Sequence[int] | None = None) -> list[T]:
        """Call `fn` on consecutive batches of `indices`; results come back in the order of `indices`.

        `lengths[i]` (optional, by position in `indices`) lets `pick` size each batch from the budget;
        without it batches use the current cap. On out-of-memory the batch is halved and retried down to
        one item; if one item still fails, `MemoryLimitError` is raised.
        """
        items = list(indices)
        if lengths is not None and len(lengths) != len(items):
            raise ValueError(f"BatchSizeOptimizer.run: {len(lengths)} `lengths` for {len(items)} `indices`.")
        results: list[T] = []
        pos = 0
        while pos < len(items):
            size = self.pick(lengths[pos:pos + self.cap]) if lengths is not None else min(self.cap, len(items) - pos)
            while True:
                batch = items[pos:pos + size]
                try:
                    out = list(fn(batch))
                    break
                except Exception as exc:
                    if not is_out_of_memory(exc):
                        raise
                    reason = f"{type(exc).__name__}: {str(exc)[:200]}"
                # Outside the `except`, the traceback (and the tensors its frames hold) can be freed.
                self._counts["oom_errors"] += 1
                gc.collect()
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                if size == 1:
                    raise MemoryLimitError(
                        f"Out of memory on a single item (index {batch[0]}) with a budget of "
                        f"{self.memory_budget_mb:.0f} MB ({reason}); chunk that input into shorter pieces, "
                        "or free memory / use a device with more of it."
                    )
                size //= 2
                self.cap = min(self.cap, size)
                self._counts["backoffs"] += 1
                log.info("Out of memory with a batch of %d; retrying with %d.", size * 2, size)
            if len(out) != len(batch):
                raise ValueError(
                    f"BatchSizeOptimizer.run: `fn` returned {len(out)} results for a batch of {len(batch)}; "
                    "it must return one result per index, in order."
                )
            results.extend(out)
            pos += len(batch)
            self._counts["batches"] += 1
            self._counts["items"] += len(batch)
        return results

    def stats(self) -> dict:
        """`batches`, `items`, `backoffs`, `oom_errors`, the current `cap` and `max_batch`."""
        return {**self._counts, "cap": self.cap, "max_batch": self.max_batch}


class Batcher:
    """Runs a render function over indices in length buckets of at most `max_batch` items and `max_tokens` padded
    ids (`max_batch` 1: one at a time), through `optimizer` when one is set (the memory-aware batch size that backs
    off on out-of-memory)."""

    def __init__(self, max_batch: int = 1, max_tokens: int | None = None,
                 optimizer: BatchSizeOptimizer | None = None) -> None:
        self.limit = max_batch  # items per batch
        self.max_tokens = max_tokens
        self.optimizer = optimizer
        self.batches = 0

    def run(self, fn: Callable[[list[int]], list[T]], indices: list[int], lengths: list[int]) -> list[T]:
        results: dict[int, T] = {}
        for bucket in bucket_by_length(lengths, self.limit, max_tokens=self.max_tokens):
            chosen = [indices[j] for j in bucket]
            outs = self.optimizer.run(fn, chosen, [lengths[j] for j in bucket]) if self.optimizer else fn(chosen)
            self.batches += 1
            results.update(zip(chosen, outs))
        return [results[i] for i in indices]

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"max_batch": self.limit, "max_tokens": self.max_tokens, "batches": self.batches}
        if self.optimizer:
            out.update(self.optimizer.stats())
        return out
