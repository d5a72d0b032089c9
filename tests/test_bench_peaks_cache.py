"""The matmul peaks' cache: measured once per machine, again only when a busy measurement can be bettered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.measure import compute
from bench.measure.compute import PEAKS_FILE, cached_peaks


def _measure(log: list[str], value: float):
    def measure() -> dict[str, float]:
        log.append("measured")
        return {"fp32": value}

    return measure


def _load(monkeypatch: pytest.MonkeyPatch, load: float, cores: int = 2) -> None:
    monkeypatch.setattr(compute.os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(compute.os, "sched_getaffinity", lambda pid: set(range(cores)))


def test_a_quiet_measurement_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    _load(monkeypatch, 0.2)
    assert cached_peaks(tmp_path, "k", _measure(log, 50.0)) == {"fp32": 50.0}
    _load(monkeypatch, 0.1)
    assert cached_peaks(tmp_path, "k", _measure(log, 60.0)) == {"fp32": 50.0}
    assert log == ["measured"]
    stored = json.loads((tmp_path / PEAKS_FILE).read_text())["k"]
    assert stored["load_avg_1m"] == 0.2 and stored["cores"] == 2


def test_a_busy_measurement_is_taken_again_once_the_machine_is_quiet(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    _load(monkeypatch, 1.8)  # busy: above half of 2 cores
    assert cached_peaks(tmp_path, "k", _measure(log, 30.0)) == {"fp32": 30.0}
    _load(monkeypatch, 1.5)  # still busy: measuring again would give no better figure
    assert cached_peaks(tmp_path, "k", _measure(log, 31.0)) == {"fp32": 30.0}
    _load(monkeypatch, 0.3)  # quiet now
    assert cached_peaks(tmp_path, "k", _measure(log, 55.0)) == {"fp32": 55.0}
    assert log == ["measured", "measured"]


def test_each_key_is_measured_on_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    _load(monkeypatch, 0.0)
    cached_peaks(tmp_path, "cpu|1", _measure(log, 20.0))
    assert cached_peaks(tmp_path, "cpu|2", _measure(log, 40.0)) == {"fp32": 40.0}
    assert len(log) == 2
