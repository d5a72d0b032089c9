"""A stand-in engine for the harness's own tests: fast, deterministic, and able to misbehave on cue.

Audio is a tone whose length follows the text (15 characters per second); a call sleeps `rtf` x the
audio's duration, divided by a per-tier speedup, so comparisons have something to find; with `work="spin"` it
computes instead (a fixed count of loop steps on one thread, `SPIN_STEPS_PER_S` per nominal second), so another
process on its core slows it as it would a real engine. `misbehave`
maps a tier name (or the switch of an ablation: `sig` for tier `baseline+sig`) to what that tier does
on synthesis: raise, exit, sigkill (itself), hang, oom (eat memory until killed) or fidelity (audio
that fails the gate). An ablation's resolved tier differs from its reference by its switch, except the
switch `noop`, which resolves to the reference itself (for testing "identical here").
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from tts_core.audio import Audio

SAMPLE_RATE = 16000
CHARS_PER_S = 15.0
CHUNK_S = 0.5
TIER_SPEEDUP = {"baseline": 1.0, "optimized": 1.5, "advanced": 2.0}
MISBEHAVIOURS = ("none", "raise", "exit", "sigkill", "hang", "oom", "fidelity")
WORKS = ("sleep", "spin")
SPIN_STEPS_PER_S = 20_000_000  # loop steps per nominal second of work (CPython runs 20-40 million a second)


class FakeEngine:
    """Follows `bench.engines.base.BenchEngine`; has a cache and a stage profile like the real engine."""

    def __init__(
        self,
        name: str = "fake",
        rtf: float = 0.002,
        misbehave: Optional[dict[str, str]] = None,
        work: str = "sleep",
    ) -> None:
        if work not in WORKS:
            raise ValueError(f"`engine.work` = {work!r}; expected one of {', '.join(WORKS)}.")
        self.work = work
        for tier, what in (misbehave or {}).items():
            if what not in MISBEHAVIOURS:
                raise ValueError(f"`engine.misbehave.{tier}` = {what!r}; expected one of {', '.join(MISBEHAVIOURS)}.")
        self.name = name
        self.rtf = rtf
        self.misbehaviour = dict(misbehave or {})
        self.tier = ""
        self.device = "cpu"
        self._cache: dict[tuple[str, float | None], Audio] = {}
        self._hoard: list[bytearray] = []

    @classmethod
    def check_tier(cls, tier: str) -> None:
        if tier.split("+")[0].split("-")[0] not in TIER_SPEEDUP:
            raise ValueError(f"`tier.name` = {tier!r} is unknown; expected one of {', '.join(TIER_SPEEDUP)}.")

    def load(self, *, model: str, device: str, tier: str, seed: Optional[int]) -> dict[str, Any]:
        self.check_tier(tier)
        self.tier, self.device, self.seed = tier, device, seed
        time.sleep(0.01)
        return {"source": "fake", "seconds": 0.01}

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    def _speedup(self) -> float:
        return TIER_SPEEDUP.get(self.tier.split("+")[0].split("-")[0], 1.0)

    @property
    def misbehave(self) -> str:
        switch = self.tier.replace("-", "+").partition("+")[2]
        return self.misbehaviour.get(self.tier) or self.misbehaviour.get(switch) or "none"

    def _maybe_misbehave(self) -> None:
        if self.misbehave == "raise":
            raise RuntimeError("fake engine: asked to raise")
        if self.misbehave == "exit":
            os._exit(3)
        if self.misbehave == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if self.misbehave == "hang":
            time.sleep(3600)
        if self.misbehave == "oom":
            while True:
                self._hoard.append(bytearray(b"x" * (64 * 2**20)))
                time.sleep(0.01)

    def _render(self, text: str, noise_scale: Optional[float]) -> np.ndarray:
        n = int(SAMPLE_RATE * max(len(text), 1) / CHARS_PER_S)
        t = np.arange(n, dtype=np.float32) / SAMPLE_RATE
        wave = 0.3 * np.sin(2 * np.pi * 220.0 * t).astype(np.float32)
        scale = 0.667 if noise_scale is None else noise_scale
        if scale:
            wave += scale * 0.01 * np.random.default_rng(self.seed).standard_normal(n).astype(np.float32)
        if self.misbehave == "fidelity":
            wave *= 0.5
        seconds = self.rtf * n / SAMPLE_RATE / self._speedup()
        if self.work == "spin":
            for _ in range(int(seconds * SPIN_STEPS_PER_S)):
                pass
        else:
            time.sleep(seconds)
        return wave

    def synthesize(self, text: str, noise_scale: Optional[float] = None, **scales: Optional[float]) -> Audio:
        self._maybe_misbehave()
        key = (text, noise_scale)
        if self.tier.startswith("advanced") and key in self._cache:
            return self._cache[key]
        audio = Audio(self._render(text, noise_scale), SAMPLE_RATE, text)
        if self.tier.startswith("advanced"):
            self._cache[key] = audio
        return audio

    def synthesize_batch(self, texts: Sequence[str], **scales: Optional[float]) -> list[Audio]:
        return [self.synthesize(text, **scales) for text in texts]

    def stream(self, text: str, noise_scale: Optional[float] = None, **scales: Optional[float]) -> Iterator[Audio]:
        self._maybe_misbehave()
        samples = self._render(text, noise_scale)
        step = int(CHUNK_S * SAMPLE_RATE)
        for start in range(0, len(samples), step):
            yield Audio(samples[start : start + step], SAMPLE_RATE, text)

    def clear_cache(self) -> None:
        self._cache.clear()

    def profile_stages(self, text: str, **scales: float) -> dict[str, float]:
        t0 = time.perf_counter()
        self._render(text, 0.0)
        total = time.perf_counter() - t0
        return {"frontend": 0.05 * total, "encoder": 0.1 * total, "flow": 0.25 * total, "decoder": 0.6 * total}

    def resolved_tier(self) -> dict[str, Any]:
        """The tier as switches: an ablation adds (`+X`: X true) or removes (`-X`: X false) its switch, except
        `noop`, which changes nothing."""
        out: dict[str, Any] = {"name": self.tier, "speedup": self._speedup()}
        for sep in ("+", "-"):
            head, found, switch = self.tier.partition(sep)
            if found and switch and switch != "noop":
                out[switch] = sep == "+"
                break
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "device": self.device,
            "threads": 1,
            "tier": self.resolved_tier(),
            "tier_name": self.tier,
            "fidelity_gate": "exact",
            "uses_torch": False,
        }

    def close(self) -> None:
        self._cache.clear()
        self._hoard.clear()
