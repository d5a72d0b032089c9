"""Tiers: named presets over independent optimization switches (one file each under `switches/`)."""

from tts_core.tiers.config import AUTO, PRECISIONS, TierConfig
from tts_core.tiers.presets import ADVANCED, BASELINE, OPTIMIZED, SWITCH_NAMES, SWITCHES, TIER_NAMES, TIERS, resolve_tier

__all__ = [
    "ADVANCED", "AUTO", "BASELINE", "OPTIMIZED", "PRECISIONS", "SWITCHES", "SWITCH_NAMES", "TIERS", "TIER_NAMES",
    "TierConfig", "resolve_tier",
]
