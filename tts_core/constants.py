"""Every environment variable the project reads, in one place. Nothing else reads `os.environ`."""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE_DIR = "TTS_CORE_CACHE_DIR"  # where converted weights and the audio cache live
ENV_MEMORY_LIMIT_MB = "TTS_CORE_MEMORY_LIMIT_MB"  # default limit of the memory-limit context
ENV_AUDIO_CACHE_MB = "TTS_CORE_AUDIO_CACHE_MB"  # size bound of the on-disk audio cache
ENV_AUDIO_CACHE_DIR = "TTS_CORE_AUDIO_CACHE_DIR"  # root of the audio cache's per-tier folders (<cache dir>/audio)
ENV_MONITOR_HZ = "TTS_CORE_MONITOR_HZ"  # sampling rate of the MemoryMonitor
ENV_MAX_TEXT_CHARS = "TTS_CORE_MAX_TEXT_CHARS"  # longest text accepted in one call (files stream instead)
# read by cuBLAS when CUDA starts; deterministic cuBLAS needs ":4096:8" (or ":16:8"), see
# https://docs.nvidia.com/cuda/cublas/#results-reproducibility
ENV_CUBLAS_WORKSPACE_CONFIG = "CUBLAS_WORKSPACE_CONFIG"
CUBLAS_DETERMINISTIC_CONFIG = ":4096:8"
# read by oneDNN when it creates its first primitive: how many per-shape kernels it keeps (the `kernel_cache` switch
# sets it at load; oneDNN's own default is 1,024)
ENV_ONEDNN_PRIMITIVE_CACHE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"

DEFAULT_MEMORY_LIMIT_MB = 0  # 0 = no limit
DEFAULT_AUDIO_CACHE_MB = 512
DEFAULT_MONITOR_HZ = 100.0
DEFAULT_MAX_TEXT_CHARS = 1_000_000


def cache_dir() -> Path:
    """Root of on-disk caches: `$TTS_CORE_CACHE_DIR`, else `~/.cache/tts_core`."""
    return Path(os.environ.get(ENV_CACHE_DIR) or Path.home() / ".cache" / "tts_core")


def audio_cache_dir(tier_name: str) -> Path:
    """The disk folder of the audio cache of tier `tier_name`: `<root>/<tier name>`, the root being
    `$TTS_CORE_AUDIO_CACHE_DIR`, else `<cache_dir()>/audio` (in the name, characters other than letters, digits
    and - _ . + become `_`). Each tier has its own, so clearing one tier's cache never deletes another's entries;
    a benchmark's worker also gives each contender a root of its own."""
    root = os.environ.get(ENV_AUDIO_CACHE_DIR)
    safe = "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in tier_name).strip(".")
    return (Path(root) if root else cache_dir() / "audio") / (safe or "_")


def ensure_env(name: str, value: str) -> str:
    """Set environment variable `name` to `value` only if it is unset; return the value now in force."""
    if not os.environ.get(name):
        os.environ[name] = value
    return os.environ[name]


def size_onednn_primitive_cache(capacity: int) -> str:
    """Set `$ONEDNN_PRIMITIVE_CACHE_CAPACITY` to `capacity` unless the user set it; returns the value now in the
    environment. It only takes effect if nothing in this process has run a oneDNN op yet: `Engine.load` calls it
    first, for a tier with `kernel_cache` (see `tts_core.flags.apply_load_flags`). Importing `tts_core` sets
    nothing, so a process that only imports it (a benchmark's parent) passes the user's environment, unchanged, to
    the processes it starts."""
    return ensure_env(ENV_ONEDNN_PRIMITIVE_CACHE, str(capacity))


def onednn_primitive_cache() -> str | None:
    """`$ONEDNN_PRIMITIVE_CACHE_CAPACITY` as this process has it now (None = oneDNN's default, 1024)."""
    return os.environ.get(ENV_ONEDNN_PRIMITIVE_CACHE) or None


def env_float(name: str, default: float) -> float:
    """A float from the environment, or `default`; a malformed value raises a clear error."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"Environment variable {name}={raw!r} is not a number; unset it or give a number.") from None

ENV_RECALIBRATE = "TTS_CORE_RECALIBRATE"  # "1": ignore stored calibration choices and measure again


ENV_CALIBRATE_IN_PROCESS = "TTS_CORE_CALIBRATE_IN_PROCESS"  # "1": measure in the loading process, not in a child


def env_flag(name: str) -> bool:
    """True when environment variable `name` is set to anything but "", "0", "false" or "no"."""
    return os.environ.get(name, "") not in ("", "0", "false", "no")


def recalibrate_requested() -> bool:
    """True when the user asked to re-run the advanced tier's calibration."""
    return env_flag(ENV_RECALIBRATE)


def calibrate_in_process_requested() -> bool:
    """True when the user asked the calibration to run in the process that loads the engine (no child process)."""
    return env_flag(ENV_CALIBRATE_IN_PROCESS)
