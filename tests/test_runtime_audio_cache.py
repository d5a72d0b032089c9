"""AudioCache: hits and misses, damaged entries, size bound, LRU, and several writer processes."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import numpy as np
import pytest

from tts_core import constants
from tts_core.errors import ConfigError
from tts_core.runtime.audio_cache import HEADER_BYTES, SUFFIX, AudioCache

SR = 22050


def _key(text: str, **params: object) -> str:
    return AudioCache.key("en_US-joe-medium", "w" * 8, text, dict(params), 0, "fp32")


def _audio(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, n).astype(np.float32)


def test_key_is_canonical_hex_and_sensitive_to_every_field() -> None:
    base = AudioCache.key("v", "h", "hello", {"a": 1, "b": 0.5}, 1, "fp32")
    assert len(base) == 64 and all(c in "0123456789abcdef" for c in base)
    assert base == AudioCache.key("v", "h", "hello", {"b": 0.5, "a": 1}, 1, "fp32")  # dict order is irrelevant
    assert base == AudioCache.key("v", "h", "hello", {"a": np.int64(1), "b": np.float32(0.5)}, 1, "fp32")
    p = {"a": 1, "b": 0.5}
    variants = [("w", "h", "hello", p, 1, "fp32"), ("v", "g", "hello", p, 1, "fp32"),
                ("v", "h", "hello!", p, 1, "fp32"), ("v", "h", "hello", {"a": 2, "b": 0.5}, 1, "fp32"),
                ("v", "h", "hello", p, None, "fp32"), ("v", "h", "hello", p, 1, "bf16")]
    assert len({AudioCache.key(*v) for v in variants} | {base}) == 7


def test_key_rejects_unserializable_params() -> None:
    with pytest.raises(TypeError, match="params"):
        AudioCache.key("v", "h", "t", {"x": object()}, None, "fp32")


def test_memory_only_hit_and_miss() -> None:
    cache = AudioCache(disk_dir=None, max_items=4)
    k = _key("hello")
    assert cache.get(k) is None
    samples = _audio(1000)
    cache.put(k, samples, SR)
    got = cache.get(k)
    assert got is not None and got.dtype == np.float32
    np.testing.assert_array_equal(got, samples)
    got[:] = 0  # callers get a copy; the cache is unharmed
    np.testing.assert_array_equal(cache.get(k), samples)
    assert cache.get_with_rate(k)[1] == SR
    s = cache.stats()
    assert (s["hits_memory"], s["hits_disk"], s["misses"], s["entries"], len(cache)) == (3, 0, 1, 1, 1)
    assert s["bytes"] == samples.nbytes and s["disk_entries"] == 0


def test_memory_tier_is_bounded_in_bytes_too() -> None:
    cache = AudioCache(max_items=64, max_memory_mb=1.0)  # 1 MiB: 262,144 float32 samples
    keys = [_key(f"s{i}") for i in range(5)]
    for k in keys:
        cache.put(k, _audio(100_000), SR)  # 400 kB each
    assert len(cache) == 2 and cache.stats()["bytes"] == 2 * 400_000  # the oldest three dropped
    assert cache.get(keys[0]) is None and cache.get(keys[4]) is not None
    cache.put(_key("huge"), _audio(300_000), SR)  # larger than the whole bound: not kept in memory
    assert _key("huge") not in cache and len(cache) == 2
    with pytest.raises(ValueError, match="max_memory_mb"):
        AudioCache(max_memory_mb=-1)


def test_memory_lru_bound() -> None:
    cache = AudioCache(max_items=2)
    a, b, c = _key("a"), _key("b"), _key("c")
    cache.put(a, _audio(10), SR)
    cache.put(b, _audio(10), SR)
    cache.get(a)  # a is now more recent than b
    cache.put(c, _audio(10), SR)
    assert len(cache) == 2 and cache.get(b) is None and cache.get(a) is not None and cache.get(c) is not None


def test_disk_roundtrip_survives_a_new_instance(tmp_path: Path) -> None:
    k, samples = _key("disk"), _audio(5000, seed=3)
    AudioCache(tmp_path, max_items=4).put(k, samples, SR)
    fresh = AudioCache(tmp_path, max_items=4)
    got = fresh.get_with_rate(k)
    assert got is not None and got[1] == SR
    np.testing.assert_array_equal(got[0], samples)
    fresh.get(k)
    s = fresh.stats()
    assert (s["hits_disk"], s["hits_memory"], s["misses"], s["disk_entries"]) == (1, 1, 0, 1)
    assert s["disk_bytes"] == HEADER_BYTES + samples.nbytes
    assert k in fresh and _key("other") not in fresh


@pytest.mark.parametrize("damage", ["truncate", "flip_payload", "flip_header", "empty", "garbage"])
def test_damaged_entry_is_dropped_and_recomputed(tmp_path: Path, damage: str) -> None:
    k, samples = _key("damaged"), _audio(2000)
    AudioCache(tmp_path).put(k, samples, SR)
    path = tmp_path / (k + SUFFIX)
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        blob = blob[:-7]
    elif damage == "flip_payload":
        blob[HEADER_BYTES + 100] ^= 0x01
    elif damage == "flip_header":
        blob[0] ^= 0xFF
    elif damage == "empty":
        blob = bytearray()
    else:
        blob = bytearray(b"not an audio entry" * 10)
    path.write_bytes(bytes(blob))

    cache = AudioCache(tmp_path)
    assert cache.get(k) is None
    assert not path.exists()
    assert cache.stats()["corrupt_dropped"] == 1 and cache.stats()["misses"] == 1
    cache.put(k, samples, SR)  # the caller recomputes and stores again
    np.testing.assert_array_equal(AudioCache(tmp_path).get(k), samples)


def test_disk_size_bound_evicts_least_recently_used(tmp_path: Path) -> None:
    n = 60_000  # 240 KB per entry; bound of 1 MB holds 4
    cache = AudioCache(tmp_path, max_items=0, max_disk_mb=1.0)
    keys = [_key(f"utt {i}") for i in range(4)]
    for i, k in enumerate(keys):
        cache.put(k, _audio(n, seed=i), SR)
        os.utime(cache.path_for(k), (1000 + i, 1000 + i))  # deterministic age order
    assert cache.get(keys[0]) is not None  # a hit refreshes keys[0]: keys[1] is now the oldest
    cache.put(_key("utt new"), _audio(n, seed=9), SR)
    s = cache.stats()
    assert s["disk_bytes"] <= 1024 * 1024 and s["disk_entries"] == 4 and s["evicted_disk"] == 1
    assert keys[1] not in cache
    assert all(k in cache for k in (keys[0], keys[2], keys[3], _key("utt new")))


def test_default_disk_bound_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(constants.ENV_AUDIO_CACHE_MB, "3")
    assert AudioCache(tmp_path).max_disk_bytes == 3 * 1024 * 1024
    monkeypatch.delenv(constants.ENV_AUDIO_CACHE_MB)
    assert AudioCache(tmp_path).max_disk_bytes == constants.DEFAULT_AUDIO_CACHE_MB * 1024 * 1024


def test_bad_keys_and_inputs_are_refused(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    for bad in ["../../etc/passwd", "A" * 64, "0" * 63, "0" * 64 + "/x", "", "g" * 64]:
        with pytest.raises(ValueError, match="hex digest"):
            cache.get(bad)
        with pytest.raises(ValueError, match="hex digest"):
            cache.put(bad, _audio(4), SR)
    with pytest.raises(ValueError, match="1-D"):
        cache.put(_key("x"), np.zeros((2, 4), np.float32), SR)
    with pytest.raises(ConfigError, match="`sample_rate`"):
        cache.put(_key("x"), _audio(4), 0)
    with pytest.raises(ConfigError, match="`max_disk_mb`"):
        AudioCache(tmp_path, max_disk_mb=-1)
    assert list(tmp_path.iterdir()) == []


def test_clear_removes_memory_and_disk_entries(tmp_path: Path) -> None:
    cache = AudioCache(tmp_path)
    (tmp_path / "unrelated.txt").write_text("keep me")
    for i in range(3):
        cache.put(_key(str(i)), _audio(100), SR)
    cache.clear()
    assert len(cache) == 0 and cache.stats()["disk_entries"] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["unrelated.txt"]


# -- several processes at once --

SHARED_KEYS = 5


def _expected(text: str) -> np.ndarray:
    return _audio(3000 + 17 * (sum(text.encode()) % 50), seed=sum(text.encode()))


def _writer(disk_dir: str, worker: int, max_disk_mb: float) -> None:
    cache = AudioCache(disk_dir, max_items=2, max_disk_mb=max_disk_mb)
    for i in range(50):
        text = f"shared {i % SHARED_KEYS}" if i % 2 == 0 else f"worker {worker} item {i}"
        k = _key(text)
        cache.put(k, _expected(text), SR)
        got = AudioCache(disk_dir, max_items=0, max_disk_mb=max_disk_mb).get(k)  # read through disk only
        if got is not None:
            assert np.array_equal(got, _expected(text))


@pytest.mark.parametrize("max_disk_mb", [64.0, 0.2])  # roomy, and tight enough to evict while others write
def test_concurrent_writers_leave_only_valid_entries(tmp_path: Path, max_disk_mb: float) -> None:
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, max_disk_mb)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]

    names = sorted(p.name for p in tmp_path.iterdir())
    assert names and all(n.endswith(SUFFIX) for n in names), names  # no temp files left behind
    texts = [f"shared {i}" for i in range(SHARED_KEYS)]
    texts += [f"worker {w} item {i}" for w in range(4) for i in range(1, 50, 2)]
    by_key = {_key(t): t for t in texts}
    reader = AudioCache(tmp_path, max_items=0, max_disk_mb=max_disk_mb)
    for name in names:
        k = name[: -len(SUFFIX)]
        np.testing.assert_array_equal(reader.get(k), _expected(by_key[k]))
    assert reader.stats()["corrupt_dropped"] == 0
    if max_disk_mb > 1:
        assert len(names) == len(texts)
