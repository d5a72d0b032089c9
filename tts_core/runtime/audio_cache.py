"""`AudioCache`: synthesized audio kept in a bounded in-memory LRU and an on-disk content-addressed store.

Disk entries are plain bytes, never pickle: a fixed header (magic, format version, sample rate,
sample count, SHA-256 of the payload) followed by raw little-endian float32 samples. Each entry is
written to a temporary file in the cache directory and moved into place with `os.replace`, so
several processes writing at once never leave a torn or mixed entry. A damaged entry is detected on
read, deleted and counted; `get` then returns None and the caller recomputes.

A cache may have a `scope` (the engine passes its resolved tier): every key is then stored as the digest of
scope and key, so two configurations sharing a folder never read each other's entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from tts_core import constants
from tts_core.errors import bad_field

MAGIC = b"TTSA"
FORMAT_VERSION = 1
# magic, version, reserved, sample_rate (Hz), n_samples, sha256(payload)
_HEADER = struct.Struct("<4sHHIQ32s")
HEADER_BYTES = _HEADER.size
SUFFIX = ".f32"
_TMP_PREFIX = ".tmp-"
_STALE_TMP_S = 3600.0  # temporary files older than this were left by a crashed writer
_KEY_RE = re.compile(r"[0-9a-f]{64}")
_MB = 1024 * 1024
DEFAULT_MEMORY_MB = 16.0  # the memory tier's bound: about 3 minutes of 22.05 kHz float32 audio


def _json_default(value: Any) -> Any:
    """Make numpy scalars and arrays, tuples and paths canonical-JSON friendly."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(
        f"AudioCache.key: `params` holds a {type(value).__name__} ({value!r}), which has no canonical "
        "JSON form; pass numbers, strings, booleans, None, lists or dicts."
    )


def _check_key(key: str) -> str:
    """A key is a lowercase SHA-256 hex digest; anything else could name a path outside the cache."""
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ValueError(
            f"AudioCache: key {key!r} is not a 64-character lowercase hex digest; "
            "build keys with `AudioCache.key(...)`."
        )
    return key


def encode_entry(samples: np.ndarray, sample_rate: int) -> bytes:
    """The on-disk bytes of one entry: header + float32 payload."""
    payload = np.ascontiguousarray(samples, dtype="<f4").tobytes()
    digest = hashlib.sha256(payload).digest()
    return _HEADER.pack(MAGIC, FORMAT_VERSION, 0, sample_rate, len(payload) // 4, digest) + payload


def decode_entry(blob: bytes) -> tuple[np.ndarray, int] | None:
    """Samples and sample rate (Hz) from an entry's bytes, or None when the entry is damaged."""
    if len(blob) < HEADER_BYTES:
        return None
    magic, version, _, sample_rate, n_samples, digest = _HEADER.unpack_from(blob)
    payload = memoryview(blob)[HEADER_BYTES:]
    if magic != MAGIC or version != FORMAT_VERSION or sample_rate <= 0 or len(payload) != 4 * n_samples:
        return None
    if hashlib.sha256(payload).digest() != digest:
        return None
    return np.frombuffer(payload, dtype="<f4").astype(np.float32), int(sample_rate)


class AudioCache:
    """Synthesized audio by content key: an LRU of at most `max_items` entries and `max_memory_mb` MB in memory,
    plus an optional disk store.

    `disk_dir=None` keeps the cache in memory only. The memory tier is bounded in bytes as well as entries, so a
    service's memory does not depend on how long its sentences are (64 sentences of 10 s are 56 MB of float32).
    `max_disk_mb` bounds the disk store in MB (default `$TTS_CORE_AUDIO_CACHE_MB`, else `constants.DEFAULT_AUDIO_CACHE_MB`); when a write takes
    it over the bound, the least recently used files (by mtime, refreshed on every hit) are removed.
    `scope` (any string, e.g. a canonical JSON of the engine's resolved tier) is part of every entry's address:
    caches of different scopes never see each other's entries, even in one `disk_dir` (`clear` still empties the
    whole folder: give each configuration its own folder for that).
    Thread-safe within a process; safe across processes sharing `disk_dir`.
    """

    def __init__(self, disk_dir: str | os.PathLike[str] | None = None, max_items: int = 64,
                 max_disk_mb: float | None = None, max_memory_mb: float = DEFAULT_MEMORY_MB,
                 scope: str = "") -> None:
        if not isinstance(max_items, int) or max_items < 0:
            raise bad_field("AudioCache", "max_items", max_items, "an integer >= 0 (0 = no memory tier)")
        if not max_memory_mb >= 0:
            raise bad_field("AudioCache", "max_memory_mb", max_memory_mb, "a size in MB >= 0 (0 = no memory tier)")
        if max_disk_mb is None:
            max_disk_mb = constants.env_float(constants.ENV_AUDIO_CACHE_MB, constants.DEFAULT_AUDIO_CACHE_MB)
        if not max_disk_mb >= 0:
            raise bad_field("AudioCache", "max_disk_mb", max_disk_mb,
                            f"a size in MB >= 0 (also settable with ${constants.ENV_AUDIO_CACHE_MB})")
        if not isinstance(scope, str):
            raise bad_field("AudioCache", "scope", scope, "a string ('' = no scope)")
        self.scope = scope
        self.max_items = max_items
        self.max_memory_bytes = int(max_memory_mb * _MB)
        self._memory_bytes = 0
        self.max_disk_bytes = int(max_disk_mb * _MB)
        self.disk_dir = Path(disk_dir) if disk_dir is not None else None
        if self.disk_dir is not None:
            self.disk_dir.mkdir(parents=True, exist_ok=True)
        self._memory: OrderedDict[str, tuple[np.ndarray, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._counts = {"hits_memory": 0, "hits_disk": 0, "misses": 0, "corrupt_dropped": 0, "evicted_disk": 0}

    @staticmethod
    def key(voice: str, weights_hash: str, text: str, params: dict, seed: int | None, precision: str) -> str:
        """SHA-256 hex digest of a canonical JSON of everything that determines the audio."""
        record = {"voice": voice, "weights_hash": weights_hash, "text": text, "params": params,
                  "seed": seed, "precision": precision}
        canonical = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                               allow_nan=False, default=_json_default)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def _stored(self, key: str) -> str:
        """The address `key` is stored under: `key` itself, or the digest of this cache's scope and `key`."""
        _check_key(key)
        if not self.scope:
            return key
        return hashlib.sha256(f"{self.scope}\n{key}".encode("utf-8")).hexdigest()

    def path_for(self, key: str) -> Path:
        """The disk file of `key` (inside `disk_dir`, under this cache's scope); raises if there is no disk store."""
        return self._file(self._stored(key))

    def _file(self, stored: str) -> Path:
        if self.disk_dir is None:
            raise ValueError("AudioCache: this cache is memory only; pass `disk_dir` to use a disk store.")
        return self.disk_dir / (stored + SUFFIX)

    def get(self, key: str) -> np.ndarray | None:
        """The cached float32 samples of `key` (a copy), or None on a miss."""
        hit = self.get_with_rate(key)
        return None if hit is None else hit[0]

    def get_with_rate(self, key: str) -> tuple[np.ndarray, int] | None:
        """The cached float32 samples of `key` (a copy) and their sample rate in Hz, or None on a miss."""
        key = self._stored(key)
        with self._lock:
            entry = self._memory.get(key)
            if entry is not None:
                self._memory.move_to_end(key)
                self._counts["hits_memory"] += 1
        if entry is not None:
            self._touch(key)
            return entry[0].copy(), entry[1]
        found = self._read_disk(key)
        with self._lock:
            if found is None:
                self._counts["misses"] += 1
                return None
            self._counts["hits_disk"] += 1
            self._remember(key, found[0], found[1])
        return found[0].copy(), found[1]

    def put(self, key: str, samples: np.ndarray, sample_rate: int) -> None:
        """Store mono `samples` (converted to float32) at `sample_rate` Hz under `key`."""
        key = self._stored(key)
        array = np.asarray(samples)
        if array.ndim != 1:
            raise ValueError(f"AudioCache.put: `samples` has shape {array.shape}; pass mono audio as a 1-D array.")
        if not isinstance(sample_rate, (int, np.integer)) or not 0 < sample_rate < 2**32:
            raise bad_field("AudioCache.put", "sample_rate", sample_rate, "a positive integer in Hz")
        array = np.array(array, dtype=np.float32, copy=True)
        with self._lock:
            self._remember(key, array, int(sample_rate))
        if self.disk_dir is not None:
            self._write_disk(key, array, int(sample_rate))
            self._evict_disk()

    def stats(self) -> dict:
        """Counters plus sizes: `entries`/`bytes` in memory, `disk_entries`/`disk_bytes` on disk."""
        with self._lock:
            out: dict[str, Any] = dict(self._counts)
            out["entries"] = len(self._memory)
            out["bytes"] = self._memory_bytes
        files = self._disk_files()
        out["disk_entries"] = len(files)
        out["disk_bytes"] = sum(size for _, size, _ in files)
        return out

    def clear(self) -> None:
        """Drop every entry, in memory and on disk (only this cache's entry files are removed)."""
        with self._lock:
            self._memory.clear()
            self._memory_bytes = 0
        for path, _, _ in self._disk_files():
            path.unlink(missing_ok=True)

    def __len__(self) -> int:
        """Number of entries held in memory."""
        with self._lock:
            return len(self._memory)

    def __contains__(self, key: object) -> bool:
        """Whether `key` is in memory or on disk, without counting a hit or refreshing recency."""
        if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
            return False
        key = self._stored(key)
        with self._lock:
            if key in self._memory:
                return True
        return self.disk_dir is not None and self._file(key).exists()

    # -- memory tier (call with the lock held) --

    def _remember(self, key: str, samples: np.ndarray, sample_rate: int) -> None:
        if self.max_items == 0 or samples.nbytes > self.max_memory_bytes:
            return
        samples.setflags(write=False)
        old = self._memory.pop(key, None)
        self._memory_bytes += samples.nbytes - (old[0].nbytes if old else 0)
        self._memory[key] = (samples, sample_rate)
        while len(self._memory) > self.max_items or self._memory_bytes > self.max_memory_bytes:
            _, (dropped, _) = self._memory.popitem(last=False)
            self._memory_bytes -= dropped.nbytes

    # -- disk tier (these take stored addresses, see `_stored`) --

    def _read_disk(self, key: str) -> tuple[np.ndarray, int] | None:
        if self.disk_dir is None:
            return None
        path = self._file(key)
        try:
            blob = path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            return None
        decoded = decode_entry(blob)
        if decoded is None:
            path.unlink(missing_ok=True)
            with self._lock:
                self._counts["corrupt_dropped"] += 1
            return None
        self._touch(key)
        return decoded

    def _touch(self, key: str) -> None:
        """Refresh the entry file's mtime so disk eviction sees it as recently used."""
        if self.disk_dir is None:
            return
        try:
            os.utime(self._file(key))
        except FileNotFoundError:
            pass  # evicted by another process meanwhile; the data already read is still valid

    def _write_disk(self, key: str, samples: np.ndarray, sample_rate: int) -> None:
        assert self.disk_dir is not None
        blob = encode_entry(samples, sample_rate)
        fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, suffix=".part", dir=self.disk_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, self._file(key))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _disk_files(self) -> list[tuple[Path, int, float]]:
        """(path, bytes, mtime) of every entry file; files vanishing meanwhile are skipped."""
        if self.disk_dir is None:
            return []
        files = []
        now = time.time()
        try:
            entries = list(os.scandir(self.disk_dir))
        except FileNotFoundError:
            return []
        for entry in entries:
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            if entry.name.startswith(_TMP_PREFIX):
                if now - st.st_mtime > _STALE_TMP_S:
                    Path(entry.path).unlink(missing_ok=True)
                continue
            name = entry.name
            if name.endswith(SUFFIX) and _KEY_RE.fullmatch(name[: -len(SUFFIX)]):
                files.append((Path(entry.path), st.st_size, st.st_mtime))
        return files

    def _evict_disk(self) -> None:
        files = self._disk_files()
        total = sum(size for _, size, _ in files)
        if total <= self.max_disk_bytes:
            return
        files.sort(key=lambda f: f[2])  # oldest use first
        for path, size, _ in files:
            if total <= self.max_disk_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
            with self._lock:
                self._counts["evicted_disk"] += 1
