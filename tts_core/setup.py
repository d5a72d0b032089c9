"""Turn a tier into working parts: device and flags, voice, calibration, model transforms, runtime parts.

`Engine.load` calls `build_parts`, which runs the registry's loops in order (`tts_core.loading`, `tts_core.tiers.build`):
no switch is named here, so the engine itself only runs the pipeline.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from tts_core.errors import ConfigError
from tts_core.flags import flag_scope
from tts_core.loading import load_voice_for
from tts_core.runtime.batching import Batcher
from tts_core.runtime.housekeeper import Housekeeper
from tts_core.text import TextFrontend
from tts_core.tiers import TierConfig
from tts_core.tiers.build import not_applicable, runtime_parts, settle, transform
from tts_core.tiers.switches import BuildContext, NotApplicable, RuntimeContext
from tts_core.voices import LoadedVoice

log = logging.getLogger("tts_core")
DEVICES = ("cpu", "cuda", "cuda:N", "auto")


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


@dataclass
class EngineParts:
    """What `Engine` runs: the voice and its (transformed) model, the front-end, the resolved tier, the device, and
    the runtime parts the switches built beside the model, by name (`runtime`; see `tiers.build.runtime_parts`)."""

    voice: LoadedVoice
    model: nn.Module
    frontend: TextFrontend
    tier: TierConfig  # with every "auto" decided
    device: torch.device
    load_info: dict[str, Any]
    runtime: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None
    not_applicable: list[NotApplicable] = field(default_factory=list)

    @property
    def batcher(self) -> Batcher:
        """Runs the renderer over length buckets (one sentence at a time where the tier does not batch)."""
        return self.runtime["batcher"]

    @property
    def housekeeper(self) -> Housekeeper:
        """Memory released between calls, and the RSS limit each call is checked against."""
        return self.runtime["housekeeper"]

    @property
    def cache(self) -> Any:
        """The audio cache, or None."""
        return self.runtime.get("audio_cache")

    @property
    def pool(self) -> Any:
        """The buffer pool the renderer borrows from, or None."""
        return self.runtime.get("pool")

    @property
    def worker_pool(self) -> Any:
        """The worker processes `synthesize_batch` spreads over, or None."""
        return self.runtime.get("workers")

    def close(self) -> None:
        for part in reversed(list(self.runtime.values())):
            close = getattr(part, "close", None)
            if callable(close):
                close()
        self.model = None  # type: ignore[assignment]
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def build_parts(
    voice_name: str | LoadedVoice, device: str, tier: TierConfig, seed: int | None, frontend: Any = None,
    worker_factory: Callable[..., Any] | None = None, calibration_budget_s: float | None = None,
) -> EngineParts:
    """Everything `Engine` needs, assembled as the tier asks, top to bottom:

        device and load flags -> voice -> calibrate ("auto" switches; once per machine, stored) -> settle ->
        transform (the model) -> runtime parts (caches, pool, monitor, workers)

    `voice_name` may be an already loaded voice (then `workers` > 1 is refused: workers load voices by name);
    `frontend` replaces the espeak front-end (anything with `sentences(text)`, e.g. ids phonemized elsewhere);
    `worker_factory` builds the object each worker process holds, from the engine's load arguments (a picklable
    module-level function; needed when `workers` > 1); `calibration_budget_s` bounds the calibration's measuring
    (None: its own bound)."""
    dev = resolve_device(device)
    in_memory = isinstance(voice_name, LoadedVoice)
    voice, frontend, notes = load_voice_for(voice_name, dev, tier, frontend)
    tier, calibration = _calibrate(voice, frontend, dev, tier, calibration_budget_s)
    tier, settled = settle(tier, dev)
    notes += settled + not_applicable(tier, dev)
    with flag_scope(tier, dev):
        model = transform(voice.model, tier, BuildContext(dev, frontend, in_place=True))
    # The voice holds the engine's own model, not the fp32 original: a precision tier keeps one copy.
    voice = dataclasses.replace(voice, model=model)
    runtime = runtime_parts(tier, RuntimeContext(dev, device, seed, None if in_memory else voice.name, worker_factory))
    return EngineParts(voice=voice, model=model, frontend=frontend, tier=tier, device=dev,
                       load_info=dict(voice.load_info), runtime=runtime, calibration=calibration, not_applicable=notes)


def _calibrate(voice: LoadedVoice, frontend: Any, dev: torch.device, tier: TierConfig,
               budget_s: float | None) -> tuple[TierConfig, dict[str, Any] | None]:
    """`tier` with every "auto" switch decided by the calibration (stored once per machine), and its record."""
    voice.model.to(dev).eval()
    if not tier.auto_fields:
        return tier, None
    from tts_core.calibrate import calibration_for

    with flag_scope(tier, dev):
        calibration = calibration_for(voice, frontend, dev, tier, budget_s)
    return tier.with_(**calibration["choices"]), calibration
