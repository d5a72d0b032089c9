"""When this process started, so a run's time budget also counts the interpreter, torch's import and CUDA's
start-up, which a clock started inside `run` would miss."""

from __future__ import annotations

import os
import time

_IMPORTED = time.time()  # the fallback: when this module was first imported (epoch seconds)


def process_started() -> float:
    """Epoch seconds at which this process started (psutil's reading of the kernel's start time); where psutil
    cannot tell, when this module was imported."""
    try:
        import psutil

        return float(psutil.Process(os.getpid()).create_time())
    except Exception:  # ImportError, psutil.Error: no better clock than our own import
        return _IMPORTED


def process_age_s() -> float:
    """Seconds since this process started."""
    return time.time() - process_started()
