"""audio_cache: sentence audio kept in an in-memory LRU and a content-addressed disk cache (per tier)."""

from __future__ import annotations

from tts_core.tiers.switches.base import Switch, flag


class AudioCache(Switch):
    name = "audio_cache"
    settings = (flag("audio_cache", "LRU in memory + content-addressed disk cache of sentence audio"),)
    acts_on = ("runtime",)
    shows_in = "warm"


SWITCH = AudioCache()
