"""What every check needs: the bundle, the device, a CUDA-aware clock, fresh engines one at a time, and the
share of the time budget the check may spend (`allowance_s`)."""

from __future__ import annotations

import contextlib
import gc
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from bench.gpucheck.bundle import Bundle

ZERO = {"noise_scale": 0.0, "noise_w": 0.0}  # deterministic: compare sample for sample


@dataclass
class CheckContext:
    """`device` is "cuda", "cuda:N" or, for a code-path test only, "cpu". `rounds` per timed comparison (at
    most: a check with little time left runs fewer, at least 2). `budget_s` counts from `started` (epoch
    seconds; the CLI passes the process's start). `allowance_s` is set by the run before each check: the seconds
    that check may spend, its share of what is left."""

    bundle: Bundle
    device: str
    rounds: int = 5
    budget_s: float = 360.0
    started: float = field(default_factory=time.time)
    allowance_s: float = float("inf")
    check_started: float = field(default_factory=time.time)

    @property
    def many_count(self) -> int:
        """Sentences of the many-lengths and batch checks: all 64 on a GPU, 8 in a CPU code-path run."""
        return 64 if self.cuda else 8

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    def sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.device)

    def elapsed(self) -> float:
        """Seconds since `started`."""
        return time.time() - self.started

    def left_s(self) -> float:
        """Seconds of the budget left."""
        return self.budget_s - self.elapsed()

    def deadline(self) -> float:
        """Epoch seconds by which the running check should be done: its allowance, within the budget."""
        return min(self.check_started + self.allowance_s, self.started + self.budget_s)

    def engine(self, tier: Any, calibration_budget_s: float | None = None):
        """A fresh engine on the bundle's voice (its own copy of the weights: engines convert in place);
        `calibration_budget_s` bounds the calibration of a tier with "auto" switches (None: the engine's own)."""
        from tts_core import Engine

        return Engine.from_voice(self.bundle.load_voice(), self.device, tier, seed=0,
                                 frontend=self.bundle.frontend(), calibration_budget_s=calibration_budget_s)

    def release(self) -> None:
        """Collect garbage and hand cached CUDA blocks back, so the next engine starts from what is really held."""
        gc.collect()
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()

    def allocated_mb(self) -> float | None:
        """CUDA memory allocated by tensors now, in MB (None on a CPU)."""
        if not self.cuda:
            return None
        import torch

        return torch.cuda.memory_allocated(self.device) / 2**20

    def each_engine(self, tiers: dict[str, Any], measure: Callable[[str, Any, float | None], dict[str, Any]],
                    calibration_budget_s: float | None = None) -> dict[str, dict[str, Any]]:
        """`measure(name, engine, allocated_mb_before_load)` for each tier, one engine at a time: each is closed,
        dropped and collected before the next is built, so no two models are resident together (a loop of
        `with ctx.engine(t) as e` keeps the previous engine alive while the next one loads)."""
        rows: dict[str, dict[str, Any]] = {}
        for name, tier in tiers.items():
            self.release()
            before = self.allocated_mb()
            engine = self.engine(tier, calibration_budget_s)
            try:
                rows[name] = measure(name, engine, before)
            finally:
                engine.close()
                del engine
                self.release()
        return rows

    @contextlib.contextmanager
    def exact_fp32(self) -> Iterator[None]:
        """TF32 off for convolutions and matmuls in the block (PyTorch leaves cuDNN TF32 on by default)."""
        import torch

        old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old

    def text(self, name: str) -> str:
        """The text of a named check text ("short", "medium", "long", "anchor", "many07", ...)."""
        return self.bundle.manifest["names"][name]
