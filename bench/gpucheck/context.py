"""What every check needs: the bundle, the device, a CUDA-aware clock, fresh engines, a time budget."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from bench.gpucheck.bundle import Bundle

ZERO = {"noise_scale": 0.0, "noise_w": 0.0}  # deterministic: compare sample for sample


@dataclass
class CheckContext:
    """`device` is "cuda", "cuda:N" or, for a code-path test only, "cpu". `rounds` per timed comparison;
    `budget_s` is the wall time after which the remaining checks are skipped."""

    bundle: Bundle
    device: str
    rounds: int = 5
    budget_s: float = 270.0
    started: float = field(default_factory=time.perf_counter)

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
        return time.perf_counter() - self.started

    def engine(self, tier: Any):
        """A fresh engine on the bundle's voice (its own copy of the weights: engines convert in place)."""
        from tts_core import Engine

        return Engine.from_voice(self.bundle.load_voice(), self.device, tier, seed=0,
                                 frontend=self.bundle.frontend())

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
        """The text of a named check text ("short", "medium", "long", "many07", ...)."""
        return self.bundle.manifest["names"][name]
