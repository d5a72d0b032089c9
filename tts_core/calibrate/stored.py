"""Where a calibration is stored, and reading it back without measuring anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tts_core.constants import cache_dir, recalibrate_requested
from tts_core.tiers import TierConfig


def stored_path(voice: Any, model: nn.Module, dev: torch.device, tier: TierConfig) -> Path:
    """Where `calibrate` stores (and looks for) the choices of `tier` for `voice` on `dev` with this process's
    threads. The key is `tts_core.tiers.calibrate`'s own; only the folder layout is repeated here."""
    from tts_core.tiers.calibrate import _key, engine_renderer, render_path

    key = _key(voice.weights_key, dev, tier, render_path(engine_renderer(model, dev, tier)))
    return cache_dir() / "calibration" / f"{voice.name}-{key}.json"


def read_stored(voice: Any, model: nn.Module, dev: torch.device, tier: TierConfig) -> dict[str, Any] | None:
    """The stored calibration (`cached` True) when one of the current version exists and no recalibration was
    asked for; else None. Reads a file, measures nothing."""
    from tts_core.tiers.calibrate import CALIBRATION_VERSION

    path = stored_path(voice, model, dev, tier)
    if recalibrate_requested() or not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # the measuring side warns and measures again
    return dict(stored, cached=True) if stored.get("version") == CALIBRATION_VERSION else None
