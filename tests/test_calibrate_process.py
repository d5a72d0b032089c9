"""The calibration as its own step: measured in a child process, read back in the loading process, run alone by
`python -m tts_core.calibrate`; a failing child is reported with the command that reruns it, never waited on."""

from __future__ import annotations

import logging
import re
import subprocess
import sys

import psutil
import pytest

from tts_core import Engine
from tts_core.calibrate import child
from tts_core.errors import CalibrationError
from tts_core.tiers import BASELINE
from tts_core.calibrate import measure as measuring

TIER = BASELINE.with_(name="cal-child", inference_mode=True, fusion="auto", streaming="auto")


@pytest.fixture
def fresh_cache(monkeypatch, tmp_path):
    """An empty cache folder (the child inherits the environment), calibration allowed a child."""
    monkeypatch.setenv("TTS_CORE_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("TTS_CORE_CALIBRATE_IN_PROCESS", raising=False)
    monkeypatch.delenv("TTS_CORE_RECALIBRATE", raising=False)
    return tmp_path


def _fail(what: str):
    return lambda *a, **k: pytest.fail(what)


def test_first_load_measures_in_a_child_and_the_second_reads_the_store_here(fresh_cache, monkeypatch, caplog):
    monkeypatch.setattr(measuring, "calibrate", _fail("the loading process measured candidates itself"))
    with caplog.at_level(logging.INFO, logger="tts_core"):
        with Engine.load(voice="tiny", tier=TIER) as first:
            cal = first.stats()["calibration"]
    assert not cal["cached"] and set(cal["choices"]) == {"fusion", "streaming"}
    assert "pays" in cal["measurements"]["fusion"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("runs in child process" in m for m in messages)
    assert any(m.startswith("calibration: fusion") for m in messages)  # the child's progress, in this logger
    stored = [p for p in (fresh_cache / "calibration").glob("tiny-*.json") if not p.stem.endswith("-candidates")]
    assert len(stored) == 1

    monkeypatch.setattr(child, "run_in_child", _fail("a stored calibration started a child"))
    with Engine.load(voice="tiny", tier=TIER) as second:
        assert second.stats()["calibration"]["cached"]
        assert second.tier == first.tier


def test_a_voice_passed_in_memory_is_calibrated_here_then_memory_is_released(fresh_cache, monkeypatch, caplog):
    import tts_core.runtime
    from tts_core.voices import load_voice

    released = []
    real = tts_core.runtime.release_memory
    monkeypatch.setattr(tts_core.runtime, "release_memory", lambda *a: released.append(a) or real(*a))
    monkeypatch.setattr(child, "run_in_child", _fail("a voice in memory was sent to a child"))
    with caplog.at_level(logging.INFO, logger="tts_core"):
        with Engine.from_voice(load_voice("tiny"), tier=TIER.with_(name="cal-memory")) as engine:
            assert not engine.stats()["calibration"]["cached"]
    assert released
    assert any("calibrating in this process" in r.getMessage() for r in caplog.records)


def test_a_failing_child_says_what_failed_and_how_to_rerun_it(fresh_cache, monkeypatch):
    blocker = fresh_cache / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("TTS_CORE_CACHE_DIR", str(blocker))  # the child cannot store what it measured
    with pytest.raises(CalibrationError, match=r"failed in its child process.*python -m tts_core\.calibrate "
                                               r"--voice tiny --device cpu --tier cal-fails") as info:
        Engine.load(voice="tiny", tier=TIER.with_(name="cal-fails"))
    assert "NotADirectoryError" in str(info.value) or "FileExistsError" in str(info.value)


def test_a_child_past_its_time_is_killed_not_waited_on(fresh_cache, monkeypatch):
    monkeypatch.setattr(measuring, "BUDGET_S", 0.0)
    monkeypatch.setattr(child, "CHILD_MARGIN_S", 0.5)
    with pytest.raises(CalibrationError, match=r"ran past 0 s.*was killed.*python -m tts_core\.calibrate") as info:
        Engine.load(voice="tiny", tier=TIER.with_(name="cal-slow"))
    pid = int(re.search(r"child process (\d+)", str(info.value)).group(1))
    assert not psutil.pid_exists(pid)  # killed and reaped by the time the error is raised, not left running


def _cli(*args: str, env_dir) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ, TTS_CORE_CACHE_DIR=str(env_dir))
    return subprocess.run([sys.executable, "-m", "tts_core.calibrate", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def test_the_command_prints_each_choice_with_its_figure_and_where_it_is_stored(tmp_path):
    first = _cli("--voice", "tiny", "--tier", "advanced", env_dir=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "measured now" in first.stdout and f"stored in {tmp_path}/calibration/tiny-" in first.stdout
    for switch in ("fusion", "streaming", "precision", "memory_pool"):
        assert f"  {switch} " in first.stdout
    assert "calibration: fusion" in first.stderr  # progress on stderr
    again = _cli("--voice", "tiny", "--tier", "advanced", env_dir=tmp_path)
    assert again.returncode == 0 and "read back" in again.stdout


@pytest.mark.parametrize("args, names", [
    (["--voice", "nobody"], ["joe-medium", "tiny"]),
    (["--voice", "tiny", "--tier", "nonsense"], ["baseline", "advanced"]),
    (["--voice", "tiny", "--tier", "baseline"], ["no \"auto\" switches"]),
    (["--voice", "tiny", "--device", "abacus"], ["cpu", "cuda"]),
    (["--voice", "tiny", "--threads", "0"], [">= 1"]),
], ids=["voice", "tier", "tier-without-auto", "device", "threads"])
def test_bad_input_exits_2_naming_what_is_allowed(tmp_path, args, names):
    out = _cli(*args, env_dir=tmp_path)
    assert out.returncode == 2
    for name in names:
        assert name in out.stderr


def test_a_script_that_loads_at_module_level_unguarded_still_calibrates_once(tmp_path):
    """Spawn re-runs the main script in a child; an unguarded `Engine.load` there would load and calibrate again."""
    import os
    from pathlib import Path

    script = tmp_path / "unguarded.py"
    script.write_text(
        "from tts_core import Engine\n"
        "from tts_core.tiers import BASELINE\n"
        "tier = BASELINE.with_(name='cal-unguarded', inference_mode=True, streaming='auto')\n"
        "print('cached', Engine.load(voice='tiny', tier=tier).stats()['calibration']['cached'])\n")
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, TTS_CORE_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    env.pop("TTS_CORE_CALIBRATE_IN_PROCESS", None)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["cached False"]
