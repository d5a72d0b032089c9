"""What a stored calibration is keyed by, where it lies, and reading it back without measuring anything.

A choice holds for one voice (its weights), device, CPU (and any cap on its instruction sets), torch version, thread
count, the tier's fixed switches and the render path; a new `CALIBRATION_VERSION` (a change in how candidates are
measured) makes every stored choice stale, and the next load measures again (saying so in one line).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tts_core.constants import cache_dir, recalibrate_requested
from tts_core.machine import cpu_model, isa_caps
from tts_core.render import vocoder_batched
from tts_core.tiers.config import AUTO, TierConfig

CALIBRATION_VERSION = 11  # 2: decoder fusion joined the candidates; 3: the engine's render path and buckets;
# 4: candidate measurements shared by every tier of a machine; 6: 8 rounds on 8 texts, both sides warm on them, the
# median paired ratio and 3 rounds in 4 won; 7: torch.compile must also hold on lengths it has never seen;
# 8: FP16/BF16 keep the decoder's output convolution in fp32 and are measured on the fused decoder when it pays;
# 9: streaming's chunks fill the decoder's buckets, the first is 16 frames, later ones up to 4x the audio before them;
# 10: INT8 on the fused decoder is static int8 arithmetic in its low-rate stages (was: int8 weights, unfused),
# streaming is measured second, the rest within the budget, torch.compile not on a CPU; 11: the switches' registry:
# each candidate built by the engine's own path (decode window, autograd off), decided on top of what was kept


def render_path(device: torch.device, batch_vocoder: bool | None = None) -> str:
    """How a renderer on `device` runs the flow and decoder of a multi-sentence batch: "batched-masked" or
    "per-item" (`batch_vocoder` as `Renderer` takes it)."""
    return "batched-masked" if vocoder_batched(device, batch_vocoder) else "per-item"


def machine_parts(weights_key: str, device: torch.device, tier: TierConfig, path: str) -> list[Any]:
    """What a candidate's measurement depends on: voice, device, CPU (and any cap on its instruction sets), torch,
    threads, the tier's switches with "auto" ones off, and the render path."""
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    return [CALIBRATION_VERSION, weights_key, str(device), gpu, cpu_model(), isa_caps(), torch.__version__,
            torch.get_num_threads(), tier.undecided_off().measured_fields(), path]


def machine_key(weights_key: str, device: torch.device, tier: TierConfig, path: str) -> str:
    """The key of the candidate measurements every tier of this machine shares (`measure.Measured`)."""
    return hashlib.sha256(json.dumps(machine_parts(weights_key, device, tier, path), default=str).encode()).hexdigest()[:20]


def tier_key(weights_key: str, device: torch.device, tier: TierConfig, path: str) -> str:
    """The key of one tier's choices: the machine's, plus which switches are left to calibration."""
    parts = [*machine_parts(weights_key, device, tier, path), sorted(tier.auto_fields),
             list(tier.precision_candidates) if tier.precision == AUTO else []]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Stored:
    """Where one tier's calibration lies (`path`) and the key of the candidate measurements every tier of this
    machine shares (`machine`, see `measure.Measured`)."""

    path: Path
    machine: str

    def read(self) -> dict[str, Any] | None:
        """The stored calibration (`cached` True) when one of the current version exists and no recalibration was
        asked for; else None. Reads a file, measures nothing."""
        if recalibrate_requested() or not self.path.is_file():
            return None
        try:
            stored = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None  # the measuring side warns and measures again
        return dict(stored, cached=True) if stored.get("version") == CALIBRATION_VERSION else None


def locate(voice: Any, dev: torch.device, tier: TierConfig, batch_vocoder: bool | None = None) -> Stored:
    """Where the choices of `tier` for `voice` on `dev` with this process's threads are stored (and looked for)."""
    path = render_path(dev, batch_vocoder)
    key = tier_key(voice.weights_key, dev, tier, path)
    return Stored(cache_dir() / "calibration" / f"{voice.name}-{key}.json",
                  machine_key(voice.weights_key, dev, tier, path))


def stored_path(voice: Any, dev: torch.device, tier: TierConfig, batch_vocoder: bool | None = None) -> Path:
    """Where the choices of `tier` for `voice` on `dev` are stored (`locate(...).path`)."""
    return locate(voice, dev, tier, batch_vocoder).path


def read_stored(voice: Any, dev: torch.device, tier: TierConfig,
                batch_vocoder: bool | None = None) -> dict[str, Any] | None:
    """The stored calibration of `tier` (`locate(...).read()`), or None."""
    return locate(voice, dev, tier, batch_vocoder).read()
