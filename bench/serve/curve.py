"""The concurrency curve, inside a contender's worker: closed-loop clients at each level, each sending a fresh
sentence as soon as its last stream has ended, every stream played by the simulated listener.

    warm_up(adapter)                          # outside the clock, on sentences no level speaks
    for n in config.levels:
        clear_audio_cache(adapter)            # and every request's sentence is new (`FreshTexts`)
        record = run_level(streams, texts, n, config)    # n client threads until the level's time and count
        figures = level_figures(record, ...)  # one row's figures (`bench.serve.curve_figures`)

A request reaches the engine as `bench.serve.streams` says: through the in-process dispatcher or, for a served
engine, as its own HTTP request. An in-process engine computes on its engine thread, the one it was loaded on,
while the level's clients and dispatcher run on others (`bench.workers.engine_thread`: a second OpenMP team cost it
about 30% of its throughput). Seconds on `time.perf_counter()`'s clock throughout.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from bench.serve.curve_config import CurveConfig
from bench.serve.curve_figures import level_figures
from bench.serve.http_sut import is_served
from bench.serve.run import WARMUP_TEXTS, batch_policy, clear_audio_cache, warm_up
from bench.serve.streams import Stream, Streams, streams_for
from bench.texts import SentenceGenerator
from bench.workers.engine_thread import EngineThread, engine_for

log = logging.getLogger("bench")
MIN_WORDS, MAX_WORDS = 3, 22  # short and medium sentences, as a service receives them (LoadGen's queries too)


class FreshTexts:
    """A new sentence for every request, from the harness's seeded generator (none repeats within it, none is a
    warm-up sentence); safe to call from many client threads."""

    def __init__(self, seed: int) -> None:
        self._gen = SentenceGenerator(seed)
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            while (text := self._gen.sentence(MIN_WORDS, MAX_WORDS)) in WARMUP_TEXTS:
                pass
            return text


@dataclass(frozen=True, eq=False)
class Sent:
    """One request of a level: which client sent it, when it was sent and when its call returned (s), the stream."""

    client: int
    sent_s: float
    ended_s: float
    stream: Stream


@dataclass
class LevelRecord:
    """Every request of one level, and the level's wall clock: from its start to the end of its last stream (s)."""

    concurrency: int
    started_s: float
    ended_s: float = 0.0
    requests: list[Sent] = field(default_factory=list)
    stopped_early: str | None = None  # why the clients stopped short of the level's time and count, if they did


def run_level(streams: Streams, texts: FreshTexts, concurrency: int, config: CurveConfig) -> LevelRecord:
    """`concurrency` client threads, each sending its next sentence as soon as its last stream ended, until the
    level has run `seconds_per_level` and sent `min_requests` (or `max_seconds_per_level` passed, or every one of
    `min_requests` requests failed); returns once every stream has ended."""
    record = LevelRecord(concurrency, time.perf_counter())
    lock = threading.Lock()
    counts = {"sent": 0, "ok": 0, "failed": 0}

    def may_send() -> bool:
        elapsed = time.perf_counter() - record.started_s
        if elapsed >= config.max_seconds_per_level:
            record.stopped_early = record.stopped_early or f"max_seconds_per_level = {config.max_seconds_per_level} s"
            return False
        if counts["failed"] >= config.min_requests and counts["ok"] == 0:
            record.stopped_early = record.stopped_early or f"the first {counts['failed']} requests all failed"
            return False
        return elapsed < config.seconds_per_level or counts["sent"] < config.min_requests

    def client(k: int) -> None:
        while True:
            with lock:
                if not may_send():
                    return
                counts["sent"] += 1
                text = texts.next()
            sent = time.perf_counter()
            stream = streams.request(text, config.request_timeout_s)
            done = Sent(k, sent, time.perf_counter(), stream)
            with lock:
                record.requests.append(done)
                counts["failed" if stream.error else "ok"] += 1

    threads = [threading.Thread(target=client, args=(k,), name=f"curve-client-{k}", daemon=True)
               for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    record.ended_s = time.perf_counter()
    return record


def run_curve(adapter: Any, config: CurveConfig, seed: int,
              engine_thread: Optional[EngineThread] = None) -> list[dict[str, Any]]:
    """Every level of `config` over the loaded `adapter`, fresh sentences from generator seed `seed`; one dict of
    row figures per level (`bench.serve.curve_figures.level_figures`), in the order of `config.levels`."""
    # in process: every engine call on `engine_thread`, the one the engine was loaded on (else a new one)
    engine, done = engine_for(adapter, is_served(adapter), engine_thread)
    warmup_s = warm_up(engine)
    policy = batch_policy(adapter, config)
    streams = streams_for(engine, policy)
    texts = FreshTexts(seed)
    out = []
    try:
        for n in config.levels:
            clear_audio_cache(engine)
            record = run_level(streams, texts, n, config)
            figures = level_figures(record, adapter.sample_rate, config.latency_bound_ms / 1000)
            figures.update(warmup_service_s=warmup_s, batching=policy.enabled, policy=policy.policy,
                           max_batch=policy.max_batch if policy.enabled or policy.policy == "deadline" else 1,
                           max_wait_ms=config.max_wait_ms)
            log.info("concurrency %d: %d requests in %.1f s, first audio p90 %s s, underrun rate %s, %d errors", n,
                     figures["requests"], figures["duration_s"], figures["ttfa_p90_s"], figures["underrun_rate"],
                     figures["engine_errors"])
            out.append(figures)
    finally:
        streams.close()
        done()
    return out
