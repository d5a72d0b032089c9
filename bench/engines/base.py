"""The adapter protocol every measured engine follows.

An adapter is built from its Hydra config (`_target_` + options, `name` included), then `load`ed once
per worker process. Audio comes back as `tts_core.audio.Audio` (float32 samples + sample rate).
Optional capabilities are separate protocols; the harness checks them with `isinstance` and records
`None` for what an engine cannot do (stage breakdown of an opaque runtime, say).
A class attribute `measured_code` (paths relative to the repository) names the engine's own code:
its hash is part of `code_version`, so a resumed or reused comparison never mixes code versions.
A class attribute `serves_one_tier = True` says the engine speaks only the tier its server was started with (an
HTTP server): a sweep over it measures the tiers asked for alone, without adding the baseline as their reference.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional, Protocol, Sequence, runtime_checkable

from tts_core.audio import Audio


@runtime_checkable
class BenchEngine(Protocol):
    """What the harness needs of an engine. Scales left as None mean the voice's defaults."""

    name: str

    def load(self, *, model: str, device: str, tier: str, seed: Optional[int]) -> dict[str, Any]:
        """Load the voice; returns load facts (at least `source`). Raises ValueError for unsupported values."""
        ...

    @property
    def sample_rate(self) -> int: ...

    def synthesize(self, text: str, **scales: Optional[float]) -> Audio: ...

    def synthesize_batch(self, texts: Sequence[str], **scales: Optional[float]) -> list[Audio]: ...

    def stream(self, text: str, **scales: Optional[float]) -> Iterator[Audio]: ...

    def describe(self) -> dict[str, Any]:
        """Facts for the result row: `device`, `threads`, `tier` (dict), `fidelity_gate`, `uses_torch`, ..."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class CachingEngine(Protocol):
    """An engine with a result cache the harness clears before every uncached round."""

    def clear_cache(self) -> None: ...


@runtime_checkable
class StageProfiling(Protocol):
    """An engine that can time its stages: seconds for frontend, encoder, flow, decoder of one synthesis of
    `text` (`scales`: noise_scale, noise_w, length_scale, as `synthesize` takes them)."""

    def profile_stages(self, text: str, **scales: float) -> dict[str, float]: ...


@runtime_checkable
class TierChecking(Protocol):
    """An engine that can validate a tier name before any process is launched (raises ValueError)."""

    @classmethod
    def check_tier(cls, tier: str) -> None: ...
