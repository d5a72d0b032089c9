"""A tier's model and renderer options, from the registry: the one path both the engine and the calibration take.

    tier, notes = settle(tier, device)          # cross-switch rules for this device, each with its note
    model = transform(model, tier, context)     # every enabled switch's transform, in registry order
    Renderer(model, device, **renderer_options(tier))
"""

from __future__ import annotations

import logging
from typing import Any

from tts_core.tiers.config import TierConfig
from tts_core.tiers.switches import SWITCHES, BuildContext, NotApplicable

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
    """The fidelity gate `tier`'s audio must pass against the fp32 baseline: the loosest of its switches' gates."""
    from tts_core.fidelity import GATES

    order = list(GATES)  # exact, then looser
    return max((switch.gate(tier) for switch in SWITCHES if switch.enabled(tier)), key=order.index, default="exact")


def make_renderer(model: Any, device: Any, tier: TierConfig, **overrides: Any) -> Any:
    """A `Renderer` for `model` set up as `tier` asks (a fresh `BufferPool` when it pools); `overrides` win."""
    from tts_core.render import Renderer

    options = {**renderer_options(tier), **overrides}
    if options.get("pool") is True:
        from tts_core.runtime import BufferPool

        options["pool"] = BufferPool()
    return Renderer(model, device, **options)
