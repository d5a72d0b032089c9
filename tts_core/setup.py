"""Turn a tier into working parts: device and flags, voice, model transforms, caches, batcher, workers.

`Engine.load` calls `build_parts`; everything a tier switches on is assembled here, so the engine
itself only runs the pipeline.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import torch
from torch import nn

from tts_core.constants import audio_cache_dir
from tts_core.errors import ConfigError
from tts_core.flags import apply_load_flags, flag_scope
from tts_core.machine import usable_cores
from tts_core.text import TextFrontend
from tts_core.tiers import TierConfig
from tts_core.tiers.build import not_applicable, settle, transform
from tts_core.tiers.switches import BuildContext, NotApplicable
from tts_core.voices import LoadedVoice, load_voice

log = logging.getLogger("tts_core")
T = TypeVar("T")
DEVICES = ("cpu", "cuda", "cuda:N", "auto")
ENGINE_MONITOR_HZ = 2.0  # the engine's own memory alerts; the harness samples at >= 100 Hz itself
LARGE_JOB_AUDIO_S = 30.0  # housekeeping becomes pending once this much audio was made since the last run...
RSS_HEADROOM = 0.2  # ...and (on a CPU) RSS is this much above where the last run or the load left it: trimming
# the heap hands back pages the next call faults in again (about 13% of a short call's time after a long one), so
# it runs only when memory has grown, which bounds it at 1.2x that floor


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


class Batcher:
    """Runs a render function over indices: one at a time, in length buckets, or with the memory-aware
    batch-size optimizer that backs off on out-of-memory."""

    def __init__(self, tier: TierConfig, device: torch.device) -> None:
        from tts_core.runtime import BatchSizeOptimizer, default_memory_budget_mb

        self.max_batch = tier.max_batch if tier.batch_sentences else 1
        self.max_tokens = tier.batch_tokens
        self.optimizer = (
            BatchSizeOptimizer(default_memory_budget_mb(str(device)), max_batch=self.max_batch)
            if tier.batch_optimizer
            else None
        )
        self.batches = 0

    def run(self, fn: Callable[[list[int]], list[T]], indices: list[int], lengths: list[int]) -> list[T]:
        from tts_core.runtime import bucket_by_length

        results: dict[int, T] = {}
        for bucket in bucket_by_length(lengths, self.max_batch, max_tokens=self.max_tokens):
            chosen = [indices[j] for j in bucket]
            outs = self.optimizer.run(fn, chosen, [lengths[j] for j in bucket]) if self.optimizer else fn(chosen)
            self.batches += 1
            results.update(zip(chosen, outs))
        return [results[i] for i in indices]

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"max_batch": self.max_batch, "max_tokens": self.max_tokens, "batches": self.batches}
        if self.optimizer:
            out.update(self.optimizer.stats())
        return out


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
    not_applicable: list[NotApplicable] = field(default_factory=list)
    audio_since_housekeeping: float = 0.0
    rss_floor_mb: float | None = None  # RSS after the load, then after each housekeeping run (CPU)
    housekeeping_runs: list[dict[str, Any]] = field(default_factory=list)
    loaded_at: float = field(default_factory=time.perf_counter)

    def check_memory(self, n_ids: int) -> None:
        if self.tier.memory_limit_mb:
            from tts_core.runtime import check_memory

            check_memory(self.tier.memory_limit_mb, what=f"synthesis of {n_ids} phoneme ids")

    def note_audio(self, audio_s: float) -> None:
        """Count audio made; housekeeping becomes pending after LARGE_JOB_AUDIO_S. Never releases memory
        itself: that would land inside a measured call (see `housekeep`)."""
        if self.tier.housekeeping:
            self.audio_since_housekeeping += audio_s

    def mark_rss_floor(self) -> None:
        """Take the RSS now as the floor housekeeping measures growth from (see RSS_HEADROOM)."""
        from tts_core.runtime import rss_mb

        self.rss_floor_mb = rss_mb()

    @property
    def housekeeping_pending(self) -> bool:
        if not (self.tier.housekeeping and self.audio_since_housekeeping >= LARGE_JOB_AUDIO_S):
            return False
        if self.device.type == "cuda" or self.rss_floor_mb is None:
            return True
        from tts_core.runtime import rss_mb

        return rss_mb() > self.rss_floor_mb * (1 + RSS_HEADROOM)

    def housekeep(self, force: bool = False) -> dict[str, Any] | None:
        """Collect garbage, trim the heap and release the CUDA cache, if pending (or `force`); a record of
        the run (when, how long, MB freed) or None when nothing ran. Small jobs skip it: a full collection
        costs more than a short synthesis; so does memory that has not grown (see RSS_HEADROOM)."""
        if not (force or self.housekeeping_pending):
            return None
        from tts_core.runtime import release_memory

        t0 = time.perf_counter()
        record = dict(release_memory(str(self.device)), at_s=t0 - self.loaded_at,
                      audio_since_last_s=self.audio_since_housekeeping)
        record["seconds"] = time.perf_counter() - t0
        self.audio_since_housekeeping = 0.0
        self.rss_floor_mb = record["rss_after_mb"]
        self.housekeeping_runs.append(record)
        return record

    def housekeeping_stats(self) -> dict[str, Any]:
        """How many times housekeeping ran, when (seconds since load) and what is pending."""
        return {
            "runs": len(self.housekeeping_runs),
            "at_s": [r["at_s"] for r in self.housekeeping_runs],
            "seconds": [r["seconds"] for r in self.housekeeping_runs],
            "pending": self.housekeeping_pending,
            "audio_since_last_s": self.audio_since_housekeeping,
            "rss_floor_mb": self.rss_floor_mb,
        }

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


def build_parts(
    voice_name: str | LoadedVoice, device: str, tier: TierConfig, seed: int | None, frontend: Any = None,
    worker_factory: Callable[..., Any] | None = None,
) -> EngineParts:
    """Everything `Engine` needs, assembled as the tier asks, top to bottom:

        device and load flags -> voice -> calibrate ("auto" switches; once per machine, stored) -> settle ->
        transform (the model) -> runtime parts (caches, pool, monitor, workers)

    `voice_name` may be an already loaded voice (then `workers` > 1 is refused: workers load voices by name);
    `frontend` replaces the espeak front-end (anything with `sentences(text)`, e.g. ids phonemized elsewhere);
    `worker_factory` builds the object each worker process holds, from the engine's load arguments (a picklable
    module-level function; needed when `workers` > 1)."""
    dev = resolve_device(device)
    notes = apply_load_flags(tier, dev)  # first: the inter-op thread count is fixed by the first parallel work
    voice, frontend = _voice(voice_name, tier, frontend)
    tier, calibration = _calibrate(voice, frontend, dev, tier)
    tier, settled = settle(tier, dev)
    notes += settled + not_applicable(tier, dev)
    with flag_scope(tier, dev):
        model = transform(voice.model, tier, BuildContext(dev, frontend, in_place=True))
    # The voice holds the engine's own model, not the fp32 original: a precision tier keeps one copy.
    voice = dataclasses.replace(voice, model=model)
    parts = EngineParts(voice=voice, model=model, frontend=frontend, tier=tier, device=dev,
                        load_info=dict(voice.load_info), batcher=Batcher(tier, dev), calibration=calibration,
                        not_applicable=notes)
    _runtime_parts(parts, device, seed, worker_factory)
    return parts


def _voice(voice_name: str | LoadedVoice, tier: TierConfig, frontend: Any) -> tuple[LoadedVoice, Any]:
    """The voice (loaded by name, or the one given) and its text front-end (espeak's unless one is given)."""
    if isinstance(voice_name, LoadedVoice):
        if tier.workers > 1:
            raise ConfigError(f"TierConfig({tier.name}): `workers` = {tier.workers} needs a voice name; "
                              "expected 1 with a voice loaded in memory.")
        voice = dataclasses.replace(voice_name, load_info=dict(voice_name.load_info, loaded_by="memory"))  # see
        # calibration_for: no child process can load this voice again
    else:
        voice = load_voice(voice_name, weight_cache=tier.weight_cache)
    if frontend is None:
        frontend = TextFrontend(voice.phoneme_id_map, voice.espeak_voice)
    return voice, frontend


def _calibrate(voice: LoadedVoice, frontend: Any, dev: torch.device,
               tier: TierConfig) -> tuple[TierConfig, dict[str, Any] | None]:
    """`tier` with every "auto" switch decided by the calibration (stored once per machine), and its record."""
    voice.model.to(dev).eval()
    if not tier.auto_fields:
        return tier, None
    from tts_core.calibrate import calibration_for

    with flag_scope(tier, dev):
        calibration = calibration_for(voice, frontend, dev, tier)
    return tier.with_(**calibration["choices"]), calibration


def _runtime_parts(parts: EngineParts, device: str, seed: int | None,
                   worker_factory: Callable[..., Any] | None) -> None:
    """The parts beside the model the tier turns on: audio cache, buffer pool, memory monitor, worker processes."""
    tier = parts.tier
    if tier.audio_cache:
        from tts_core.runtime import AudioCache

        parts.audio_cache = AudioCache(disk_dir=audio_cache_dir(tier.name), scope=audio_cache_scope(tier))
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

        if worker_factory is None:
            raise TypeError(f"build_parts: tier {tier.name} has `workers` = {tier.workers}; pass `worker_factory`.")
        threads = max(1, usable_cores() // tier.workers)
        worker_tier = tier.with_(name=f"{tier.name}/worker", workers=1, threads=threads, engine_registry=False)
        parts.workers = WorkerPool(
            worker_factory, n_workers=tier.workers,
            kwargs={"voice": parts.voice.name, "device": device, "tier": worker_tier, "seed": seed},
        )


def audio_cache_scope(tier: TierConfig) -> str:
    """The audio cache's scope for an engine of `tier` (resolved: every "auto" decided): its switches as canonical
    JSON. Part of every entry's address, so a tier never reads audio another made (`advanced-X` not `advanced`'s);
    its folder is `audio_cache_dir(tier.name)`, so one tier's `clear_cache` never deletes another's entries."""
    return json.dumps(dataclasses.asdict(tier), sort_keys=True, default=str, separators=(",", ":"))
