"""`CurveConfig`: the concurrency curve's settings (closed-loop clients per level, how long, the first-audio bound).

Values live in `configs/scenario/concurrency.yaml` (`defaults: [base_concurrency, _self_]`: this schema plus the
class a sweep runs it with, `bench/scenarios/config.py`). Times are in the unit their name says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from bench.errors import bad_field
from bench.serve.config import check_batching

LEVELS = (1, 2, 4, 8, 16)


@dataclass
class CurveConfig:
    """Closed-loop clients at each of `levels`: every client sends a fresh sentence as soon as its last stream has
    ended. A level sends new requests until both `seconds_per_level` have passed and `min_requests` were sent,
    or `max_seconds_per_level` have passed; the streams still open then play out. A request is good when its first
    audio came within `latency_bound_ms` and its listener heard no underrun (goodput)."""

    name: str = "concurrency"
    levels: list[int] = field(default_factory=lambda: list(LEVELS))  # concurrent streams (clients) per level
    seconds_per_level: float = 30.0  # clients keep sending at least this long, s
    min_requests: int = 20  # ... and until this many requests were sent at the level
    max_seconds_per_level: float = 120.0  # no new request after this, even short of min_requests, s
    latency_bound_ms: float = 300.0  # first-audio bound of goodput, ms
    request_timeout_s: float = 120.0  # an in-process stream not ended by then is an error, s
    batching: str = "tier"  # in process and our managed server: tier | on | off (as LoadGen's `batching`)
    max_batch: int = 8  # requests taken as one batch at most
    max_wait_ms: float = 0.0  # how long the first waiting request waits for others to join its batch, ms
    # batch | deadline (tts_core.runtime.scheduler): in process and our managed server (--policy), as LoadGen's
    policy: str = "batch"
    first_audio_ms: Optional[float] = None  # the deadline policy's first-audio target, ms (null: latency_bound_ms)
    # our managed server's engine processes (--workers), the cores split between them; in process: one engine
    workers: int = 1

    def __post_init__(self) -> None:
        g = "scenario"
        levels = list(self.levels)
        if not levels or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in levels):
            raise bad_field(g, "levels", self.levels, "a non-empty list of integers >= 1, e.g. [1, 2, 4, 8, 16]")
        if len(set(levels)) != len(levels):
            raise bad_field(g, "levels", self.levels, "levels without repeats, e.g. [1, 2, 4]")
        if not self.seconds_per_level > 0:
            raise bad_field(g, "seconds_per_level", self.seconds_per_level, "a number of seconds > 0")
        if isinstance(self.min_requests, bool) or not isinstance(self.min_requests, int) or self.min_requests < 1:
            raise bad_field(g, "min_requests", self.min_requests, "an integer >= 1")
        if not self.max_seconds_per_level >= self.seconds_per_level:
            raise bad_field(g, "max_seconds_per_level", self.max_seconds_per_level,
                            f"a number of seconds >= seconds_per_level ({self.seconds_per_level})")
        if not self.latency_bound_ms > 0:
            raise bad_field(g, "latency_bound_ms", self.latency_bound_ms, "a number of milliseconds > 0")
        if not self.request_timeout_s > 0:
            raise bad_field(g, "request_timeout_s", self.request_timeout_s, "a number of seconds > 0")
        check_batching(self)

    def budget_s(self) -> float:
        """The longest the levels can take in seconds: each sends for at most `max_seconds_per_level`, and its last
        streams may take `request_timeout_s` to end."""
        return len(self.levels) * (self.max_seconds_per_level + self.request_timeout_s)


def curve_settings(config: Any) -> dict[str, Any]:
    """The `CurveConfig` fields of a group entry (without `_target_`), as the worker's `concurrency` op takes
    them."""
    from dataclasses import fields

    return {f.name: (list(getattr(config, f.name)) if f.name == "levels" else getattr(config, f.name))
            for f in fields(CurveConfig)}
