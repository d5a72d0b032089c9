"""Isolation of contenders: each tier its own audio cache (folder and key), no environment inherited from the
parent's imports, memory reported per phase (load, steady), a group measured again after an upgrade, and a reused
group's files reachable by the new run's report."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.env import MEASURING_CODE, NOT_MEASURING, ROOT
from bench.measure.memory import LOAD, STEADY, UNTIMED, phase_peaks
from bench.results.store import read_rows
from tts_core import constants
from tts_core.runtime.audio_cache import AudioCache
from tts_core.tiers import BASELINE, resolve_tier

TEXT = "Each tier keeps its own audio."
ONEDNN = constants.ENV_ONEDNN_PRIMITIVE_CACHE


# -- the audio cache ----------------------------------------------------------------------------------------------

def _cache_stats(engine) -> dict:
    return engine.stats()["audio_cache"]


def test_each_tier_has_its_own_audio_cache_folder_and_key(tmp_path: Path, monkeypatch) -> None:
    from tts_core import Engine

    monkeypatch.setenv(constants.ENV_CACHE_DIR, str(tmp_path))
    tier_a = BASELINE.with_(name="tier-a", audio_cache=True)
    tier_b = BASELINE.with_(name="tier-b", audio_cache=True, inference_mode=True)
    with Engine.load(voice="tiny", tier=tier_a, seed=0) as a, Engine.load(voice="tiny", tier=tier_b, seed=0) as b:
        a.synthesize(TEXT)
        b.synthesize(TEXT)
        folder_a, folder_b = a._parts.cache.disk_dir, b._parts.cache.disk_dir
        assert folder_a != folder_b and folder_a.parent == folder_b.parent == tmp_path / "audio"
        assert _cache_stats(b)["hits_disk"] == 0 and _cache_stats(b)["misses"] >= 1  # b never read a's audio
        b.clear_cache()  # a worker clearing its cache before a round...
    with Engine.load(voice="tiny", tier=tier_a, seed=0) as again:
        again.synthesize(TEXT)
        assert _cache_stats(again)["hits_disk"] >= 1  # ...leaves another tier's entries in place
    # the same name with other switches (advanced-X is not advanced): the same folder, never the same entries
    renamed = BASELINE.with_(name="tier-a", audio_cache=True, inference_mode=True)
    with Engine.load(voice="tiny", tier=renamed, seed=0) as other:
        other.synthesize(TEXT)
        assert other._parts.cache.disk_dir == folder_a
        assert _cache_stats(other)["hits_disk"] == 0


def test_the_default_audio_cache_folder_is_per_tier_under_the_cache_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(constants.ENV_CACHE_DIR, str(tmp_path))
    assert constants.audio_cache_dir("advanced-streaming") == tmp_path / "audio" / "advanced-streaming"
    assert constants.audio_cache_dir("advanced/worker") == tmp_path / "audio" / "advanced_worker"
    assert constants.audio_cache_dir("..") == tmp_path / "audio" / "_"  # never a path out of the audio folder


def test_a_scope_is_part_of_every_entry_address(tmp_path: Path) -> None:
    key = AudioCache.key("tiny", "w", "1 2 3", {}, 0, "fp32")
    one, two = AudioCache(tmp_path, scope="tier one"), AudioCache(tmp_path, scope="tier two")
    one.put(key, np.ones(8, np.float32), 16000)
    assert two.get(key) is None and key not in two
    assert AudioCache(tmp_path, scope="tier one").get(key) is not None  # the same scope, a new process: a hit
    assert one.path_for(key) != two.path_for(key)


# -- the worker's environment -------------------------------------------------------------------------------------

def test_importing_the_harness_sets_no_environment_variable() -> None:
    env = {k: v for k, v in os.environ.items() if k != ONEDNN}
    code = ("import os; before = dict(os.environ); import tts_core, bench.scenarios.rounds, bench.sweep.plan, bench.env; "
            "print(sorted(set(os.environ.items()) ^ set(before.items())))")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _loaded_env(tier: str, tmp_path: Path, text: str = "") -> dict:
    """The environment a tts_core worker of `tier` (tiny voice) reports after its load (and a round of `text`)."""
    from bench.workers import Worker, WorkerSpec

    spec = WorkerSpec(contender=f"tts_core:{tier}@cpu", engine={"_target_": "bench.engines.tts_core_engine.TTSCoreEngine",
                      "name": "tts_core"}, tier=tier, model="tiny", threads=1, log_file=str(tmp_path / f"{tier}.log"))
    worker = Worker(spec, memory_limit_mb=4000)
    try:
        env = worker.call("load", 300)["env"]
        if text:
            worker.call("round", 300, text=text)
        return env
    finally:
        worker.close()


def test_a_worker_keeps_its_audio_cache_in_a_folder_of_its_contender(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(constants.ENV_CACHE_DIR, str(tmp_path / "cache"))
    monkeypatch.delenv(constants.ENV_AUDIO_CACHE_DIR, raising=False)
    _loaded_env("baseline+audio_cache", tmp_path, TEXT)
    audio = tmp_path / "cache" / "audio"
    (entry,) = audio.rglob("*.f32")
    assert entry.parent == audio / "tts_core_baseline+audio_cache_cpu" / "baseline+audio_cache"


def test_a_baseline_worker_does_not_inherit_the_onednn_cache_size(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(constants.ENV_CACHE_DIR, str(tmp_path / "cache"))
    monkeypatch.delenv(ONEDNN, raising=False)
    assert _loaded_env("baseline", tmp_path)["onednn_primitive_cache_capacity"] is None  # oneDNN's own default
    assert _loaded_env("optimized", tmp_path)["onednn_primitive_cache_capacity"] == str(
        resolve_tier("optimized").kernel_cache)  # a tier with kernel_cache sets it in its own process
    monkeypatch.setenv(ONEDNN, "64")
    assert _loaded_env("baseline", tmp_path)["onednn_primitive_cache_capacity"] == "64"  # the user's value, kept


# -- memory phases ------------------------------------------------------------------------------------------------

def test_phase_peaks_split_the_timeline_at_the_marks() -> None:
    samples = [(500.0, 1.0), (900.0, 2.0), (600.0, 3.0), (650.0, 4.0), (2000.0, 5.0)]
    marks = [(LOAD, 0.5), (STEADY, 2.5), (UNTIMED, 4.5)]
    assert phase_peaks(samples, marks) == {LOAD: 900.0, STEADY: 650.0, UNTIMED: 2000.0}
    assert phase_peaks(samples, []) == {LOAD: 2000.0}
    with pytest.raises(ValueError, match="`phase`"):
        from bench.measure.memory import check_phase

        check_phase("warmup")


# -- group identity -----------------------------------------------------------------------------------------------

def test_every_module_of_bench_is_listed_as_measuring_or_not() -> None:
    def covered(rel: str, entries: tuple[str, ...]) -> bool:
        return any(rel == e or rel.startswith(e + "/") for e in entries)

    for file in sorted((ROOT / "bench").rglob("*.py")):
        rel = file.relative_to(ROOT).as_posix()
        assert covered(rel, MEASURING_CODE) != covered(rel, NOT_MEASURING), f"{rel}: in exactly one list of bench/env.py"
    assert covered("bench/scenarios/rounds.py", MEASURING_CODE) and covered("bench/quality/measure.py", MEASURING_CODE)


def test_group_identity_changes_with_a_package_version(monkeypatch) -> None:
    from hydra import compose, initialize_config_module

    from bench.env import metadata
    from bench.sweep.plan import build_group, validate

    with initialize_config_module(config_module="configs", version_base="1.3"):
        cfg = validate(compose(config_name="sweep", overrides=["engine=fake", "measure=quick", "text=short"]))
    before = build_group(cfg).group_id
    assert build_group(cfg).group_id == before
    real = metadata.version
    for package in ("torch", "onnxruntime", "piper-tts"):
        monkeypatch.setattr(metadata, "version", lambda name, p=package: "9.9.9" if name == p else real(name))
        assert build_group(cfg).group_id != before, package


# -- a reused group in a new run's report ---------------------------------------------------------------------------

def sweep(tmp: Path, run_id: str) -> None:
    cmd = [sys.executable, "-m", "bench.sweep", "engine=fake", "measure=quick", "text=short", "+tier=optimized",
           "engine.rtf=0.05", f"sweep.results_dir={tmp / 'results'}", f"sweep.reports_dir={tmp / 'reports'}",
           f"sweep.run_id={run_id}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def test_rows_split_rss_and_a_reused_group_keeps_its_files_in_the_new_report(tmp_path: Path) -> None:
    sweep(tmp_path, "a")
    rows = [r for r in read_rows(tmp_path / "results" / "a" / "results.jsonl") if r.text == "all"]
    assert rows and all(r.status == "ok" for r in rows)
    for r in rows:
        assert r.load_peak_rss_mb > 0 and r.steady_peak_rss_mb > 0
        assert r.peak_rss_mb == max(r.load_peak_rss_mb, r.steady_peak_rss_mb)  # the overall peak, as before
        mprof = Path(r.mprof_file).read_text()
        assert "FUNC load " in mprof and "FUNC steady " in mprof  # the phases, for `mprof plot`
    sweep(tmp_path, "b")
    reused = [r for r in read_rows(tmp_path / "results" / "b" / "results.jsonl") if r.text == "all"]
    assert {r.extra.get("resumed_from_run") for r in reused} == {"a"}
    run_b = (tmp_path / "results" / "b").resolve()
    for r in reused:
        for path in (r.sample_wav, r.mprof_file):
            assert Path(path).is_file() and Path(path).resolve().is_relative_to(run_b)
    html = (tmp_path / "reports" / "b" / "index.html").read_text()
    assert html.count("data:audio/wav;base64,") == len(reused)  # every contender's sample is embedded
    assert 'alt="memory timelines" src="data:image/png' in html  # drawn from the mprof files
    assert "No file path was refused." in html and "not found" not in html
