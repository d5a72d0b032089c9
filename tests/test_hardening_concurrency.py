"""Concurrency: one engine shared by threads, the on-disk audio cache and the weights cache shared by processes.

No timing assertions: barriers line the workers up so the shared parts really are used at the same time.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tts_core import Engine
from tts_core.runtime.audio_cache import SUFFIX, AudioCache
from optional_deps import require

TEXTS = [
    "The first thread speaks about boats.",
    "A second voice reads the weather, then the news. It ends here.",
    "Numbers like 42 are spelled out. Is this a question? Yes!",
    "Short one.",
]
N_THREADS = 4


def _ctx() -> mp.context.BaseContext:
    return mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")


@pytest.fixture(scope="module")
def shared_engine():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the four callers are serialized anyway; keep a loaded machine from thrashing
    with Engine.load(voice="tiny", tier="baseline+batching", seed=11) as engine:
        yield engine
    torch.set_num_threads(before)


def _run_threads(fn, n: int = N_THREADS) -> list:
    barrier = threading.Barrier(n)
    results: list = [None] * n
    errors: list[BaseException] = []

    def body(i: int) -> None:
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads)
    return results


@pytest.mark.parametrize("scales", [{"noise_scale": 0.0, "noise_w": 0.0}, {}], ids=["noise-zeroed", "seeded-noise"])
def test_shared_engine_gives_each_thread_its_single_threaded_result(shared_engine: Engine, scales: dict) -> None:
    expected = {t: shared_engine.synthesize(t, **scales).samples for t in TEXTS}

    def work(i: int) -> dict[str, np.ndarray]:
        order = TEXTS[i:] + TEXTS[:i]  # every thread in a different order
        out = {}
        for k, text in enumerate(order):
            if k % 2:
                out[text] = np.concatenate([c.samples for c in shared_engine.stream(text, **scales)])
            else:
                out[text] = shared_engine.synthesize(text, **scales).samples
        return out

    for got in _run_threads(work):
        for text in TEXTS:
            assert got[text].shape == expected[text].shape, text
            np.testing.assert_allclose(got[text], expected[text], rtol=0, atol=1e-5, err_msg=text)


def test_shared_engine_batch_and_ids_calls_interleave_safely(shared_engine: Engine) -> None:
    ids = shared_engine.text_to_ids(TEXTS[0])[0]
    expected_ids_audio = shared_engine.ids_to_audio(ids, noise_scale=0, noise_w=0).samples
    expected_batch = [a.samples for a in shared_engine.synthesize_batch(TEXTS[:3], noise_scale=0, noise_w=0)]
    calls_before = shared_engine.stats()["calls"]

    def work(i: int):
        if i % 2:
            return [a.samples for a in shared_engine.synthesize_batch(TEXTS[:3], noise_scale=0, noise_w=0)]
        return shared_engine.ids_to_audio(ids, noise_scale=0, noise_w=0).samples

    for i, got in enumerate(_run_threads(work)):
        if i % 2:
            for a, b in zip(got, expected_batch):
                np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
        else:
            np.testing.assert_allclose(got, expected_ids_audio, rtol=0, atol=1e-5)
    assert shared_engine.stats()["calls"] == calls_before + N_THREADS  # every call counted once


def test_concurrent_loads_of_one_registry_key_build_one_engine() -> None:
    engines = _run_threads(lambda i: Engine.load(voice="tiny", tier="baseline+engine_registry", seed=4242))
    try:
        assert len({id(e) for e in engines}) == 1
    finally:
        for e in {id(e): e for e in engines}.values():
            e.close()


def test_a_call_waiting_on_the_lock_during_close_raises() -> None:
    engine = Engine.load(voice="tiny", tier="baseline", seed=1)
    outcome: dict[str, object] = {}
    entered = threading.Event()

    def call() -> None:
        entered.set()
        try:
            outcome["audio"] = engine.synthesize("Spoken after close?")
        except RuntimeError as exc:
            outcome["error"] = exc

    engine._lock.acquire()  # hold the engine busy, as a long call from another thread would
    t = threading.Thread(target=call)
    t.start()
    entered.wait()
    while t.is_alive() and not _blocked_entering(t):  # until the call has passed its checks and waits on the lock
        time.sleep(0.01)
    engine.close()  # re-entrant: the lock holder closes
    engine._lock.release()
    t.join(timeout=120)
    assert "error" in outcome and "closed" in str(outcome["error"])


def _blocked_entering(thread: threading.Thread) -> bool:
    """Whether `thread` is inside the engine's call guard (`_Call.__enter__`), i.e. waiting on its lock."""
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if frame.f_code.co_name == "__enter__":
            return True
        frame = frame.f_back
    return False


# ---- the on-disk audio cache, shared by processes ------------------------------------------------

SR = 22050
KEYS = [AudioCache.key("v", "w", f"shared text {i}", {}, 0, "fp32") for i in range(6)]


def _value(writer: int, key_index: int) -> np.ndarray:
    """What `writer` stores under key `key_index`: lengths differ per writer, so a mixed entry shows."""
    n = 2000 + 997 * writer + 31 * key_index
    return np.random.default_rng(1000 * writer + key_index).standard_normal(n).astype(np.float32)


def _write_same_keys(disk_dir: str, writer: int, barrier, rounds: int) -> None:
    cache = AudioCache(disk_dir, max_items=0, max_disk_mb=64)
    barrier.wait()
    for r in range(rounds):
        for k, key in enumerate(KEYS):
            cache.put(key, _value(writer, k), SR)
            got = cache.get_with_rate(key)  # whatever is there now must be one writer's whole entry
            if got is not None:
                samples, rate = got
                assert rate == SR
                assert any(np.array_equal(samples, _value(w, k)) for w in range(4)), (writer, r, k)


def test_processes_writing_the_same_keys_leave_whole_entries(tmp_path: Path) -> None:
    ctx = _ctx()
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_write_same_keys, args=(str(tmp_path), w, barrier, 8)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0] * 4
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(k + SUFFIX for k in KEYS)  # one file per key, no temporary file left
    reader = AudioCache(tmp_path, max_items=0, max_disk_mb=64)
    for k, key in enumerate(KEYS):
        got = reader.get(key)
        assert got is not None and any(np.array_equal(got, _value(w, k)) for w in range(4))
    assert reader.stats()["corrupt_dropped"] == 0


# ---- the weights cache, converted by two processes at once ---------------------------------------

def _convert(onnx_path: str, cache_dir: str, barrier, queue) -> None:
    from tts_core.vits import load_weights

    barrier.wait()
    state, info = load_weights(onnx_path, Path(cache_dir))
    queue.put((info["source"], info["cache_path"], sorted(state)))


def test_two_processes_converting_the_weights_leave_a_valid_safetensors_file(tmp_path: Path) -> None:
    require("onnx")
    from safetensors import safe_open
    from test_vits_weights import write_tiny_onnx

    from tts_core.vits import load_weights

    onnx_path, cache = tmp_path / "tiny.onnx", tmp_path / "weights"
    written = write_tiny_onnx(onnx_path)
    ctx = _ctx()
    barrier, queue = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_convert, args=(str(onnx_path), str(cache), barrier, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0] * 3
    assert len({path for _, path, _ in results}) == 1 and all(keys == sorted(written) for *_, keys in results)
    files = list(cache.iterdir())
    assert [f.suffix for f in files] == [".safetensors"]  # no temporary file left behind
    with safe_open(str(files[0]), framework="pt") as f:  # a complete, parseable file
        assert sorted(f.keys()) == sorted(written)
        assert f.metadata()["converter_version"]
    state, info = load_weights(onnx_path, cache)
    assert info["source"] == "cache"
    for name, tensor in written.items():
        torch.testing.assert_close(state[name], tensor.float(), rtol=1e-6, atol=1e-7)
