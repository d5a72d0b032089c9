"""Length bucketing invariants and the batch-size optimizer's back-off on out-of-memory."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tts_core.errors import ConfigError, MemoryLimitError
from tts_core.runtime.batching import (
    BatchSizeOptimizer,
    bucket_by_length,
    default_memory_budget_mb,
    is_out_of_memory,
    restore_order,
)

MB = 1024 * 1024


@settings(max_examples=200, deadline=None)
@given(lengths=st.lists(st.integers(0, 2000), max_size=80), max_batch=st.integers(1, 20),
       max_ratio=st.floats(1.0, 4.0), max_tokens=st.one_of(st.none(), st.integers(1, 5000)))
def test_bucketing_invariants(lengths: list[int], max_batch: int, max_ratio: float, max_tokens: int | None) -> None:
    batches = bucket_by_length(lengths, max_batch, max_ratio, max_tokens)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(lengths)))  # every index exactly once
    assert all(1 <= len(b) <= max_batch for b in batches)
    if max_tokens is not None:  # padded size within the bound, unless one item alone exceeds it
        assert all(len(b) == 1 or len(b) * max(lengths[i] for i in b) <= max_tokens for b in batches)
    for b in batches:
        shortest, longest = min(lengths[i] for i in b), max(lengths[i] for i in b)
        assert longest <= max_ratio * max(1, shortest)
    assert [lengths[i] for i in flat] == sorted(lengths)  # batches in length order
    assert restore_order(batches, [[lengths[i] for i in b] for b in batches]) == lengths


def test_bucketing_splits_on_ratio_and_size() -> None:
    assert bucket_by_length([10, 100, 11, 12, 101, 13], max_batch=3, max_ratio=1.5) == [[0, 2, 3], [5], [1, 4]]
    assert bucket_by_length([], 4) == []
    with pytest.raises(ConfigError, match="`max_batch`"):
        bucket_by_length([1], 0)
    with pytest.raises(ConfigError, match="`max_ratio`"):
        bucket_by_length([1], 2, 0.5)
    assert bucket_by_length([300, 310, 320, 330, 340], max_batch=8, max_tokens=1024) == [[0, 1, 2], [3, 4]]
    assert bucket_by_length([2000, 2010], max_batch=8, max_tokens=1024) == [[0], [1]]  # alone when too long
    with pytest.raises(ConfigError, match="`max_tokens`"):
        bucket_by_length([1], 2, max_tokens=0)


def test_pick_fits_the_budget() -> None:
    opt = BatchSizeOptimizer(memory_budget_mb=100, bytes_per_item_estimate=lambda n: n * MB, max_batch=16)
    assert opt.pick([10] * 20) == 10  # 10 items x 10 MB
    assert opt.pick([10, 30]) == 2  # padded to 30 MB each: 3 would fit but only 2 items are given
    assert opt.pick([30] * 5) == 3
    assert opt.pick([500]) == 1  # never below one; the run's back-off handles the rest
    assert opt.pick([1] * 40) == 16  # capped by max_batch
    assert opt.pick([]) == 0


def _fake_model(limit: int, exc: BaseException):
    seen: list[int] = []

    def fn(batch: list[int]) -> list[int]:
        seen.append(len(batch))
        if len(batch) > limit:
            raise exc
        return [i * i for i in batch]

    return fn, seen


@pytest.mark.parametrize("exc", [
    RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
    MemoryError(),
    MemoryLimitError("over the limit"),
    torch.OutOfMemoryError("fake"),
])
def test_run_backs_off_and_succeeds(exc: BaseException) -> None:
    opt = BatchSizeOptimizer(memory_budget_mb=1000, max_batch=16)
    fn, seen = _fake_model(limit=3, exc=exc)
    indices = list(range(37))
    assert opt.run(fn, indices) == [i * i for i in indices]
    assert seen[:3] == [16, 8, 4] and max(seen[3:]) <= 2  # halves, then keeps the smaller cap
    s = opt.stats()
    assert s["backoffs"] == 3 and s["cap"] == 2 and s["items"] == 37


def test_run_uses_lengths_and_keeps_order() -> None:
    opt = BatchSizeOptimizer(memory_budget_mb=100, bytes_per_item_estimate=lambda n: n * MB, max_batch=8)
    batches: list[list[int]] = []
    out = opt.run(lambda b: (batches.append(b), [f"r{i}" for i in b])[1], [5, 3, 9, 1], lengths=[50, 50, 10, 10])
    assert out == ["r5", "r3", "r9", "r1"] and batches == [[5, 3], [9, 1]]


def test_run_gives_up_at_one_item_with_a_clear_error() -> None:
    opt = BatchSizeOptimizer(memory_budget_mb=10, max_batch=4)
    fn, seen = _fake_model(limit=0, exc=MemoryError())
    with pytest.raises(MemoryLimitError, match="single item.*chunk"):
        opt.run(fn, [7, 8, 9])
    assert seen == [3, 1]


def test_run_does_not_swallow_other_errors() -> None:
    opt = BatchSizeOptimizer(memory_budget_mb=10)
    with pytest.raises(ValueError, match="bad input"):
        opt.run(lambda b: (_ for _ in ()).throw(ValueError("bad input")), [1, 2])
    with pytest.raises(ValueError, match="returned 1 results"):
        opt.run(lambda b: [0], [1, 2])
    assert opt.stats()["backoffs"] == 0


def test_is_out_of_memory() -> None:
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: out of memory"))
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_default_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    assert 0 < default_memory_budget_mb("cpu") < 10**7
    assert default_memory_budget_mb("cpu", 0.25) < default_memory_budget_mb("cpu", 1.0)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (4 * 1024 * MB, 8 * 1024 * MB))
    assert default_memory_budget_mb("cuda:0", 0.5) == 2048
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        default_memory_budget_mb("cuda")
    with pytest.raises(ConfigError, match="`memory_budget_mb`"):
        BatchSizeOptimizer(memory_budget_mb=0)
