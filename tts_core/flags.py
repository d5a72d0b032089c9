"""Process-wide flags a tier sets: once at load, or scoped to each of one engine's calls.

torch keeps threads, cudnn.benchmark, TF32 and determinism per process, so an engine that set them at load would
change every other engine in the same process (a benchmark loads several tiers side by side). `flag_scope` sets a
tier's flags on entry and restores the previous values on exit; `Engine` wraps every synthesis, stream step, batch,
warmup and calibration in it. A flag the tier leaves at its default is not touched at all, so the baseline runs
under PyTorch's own defaults ("as commonly written").

What cannot be scoped is set once at load (`apply_load_flags`): the inter-op thread count (settable once per
process), the CUDA memory fraction, oneDNN's primitive-cache cap (`kernel_cache`, docs/memory.md), glibc's heap
thresholds (`retain_heap`) and the cuBLAS workspace of a deterministic tier.

Which flags each switch sets is in its own file (`Switch.load_flags`, `Switch.scoped_flags`); this module only
loops over the registry.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import torch

from tts_core.tiers.config import TierConfig
from tts_core.tiers.switches import SWITCHES, NotApplicable

_SCOPE_LOCK = threading.RLock()  # two engines on two threads must not interleave set/restore


def apply_load_flags(tier: TierConfig, device: torch.device) -> list[NotApplicable]:
    """Every switch's flags that cannot be scoped, set once at load (in registry order). Returns the switches that
    could not take effect in this process, with the reason (a switch that cannot act on the device at all is the
    registry's note: `tts_core.tiers.build.not_applicable`). Raises `ConfigError` when another engine in this
    process already capped the same CUDA device at a different memory fraction."""
    return [note for switch in SWITCHES if (note := switch.load_flags(tier, device)) is not None]


@contextlib.contextmanager
def flag_scope(tier: TierConfig, device: torch.device) -> Iterator[None]:
    """Set `tier`'s threads and CUDA flags for the block, then restore what the process had."""
    with _SCOPE_LOCK:
        restore: list[tuple[object, str, object]] = []

        def put(obj: object, name: str, value: object) -> None:
            old = getattr(obj, name)
            if old != value:
                restore.append((obj, name, old))
                setattr(obj, name, value)

        threads = torch.get_num_threads()
        det = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
        try:
            for switch in SWITCHES:
                switch.scoped_flags(tier, device, put)
            yield
        finally:
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
            for obj, name, old in reversed(restore):
                setattr(obj, name, old)
            if (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()) != det:
                torch.use_deterministic_algorithms(det[0], warn_only=det[1])
