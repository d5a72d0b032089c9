"""kernel_cache: how many per-shape kernels oneDNN keeps in this process (`ONEDNN_PRIMITIVE_CACHE_CAPACITY`, set
at load by `tts_core.flags`; the user's own value wins).

oneDNN builds a kernel (a "primitive") per operation and input shape: a short sentence's decoder windows alone
need about 30, each built in about a millisecond, and a cached kernel holds buffers in proportion to its input.
Two sizes, for two kinds of tier (docs/memory.md):
- `BOUNDED` where every sentence length is a new shape (no buckets: optimized): the cache must stay small or RSS
  grows with every length met (optimized's steady peak in default sweeps: 714-829 MB at 256, 1,161 MB
  at 4,096).
- `BUCKETED` where token and frame counts are padded to multiples and the decoder runs fixed windows (advanced):
  the shapes are few, and a cache that holds them all keeps RSS where the small one did, while at 256 each short
  sentence after a long one rebuilt its decoder's kernels (about 28 ms of a 100 ms sentence)."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import NotApplicable, Switch, optional_count

BOUNDED = 256  # oneDNN kernels kept where shapes are not bucketed: a few sentences' worth
BUCKETED = 4096  # where they are: every bucketed shape of sentences of every length


class KernelCache(Switch):
    name = "kernel_cache"
    settings = (
        optional_count("kernel_cache", "oneDNN primitives (per-shape kernels) kept per process", 1,
                       "oneDNN's default, 1,024, or the user's ONEDNN_PRIMITIVE_CACHE_CAPACITY"),
    )
    ablations = {"kernel_cache": {"kernel_cache": BUCKETED}}
    acts_on = ("flags",)

    def not_applicable(self, tier: Any, device: Any) -> NotApplicable | None:
        if tier.kernel_cache is not None and device.type != "cpu":
            return NotApplicable(self.name, ("kernel_cache",), "oneDNN's kernels run on the CPU only")
        return None

    def load_flags(self, tier: Any, device: Any) -> NotApplicable | None:
        if tier.kernel_cache is None or device.type != "cpu":  # the baseline keeps oneDNN's default
            return None
        from tts_core.constants import ENV_ONEDNN_PRIMITIVE_CACHE, size_onednn_primitive_cache

        size = size_onednn_primitive_cache(tier.kernel_cache)
        if size != str(tier.kernel_cache):
            return NotApplicable(self.name, ("kernel_cache",), f"the environment's {ENV_ONEDNN_PRIMITIVE_CACHE}={size} is kept")
        return None


SWITCH = KernelCache()
