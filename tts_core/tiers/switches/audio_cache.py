"""audio_cache: sentence audio kept in an in-memory LRU and a content-addressed disk cache (per tier)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from tts_core.tiers.switches.base import RuntimeContext, Switch, flag


class AudioCache(Switch):
    name = "audio_cache"
    settings = (flag("audio_cache", "LRU in memory + content-addressed disk cache of sentence audio"),)
    acts_on = ("runtime",)
    shows_in = "warm"

    def runtime_parts(self, tier: Any, ctx: RuntimeContext) -> dict[str, Any]:
        if not tier.audio_cache:
            return {}
        from tts_core.constants import audio_cache_dir
        from tts_core.runtime import AudioCache

        return {"audio_cache": AudioCache(disk_dir=audio_cache_dir(tier.name), scope=scope(tier))}


def scope(tier: Any) -> str:
    """The audio cache's scope for an engine of `tier` (resolved: every "auto" decided): its switches as canonical
    JSON. Part of every entry's address, so a tier never reads audio another made (`advanced-X` not `advanced`'s);
    its folder is `audio_cache_dir(tier.name)`, so one tier's `clear_cache` never deletes another's entries."""
    return json.dumps(dataclasses.asdict(tier), sort_keys=True, default=str, separators=(",", ":"))


SWITCH = AudioCache()
