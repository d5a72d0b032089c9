"""`ScenarioConfig`: one LoadGen scenario, its settings, the server search and the dynamic batcher.

Values live in `configs/scenario/{singlestream,offline,server}.yaml` (`defaults: [base_loadgen, _self_]`: this
schema plus the class a sweep runs them with, `bench/scenarios/config.py`); `register(cs)` stores this schema
alone as `scenario/base_scenario`. Times are in the unit their name says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from bench.errors import bad_field
from tts_core.runtime.dispatch import POLICIES

SCENARIOS = ("singlestream", "offline", "server")
P90_QUERY_COUNT = 200  # queries per server run at which p90, not early stopping, decides VALID (ScenarioConfig)
BATCHING = ("tier", "on", "off")  # tier: batch where the engine's tier batches or has workers


def check_batching(config: Any) -> None:
    """Check the dispatch settings a serving scenario shares (`batching`, `max_batch`, `max_wait_ms`, `policy`,
    `first_audio_ms`, as the in-process dispatcher and our managed server take them, and `workers`, our managed
    server's alone); raises `BenchConfigError` naming the field."""
    if config.batching not in BATCHING:
        raise bad_field("scenario", "batching", config.batching, f"one of {', '.join(BATCHING)}")
    if config.max_batch < 1:
        raise bad_field("scenario", "max_batch", config.max_batch, "an integer >= 1")
    if not config.max_wait_ms >= 0:
        raise bad_field("scenario", "max_wait_ms", config.max_wait_ms, "a number of milliseconds >= 0")
    if config.policy not in POLICIES:
        raise bad_field("scenario", "policy", config.policy, f"one of {', '.join(POLICIES)}")
    if config.first_audio_ms is not None and not config.first_audio_ms >= 0:
        raise bad_field("scenario", "first_audio_ms", config.first_audio_ms,
                        "a number of milliseconds >= 0, or null (latency_bound_ms)")
    if isinstance(config.workers, bool) or not isinstance(config.workers, int) or config.workers < 1:
        raise bad_field("scenario", "workers", config.workers,
                        "an integer >= 1 (our managed server's engine processes; 1: one engine using every core)")


def first_audio_target_ms(config: Any) -> float:
    """The deadline policy's first-audio target of a `ScenarioConfig` (or its YAML node), ms: `first_audio_ms`,
    else `latency_bound_ms`."""
    return float(config.latency_bound_ms if config.first_audio_ms is None else config.first_audio_ms)


@dataclass
class ScenarioConfig:
    """A LoadGen run (or, for `server` with `search`, a bounded search for the highest VALID QPS).

    LoadGen runs until both `min_duration_s` and `min_query_count` are met and stops issuing at
    `max_duration_s`. The bound applies to first audio (LoadGen's TTFT) at `latency_percentile`.

    `min_query_count` (P90_QUERY_COUNT = 200 where the YAML does not set it): a server run is VALID only when
    its first audio is within the bound at the percentile *and* LoadGen's early stopping passes. With t queries
    over the bound, early stopping wants h(t) + t queries, h(t) the fewest under it that make the percentile
    within the bound 99% certain (LoadGen's MinPassingQueriesFinder; at p90 h(0) = 44, h(10) = 187, h(11) = 199).
    At 44 queries not one may miss, though the p90 lets 4 miss: the slowest query decides. At 200, early
    stopping lets 10 miss (5%), half the 19 the p90 lets miss, so the slowest 5% decide and a server whose true
    p95 sits at the bound passes early stopping 58% of the time (10% at 44 queries). Right at the bound early
    stopping keeps the last word by design (a true p90 at the bound passes 1% of the time), and more queries
    narrow that band only slowly (7.8% may miss at 1,000). The price is time: a probe lasts at least
    min_query_count / QPS seconds (80 s at 2.5 QPS), and no rate below min_query_count / max_duration_s is
    probed. A p99 bound needs 459 queries with none over it; below 44 no p90 server run is VALID.
    """

    name: str = "singlestream"  # singlestream | offline | server
    target_qps: Optional[float] = None  # server: Poisson rate (search: first probe); offline: expected rate. None = measured
    latency_bound_ms: float = 2000.0  # first-audio bound at `latency_percentile` (server validity), ms
    latency_percentile: float = 0.99  # LoadGen needs >= 459 queries to call a p99 run VALID, 44 for p90
    min_duration_s: float = 10.0
    max_duration_s: float = 60.0  # LoadGen stops issuing here
    min_query_count: int = P90_QUERY_COUNT  # see above: below ~200, early stopping, not the p90, decides VALID
    seed: int = 0  # LoadGen's sample, schedule and QSL seeds
    search: bool = False  # server only: bisect for the highest QPS whose run is VALID
    search_budget_s: float = 240.0  # no new search run starts unless it can end within this, s
    search_max_runs: int = 6
    search_tolerance: float = 0.15  # stop when (highest INVALID / highest VALID) - 1 is below this
    batching: str = "tier"  # tier | on | off
    max_batch: int = 8  # queries taken as one batch at most
    max_wait_ms: float = 0.0  # how long the first waiting query waits for others to join its batch, ms
    # batch: queries served whole, batched as `batching` says; deadline: every query streams, one chunk at a time,
    # the chunk due soonest first (tts_core.runtime.scheduler), `max_batch` streams at once. The in-process
    # dispatcher and our managed server (--policy) both take it, so a pair runs the same arrival trace.
    policy: str = "batch"
    # deadline: a new query's first chunk is due this long after it came, ms (None: latency_bound_ms)
    first_audio_ms: Optional[float] = None
    # our managed server's engine processes (--workers), the cores split between them; in process: one engine
    workers: int = 1
    run_timeout_s: float = 300.0  # a run not done by then (engine hung) is a failed row

    def __post_init__(self) -> None:
        g = "scenario"
        if self.name not in SCENARIOS:
            raise bad_field(g, "name", self.name, f"one of {', '.join(SCENARIOS)}")
        if self.target_qps is not None and not self.target_qps > 0:
            raise bad_field(g, "target_qps", self.target_qps, "a number of queries per second > 0, or null (measured)")
        if not self.latency_bound_ms > 0:
            raise bad_field(g, "latency_bound_ms", self.latency_bound_ms, "a number of milliseconds > 0")
        if not 0 < self.latency_percentile < 1:
            raise bad_field(g, "latency_percentile", self.latency_percentile, "a fraction in (0, 1), e.g. 0.99")
        if not self.min_duration_s >= 0:
            raise bad_field(g, "min_duration_s", self.min_duration_s, "a number of seconds >= 0")
        if not self.max_duration_s >= max(self.min_duration_s, 0.1):
            raise bad_field(g, "max_duration_s", self.max_duration_s,
                            f"a number of seconds >= min_duration_s ({self.min_duration_s}) and > 0")
        if isinstance(self.min_query_count, bool) or not isinstance(self.min_query_count, int) or self.min_query_count < 1:
            raise bad_field(g, "min_query_count", self.min_query_count,
                            f"an integer >= 1 ({P90_QUERY_COUNT} lets the p90 decide a server run: see ScenarioConfig)")
        if self.seed < 0:
            raise bad_field(g, "seed", self.seed, "an integer >= 0")
        if self.search and self.name != "server":
            raise bad_field(g, "search", self.search, "false unless `scenario.name` is server")
        if not self.search_budget_s > 0:
            raise bad_field(g, "search_budget_s", self.search_budget_s, "a number of seconds > 0")
        if self.search_max_runs < 2:
            raise bad_field(g, "search_max_runs", self.search_max_runs, "an integer >= 2")
        if not self.search_tolerance > 0:
            raise bad_field(g, "search_tolerance", self.search_tolerance, "a fraction > 0, e.g. 0.15")
        check_batching(self)
        if not self.run_timeout_s > 0:
            raise bad_field(g, "run_timeout_s", self.run_timeout_s, "a number of seconds > 0")

    def with_(self, **changes: Any) -> "ScenarioConfig":
        """A copy with some fields changed (validated again)."""
        from dataclasses import replace

        return replace(self, **changes)


def register(cs: Any) -> None:
    """Store the schema in Hydra's ConfigStore `cs` as `scenario/base_scenario`."""
    cs.store(group="scenario", name="base_scenario", node=ScenarioConfig)
