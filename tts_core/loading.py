"""The first steps of loading a tier: the flags set once at load, the voice and its text front-end.

Shared by the engine's load (`tts_core.setup.build_parts`) and the calibration's child process
(`tts_core.calibrate.child`), so the child loads the voice exactly as the engine it calibrates for would.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from tts_core.flags import apply_load_flags
from tts_core.text import TextFrontend
from tts_core.tiers.build import load_plan
from tts_core.tiers.config import TierConfig
from tts_core.tiers.switches import NotApplicable
from tts_core.voices import LoadedVoice, load_voice


def load_voice_for(voice: str | LoadedVoice, dev: torch.device, tier: TierConfig,
                   frontend: Any = None) -> tuple[LoadedVoice, Any, list[NotApplicable]]:
    """Set `tier`'s load flags on `dev` (first: the inter-op thread count is fixed by the first parallel work), then
    the voice (loaded by name as the tier asks, or the one given, marked as passed in memory) and its text
    front-end (espeak's unless `frontend` is given). Returns them with the notes of load flags that could not take
    effect in this process."""
    notes = apply_load_flags(tier, dev)
    if isinstance(voice, LoadedVoice):
        # see `tts_core.calibrate.calibration_for`: no child process can load this voice again
        loaded = dataclasses.replace(voice, load_info=dict(voice.load_info, loaded_by="memory"))
    else:
        loaded = load_voice(voice, weight_cache=load_plan(tier).cached_weights)
    if frontend is None:
        frontend = TextFrontend(loaded.phoneme_id_map, loaded.espeak_voice)
    return loaded, frontend, notes
