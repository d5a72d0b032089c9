"""Quick soak: ~60 distinct syntheses on the tiny voice under `optimized`; memory levels off, no cycles,
no thread left behind. The full soak (1,000 per tier) is `pytest bench/benchmarks/test_soak.py -m slow`."""

from __future__ import annotations

import threading

import pytest

from bench.benchmarks.test_soak import cyclic_garbage, run_soak, split_known, varied_texts


def test_varied_texts_are_distinct_and_speakable() -> None:
    texts = list(varied_texts(1010))
    assert len(set(texts)) == 1010 and all(t.endswith(".") for t in texts)
    with pytest.raises(ValueError, match="distinct texts"):
        list(varied_texts(10**6))


def test_cyclic_garbage_sees_cycles_the_code_under_test_collects_itself() -> None:
    import gc

    class Node:
        pass

    def leaky() -> None:
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
        gc.collect()  # as the engine's housekeeping does after each call

    assert any("Node" in line for line in cyclic_garbage(leaky))
    assert cyclic_garbage(lambda: [Node() for _ in range(10)]) == []


def test_quick_soak_optimized_tiny(one_thread: None) -> None:
    from tts_core import Engine

    monitors_before = sum(t.name == "MemoryMonitor" for t in threading.enumerate())
    engine = Engine.load(voice="tiny", tier="optimized", seed=7)
    try:
        result = run_soak(engine, total=60, warm=20, probe=3)
    finally:
        engine.close()
    assert result.audio_s > 0
    assert result.growth_pct < 20.0, result  # loose: 40 calls are too few to see a slow leak, enough for a gross one
    known, unexplained = split_known(result.cycles)
    assert unexplained == [], result.cycles  # no tensor, array or engine object is ever left in a cycle
    # close() stops the engine's memory monitor thread: nothing keeps running after an engine is gone
    assert sum(t.name == "MemoryMonitor" for t in threading.enumerate()) == monitors_before


def test_a_synthesis_leaves_no_cyclic_garbage(one_thread: None) -> None:
    from tts_core import Engine

    with Engine.load(voice="tiny", tier="baseline", seed=3) as engine:
        engine.synthesize("Warm up the voice first.")
        assert cyclic_garbage(lambda: engine.synthesize("A sentence that leaves nothing behind.")) == []


def test_the_espeak_call_leaves_no_cyclic_garbage() -> None:
    """Fixed: a ctypes string buffer per call made a new array type per text length, each one cyclic garbage."""
    from tts_core.text.phonemize import EspeakPhonemizer

    phonemizer = EspeakPhonemizer("en-us")
    phonemizer.phonemize("Warm up.")
    assert cyclic_garbage(lambda: [phonemizer.phonemize("word " * n + "end.") for n in range(1, 6)]) == []
