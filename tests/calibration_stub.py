"""Calibration with scripted timings, so what it keeps is decided by the test and not by the machine's load.

`scripted_speedups(monkeypatch, {"int8": 1.6, ...})` makes every interleaved timing of a named candidate report that
speed-up (won in every round), lets no probe sentence drop a candidate on its time, and runs the calibration in the
test's process (where the patches live). Everything else runs for real: each candidate is built, renders, and must
pass its fidelity gate to be kept. Switches measured by first audio or decoder headroom keep their real timings.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import pytest

from tts_core.constants import ENV_CALIBRATE_IN_PROCESS


def scripted_speedups(monkeypatch: pytest.MonkeyPatch, speedups: dict[str, float]) -> list[str]:
    """Patch `tts_core.calibrate.measure` so the interleaved rounds of candidate `name` report `speedups[name]`
    (x faster than the reference). Returns the names timed, in order (a candidate not in `speedups` fails the
    test, so a new candidate cannot be decided by the clock unnoticed)."""
    from tts_core.calibrate import measure

    monkeypatch.setenv(ENV_CALIBRATE_IN_PROCESS, "1")
    monkeypatch.setattr(measure, "GIVE_UP", math.inf)  # the probe sentence's real timing drops nobody
    timed: list[str] = []
    real_speed = measure.Calibration.speed

    def speed(self: Any, switch: Any, name: str, *args: Any) -> dict[str, Any]:
        timed.append(name)
        return real_speed(self, switch, name, *args)

    def interleaved(ref: Callable[[int], float], cand: Callable[[int], float], rounds: int,
                    give_up: float) -> dict[str, Any]:
        name = timed[-1]
        if name not in speedups:
            pytest.fail(f"calibration timed {name!r}, which the test gave no scripted speed-up")
        s = speedups[name]
        return {"reference_s": 1.0, "candidate_s": 1.0 / s, "speedup": s, "rounds": rounds,
                "won_rounds": rounds if s > 1 else 0, "won_enough": s > 1}

    monkeypatch.setattr(measure.Calibration, "speed", speed)
    monkeypatch.setattr(measure, "_interleaved", interleaved)
    return timed
