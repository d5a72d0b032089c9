"""kernel_cache: how many per-shape kernels oneDNN keeps in this process (`ONEDNN_PRIMITIVE_CACHE_CAPACITY`, set
at load by `tts_core.flags`; the user's own value wins).

oneDNN builds a kernel (a "primitive") per operation and input shape: a short sentence's decoder windows alone
need about 30, each built in about a millisecond. The bucketed tiers see few shapes (token and frame counts padded
to multiples, the decoder in fixed windows), but sentences of every length together still need more than a small
cache holds: capped at 256, each short sentence after a long one rebuilt its decoder's kernels (about 28 ms of a
100 ms sentence). With the windows and buckets bounding the shapes, a cache that holds all of them keeps RSS where
the small one did (docs/memory.md)."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import NotApplicable, Switch, optional_count

PRIMITIVES = 4096  # oneDNN kernels kept: the bucketed shapes of sentences of every length (docs/memory.md)


class KernelCache(Switch):
    name = "kernel_cache"
    settings = (
        optional_count("kernel_cache", "oneDNN primitives (per-shape kernels) kept per process", 1,
                       "oneDNN's default, 1,024, or the user's ONEDNN_PRIMITIVE_CACHE_CAPACITY"),
    )
    ablations = {"kernel_cache": {"kernel_cache": PRIMITIVES}}
    acts_on = ("flags",)

    def not_applicable(self, tier: Any, device: Any) -> NotApplicable | None:
        if tier.kernel_cache is not None and device.type != "cpu":
            return NotApplicable(self.name, ("kernel_cache",), "oneDNN's kernels run on the CPU only")
        return None


SWITCH = KernelCache()
