"""Housekeeping never runs inside a call: the harness calls `Engine.housekeep()` between rounds."""

from __future__ import annotations

import pytest

import tts_core.runtime
import tts_core.runtime.housekeeper
from tts_core import Engine


@pytest.fixture
def releases(monkeypatch):
    calls: list[str] = []

    def fake_release(device: str = "cpu", trim_heap: bool = True) -> dict:
        calls.append(device)
        return {"rss_before_mb": 1.0, "rss_after_mb": 1.0, "freed_mb": 0.0, "collected": 0}

    monkeypatch.setattr(tts_core.runtime, "release_memory", fake_release)
    monkeypatch.setattr(tts_core.runtime.housekeeper, "LARGE_JOB_AUDIO_S", 0.05)
    monkeypatch.setattr(tts_core.runtime.housekeeper, "RSS_HEADROOM", -1.0)  # the audio rule alone (the RSS rule: below)
    return calls


def test_calls_never_release_memory_and_housekeep_does_once(releases):
    with Engine.load(voice="tiny", tier="baseline+housekeeping") as engine:
        engine.synthesize("A sentence long enough to pass the threshold. And another one.")
        engine.synthesize_batch(["One more.", "And the last."])
        list(engine.stream("Streamed as well."))
        assert releases == []  # nothing inside the calls
        assert engine.pending_housekeeping
        record = engine.housekeep()
        assert releases == ["cpu"] and record is not None and record["at_s"] >= 0
        assert not engine.pending_housekeeping and engine.housekeep() is None
        stats = engine.stats()["housekeeping"]
        assert stats["runs"] == 1 and stats["at_s"] == [record["at_s"]] and not stats["pending"]


def test_without_the_switch_nothing_is_pending_but_force_runs(releases):
    with Engine.load(voice="tiny", tier="baseline") as engine:
        engine.synthesize("A sentence long enough to pass the threshold.")
        assert not engine.pending_housekeeping and engine.housekeep() is None
        assert engine.housekeep(force=True) is not None
        assert releases == ["cpu"] and engine.stats()["housekeeping"]["runs"] == 1


def test_housekeeping_waits_until_memory_has_grown_past_its_headroom(releases, monkeypatch):
    """Trimming hands back pages the next call faults in again: it is pending only once RSS is RSS_HEADROOM above
    where the load or the last run left it."""
    monkeypatch.setattr(tts_core.runtime.housekeeper, "RSS_HEADROOM", 0.2)
    rss = {"mb": 100.0}
    monkeypatch.setattr(tts_core.runtime, "rss_mb", lambda: rss["mb"])
    with Engine.load(voice="tiny", tier="baseline+housekeeping") as engine:
        assert engine.stats()["housekeeping"]["rss_floor_mb"] == 100.0  # taken at load
        engine.synthesize("A sentence long enough to pass the threshold. And another one.")
        rss["mb"] = 119.0
        assert not engine.pending_housekeeping and engine.housekeep() is None  # enough audio, not enough growth
        rss["mb"] = 121.0
        assert engine.pending_housekeeping and engine.housekeep() is not None and releases == ["cpu"]
        assert engine.stats()["housekeeping"]["rss_floor_mb"] == 1.0  # the fake release's RSS after
