"""How many queries a LoadGen server run needs before its p90, not early stopping, decides VALID.

A system under test whose queries answer at once, except the first `slow` sample indices, which answer after
SLOW_S (one timer each, so a slow query delays no other): LoadGen then sees exactly `slow` queries over the
bound, and its own summary says which check decided. The bound (1 s) and the slow answers (1.5 s) are far
apart, so no verdict depends on how busy the machine is.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from bench.serve.config import P90_QUERY_COUNT, ScenarioConfig
from optional_deps import require

lg = require("mlperf_loadgen")

BOUND_S, SLOW_S, QPS = 1.0, 1.5, 100.0


def summary_of_run(queries: int, slow: int, out: Path) -> str:
    """LoadGen's summary of one server run of `queries` queries at p90 in which `slow` queries miss the bound."""
    timers: list[threading.Timer] = []

    def issue(samples: list) -> None:
        for s in samples:
            respond = lambda s=s: lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0)])  # noqa: E731
            if s.index < slow:
                timers.append(threading.Timer(SLOW_S, respond))
                timers[-1].start()
            else:
                respond()

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(queries, queries, lambda idx: None, lambda idx: None)
    settings = lg.TestSettings()
    settings.scenario, settings.mode = lg.TestScenario.Server, lg.TestMode.PerformanceOnly
    settings.server_target_qps = QPS
    settings.server_target_latency_ns = int(BOUND_S * 1e9)
    settings.server_target_latency_percentile = 0.9
    settings.min_duration_ms, settings.max_duration_ms = 0, 120_000
    settings.min_query_count = queries
    settings.performance_issue_unique = True
    settings.performance_sample_count_override = queries
    log = lg.LogSettings()
    out.mkdir(parents=True, exist_ok=True)
    log.log_output.outdir = str(out)
    log.enable_trace = False
    lg.StartTestWithLogSettings(sut, qsl, settings, log)
    for t in timers:
        t.join()
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)
    return (out / "mlperf_log_summary.txt").read_text()


def checks(summary: str) -> tuple[str, bool, bool]:
    """(verdict, p90 within the bound, early stopping passed) as LoadGen's summary states them."""
    verdict = "VALID" if "Result is : VALID" in summary else "INVALID"
    return (verdict, "Performance constraints satisfied : Yes" in summary,
            "Early stopping satisfied: Yes" in summary)


def test_the_server_search_default_is_the_p90_count() -> None:
    assert ScenarioConfig(name="server", search=True).min_query_count == P90_QUERY_COUNT


def test_at_44_queries_one_miss_is_invalid_by_early_stopping(tmp_path: Path) -> None:
    # the p90 of 44 queries lets 4 miss; early stopping lets none: the slowest query decides
    assert checks(summary_of_run(44, 1, tmp_path / "44")) == ("INVALID", True, False)


def test_at_the_default_count_early_stopping_lets_a_twentieth_miss(tmp_path: Path) -> None:
    """At P90_QUERY_COUNT queries a run with 5% of its queries over the bound is VALID, one more is not (and its p90
    is still within the bound): the slowest 5% decide, not the slowest query."""
    allowed = P90_QUERY_COUNT // 20
    assert checks(summary_of_run(P90_QUERY_COUNT, allowed, tmp_path / "ok")) == ("VALID", True, True)
    assert checks(summary_of_run(P90_QUERY_COUNT, allowed + 1, tmp_path / "over")) == ("INVALID", True, False)


@pytest.mark.parametrize("value", [0, 2.5, True])
def test_min_query_count_must_be_a_positive_integer(value: object) -> None:
    from bench.errors import BenchConfigError

    with pytest.raises(BenchConfigError, match=r"`scenario.min_query_count` = .* expected an integer >= 1 \(200"):
        ScenarioConfig(min_query_count=value)  # type: ignore[arg-type]
