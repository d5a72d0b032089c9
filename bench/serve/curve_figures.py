"""One level of the concurrency curve in figures: the fields of its row, under the names the report reads
(`bench.report.concurrency`). Seconds unless a name says otherwise; a figure no stream could give is None.

Per stream (ended without error, with audio): first audio = first chunk's arrival - when it was sent; first
audible = the arrival of the chunk holding the first audible frame (`bench.measure.audible`); gaps between chunk
arrivals; the simulated listener's underruns (`bench.serve.listener`). Per level: percentiles over its streams
(gaps pooled over all streams), the fraction of streams with an underrun, audio seconds and requests per wall
second of the level, and goodput: requests per second whose first audio met the bound with no underrun. Two
counts of concurrency, from events: `max_in_flight`, the most requests open at once (sent, not yet ended, queued
or not), and `max_served_at_once`, the most being served at once (an HTTP request out, or a group the in-process
engine thread took).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

import numpy as np

from bench.measure.audible import first_audible_s
from bench.serve.listener import listen

if TYPE_CHECKING:  # the record's types only; curve.py imports this module
    from bench.serve.curve import LevelRecord, Sent


def _pct(values: Sequence[float], q: float) -> Optional[float]:
    return float(np.percentile(values, q)) if len(values) else None


def max_overlap(intervals: Sequence[tuple[float, float]]) -> int:
    """The most intervals (start, end) open at one moment; one ending as another starts does not overlap."""
    events = sorted([(end, -1) for _, end in intervals] + [(start, 1) for start, _ in intervals])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def stream_figures(sent: "Sent", sample_rate: int) -> dict[str, Any]:
    """First audio, first audible, gaps, underruns, stall and audio seconds of one stream that ended with audio."""
    s = sent.stream
    arrivals = [a - sent.sent_s for a in s.arrivals]
    durations = [len(c) / sample_rate for c in s.chunks]
    heard = listen(arrivals, durations)
    return {"ttfa_s": arrivals[0], "first_audible_s": first_audible_s(arrivals, s.chunks, sample_rate),
            "gaps_s": list(np.diff(arrivals)), "underruns": heard.underruns, "stall_s": heard.stall_s,
            "audio_s": float(sum(durations)), "latency_s": sent.ended_s - sent.sent_s}


def level_figures(record: "LevelRecord", sample_rate: int, bound_s: float) -> dict[str, Any]:
    """The row figures of one level (see the module docstring); `bound_s` is goodput's first-audio bound."""
    ok = [r for r in record.requests if not r.stream.error and r.stream.chunks]
    errors = [r.stream.error or "no audio" for r in record.requests if r.stream.error or not r.stream.chunks]
    per = [stream_figures(r, sample_rate) for r in ok]
    wall = max(record.ended_s - record.started_s, 1e-9)
    ttfa = [p["ttfa_s"] for p in per]
    audible = [p["first_audible_s"] for p in per if p["first_audible_s"] is not None]
    gaps = [g for p in per for g in p["gaps_s"]]
    latency = [p["latency_s"] for p in per]
    underran = sum(1 for p in per if p["underruns"])
    good = sum(1 for p in per if p["ttfa_s"] <= bound_s and not p["underruns"])
    texts = [r.stream.text for r in record.requests]
    return {
        "concurrency": record.concurrency, "requests": len(record.requests), "queries": len(ok),
        "duration_s": wall, "achieved_qps": len(ok) / wall,
        "ttfa_s": _pct(ttfa, 50), "ttfa_p90_s": _pct(ttfa, 90), "ttfa_p99_s": _pct(ttfa, 99),
        "first_audible_p90_s": _pct(audible, 90), "chunk_gap_p99_s": _pct(gaps, 99),
        "latency_p50_s": _pct(latency, 50), "latency_p90_s": _pct(latency, 90), "latency_p99_s": _pct(latency, 99),
        "underrun_rate": underran / len(per) if per else None, "underruns": sum(p["underruns"] for p in per),
        "stall_s": float(sum(p["stall_s"] for p in per)),
        "audio_s_per_s": sum(p["audio_s"] for p in per) / wall, "goodput_qps": good / wall,
        "latency_bound_ms": bound_s * 1000, "engine_errors": len(errors), "first_error": errors[0] if errors else None,
        "max_in_flight": max_overlap([(r.sent_s, r.ended_s) for r in record.requests]),
        "max_served_at_once": max_overlap([r.stream.served_s for r in record.requests if r.stream.served_s]),
        "fresh_text": len(set(texts)) == len(texts), "stopped_early": record.stopped_early,
    }
