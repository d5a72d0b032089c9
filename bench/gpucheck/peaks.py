"""Matmul peaks per precision: the ceiling a model's GFLOP/s is read against."""

from __future__ import annotations

import time


def _precisions(device: str) -> dict[str, tuple[object, bool]]:
    import torch

    if device.startswith("cuda"):
        return {"fp32": (torch.float32, False), "tf32": (torch.float32, True),
                "fp16": (torch.float16, False), "bf16": (torch.bfloat16, False)}
    return {"fp32": (torch.float32, False), "bf16": (torch.bfloat16, False)}


def matmul_peaks(device: str, seconds: float = 1.0, n: int | None = None) -> dict[str, float]:
    """GFLOP/s of a square matmul per precision on `device`, each measured for about `seconds`.

    On CUDA: fp32 (TF32 off), tf32, fp16, bf16, with n = 8192; on a CPU: fp32 and bf16, n = 1024.
    `n` overrides the matrix size. The TF32 flag is restored afterwards."""
    import torch

    dev = torch.device(device)
    cuda = dev.type == "cuda"
    n = n or (8192 if cuda else 1024)
    sync = (lambda: torch.cuda.synchronize(dev)) if cuda else (lambda: None)
    old_tf32 = torch.backends.cuda.matmul.allow_tf32
    out: dict[str, float] = {}
    try:
        for name, (dtype, tf32) in _precisions(device).items():
            torch.backends.cuda.matmul.allow_tf32 = tf32
            a = torch.randn(n, n, device=dev, dtype=dtype)  # (n, n)
            b = torch.randn(n, n, device=dev, dtype=dtype)  # (n, n)
            torch.matmul(a, b)  # untimed: kernel selection
            sync()
            calls, t0 = 0, time.perf_counter()
            while True:
                torch.matmul(a, b)
                calls += 1
                if calls % 4 == 0:
                    sync()
                    if time.perf_counter() - t0 >= seconds:
                        break
            out[name] = 2.0 * n**3 * calls / (time.perf_counter() - t0) / 1e9
            del a, b
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old_tf32
    return out
