"""Adapter for our engine, `tts_core.Engine`."""

from __future__ import annotations

from typing import Any, Iterator, Optional, Sequence

from tts_core.audio import Audio


class TTSCoreEngine:
    """Measures `tts_core.Engine` through the `BenchEngine` protocol."""

    measured_code = ("tts_core",)  # a change here makes stored results of this engine stale

    def __init__(self, name: str = "tts_core") -> None:
        self.name = name
        self._engine: Any = None

    @classmethod
    def check_tier(cls, tier: str) -> None:
        """Raise ValueError naming `tier.name` and the allowed values if `tts_core` does not know `tier`."""
        from tts_core import tiers

        try:
            tiers.resolve_tier(tier)
        except ValueError as exc:
            raise ValueError(f"`tier.name` = {tier!r}: {exc}") from None

    def load(self, *, model: str, device: str, tier: str, seed: Optional[int]) -> dict[str, Any]:
        from tts_core import Engine

        self._engine = Engine.load(voice=model, device=device, tier=tier, seed=seed)
        return dict(self._engine.load_info)

    @property
    def engine(self) -> Any:
        if self._engine is None:
            raise RuntimeError("TTSCoreEngine: call load() first.")
        return self._engine

    @property
    def sample_rate(self) -> int:
        return int(self.engine.sample_rate)

    def synthesize(self, text: str, **scales: Optional[float]) -> Audio:
        return self.engine.synthesize(text, **scales)

    def synthesize_batch(self, texts: Sequence[str], **scales: Optional[float]) -> list[Audio]:
        return self.engine.synthesize_batch(list(texts), **scales)

    def stream(self, text: str, **scales: Optional[float]) -> Iterator[Audio]:
        return self.engine.stream(text, **scales)

    def clear_cache(self) -> None:
        self.engine.clear_cache()

    def housekeep(self) -> bool:
        """Run the engine's pending housekeeping (gc, heap trim, CUDA cache release) now, between rounds, never
        inside one; True if it ran."""
        if not self.engine.pending_housekeeping:
            return False
        self.engine.housekeep()
        return True

    def profile_stages(self, text: str, **scales: float) -> dict[str, float]:
        return dict(self.engine.profile_stages(text, **scales))

    def describe(self) -> dict[str, Any]:
        import torch
        from tts_core.tiers.build import gate

        tier = self.engine.tier
        return {
            "name": self.name,
            "device": str(self.engine.device),
            "threads": torch.get_num_threads(),
            "tier": tier.to_dict(),
            "tier_name": tier.name,
            "fidelity_gate": gate(tier),
            "uses_torch": True,
            "stats": _jsonable(self.engine.stats()),
        }

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def _jsonable(value: Any) -> Any:
    """`value` reduced to JSON types (numbers, strings, lists, dicts)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
