"""`run_scenario`: LoadGen over a loaded engine adapter, one row per LoadGen run (the server search adds one each).

Every run gets sentences of its own where the list is long enough (LoadGen issues each sample once:
`performance_issue_unique`), and the engine's audio cache is cleared before each run, so no run times a
cache. The engine is warmed on sentences outside the list, which also gives the service time that sizes
the runs (how many samples, the first QPS probe).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path
from typing import Any, Optional

from bench.serve.config import ScenarioConfig, first_audio_target_ms
from bench.serve.loadgen_log import DETAIL, SUMMARY, figures, read_detail, read_verdict
from bench.serve.http_sut import is_served, sut_for
from bench.serve.search import Probe, QpsSearch, plays_within_bound
from bench.serve.sut import BatchPolicy
from bench.workers.engine_thread import EngineThread, engine_for
from tts_core.runtime.dispatch import FIRST_AUDIO_S

log = logging.getLogger("bench")

WARMUP_TEXTS = ("A warm-up sentence that the measured runs never contain.",
                "Another warm-up line, spoken before the clock starts.")
_SCENARIO_NAMES = {"singlestream": "SingleStream", "offline": "Offline", "server": "Server"}
NO_TPOT_BOUND_NS = 10**15  # the bound is on first audio only; LoadGen's TPOT check is left open


def tier_batches(tier: dict[str, Any]) -> bool:
    """Whether an adapter's tier (its `describe()["tier"]`) gains from requests grouped into one call: tts_core's own
    rule, `tts_core.tiers.build.batches_requests`, on a tts_core tier (whose dict holds only `TierConfig` fields); a
    tier of another engine (Piper, espeak-ng, a server, the fake: fields TierConfig does not have) never does."""
    from tts_core.tiers import TierConfig
    from tts_core.tiers.build import batches_requests

    try:
        config = TierConfig.from_dict(tier)
    except (ValueError, TypeError):  # not a tts_core tier
        return False
    return batches_requests(config)


def batch_policy(adapter: Any, scenario: ScenarioConfig) -> BatchPolicy:
    """The dispatcher's config: batching on when asked, or (`batching: tier`) where the tier batches requests
    (`tier_batches`); the scenario's `policy` and first-audio target."""
    enabled = scenario.batching == "on" or (
        scenario.batching == "tier" and tier_batches(adapter.describe().get("tier") or {}))
    policy = scenario.policy
    first_audio_ms = first_audio_target_ms(scenario) if policy == "deadline" else FIRST_AUDIO_S * 1000
    return BatchPolicy(enabled=enabled, max_batch=scenario.max_batch, max_wait_s=scenario.max_wait_ms / 1000,
                       policy=policy, first_audio_s=first_audio_ms / 1000)


def clear_audio_cache(adapter: Any) -> None:
    """Empty the engine's audio cache, where it has one, so no run times a cache hit."""
    if callable(getattr(adapter, "clear_cache", None)):
        adapter.clear_cache()


def warm_up(adapter: Any) -> float:
    """Synthesize the warm-up sentences; returns the median seconds per sentence (the service time)."""
    times = []
    for text in WARMUP_TEXTS:
        t0 = time.perf_counter()
        adapter.synthesize(text)
        times.append(time.perf_counter() - t0)
    clear_audio_cache(adapter)
    return sorted(times)[len(times) // 2]


def _bounded(call: Any, timeout_s: float) -> Any:
    """`call()` in a daemon thread; raises TimeoutError if it is not done within `timeout_s` seconds."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = call()
        except BaseException as exc:  # handed to the caller
            result["error"] = exc

    thread = threading.Thread(target=target, name="serve-warmup", daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"no answer within run_timeout_s = {timeout_s} s")
    if "error" in result:
        raise result["error"]
    return result["value"]


def _settings(lg: Any, scenario: ScenarioConfig, qps: Optional[float], n_samples: int, unique: bool) -> Any:
    s = lg.TestSettings()
    s.scenario = getattr(lg.TestScenario, _SCENARIO_NAMES[scenario.name])
    s.mode = lg.TestMode.PerformanceOnly
    s.use_token_latencies = True
    s.min_duration_ms = int(scenario.min_duration_s * 1000)
    s.max_duration_ms = int(scenario.max_duration_s * 1000)
    s.min_query_count = scenario.min_query_count
    s.qsl_rng_seed = s.sample_index_rng_seed = s.schedule_rng_seed = scenario.seed
    s.performance_issue_unique = unique
    s.performance_sample_count_override = n_samples
    bound_ns = int(scenario.latency_bound_ms * 1e6)
    s.server_target_latency_ns = s.ttft_latency = bound_ns
    s.tpot_latency = NO_TPOT_BOUND_NS
    s.server_target_latency_percentile = scenario.latency_percentile  # SingleStream keeps LoadGen's p90
    if qps is not None:
        s.server_target_qps = qps
        s.offline_expected_qps = qps
    return s


def _sample_count(scenario: ScenarioConfig, qps: float, spare: float = 1.1) -> int:
    """Samples one run needs: enough for `min_duration_s` at `qps` (times `spare`) and `min_query_count`."""
    return max(scenario.min_query_count, math.ceil(spare * qps * scenario.min_duration_s) + 1)


class SentencePool:
    """Hands each run the next unused slice of `samples`; wraps around (and says so) when they run out."""

    def __init__(self, samples: list[str]) -> None:
        if not samples:
            raise ValueError("run_scenario: `samples` is empty; pass at least one sentence.")
        self.samples, self.offset = list(samples), 0

    def take(self, n: int) -> tuple[list[str], bool]:
        """`n` sentences (fewer if the list is shorter) and whether none was used before in this process."""
        n = min(n, len(self.samples))
        if self.offset + n > len(self.samples):
            self.offset = 0
            fresh = False
        else:
            fresh = True
        out = self.samples[self.offset:self.offset + n]
        self.offset += n
        return out, fresh


def run_once(lg: Any, adapter: Any, scenario: ScenarioConfig, texts: list[str], fresh: bool,
             qps: Optional[float], out_dir: Path) -> dict[str, Any]:
    """One LoadGen test of `scenario` over `texts`; returns its row (status failed with `reason` on error)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in (SUMMARY, DETAIL):
        (out_dir / stale).unlink(missing_ok=True)
    policy = batch_policy(adapter, scenario)
    unique = len(texts) >= scenario.min_query_count
    row: dict[str, Any] = {
        "scenario": scenario.name, "target_qps": qps, "latency_bound_ms": scenario.latency_bound_ms,
        "latency_percentile": scenario.latency_percentile, "policy": policy.policy, "batching": policy.enabled,
        "max_batch": policy.max_batch if policy.enabled or policy.policy == "deadline" else 1,
        "max_wait_ms": scenario.max_wait_ms,
        "samples": len(texts), "unique_samples": unique, "fresh_text": fresh,
    }
    clear_audio_cache(adapter)
    sut = sut_for(lg, adapter, texts, policy)  # a served engine: concurrent HTTP requests + simulated listeners
    sut_h = lg.ConstructSUT(sut.issue_queries, sut.flush_queries)
    qsl_h = lg.ConstructQSL(len(texts), len(texts), lambda idx: None, lambda idx: None)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(out_dir)
    log_settings.enable_trace = False
    settings = _settings(lg, scenario, qps, len(texts), unique)
    test = threading.Thread(target=lg.StartTestWithLogSettings, args=(sut_h, qsl_h, settings, log_settings),
                            name="loadgen-test", daemon=True)
    t0 = time.perf_counter()
    test.start()
    test.join(scenario.run_timeout_s)
    timed_out = test.is_alive()
    if timed_out:
        sut.abort(f"timed out: the run was not done after run_timeout_s = {scenario.run_timeout_s} s")
        test.join(30.0)
    row["duration_s"] = time.perf_counter() - t0
    sut.close()
    if test.is_alive():  # LoadGen still running: its handles cannot be freed safely, so they are leaked
        return {**row, "status": "failed", "valid": None, "reason": f"LoadGen did not end after {sut.stats.errors[-1]}"}
    lg.DestroyQSL(qsl_h)
    lg.DestroySUT(sut_h)
    row.update(sut.stats.to_row())
    row["summary_path"] = str(out_dir / SUMMARY)
    row["detail_path"] = str(out_dir / DETAIL)
    if not (out_dir / DETAIL).exists() or not (out_dir / SUMMARY).exists():
        return {**row, "status": "failed", "valid": None, "reason": "LoadGen wrote no summary/detail log"}
    detail = read_detail(out_dir / DETAIL)
    row.update(figures(detail, scenario.name, adapter.sample_rate))
    row["valid"] = read_verdict(out_dir / SUMMARY)
    if sut.stats.errors:
        row.update(status="failed", reason=sut.stats.errors[-1] if timed_out else sut.stats.errors[0],
                   engine_errors=len(sut.stats.errors))
    else:
        row.update(status="ok", reason=None, engine_errors=0)
    return row


def run_scenario(adapter: Any, scenario: ScenarioConfig, samples: list[str], out_dir: Path,
                 engine_thread: Optional[EngineThread] = None) -> list[dict[str, Any]]:
    """Run `scenario` with LoadGen over the loaded `adapter` and the sentences `samples`; an in-process engine
    computes on `engine_thread`, the one it was loaded on (else on a new one: `bench.workers.engine_thread`).

    Returns one row per LoadGen run (a server search: one per probe, the best VALID marked `best`),
    with LoadGen's logs kept under `out_dir/<scenario>[/qps_<rate>]`. Seconds throughout; QPS in queries/s.
    """
    engine, done = engine_for(adapter, is_served(adapter), engine_thread)
    try:
        return _scenario(engine, scenario, samples, out_dir)
    finally:
        done()


def _scenario(adapter: Any, scenario: ScenarioConfig, samples: list[str], out_dir: Path) -> list[dict[str, Any]]:
    import mlperf_loadgen as lg

    pool = SentencePool(samples)
    out_dir = Path(out_dir)
    describe = adapter.describe()
    extra = {"engine": describe.get("name"), "tier": describe.get("tier_name")}
    try:
        service_s = _bounded(lambda: warm_up(adapter), scenario.run_timeout_s)
    except Exception as exc:
        return [{**extra, "scenario": scenario.name, "status": "failed", "valid": None,
                 "reason": f"warm-up failed: {type(exc).__name__}: {exc}"}]
    extra["warmup_service_s"] = service_s
    rate = scenario.target_qps or 1.0 / max(service_s, 1e-3)
    if scenario.name == "singlestream":
        texts, fresh = pool.take(_sample_count(scenario, rate))
        return [{**extra, **run_once(lg, adapter, scenario, texts, fresh, None, out_dir / "singlestream")}]
    if scenario.name == "offline":  # batching can beat the warm-up rate: 3x spare, so the one query lasts
        texts, fresh = pool.take(_sample_count(scenario, rate, spare=3.0))
        return [{**extra, **run_once(lg, adapter, scenario, texts, fresh, rate, out_dir / "offline")}]
    first = scenario.target_qps or 0.5 / max(service_s, 1e-3)
    if not scenario.search:
        texts, fresh = pool.take(_sample_count(scenario, first))
        return [{**extra, **run_once(lg, adapter, scenario, texts, fresh, first, out_dir / "server")}]

    def probe(qps: float) -> Probe:
        texts, fresh = pool.take(_sample_count(scenario, qps))
        row = {**extra, **run_once(lg, adapter, scenario, texts, fresh, qps, out_dir / f"server/qps_{qps:.3f}")}
        log.info("server %.3f QPS: %s %s, p99 first audio %s s, mean batch %s", qps, row["status"], row.get("valid"),
                 row.get("ttfa_p99_s"), row.get("mean_batch_size"))
        # a run that timed out with a working engine was overloaded: INVALID for the search, which goes on
        overloaded = str(row.get("reason") or "").startswith("timed out") and row.get("engine_errors", 0) <= 1
        return Probe(qps, row, row["status"] == "ok" and plays_within_bound(row),
                     row["status"] != "ok" and not overloaded)

    def cost_s(qps: float) -> float:  # issuing time (bounded by max_duration_s) plus a drain allowance
        issuing = min(scenario.max_duration_s, _sample_count(scenario, qps) / qps)
        return issuing + 4 * service_s

    search = QpsSearch(first, scenario.search_tolerance, scenario.search_max_runs, scenario.search_budget_s,
                       run_cost_s=cost_s, min_qps=scenario.min_query_count / scenario.max_duration_s)
    return search.run(probe)
