"""threads: the intra-op and inter-op thread counts torch uses for this engine's calls (`tts_core.flags`)."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import NotApplicable, Put, Switch, optional_count


class Threads(Switch):
    name = "threads"
    settings = (
        optional_count("threads", "intra-op threads", 1, "torch's default: all cores"),
        optional_count("interop_threads", "inter-op threads (settable once per process)", 1, "torch's default"),
    )
    ablations = {"threads1": {"threads": 1}}
    acts_on = ("flags",)

    def load_flags(self, tier: Any, device: Any) -> NotApplicable | None:
        import torch

        if tier.interop_threads is None or torch.get_num_interop_threads() == tier.interop_threads:
            return None
        try:
            torch.set_num_interop_threads(tier.interop_threads)
        except RuntimeError:  # only settable before the first parallel work in the process
            return NotApplicable(self.name, ("interop_threads",), "already fixed in this process")
        return None

    def scoped_flags(self, tier: Any, device: Any, put: Put) -> None:
        import torch

        if tier.threads is not None and tier.threads != torch.get_num_threads():
            torch.set_num_threads(tier.threads)  # restored by `flag_scope`


SWITCH = Threads()
