"""CUDA paths the GPU check reaches, tested on the CPU where that can be done honestly: half precision with decoder
tiling (the same code path), the engine's own memory-fraction call, untimed warm-up rounds, the clock the budget
counts from, the bounded torch.compile probe, and what the report records about the environment.

None of this is a GPU measurement."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from unittest import mock

import pytest
import torch

from bench.gpucheck import checks, compiled
from bench.gpucheck.environment import environment
from bench.gpucheck.paired import rotating
from tts_core import Engine, flags
from tts_core.runtime import cuda
from tts_core.fidelity import compare
from tts_core.tiers import TierConfig

LONG = "A somewhat longer sentence, so that the decoder runs its full-rate stage in several tiles of audio."


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_half_precision_with_decoder_tiling_runs_and_matches_it_untiled(precision, one_thread):
    """conv_post stays fp32 after a 16-bit body; the tiled tail must hand it fp32 and return fp32 audio."""
    from tts_core.tiers.tiling import TiledDecoder

    base = TierConfig(name=f"t-{precision}", inference_mode=True, precision=precision)
    tiled = base.with_(name=f"t-{precision}-tiled", decoder_tiling=True, tile_samples=1024)
    with Engine.load(voice="tiny", tier=base) as whole, Engine.load(voice="tiny", tier=tiled) as tiles:
        assert isinstance(tiles.model.dec, TiledDecoder) and tiles.model.dec.dec.conv_post.weight.dtype == torch.float32
        ids = whole.text_to_ids(LONG)[0]
        ref = whole.ids_to_audio(ids, noise_scale=0, noise_w=0).samples
        out = tiles.ids_to_audio(ids, noise_scale=0, noise_w=0).samples
        body = tiles.model.dec.dec.conv_pre.weight  # the 16-bit body's dtype, as the renderer feeds it
        z = torch.randn(1, body.shape[1], 40, generator=torch.Generator().manual_seed(0)).to(body.dtype)
        with torch.inference_mode():
            wave_whole, wave_tiled = whole.model.dec(z), tiles.model.dec(z)
    assert len(out) > 4 * 1024  # several tiles, not the one-piece shortcut
    assert compare(ref, out, 22050).passes("half")
    assert wave_whole.dtype == wave_tiled.dtype == torch.float32  # the waveform comes from the fp32 conv_post
    assert torch.equal(wave_whole, wave_tiled) or compare(wave_whole.flatten().numpy(),
                                                          wave_tiled.flatten().numpy(), 22050).passes("exact")


def test_the_memory_fraction_check_uses_the_engines_own_switch(monkeypatch):
    monkeypatch.setattr(cuda, "_MEMORY_FRACTIONS", {})
    tier = checks.fraction_tier(0.125)
    assert tier.cuda_memory_fraction == 0.125
    cuda1 = torch.device("cuda:1")
    with mock.patch.object(torch.cuda, "set_per_process_memory_fraction") as setter:
        flags.apply_load_flags(tier, cuda1)  # what Engine.load does with this tier on cuda:1
        setter.assert_called_once_with(0.125, 1)
        cuda.release_memory_fraction(cuda1)
        setter.assert_called_with(1.0, 1)
    assert 1 not in cuda._MEMORY_FRACTIONS
    with mock.patch.object(torch.cuda, "set_per_process_memory_fraction"):
        cuda.set_memory_fraction(0.5, cuda1)  # released: another cap is allowed again


def test_warmup_rounds_are_run_but_not_timed():
    calls: list[str] = []

    def contender(name: str, seconds: float):
        return lambda: calls.append(name) or seconds

    times = rotating({"a": contender("a", 1.0), "b": contender("b", 2.0)}, rounds=3, warmup=1)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]  # one untimed round, then three rotating ones
    assert times == {"a": [1.0, 1.0, 1.0], "b": [2.0, 2.0, 2.0]}


def test_a_deadline_stops_rounds_after_the_minimum():
    times = rotating({"a": lambda: 1.0}, rounds=10, warmup=1, deadline=time.time() - 1, min_rounds=2)
    assert times == {"a": [1.0, 1.0]}


def test_the_budget_counts_from_the_process_start():
    code = "import time; time.sleep(1.5); from bench.gpucheck.clock import process_age_s; print(process_age_s())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert float(done.stdout) >= 1.5, done.stderr


def test_a_probe_past_its_timeout_is_killed_and_said_so():
    r = compiled.bounded([sys.executable, "-c", "import time; time.sleep(60)"], timeout_s=1.0)
    assert r["timed_out"] and r["result"] is None and r["rc"] == -signal.SIGKILL  # killed, not waited for


def test_the_compile_probe_reports_as_json(tmp_path):
    """The probe's plumbing with a candidate that builds nothing (torch.compile is not measured on a CPU)."""
    from bench.gpucheck import bundle

    bundle.prepare(tmp_path, voice="tiny")
    r = compiled.bounded([sys.executable, "-m", "bench.gpucheck.compiled", str(tmp_path), "--device", "cpu",
                          "--rounds", "2", "--candidate", "baseline+inference_mode"], timeout_s=300)
    assert not r["timed_out"] and r["rc"] == 0, r["stderr_tail"]
    assert r["result"]["candidate"] == "baseline+inference_mode" and r["result"]["gate_failures"] == []
    assert r["result"]["speedup"]["rounds"] == 2


def test_the_report_records_tf32_benchmark_and_allocator_settings(monkeypatch):
    monkeypatch.setenv("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")
    env = environment("cpu")
    assert env["flags_at_start"]["matmul_tf32"] == torch.backends.cuda.matmul.allow_tf32
    assert env["flags_at_start"]["cudnn_tf32"] == torch.backends.cudnn.allow_tf32
    assert "cudnn_benchmark" in env["flags_at_start"]
    assert env["allocator"]["PYTORCH_CUDA_ALLOC_CONF"] == "expandable_segments:True"
