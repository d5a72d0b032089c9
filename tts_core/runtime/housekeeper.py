"""`Housekeeper`: memory released between calls, never inside one, and the RSS limit a call is checked against.

An engine counts the audio it makes; after `LARGE_JOB_AUDIO_S` of it (and, on a CPU, once RSS has grown
`RSS_HEADROOM` above where the load or the last run left it) housekeeping is pending, and `run()` collects
garbage, trims the heap (unless the process retains it: `tts_core.runtime.heap`) and releases the CUDA cache. A harness calls it between rounds, a server between requests.
"""

from __future__ import annotations

import time
from typing import Any

LARGE_JOB_AUDIO_S = 30.0  # housekeeping becomes pending once this much audio was made since the last run...
RSS_HEADROOM = 0.2  # ...and (on a CPU) RSS is this much above where the last run or the load left it: trimming
# the heap hands back pages the next call faults in again (about 13% of a short call's time after a long one), so
# it runs only when memory has grown, which bounds it at 1.2x that floor
ENGINE_MONITOR_HZ = 2.0  # the engine's own memory alerts; the harness samples at >= 100 Hz itself


class Housekeeper:
    """Housekeeping of one engine on `device` ("cpu", "cuda:0"): on when `enabled` (with a slow memory monitor
    alerting above `limit_mb`), and the RSS limit in MB (None: none) every call is checked against."""

    def __init__(self, device: str, enabled: bool, limit_mb: float | None = None) -> None:
        self.device = device
        self.enabled = enabled
        self.limit_mb = limit_mb
        self.audio_since_last_s = 0.0
        self.rss_floor_mb: float | None = None  # RSS after the load, then after each run (CPU)
        self.runs: list[dict[str, Any]] = []
        self.loaded_at = time.perf_counter()
        self.monitor = None
        if enabled:
            from tts_core.runtime import MemoryMonitor

            # A slow sampler: it only raises alerts. At 100 Hz its wake-ups preempt the compute threads
            # on a small machine (the harness samples memory at 100 Hz in its own, separate pass).
            self.monitor = MemoryMonitor(hz=ENGINE_MONITOR_HZ, limit_mb=limit_mb)
            self.monitor.start()

    def check_memory(self, n_ids: int) -> None:
        """Raise `MemoryLimitError` when RSS is above the limit before a synthesis of `n_ids` phoneme ids."""
        if self.limit_mb:
            from tts_core.runtime import check_memory

            check_memory(self.limit_mb, what=f"synthesis of {n_ids} phoneme ids")

    def note_audio(self, audio_s: float) -> None:
        """Count audio made; housekeeping becomes pending after LARGE_JOB_AUDIO_S. Never releases memory
        itself: that would land inside a measured call (see `run`)."""
        if self.enabled:
            self.audio_since_last_s += audio_s

    def mark_rss_floor(self) -> None:
        """Take the RSS now as the floor housekeeping measures growth from (see RSS_HEADROOM)."""
        from tts_core.runtime import rss_mb

        self.rss_floor_mb = rss_mb()

    @property
    def pending(self) -> bool:
        if not (self.enabled and self.audio_since_last_s >= LARGE_JOB_AUDIO_S):
            return False
        if self.device.startswith("cuda") or self.rss_floor_mb is None:
            return True
        from tts_core.runtime import rss_mb

        return rss_mb() > self.rss_floor_mb * (1 + RSS_HEADROOM)

    def run(self, force: bool = False) -> dict[str, Any] | None:
        """Collect garbage, trim the heap and release the CUDA cache, if pending (or `force`); a record of
        the run (when, how long, MB freed) or None when nothing ran. Small jobs skip it: a full collection
        costs more than a short synthesis; so does memory that has not grown (see RSS_HEADROOM)."""
        if not (force or self.pending):
            return None
        from tts_core.runtime import heap, release_memory

        t0 = time.perf_counter()
        # a retained heap (retain_heap) is kept: trimming it made the next call fault its pages in again, 13-15%
        # of a short sentence's time when it followed a long one (the optimized tier, 2-core AMD EPYC)
        record = dict(release_memory(self.device, trim_heap=not heap.retained()), at_s=t0 - self.loaded_at,
                      audio_since_last_s=self.audio_since_last_s)
        record["seconds"] = time.perf_counter() - t0
        self.audio_since_last_s = 0.0
        self.rss_floor_mb = record["rss_after_mb"]
        self.runs.append(record)
        return record

    def stats(self) -> dict[str, Any]:
        """How many times housekeeping ran, when (seconds since load) and what is pending."""
        return {
            "runs": len(self.runs),
            "at_s": [r["at_s"] for r in self.runs],
            "seconds": [r["seconds"] for r in self.runs],
            "pending": self.pending,
            "audio_since_last_s": self.audio_since_last_s,
            "rss_floor_mb": self.rss_floor_mb,
        }

    def close(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
