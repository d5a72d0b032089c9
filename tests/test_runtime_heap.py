"""retain_heap: glibc keeps freed activations mapped, so a repeated allocation faults no new pages in."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tts_core.runtime import heap
from tts_core.tiers.presets import resolve_tier

# A child process allocates and frees a 64 MiB tensor ten times and prints the minor page faults of the last nine
# (a fresh mapping is faulted in page by page: 16,384 faults of 4 KiB each time).
# "retain": with retain_heap; "retain+housekeep": and a forced housekeeping run after each free (a harness or
# server between calls); "retain+trim": and a plain malloc_trim there instead (what housekeeping did before).
CHILD = textwrap.dedent("""
    import resource, sys, torch
    mode = sys.argv[1]
    if mode.startswith("retain"):
        from tts_core.runtime.heap import retain_heap
        assert retain_heap() is None
    from tts_core.runtime.housekeeper import Housekeeper
    from tts_core.runtime.memory import release_memory
    keeper = Housekeeper("cpu", enabled=True)

    def between_calls():
        if mode == "retain+housekeep":
            keeper.run(force=True)
        elif mode == "retain+trim":
            release_memory("cpu")

    torch.ones(16 * 2**20)
    between_calls()  # as after every call below, so the first of the nine meets what the others meet
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(9):
        x = torch.ones(16 * 2**20)  # 64 MiB, written: every page touched
        del x
        between_calls()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def _faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(heap._libc() is None, reason="retain_heap acts on glibc only")
def test_retained_heap_reuses_pages_where_the_default_maps_them_afresh() -> None:
    default, retained = _faults("default"), _faults("retain")
    assert default > 9 * 16_384 * 0.9  # each 64 MiB block mapped and faulted in again
    assert retained <= 16_384 * 1.1  # the freed block reused: at most one block's worth of new pages in nine


@pytest.mark.skipif(heap._libc() is None, reason="retain_heap acts on glibc only")
def test_housekeeping_keeps_a_retained_heap_where_a_trim_would_hand_its_pages_back() -> None:
    """A trim between calls undid retain_heap (the next call faulted every page in again: 13-15% of a short text's
    time after a long one, docs/memory.md); housekeeping now leaves a retained heap as it is."""
    assert _faults("retain+trim") > 9 * 16_384 * 0.9  # what a trim costs: the block faulted in again every time
    assert _faults("retain+housekeep") <= 16_384 * 1.1


def test_the_optimized_tiers_retain_the_heap_and_the_baseline_does_not() -> None:
    assert not resolve_tier("baseline").retain_heap
    assert resolve_tier("optimized").retain_heap and resolve_tier("advanced").retain_heap
    assert not resolve_tier("advanced-retain_heap").retain_heap and resolve_tier("baseline+retain_heap").retain_heap


def test_without_glibc_the_switch_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from tts_core.flags import apply_load_flags

    monkeypatch.setattr(heap, "_RETAINED", [])
    monkeypatch.setattr(heap, "_libc", lambda: None)
    notes = apply_load_flags(resolve_tier("baseline+retain_heap"), torch.device("cpu"))
    assert [(n.switch, n.reason) for n in notes] == [("retain_heap", "not glibc: the C library's allocator is left as it is")]
    assert apply_load_flags(resolve_tier("baseline"), torch.device("cpu")) == []
