"""Memory readings, the background monitor, memory limits, release and reference-cycle checks."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
import torch

from tts_core import constants
from tts_core.errors import ConfigError, MemoryLimitError
from tts_core.runtime import memory
from tts_core.runtime.memory import (
    MemoryMonitor,
    check_memory,
    cuda_memory_mb,
    find_reference_cycles,
    memory_limit,
    release_memory,
    rss_mb,
)

BIG_MB = 200
HANG_GUARD_S = 60.0  # only ever reached when something hangs; no test passes or fails on speed


def _wait_for(condition, timeout_s: float = HANG_GUARD_S) -> None:
    """Wait until the sampler thread has seen what a test needs (bounded: a starved thread on a busy
    machine may take longer than one sampling period; behaviour, not timing, is under test)."""
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def _allocate_and_hold(mb: int, hold_s: float = 0.15, until=None) -> None:
    """Hold a block of `mb` MB for `hold_s`, or until `until()` is true (at most 10 s)."""
    block = np.ones(mb * 1024 * 1024 // 8)  # ones() touches every page, so RSS really grows
    if until is None:
        time.sleep(hold_s)
    else:
        _wait_for(until)
    del block


def test_readings() -> None:
    assert 10 < rss_mb() < 100_000
    if not torch.cuda.is_available():
        assert cuda_memory_mb() is None


class _ScriptedClock:
    """Stands in for `tts_core.runtime.memory`'s `time`: the sampler's clock moves only when its stop event is
    waited on, by the timeout asked for (plus a stall where `stalls` says), so its schedule reads exactly."""

    def __init__(self, stalls: dict[int, float]) -> None:
        self.now, self.stalls = 1000.0, stalls

    def perf_counter(self) -> float:
        return self.now


class _ScriptedStop(threading.Event):
    """The sampler's stop event: records each timeout, advances the scripted clock by it instead of waiting,
    and stops the loop after `waits` waits."""

    def __init__(self, clock: _ScriptedClock, waits: int) -> None:
        super().__init__()
        self.clock, self.waits, self.timeouts = clock, waits, []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None, "the sampler waited without a timeout"
        self.timeouts.append(timeout)
        self.clock.now += timeout + self.clock.stalls.get(len(self.timeouts), 0.0)
        return len(self.timeouts) > self.waits


def test_monitor_samples_at_its_rate_and_does_not_burst_after_a_stall(monkeypatch: pytest.MonkeyPatch) -> None:
    period = 0.01
    clock = _ScriptedClock(stalls={20: 7 * period})  # the 20th wait overruns by seven periods (a busy machine)
    monkeypatch.setattr(memory, "time", clock)
    mon = MemoryMonitor(hz=1 / period)
    stop = mon._stop = _ScriptedStop(clock, waits=50)
    mon.start()
    mon._thread.join(HANG_GUARD_S)
    assert not mon.running
    assert stop.timeouts[:20] == pytest.approx([period] * 20)
    assert stop.timeouts[20:] == pytest.approx([period] * 31)  # after the stall: one period again, no catch-up
    times = [t for t, _ in mon.samples]
    assert len(times) == 51  # one at start, one per wait that did not stop it
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps == pytest.approx([period] * 19 + [8 * period] + [period] * 30)
    assert all(v > 0 for _, v in mon.samples)


def test_monitor_rate_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(constants.ENV_MONITOR_HZ, "250")
    assert MemoryMonitor().hz == 250
    monkeypatch.setenv(constants.ENV_MONITOR_HZ, "fast")
    with pytest.raises(ValueError, match=constants.ENV_MONITOR_HZ):
        MemoryMonitor()
    with pytest.raises(ConfigError, match="`hz`"):
        MemoryMonitor(hz=0)


def _in_fresh_process(body: str) -> None:
    """Run `body` in a new interpreter: RSS in a process that already ran hundreds of tests is polluted
    (freed heap gets reused and an allocation may not raise RSS at all), as the harness knows too."""
    prelude = (
        "import gc, logging, time\nimport numpy as np\n"
        "from tts_core import constants\nfrom tts_core.errors import MemoryLimitError\n"
        "from tts_core.runtime.memory import MemoryMonitor, memory_limit, rss_mb\n"
        f"BIG_MB = {BIG_MB}\n"
        "def wait_for(cond, timeout_s=60.0):\n"
        "    deadline = time.monotonic() + timeout_s\n"
        "    while not cond() and time.monotonic() < deadline:\n"
        "        time.sleep(0.01)\n"
        "def hold(mb, until):\n"
        "    block = np.ones(mb * 1024 * 1024 // 8)\n"
        "    wait_for(until)\n"
        "    del block\n"
    )
    proc = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(body)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_monitor_catches_a_200_mb_peak() -> None:
    _in_fresh_process("""
        gc.collect()
        with MemoryMonitor(hz=100) as mon:
            base = mon.current_mb
            hold(BIG_MB, until=lambda: mon.peak_rss_mb - base > 0.8 * BIG_MB)
        assert mon.peak_rss_mb - base > 0.8 * BIG_MB, (mon.peak_rss_mb, base)
        mon.reset_peak()
        assert mon.peak_rss_mb < base + 0.5 * BIG_MB  # numpy returned the block to the OS
    """)


def test_monitor_alerts_once_per_crossing() -> None:
    _in_fresh_process("""
        seen = []
        warnings = []
        logging.getLogger("tts_core.runtime.memory").addHandler(
            type("H", (logging.Handler,), {"emit": lambda self, r: warnings.append(r.getMessage())})())
        limit = rss_mb() + BIG_MB / 2
        with MemoryMonitor(hz=100, limit_mb=limit, on_alert=seen.append) as mon:
            hold(BIG_MB, until=lambda: mon.alerts >= 1)
            wait_for(lambda: mon.current_mb < limit)  # back under: the next rise is a new crossing
            hold(BIG_MB, until=lambda: mon.alerts >= 2)
        assert mon.alerts == 2 and len(seen) == 2 and all(v > limit for v in seen), (mon.alerts, seen)
        assert len([w for w in warnings if "above the limit" in w]) == 1, warnings
    """)


def test_monitor_survives_a_failing_callback() -> None:
    def boom(_: float) -> None:
        raise RuntimeError("callback bug")

    with MemoryMonitor(hz=100, limit_mb=1.0, on_alert=boom) as mon:  # already above 1 MB: the first sample alerts
        _wait_for(lambda: len(mon.samples) >= 3)  # the sampler went on after the callback raised
        assert mon.running and len(mon.samples) >= 3
    assert mon.alerts == 1


def test_memory_limit_raises_when_a_block_exceeds_it() -> None:
    _in_fresh_process("""
        gc.collect()
        try:
            with memory_limit(rss_mb() + BIG_MB / 2) as guard:
                hold(BIG_MB, until=lambda: guard.exceeded)
                assert guard.exceeded
        except MemoryLimitError as exc:
            assert constants.ENV_MEMORY_LIMIT_MB in str(exc) and "chunk" in str(exc) and "RSS" in str(exc)
        else:
            raise AssertionError("no MemoryLimitError")
    """)


def test_memory_limit_guard_check_stops_early() -> None:
    with memory_limit(rss_mb() + 100) as guard:
        with pytest.raises(MemoryLimitError, match="decoder"):
            guard.check(needed_mb=500, what="the decoder")
        with pytest.raises(MemoryLimitError):
            check_memory(needed_mb=500)  # no limit given: the block's limit applies
        assert guard.check(needed_mb=1) > 0


def test_memory_limit_passes_quietly_within_the_limit() -> None:
    with memory_limit(rss_mb() + 2 * BIG_MB) as guard:
        _allocate_and_hold(BIG_MB // 4, hold_s=0.05)
    assert not guard.exceeded and guard.peak_mb > 0


def test_memory_limit_on_entry_and_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MemoryLimitError, match="over the limit of 1 MB"):
        with memory_limit(1.0):
            pass
    monkeypatch.setenv(constants.ENV_MEMORY_LIMIT_MB, "1")
    with pytest.raises(MemoryLimitError):
        check_memory()
    with pytest.raises(MemoryLimitError):
        with memory_limit():
            pass
    monkeypatch.setenv(constants.ENV_MEMORY_LIMIT_MB, "0")  # 0 = no limit
    with memory_limit() as guard:
        assert check_memory(needed_mb=10**9) > 0 and guard.limit_mb == 0


def test_release_memory_reports_rss() -> None:
    out = release_memory("cpu")
    assert {"rss_before_mb", "rss_after_mb", "freed_mb", "collected"} <= out.keys()
    assert "cuda_reserved_before_mb" not in out


def test_release_memory_empties_the_cuda_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    fake = {"allocated": 1.0, "reserved": 8.0, "max_allocated": 2.0, "free": 10.0, "total": 20.0}
    monkeypatch.setattr(memory, "cuda_memory_mb", lambda device=None: dict(fake))
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append("sync"))
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: calls.append("empty"))
    out = release_memory("cuda")
    assert calls == ["sync", "empty"] and out["cuda_reserved_before_mb"] == 8.0


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None
        self.buffer = torch.zeros(4)


def test_no_cycles_when_clean() -> None:
    lone = _Node()
    assert find_reference_cycles(lone) == []
    assert find_reference_cycles(torch.nn.Sequential(torch.nn.Conv1d(2, 2, 3))) == []


def test_cycles_through_an_object_are_described() -> None:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    found = find_reference_cycles(a)
    assert found and all("_Node" in line for line in found)

    class Holder:
        def __init__(self) -> None:
            self.callback = self.run  # a bound method stored on self is a classic cycle

        def run(self) -> None:
            pass

    assert any("method" in line for line in find_reference_cycles(Holder()))


def test_cyclic_garbage_is_found_then_freed() -> None:
    gc.collect()
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    del a, b
    found = find_reference_cycles()
    assert any("_Node" in line for line in found), found
    assert not any("_Node" in line for line in find_reference_cycles())  # reported once, then freed


def test_cuda_readings_when_a_gpu_is_present(monkeypatch: pytest.MonkeyPatch) -> None:
    mib = 1024 * 1024
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (6 * 1024 * mib, 8 * 1024 * mib))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 5 * mib)
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: 8 * mib)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 7 * mib)
    assert cuda_memory_mb() == {"allocated": 5, "reserved": 8, "max_allocated": 7, "free": 6144, "total": 8192}
    with MemoryMonitor(hz=100) as mon:
        _wait_for(lambda: len(mon.samples) >= 2)  # one sample from the sampler thread as well as the first
    assert (mon.peak_cuda_mb, mon.peak_cuda_reserved_mb) == (5, 8)
    assert MemoryMonitor(device="cpu").start().peak_cuda_mb is None


def test_onednn_primitive_cache_is_sized_unless_the_user_set_it(monkeypatch):
    from tts_core import constants

    monkeypatch.delenv(constants.ENV_ONEDNN_PRIMITIVE_CACHE, raising=False)
    assert constants.size_onednn_primitive_cache(4096) == "4096"
    monkeypatch.setenv(constants.ENV_ONEDNN_PRIMITIVE_CACHE, "1024")
    assert constants.size_onednn_primitive_cache(4096) == "1024"  # the user's value wins


def test_a_user_set_kernel_cache_is_reported_as_not_taking_effect(monkeypatch):
    import torch

    from tts_core import constants
    from tts_core.flags import apply_load_flags
    from tts_core.tiers import resolve_tier

    monkeypatch.setenv(constants.ENV_ONEDNN_PRIMITIVE_CACHE, "64")
    (note,) = apply_load_flags(resolve_tier("optimized"), torch.device("cpu"))
    assert (note.switch, note.fields) == ("kernel_cache", ("kernel_cache",)) and "=64 is kept" in note.reason
    monkeypatch.setenv(constants.ENV_ONEDNN_PRIMITIVE_CACHE, str(resolve_tier("optimized").kernel_cache))
    assert apply_load_flags(resolve_tier("optimized"), torch.device("cpu")) == []


def test_loading_a_kernel_cache_tier_sizes_the_cache_and_importing_does_not():
    import os
    import subprocess
    import sys

    from tts_core import constants
    from tts_core.tiers import resolve_tier

    env = {k: v for k, v in os.environ.items() if k != constants.ENV_ONEDNN_PRIMITIVE_CACHE}
    name = constants.ENV_ONEDNN_PRIMITIVE_CACHE
    code = (f"import os, tts_core; print(os.environ.get({name!r})); "
            f"tts_core.Engine.load(voice='tiny', tier='optimized'); print(os.environ.get({name!r}))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["None", str(resolve_tier("optimized").kernel_cache)]
