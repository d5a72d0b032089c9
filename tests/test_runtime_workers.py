"""WorkerPool: ordered results across spawned workers, and clear errors when a worker fails or dies."""

from __future__ import annotations

import os
import queue
import time

import numpy as np
import pytest

from tts_core.errors import ConfigError
from tts_core.runtime.workers import WorkerDiedError, WorkerError, WorkerPool, WorkerTimeoutError


class Squarer:
    """A stand-in for an engine: built once per worker, serves method calls."""

    def __init__(self, offset: int = 0) -> None:
        import torch

        self.offset = offset
        self.threads = torch.get_num_threads()

    def square(self, x: int) -> int:
        return x * x + self.offset

    def tone(self, n: int) -> np.ndarray:
        return np.sin(np.arange(n, dtype=np.float32) / 10.0)

    def info(self, _: object) -> tuple[int, int]:
        return os.getpid(), self.threads

    def fail(self, x: int) -> int:
        raise ValueError(f"cannot handle {x}")

    def die(self, x: int) -> int:
        if x == 3:
            os._exit(3)
        return x


class BrokenFactory:
    def __init__(self) -> None:
        raise RuntimeError("voice files missing")


@pytest.fixture(scope="module")
def pool() -> WorkerPool:
    with WorkerPool(Squarer, n_workers=2, kwargs={"offset": 1}, item_timeout_s=60) as p:
        yield p


def test_results_come_back_in_order(pool: WorkerPool) -> None:
    assert pool.map("square", list(range(25))) == [x * x + 1 for x in range(25)]
    assert pool.map("square", []) == []


def test_numpy_results(pool: WorkerPool) -> None:
    out = pool.map("tone", [5, 1000, 0, 3])
    assert [a.shape for a in out] == [(5,), (1000,), (0,), (3,)]
    np.testing.assert_array_equal(out[1], np.sin(np.arange(1000, dtype=np.float32) / 10.0))


def test_workers_are_separate_processes_with_split_threads(pool: WorkerPool) -> None:
    info = pool.map("info", list(range(8)))
    assert all(pid != os.getpid() for pid, _ in info)
    assert {threads for _, threads in info} == {pool.threads_per_worker}


def test_method_error_names_the_item_and_keeps_the_pool(pool: WorkerPool) -> None:
    with pytest.raises(WorkerError, match="(?s)`fail` raised.*cannot handle"):
        pool.map("fail", [1, 2, 3])
    assert pool.map("square", [2, 3]) == [5, 10]  # stale answers of the failed map are ignored


def test_a_dying_worker_raises_a_clear_error_not_a_hang() -> None:
    with WorkerPool(Squarer, n_workers=1, item_timeout_s=60) as pool:
        with pytest.raises(WorkerDiedError, match="died \\(exit code 3\\)"):
            pool.map("die", list(range(8)))
        with pytest.raises(WorkerError, match="closed"):
            pool.map("square", [1])


def test_factory_errors_and_bad_arguments() -> None:
    with pytest.raises(WorkerError, match="(?s)failed to build.*voice files missing"):
        WorkerPool(BrokenFactory, n_workers=1)
    with pytest.raises(TypeError, match="pickled"):
        WorkerPool(lambda: Squarer(), n_workers=1)
    with pytest.raises(ConfigError, match="`n_workers`"):
        WorkerPool(Squarer, n_workers=0)


class _AliveProcess:
    exitcode = None

    def is_alive(self) -> bool:
        return True


def test_a_silent_worker_times_out_instead_of_hanging() -> None:
    silent = object.__new__(WorkerPool)  # the wait logic alone, without spawning processes
    silent._procs = [_AliveProcess()]
    silent._results = queue.Queue()
    with pytest.raises(WorkerTimeoutError, match="`item_timeout_s`"):
        silent._next_message(time.monotonic() + 0.3, "running `nap`")
