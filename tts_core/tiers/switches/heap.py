"""retain_heap: glibc keeps freed activation memory mapped between calls (fixed mmap and trim thresholds, set at
load by `tts_core.flags` through `tts_core.runtime.heap`), so a call reuses the pages the one before it faulted in.

Without it, how many pages each call maps afresh depends on glibc's moving mmap threshold, that is on which
blocks the process freed before: the same tier speaking the same four long sentences took 130-380 thousand minor
page faults per sentence in four processes, and 1-19 thousand with it (2-core AMD EPYC, AVX-512 with BF16; the
wall times of those probes were taken beside other work and are not quoted). Process-wide:
it acts for every engine in the process from the first load that asks for it. Exact: the same arithmetic."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import NotApplicable, Switch, flag


class RetainHeap(Switch):
    name = "retain_heap"
    settings = (flag("retain_heap", "keep freed heap memory mapped (glibc mmap/trim thresholds fixed high)"),)
    acts_on = ("flags",)

    def load_flags(self, tier: Any, device: Any) -> NotApplicable | None:
        if not tier.retain_heap:
            return None
        from tts_core.runtime.heap import retain_heap

        reason = retain_heap()
        return NotApplicable(self.name, ("retain_heap",), reason) if reason else None


SWITCH = RetainHeap()
