"""housekeeping: garbage collection, heap trim and CUDA cache release after large jobs, a memory monitor; and an
optional RSS limit that refuses jobs above it."""

from __future__ import annotations

from tts_core.tiers.switches.base import Setting, Switch, flag


class Housekeeping(Switch):
    name = "housekeeping"
    settings = (
        flag("housekeeping", "gc + CUDA cache release after large jobs, memory monitor"),
        Setting("memory_limit_mb", None, "refuse (or chunk) jobs that would exceed this RSS, in MB",
                "a positive number of MB or None",
                lambda v: v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0)),
    )
    ablations = {"housekeeping": {"housekeeping": True}}
    acts_on = ("runtime", "flags")


SWITCH = Housekeeping()
