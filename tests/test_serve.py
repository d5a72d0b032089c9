"""bench.serve: LoadGen over engine adapters (fake engine and the tiny voice), the search, the reports."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from optional_deps import require

require("mlperf_loadgen")

from bench.engines.fake import FakeEngine  # noqa: E402
from bench.errors import BenchConfigError  # noqa: E402
from bench.serve import ScenarioConfig, run_scenario  # noqa: E402
from bench.serve.__main__ import SCENARIO_CONFIGS, load_scenario, main  # noqa: E402
from bench.report.served import answer_table  # noqa: E402
from bench.serve.report import qps_latency_chart  # noqa: E402
from bench.serve.search import Probe, QpsSearch  # noqa: E402
from bench.serve.__main__ import queries  # noqa: E402

ROW_KEYS = {"scenario", "status", "valid", "achieved_qps", "target_qps", "latency_p50_s", "latency_p90_s",
            "latency_p99_s", "ttfa_p50_s", "ttfa_p90_s", "ttfa_p99_s", "tpot_s_per_audio_s", "batches",
            "mean_batch_size", "queries", "duration_s", "summary_path", "detail_path"}
FAST = dict(min_duration_s=0.5, max_duration_s=4.0, min_query_count=44, latency_percentile=0.9)
HANG_GUARD_S = 60.0  # only ever reached when something hangs; no test passes or fails on speed


class ScriptedEngine(FakeEngine):
    """The fake engine, which after `ok_calls` synthesis calls raises or hangs, and can claim a batching tier."""

    def __init__(self, ok_calls: int = 10**9, then: str = "raise", batches: bool = False) -> None:
        super().__init__(rtf=0.002)
        self.ok_calls, self.then, self.batches, self.calls = ok_calls, then, batches, 0
        self.load(model="tiny", device="cpu", tier="baseline", seed=0)

    def _render(self, text: str, noise_scale: Any) -> Any:
        self.calls += 1
        if self.calls > self.ok_calls:
            if self.then == "hang":
                time.sleep(3600)
            raise RuntimeError("scripted failure")
        return super()._render(text, noise_scale)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["tier"] = {"name": "baseline", "batch_sentences": self.batches, "workers": 1}
        return d


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return queries(600, seed=1)


# ---- configuration ------------------------------------------------------------------------------
@pytest.mark.parametrize("field, value, allowed", [
    ("name", "multistream", "singlestream, offline, server"),
    ("target_qps", 0.0, "> 0"),
    ("latency_bound_ms", -1.0, "> 0"),
    ("latency_percentile", 1.0, "(0, 1)"),
    ("min_query_count", 0, ">= 1"),
    ("max_duration_s", 1.0, ">= min_duration_s"),
    ("search", True, "server"),
    ("batching", "always", "tier, on, off"),
    ("max_batch", 0, ">= 1"),
    ("max_wait_ms", -5.0, ">= 0"),
    ("policy", "fifo", "batch, deadline"),
    ("first_audio_ms", -1.0, ">= 0"),
])
def test_bad_field_names_it_and_the_allowed_values(field: str, value: Any, allowed: str) -> None:
    with pytest.raises(BenchConfigError) as err:
        ScenarioConfig(**{field: value})
    assert f"scenario.{field}" in str(err.value) and allowed in str(err.value)


@pytest.mark.parametrize("name", ["singlestream", "offline", "server"])
def test_every_shipped_scenario_yaml_builds_its_schema(name: str) -> None:
    assert (SCENARIO_CONFIGS / f"{name}.yaml").exists()
    cfg = load_scenario(name, ["seed=3"])
    assert isinstance(cfg, ScenarioConfig) and cfg.name == name and cfg.seed == 3
    assert cfg.search is (name == "server")


def test_register_stores_base_scenario() -> None:
    from hydra.core.config_store import ConfigStore

    from bench.serve import register

    cs = ConfigStore.instance()
    register(cs)
    assert "base_scenario.yaml" in cs.repo["scenario"]


def test_unknown_override_is_refused() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        load_scenario("server", ["max_batchh=4"])


# ---- runs on the fake engine ----------------------------------------------------------------------
class CapacityEngine(ScriptedEngine):
    """The fake engine with a known capacity: at most `capacity_qps` it answers at once (no synthesis sleep); a run at
    a higher rate (`run_qps`, set per LoadGen run) answers its first `SLOW_CALLS` queries after `slow_s` each, so
    more than 10% of its queries miss any bound below `slow_s`. Which rates LoadGen calls VALID is then known."""

    SLOW_CALLS = 10  # of at least 44 queries a run: over a fifth miss

    def __init__(self, capacity_qps: float, slow_s: float) -> None:
        super().__init__()
        self.rtf, self.capacity_qps, self.slow_s = 0.0, capacity_qps, slow_s
        self.run_qps: float | None = None
        self.run_calls = 0

    def _render(self, text: str, noise_scale: Any) -> Any:
        self.run_calls += 1
        if self.run_qps is not None and self.run_qps > self.capacity_qps and self.run_calls <= self.SLOW_CALLS:
            time.sleep(self.slow_s)
        return super()._render(text, noise_scale)


def test_server_search_finds_a_valid_rate_and_keeps_loadgen_logs(tmp_path: Path, texts: list[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.serve.run as serve_run

    engine = CapacityEngine(capacity_qps=40.0, slow_s=0.5)
    real_run_once = serve_run.run_once

    def run_once(lg: Any, adapter: Any, scenario: Any, texts: Any, fresh: bool, qps: Any, out_dir: Path) -> Any:
        engine.run_qps, engine.run_calls = qps, 0  # the engine knows the rate of the run it serves
        return real_run_once(lg, adapter, scenario, texts, fresh, qps, out_dir)

    monkeypatch.setattr(serve_run, "run_once", run_once)
    scenario = ScenarioConfig(name="server", search=True, target_qps=16.0, latency_bound_ms=200.0,
                              search_budget_s=HANG_GUARD_S * 10, search_max_runs=4, **FAST)
    rows = run_scenario(engine, scenario, texts, tmp_path)
    assert all(ROW_KEYS <= set(r) for r in rows)
    # double from 16 QPS while VALID, then bisect: 16, 32 (within capacity), 64, then sqrt(32 * 64) (above it)
    assert [r["target_qps"] for r in rows] == pytest.approx([16.0, 32.0, 64.0, math.sqrt(32 * 64)])
    assert [(r["status"], r["valid"]) for r in rows] == [("ok", "VALID")] * 2 + [("ok", "INVALID")] * 2
    assert [r["best"] for r in rows] == [False, True, False, False]
    assert rows[0]["highest_valid_qps"] == 32.0 and rows[0]["lowest_invalid_qps"] == pytest.approx(math.sqrt(32 * 64))
    assert all(r["search_stop"] == "max_runs" for r in rows)
    assert rows[1]["ttfa_p99_s"] <= rows[1]["latency_p99_s"] + 1e-6
    for r in rows:
        assert Path(r["summary_path"]).read_text().count(f"Result is : {r['valid']}") == 1
        assert Path(r["detail_path"]).stat().st_size > 0
    assert len({r["summary_path"] for r in rows}) == len(rows)  # one folder per probed rate


def test_impossible_bound_is_invalid_not_a_crash(tmp_path: Path, texts: list[str]) -> None:
    scenario = ScenarioConfig(name="server", search=True, latency_bound_ms=0.001, search_budget_s=20.0, **FAST)
    rows = run_scenario(ScriptedEngine(), scenario, texts, tmp_path)
    assert rows and all(r["status"] == "ok" and r["valid"] == "INVALID" for r in rows)
    assert rows[-1]["search_stop"] == "floor" and rows[-1]["highest_valid_qps"] is None
    assert all(r["bound_met"] is False for r in rows)


def test_engine_that_raises_mid_run_gives_a_failed_row(tmp_path: Path, texts: list[str]) -> None:
    scenario = ScenarioConfig(name="server", search=True, target_qps=20.0, **FAST)
    rows = run_scenario(ScriptedEngine(ok_calls=5), scenario, texts, tmp_path)
    assert len(rows) == 1 and rows[0]["status"] == "failed" and rows[0]["search_stop"] == "failed"
    assert "scripted failure" in rows[0]["reason"]


def test_engine_that_hangs_gives_a_failed_row_in_bounded_time(tmp_path: Path, texts: list[str]) -> None:
    scenario = ScenarioConfig(name="singlestream", run_timeout_s=2.0, **FAST)
    rows = run_scenario(ScriptedEngine(ok_calls=4, then="hang"), scenario, texts, tmp_path)
    assert rows[0]["status"] == "failed" and "run_timeout_s" in rows[0]["reason"]


def test_engine_that_fails_warm_up_gives_a_failed_row(tmp_path: Path, texts: list[str]) -> None:
    rows = run_scenario(ScriptedEngine(ok_calls=0), ScenarioConfig(name="offline", **FAST), texts, tmp_path)
    assert rows[0]["status"] == "failed" and "warm-up" in rows[0]["reason"]


@pytest.mark.parametrize("batching, batches", [("tier", True), ("off", True), ("tier", False)])
def test_offline_batches_only_where_the_tier_batches(tmp_path: Path, texts: list[str], batching: str,
                                                     batches: bool) -> None:
    scenario = ScenarioConfig(name="offline", batching=batching, max_batch=4, **FAST)
    row = run_scenario(ScriptedEngine(batches=batches), scenario, texts, tmp_path)[0]
    assert row["status"] == "ok"
    if batching == "tier" and batches:
        assert row["max_batch_size"] == 4 and row["batches"] < row["samples"]
    else:
        assert row["max_batch_size"] == 1 and row["batches"] == row["samples"]


def test_under_the_deadline_policy_every_query_is_its_own_stream(tmp_path: Path, texts: list[str]) -> None:
    """The in-process dispatcher takes the scenario's policy: a tier that batches still streams each query."""
    scenario = ScenarioConfig(name="offline", policy="deadline", max_batch=4, **FAST)
    row = run_scenario(ScriptedEngine(batches=True), scenario, texts, tmp_path)[0]
    assert row["status"] == "ok" and row["policy"] == "deadline" and row["valid"] == "VALID"
    assert row["max_batch_size"] == 1 and row["batches"] == row["samples"]


# ---- runs on the tiny voice -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_engine():
    from bench.engines.tts_core_engine import TTSCoreEngine

    engine = TTSCoreEngine()
    engine.load(model="tiny", device="cpu", tier="baseline", seed=0)
    yield engine
    engine.close()


# Three queries: LoadGen calls a latency-bounded run INVALID until early stopping has enough of them (64 for
# SingleStream's p90, 459 for a p99 server run) whatever the latencies; Offline has no latency bound, and with no
# minimum duration its three queries make it VALID.
TINY_VERDICTS = {"singlestream": "INVALID", "offline": "VALID", "server": "INVALID"}


@pytest.mark.parametrize("name", ["singlestream", "offline", "server"])
def test_tiny_voice_scenarios_finish_and_leave_summaries(tmp_path: Path, texts: list[str], tiny_engine: Any,
                                                         name: str) -> None:
    scenario = ScenarioConfig(name=name, min_duration_s=0.0 if name == "offline" else 0.2, max_duration_s=20.0,
                              min_query_count=3, latency_percentile=0.99, target_qps=2.0 if name == "server" else None)
    row = run_scenario(tiny_engine, scenario, texts, tmp_path)[0]
    assert row["status"] == "ok", row.get("reason")
    summary = Path(row["summary_path"]).read_text()
    assert row["valid"] == TINY_VERDICTS[name] and summary.count(f"Result is : {TINY_VERDICTS[name]}") == 1
    assert "Min queries satisfied : Yes" in summary
    assert ("Early stopping satisfied: NO" in summary) is (TINY_VERDICTS[name] == "INVALID")
    assert row["audio_samples"] > 0 and row["latency_p50_s"] > 0
    if name != "offline":
        assert 0 < row["ttfa_p50_s"] <= row["latency_p50_s"] + 1e-6


# ---- search, sentences, reports, CLI ----------------------------------------------------------------
def _synthetic(capacity: float):
    seen: list[float] = []

    def probe(qps: float) -> Probe:
        seen.append(qps)
        return Probe(qps, {"target_qps": qps}, valid=qps <= capacity)

    return probe, seen


def test_search_brackets_the_capacity_within_tolerance() -> None:
    probe, seen = _synthetic(10.0)
    rows = QpsSearch(1.0, 0.1, 20, 1e9, run_cost_s=lambda q: 0.0).run(probe)
    lo, hi = rows[0]["highest_valid_qps"], rows[0]["lowest_invalid_qps"]
    assert lo <= 10.0 < hi and hi / lo - 1 <= 0.1 and rows[0]["search_stop"] == "tolerance"


def test_search_stops_at_max_runs_and_at_the_floor() -> None:
    probe, seen = _synthetic(10.0)
    assert len(QpsSearch(1.0, 0.01, 3, 1e9, run_cost_s=lambda q: 0.0).run(probe)) == 3
    probe, seen = _synthetic(0.1)
    rows = QpsSearch(8.0, 0.1, 20, 1e9, run_cost_s=lambda q: 0.0, min_qps=2.0).run(probe)
    assert min(seen) == 2.0 and rows[-1]["search_stop"] == "floor"


def test_search_respects_the_budget() -> None:
    probe, seen = _synthetic(10.0)
    rows = QpsSearch(1.0, 0.01, 20, budget_s=5.0, run_cost_s=lambda q: 10.0).run(probe)
    assert len(rows) == 1 and rows[0]["search_stop"] == "budget"


def test_queries_are_distinct_and_seeded() -> None:
    a = queries(300, seed=4)
    assert len(set(a)) == 300 and a == queries(300, seed=4) and a != queries(300, seed=5)


def test_reports_chart_and_table() -> None:
    rows = [{"scenario": "server", "status": "ok", "engine": "e", "tier": t, "contender": f"e:{t}@cpu",
             "machine": "m", "target_qps": q, "achieved_qps": q,
             "valid": v, "ttfa_p99_s": p, "ttfa_p90_s": p * 0.8, "ttfa_p50_s": p / 2, "latency_p99_s": p, "mean_batch_size": 1.0,
             "latency_bound_ms": 500.0, "latency_percentile": 0.9, "search_wall_s": 9.0}
            for t, q, v, p in [("baseline", 1, "VALID", 0.2), ("baseline", 2, "INVALID", 0.9),
                               ("advanced", 2, "VALID", 0.1), ("advanced", 3, "VALID", 0.3)]]
    png = qps_latency_chart(rows)
    assert png is not None and png.startswith(b"\x89PNG")
    table = answer_table(pd.DataFrame(rows))
    assert list(table["contender"]) == ["e:advanced@cpu", "e:baseline@cpu"]
    assert list(table["highest QPS within the bound"]) == [3, 1]
    assert qps_latency_chart([]) is None and answer_table(pd.DataFrame()).empty
    # the chart plots first audio at the percentile the bound applies to: rows without it draw nothing
    assert qps_latency_chart([{k: v for k, v in r.items() if k != "ttfa_p90_s"} for r in rows]) is None


def test_cli_runs_the_fake_engine(tmp_path: Path) -> None:
    code = main(["--engine", "fake", "--tier", "baseline", "--model", "tiny", "--scenario", "offline",
                 "--sentences", "100", "--set", "min_duration_s=0.2", "--set", "min_query_count=8",
                 "--out", str(tmp_path)])
    rows = json.loads((tmp_path / "fake-baseline-tiny" / "rows.json").read_text())
    assert code == 0 and rows[0]["status"] == "ok" and rows[0]["scenario"] == "offline"
