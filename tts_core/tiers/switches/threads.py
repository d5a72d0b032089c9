"""threads: the intra-op and inter-op thread counts torch uses for this engine's calls (`tts_core.flags`)."""

from __future__ import annotations

from tts_core.tiers.switches.base import Switch, optional_count


class Threads(Switch):
    name = "threads"
    settings = (
        optional_count("threads", "intra-op threads", 1, "torch's default: all cores"),
        optional_count("interop_threads", "inter-op threads (settable once per process)", 1, "torch's default"),
    )
    ablations = {"threads1": {"threads": 1}}
    acts_on = ("flags",)


SWITCH = Threads()
