"""The registry: every switch a tier can turn on, in the order their transforms apply to the model.

Adding a switch: write its file here (a `Switch` subclass and `SWITCH = ...`, see `base.py` and
docs/switches.md), add one line to `SWITCHES` below, and one line in `presets.py` if a shipped tier should
carry it. `TierConfig` gains its settings, the ablations their names, the calibration its candidates and the
harness its `shows_in` from here.
"""

from __future__ import annotations

from tts_core.tiers.switches import (
    audio_cache, banded_attention, batch_optimizer, batching, bucketing, compile, cuda_flags, decode_window,
    deterministic, engine_registry, fewer_chunks, fusion, heap, housekeeping, inference_mode, kernel_cache, memory_fraction,
    memory_pool, precision, streaming, threads, tiling, warmup, weight_cache, workers,
)
from tts_core.tiers.switches.base import AUTO, BuildContext, NotApplicable, RuntimeContext, Setting, Switch

SWITCHES: tuple[Switch, ...] = (
    inference_mode.SWITCH,
    threads.SWITCH,
    cuda_flags.SWITCH,
    deterministic.SWITCH,
    memory_fraction.SWITCH,
    kernel_cache.SWITCH,
    heap.SWITCH,
    warmup.SWITCH,
    weight_cache.SWITCH,
    engine_registry.SWITCH,
    audio_cache.SWITCH,
    batching.SWITCH,
    batch_optimizer.SWITCH,
    memory_pool.SWITCH,
    banded_attention.SWITCH,  # model transforms from here on apply in this order
    precision.SWITCH,
    fusion.SWITCH,
    tiling.SWITCH,
    bucketing.SWITCH,  # after fusion and tiling: it buckets the plain decoder only
    compile.SWITCH,
    decode_window.SWITCH,
    streaming.SWITCH,
    fewer_chunks.SWITCH,
    workers.SWITCH,
    housekeeping.SWITCH,
)

SETTINGS: dict[str, Setting] = {s.name: s for sw in SWITCHES for s in sw.settings}
OWNER: dict[str, Switch] = {s.name: sw for sw in SWITCHES for s in sw.settings}  # field -> its switch
ABLATIONS: dict[str, Switch] = {name: sw for sw in SWITCHES for name in sw.ablation_fields()}  # ablation -> switch
ABLATION_NAMES: tuple[str, ...] = tuple(ABLATIONS)
CALIBRATED: tuple[Switch, ...] = tuple(sorted((sw for sw in SWITCHES if sw.calibrated),
                                              key=lambda sw: sw.calibration_order))


def by_name(name: str) -> Switch:
    """The switch called `name`, or the one that owns the ablation `name`; KeyError otherwise."""
    for sw in SWITCHES:
        if sw.name == name:
            return sw
    return ABLATIONS[name]


def shows_in(ablation: str) -> str:
    """Where the effect of ablation `ablation` can show (see `base.SHOWS_IN`); "throughput" for an unknown name."""
    sw = ABLATIONS.get(ablation)
    return sw.shows_in if sw else "throughput"


__all__ = ["ABLATIONS", "ABLATION_NAMES", "AUTO", "BuildContext", "CALIBRATED", "NotApplicable", "OWNER", "RuntimeContext", "SETTINGS",
           "SWITCHES", "Setting", "Switch", "by_name", "shows_in"]
