"""Turn a tier into working parts: device and flags, voice, model transforms, caches, batcher, workers.

`Engine.load` calls `build_parts`; everything a tier switches on is assembled here, so the engine
itself only runs the pipeline.
"""

from __future__ import annotations

import copy
import gc
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import torch
from torch import nn

from tts_core.constants import cache_dir
from tts_core.errors import ConfigError
from tts_core.text import TextFrontend
from tts_core.tiers import TierConfig
from tts_core.tiers.fusion import apply_fusion
from tts_core.tiers.precision import apply_compile, apply_precision, with_own_modules
from tts_core.tiers.tiling import apply_tiling
from tts_core.voices import LoadedVoice, load_voice

log = logging.getLogger("tts_core")
T = TypeVar("T")
DEVICES = ("cpu", "cuda", "cuda:N", "auto")
ENGINE_MONITOR_HZ = 2.0  # the engine's own memory alerts; the harness samples at >= 100 Hz itself
LARGE_JOB_AUDIO_S = 30.0  # housekeeping runs after jobs producing at least this much audio


def resolve_device(device: str) -> torch.device:
    """"auto" -> cuda when present, else cpu. An absent or malformed device raises `ConfigError`."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"`device` = {device!r} is not a device; expected one of {', '.join(DEVICES)}.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"`device` = {device!r}: CUDA is not available on this machine; use 'cpu' or 'auto'.")
    if dev.type not in ("cpu", "cuda"):
        raise ConfigError(f"`device` = {device!r} is not supported; expected one of {', '.join(DEVICES)}.")
    return dev


def apply_flags(tier: TierConfig, device: torch.device) -> list[str]:
    """Set thread counts and CUDA flags; return the switches that do not apply on this device."""
    not_applicable = []
    if tier.threads is not None:
        torch.set_num_threads(tier.threads)
    if tier.interop_threads is not None:
        try:
            torch.set_num_interop_threads(tier.interop_threads)
        except RuntimeError:  # only settable before the first parallel work in the process
            not_applicable.append("interop_threads (already fixed in this process)")
    cuda_flags = {
        "cudnn_benchmark": tier.cudnn_benchmark,
        "tf32": tier.tf32,
        "allow_nondeterministic": tier.allow_nondeterministic,
        "cuda_memory_fraction": tier.cuda_memory_fraction is not None,
    }
    if device.type != "cuda":
        return not_applicable + [f"{k} (no CUDA device)" for k, on in cuda_flags.items() if on]
    torch.backends.cudnn.benchmark = tier.cudnn_benchmark
    torch.backends.cuda.matmul.allow_tf32 = tier.tf32
    torch.backends.cudnn.allow_tf32 = tier.tf32
    torch.use_deterministic_algorithms(not tier.allow_nondeterministic, warn_only=True)
    if tier.cuda_memory_fraction is not None:
        torch.cuda.set_per_process_memory_fraction(tier.cuda_memory_fraction, device)
    return not_applicable


class Batcher:
    """Runs a render function over indices: one at a time, in length buckets, or with the memory-aware
    batch-size optimizer that backs off on out-of-memory."""

    def __init__(self, tier: TierConfig, device: torch.device) -> None:
        from tts_core.runtime import BatchSizeOptimizer, default_memory_budget_mb

        self.max_batch = tier.max_batch if tier.batch_sentences else 1
        self.optimizer = (
            BatchSizeOptimizer(default_memory_budget_mb(str(device)), max_batch=self.max_batch)
            if tier.batch_optimizer
            else None
        )
        self.batches = 0

    def run(self, fn: Callable[[list[int]], list[T]], indices: list[int], lengths: list[int]) -> list[T]:
        from tts_core.runtime import bucket_by_length

        results: dict[int, T] = {}
        for bucket in bucket_by_length(lengths, self.max_batch):
            chosen = [indices[j] for j in bucket]
            outs = self.optimizer.run(fn, chosen, [lengths[j] for j in bucket]) if self.optimizer else fn(chosen)
            self.batches += 1
            results.update(zip(chosen, outs))
        return [results[i] for i in indices]

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"max_batch": self.max_batch, "batches": self.batches}
        if self.optimizer:
            out.update(self.optimizer.stats())
        return out


def worker_engine(**kwargs: Any):
    """Factory run inside each worker process (picklable: a module-level function)."""
    from tts_core.engine import Engine

    return Engine.load(**kwargs)


@dataclass
class EngineParts:
    voice: LoadedVoice
    model: nn.Module
    frontend: TextFrontend
    tier: TierConfig  # with every "auto" decided
    device: torch.device
    load_info: dict[str, Any]
    batcher: Batcher
    audio_cache: Any = None
    pool: Any = None
    workers: Any = None
    monitor: Any = None
    calibration: dict[str, Any] | None = None
    not_applicable: list[str] = field(default_factory=list)
    audio_since_housekeeping: float = 0.0

    def check_memory(self, n_ids: int) -> None:
        if self.tier.memory_limit_mb:
            from tts_core.runtime import check_memory

            check_memory(self.tier.memory_limit_mb, what=f"synthesis of {n_ids} phoneme ids")

    def housekeep(self, audio_s: float) -> None:
        """Once LARGE_JOB_AUDIO_S of audio has been made since the last time (one large job, or a long
        stream), collect garbage, trim the heap and release the CUDA cache. Small jobs skip it: a full
        collection costs more than a short synthesis."""
        if not self.tier.housekeeping:
            return
        self.audio_since_housekeeping += audio_s
        if self.audio_since_housekeeping >= LARGE_JOB_AUDIO_S:
            from tts_core.runtime import release_memory

            release_memory(str(self.device))
            self.audio_since_housekeeping = 0.0

    def close(self) -> None:
        if self.workers is not None:
            self.workers.close()
        if self.monitor is not None:
            self.monitor.stop()
        if self.pool is not None:
            self.pool.clear()
        self.model = None  # type: ignore[assignment]
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def build_parts(voice_name: str, device: str, tier: TierConfig, seed: int | None) -> EngineParts:
    """Everything `Engine` needs, assembled as the tier asks."""
    dev = resolve_device(device)
    not_applicable = apply_flags(tier, dev)
    voice = load_voice(voice_name, weight_cache=tier.weight_cache)
    model = voice.model.to(dev).eval()
    if tier.inference_mode:
        for p in model.parameters():
            p.requires_grad_(False)
    frontend = TextFrontend(voice.phoneme_id_map, voice.espeak_voice)

    calibration = None
    if tier.auto_fields:
        from tts_core.tiers.calibrate import calibrate

        calibration = calibrate(voice, model, frontend, dev, tier)
        tier = tier.with_(**calibration["choices"])
    if tier.precision != "fp32":
        model = apply_precision(model, tier.precision)
    if tier.fusion and tier.precision == "int8":
        log.warning("fusion skipped: it needs float convolution weights and precision is int8")
        tier = tier.with_(fusion=False)
    if tier.fusion:
        model = apply_fusion(with_own_modules(model), tier.bucket_frames)
    elif tier.decoder_tiling:
        model = apply_tiling(with_own_modules(model), tier.tile_samples)
        if tier.bucket_frames:
            not_applicable.append("bucket_frames (the tiled decoder runs exact lengths)")
    elif tier.bucket_frames:
        model = with_own_modules(model)
        model.dec = copy.copy(model.dec)  # its own attributes, the same submodules and weights
        model.dec.bucket_frames = tier.bucket_frames
    if tier.compile:
        model = apply_compile(with_own_modules(model))

    parts = EngineParts(
        voice=voice,
        model=model,
        frontend=frontend,
        tier=tier,
        device=dev,
        load_info=dict(voice.load_info),
        batcher=Batcher(tier, dev),
        calibration=calibration,
        not_applicable=not_applicable,
    )
    if tier.audio_cache:
        from tts_core.runtime import AudioCache

        parts.audio_cache = AudioCache(disk_dir=cache_dir() / "audio")
    if tier.memory_pool:
        from tts_core.runtime import BufferPool

        parts.pool = BufferPool()
    if tier.housekeeping:
        from tts_core.runtime import MemoryMonitor

        # A slow sampler: it only raises alerts. At 100 Hz its wake-ups preempt the compute threads
        # on a small machine (the harness samples memory at 100 Hz in its own, separate pass).
        parts.monitor = MemoryMonitor(hz=ENGINE_MONITOR_HZ, limit_mb=tier.memory_limit_mb)
        parts.monitor.start()
    if tier.workers > 1:
        from tts_core.runtime import WorkerPool

        threads = max(1, (os.cpu_count() or 1) // tier.workers)
        worker_tier = tier.with_(name=f"{tier.name}/worker", workers=1, threads=threads, engine_registry=False)
        parts.workers = WorkerPool(
            worker_engine, n_workers=tier.workers,
            kwargs={"voice": voice_name, "device": device, "tier": worker_tier, "seed": seed},
        )
    return parts
