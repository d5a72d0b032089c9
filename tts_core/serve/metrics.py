"""The server's Prometheus series (prometheus-client), in a registry of its own per app."""

from __future__ import annotations

from typing import Callable

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# seconds: first audio lands in the low buckets; whole responses of long inputs run to a minute
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, float("inf"))
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, float("inf"))


class ServerMetrics:
    """Counters, histograms and gauges of one server; `render()` gives the Prometheus text."""

    def __init__(self, queue_depth: Callable[[], float], cancelled_streams: Callable[[], float],
                 engines: Callable[[], float], engine_processes: bool = False) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("tts_requests", "Speech requests answered, by HTTP status.", ["status"], registry=r)
        self.errors = Counter("tts_request_errors", "Speech requests answered with an error, by error code.",
                              ["code"], registry=r)
        self.ttfa = Histogram("tts_time_to_first_audio_seconds", "From the request's arrival to its first audio "
                              "chunk ready to send, in seconds.", buckets=LATENCY_BUCKETS_S, registry=r)
        self.latency = Histogram("tts_request_duration_seconds", "From the request's arrival to its last audio "
                                 "byte handed to the server, in seconds (completed streams).",
                                 buckets=LATENCY_BUCKETS_S, registry=r)
        self.batch_size = Histogram("tts_batch_size", "Requests served together by the dispatcher.",
                                    buckets=BATCH_BUCKETS, registry=r)
        Gauge("tts_queue_depth", "Requests waiting for the engine (not counting those being served).",
              registry=r).set_function(queue_depth)
        Gauge("tts_cancelled_streams", "Syntheses stopped early because their client went away (since start).",
              registry=r).set_function(cancelled_streams)
        Gauge("tts_engines", "Engines serving: 1 for the engine in the server's process, else the engine processes "
              "(--workers) still alive.", registry=r).set_function(engines)
        process = psutil.Process()
        # with engine processes (--workers), the engines' memory is in those processes
        whose = " and its engine processes (--workers)" if engine_processes else ""
        Gauge("tts_resident_memory_bytes", f"Resident set size of the server process{whose}, in bytes.",
              registry=r).set_function(lambda: _rss(process, with_children=engine_processes))

    def answered(self, status: int, code: str | None = None) -> None:
        """Count one answered request (and its error code when it failed)."""
        self.requests.labels(status=str(status)).inc()
        if code is not None:
            self.errors.labels(code=code).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of every series."""
        return generate_latest(self.registry)


def _rss(process: psutil.Process, with_children: bool) -> int:
    """Resident set size of `process`, with every process under it where `with_children`, in bytes (a child that
    exits meanwhile counts 0)."""
    total = process.memory_info().rss
    for proc in process.children(recursive=True) if with_children else ():
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total
