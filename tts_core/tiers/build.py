"""What a tier builds, from the registry: the one path both the engine and the calibration take. Each function
loops over `SWITCHES` and calls one hook per switch; none names a setting.

    tier, notes = settle(tier, device)          # cross-switch rules for this device, each with its note
    model = transform(model, tier, context)     # every enabled switch's transform, in registry order
    Renderer(model, device, **renderer_options(tier))
    stream_plan(tier)                           # how the engine cuts a sentence into chunks
    load_plan(tier)                             # weight cache, warm-up, registry
    runtime_parts(tier, context)                # batcher, caches, pool, housekeeping, workers

The flags a tier sets at load and around each call are `tts_core.flags`'s loops.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from tts_core.stream_plan import StreamPlan
from tts_core.tiers.config import TierConfig
from tts_core.tiers.switches import SWITCHES, BuildContext, NotApplicable, RuntimeContext

log = logging.getLogger("tts_core")


def settle(tier: TierConfig, device: Any) -> tuple[TierConfig, list[NotApplicable]]:
    """`tier` (every "auto" decided) adjusted to what `device` runs, and why each adjustment was made."""
    notes = []
    for switch in SWITCHES:
        tier, note = switch.settle(tier, device)
        if note is not None:
            log.warning("%s: %s", switch.name, note.reason)
            notes.append(note)
    return tier, notes


def not_applicable(tier: TierConfig, device: Any) -> list[NotApplicable]:
    """The switches `tier` turns on that cannot act on `device`, each with its reason."""
    return [note for switch in SWITCHES if (note := switch.not_applicable(tier, device)) is not None]


def transform(model: Any, tier: TierConfig, ctx: BuildContext) -> Any:
    """`model` (eval mode, on `ctx.device`) with every switch `tier` enables applied, in registry order. `tier` must
    be settled and have no "auto" left. Unless `ctx.in_place`, the modules of `model` are never changed: each
    transform returns a shell of its own (weights shared), so a calibration builds many candidates from one model."""
    if tier.auto_fields:
        raise ValueError(f"transform: {tier.name} still has 'auto' fields {tier.auto_fields}; calibrate first")
    for switch in SWITCHES:
        if "model" in switch.acts_on and switch.enabled(tier):
            model = switch.transform(model, tier, ctx)
    return model


def renderer_options(tier: TierConfig) -> dict[str, Any]:
    """Keyword arguments of `tts_core.render.Renderer` for `tier` (`pool`: True means "give it a BufferPool")."""
    options: dict[str, Any] = {}
    for switch in SWITCHES:
        options.update(switch.renderer_options(tier))
    return options


def gate(tier: TierConfig) -> str:
    """The fidelity gate ("exact", "half", "int8") `tier`'s audio must pass against the fp32 baseline: the loosest of
    its switches' gates. The one source of a tier's gate, for the engine, the calibration and the harness."""
    from tts_core.fidelity import GATES

    order = list(GATES)  # exact, then looser
    return max((switch.gate(tier) for switch in SWITCHES if switch.enabled(tier)), key=order.index, default="exact")


def stream_plan(tier: TierConfig) -> StreamPlan:
    """How an engine of `tier` (resolved) cuts a sentence into chunks: every switch's part, in registry order."""
    plan = StreamPlan()
    for switch in SWITCHES:
        plan = switch.stream_plan(tier, plan)
    return plan


@dataclass(frozen=True)
class LoadPlan:
    """How `Engine.load` loads a tier: `cached_weights` (converted weights cached on disk), `warmup_runs` (synthesis
    runs of the warm-up texts before the engine is handed out), `reuse_loaded` (hand back an engine already loaded
    in this process for the same voice, device, tier and seed)."""

    cached_weights: bool = False
    warmup_runs: int = 0
    reuse_loaded: bool = False


def load_plan(tier: TierConfig) -> LoadPlan:
    """The load `tier` asks for: every switch's `load_options`."""
    options: dict[str, Any] = {}
    for switch in SWITCHES:
        options.update(switch.load_options(tier))
    return LoadPlan(**options)


def runtime_parts(tier: TierConfig, ctx: RuntimeContext) -> dict[str, Any]:
    """The parts beside the model `tier` (resolved) builds, by name, in registry order (each switch sees those
    built before it in `ctx.parts`)."""
    for switch in SWITCHES:
        ctx.parts.update(switch.runtime_parts(tier, ctx))
    return ctx.parts


def batches_requests(tier: TierConfig) -> bool:
    """True where `tier` gains from requests grouped into one call (it batches sentences or has worker processes):
    a server or a load test batches requests for it."""
    return any(switch.batches_requests(tier) for switch in SWITCHES)


def make_renderer(model: Any, device: Any, tier: TierConfig, **overrides: Any) -> Any:
    """A `Renderer` for `model` set up as `tier` asks (a fresh `BufferPool` when it pools); `overrides` win."""
    from tts_core.render import Renderer

    options = {**renderer_options(tier), **overrides}
    if options.get("pool") is True:
        from tts_core.runtime import BufferPool

        options["pool"] = BufferPool()
    return Renderer(model, device, **options)
