"""Each tier on each built-in text, grouped by text so the tiers of one text compare side by side.

`extra_info` keys are named like `ResultRow` fields, so `python -m bench.report .benchmarks/` reads them.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

from bench.texts import BUILTIN_TEXTS, read_text, text_path

TIERS = ("baseline", "optimized", "advanced")


def _sync(hardware: str) -> Callable[[], None]:
    """CUDA work is asynchronous: the timed function must wait for it (pytest-benchmark's timer does not)."""
    if hardware != "cuda":
        return lambda: None
    import torch

    return torch.cuda.synchronize


def _fidelity(engine: Any, reference: Any, text: str) -> dict[str, Any]:
    """The tier's noise-free audio against the baseline's, judged by the gate its precision calls for."""
    from tts_core.fidelity import compare
    from tts_core.tiers.build import gate

    engine.clear_cache()
    candidate = engine.synthesize(text, noise_scale=0.0, noise_w=0.0)
    result = compare(reference.samples, candidate.samples, reference.sample_rate)
    fid_gate = gate(engine.tier)  # the tier as it loaded: "auto" switches decided
    return {"fid_gate": fid_gate, "fid_pass": result.passes(fid_gate), "fid_snr_db": result.snr_db,
            "fid_mcd_db": result.mcd_db, "fid_frames_equal": result.frames_equal}


@pytest.mark.parametrize("text_name", BUILTIN_TEXTS)
@pytest.mark.parametrize("tier", TIERS)
def test_tier(benchmark: Any, engine_for: Callable, reference_audio: Callable, bench_model: str,
              bench_rounds: tuple[int, int], hardware: str, tier: str, text_name: str) -> None:
    import torch

    from tts_core.runtime.memory import MemoryMonitor

    text = read_text(text_path(text_name))
    engine = engine_for(tier, hardware)
    sync = _sync(hardware)
    benchmark.group = f"text={text_name} hardware={hardware}"

    def setup() -> None:
        engine.clear_cache()  # every round renders: cache hits would make a tier look fast
        sync()

    def synthesize() -> Any:
        audio = engine.synthesize(text)
        sync()
        return audio

    if hardware == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rounds, warmup = bench_rounds
    with MemoryMonitor(device=hardware) as monitor:
        audio = benchmark.pedantic(synthesize, setup=setup, rounds=rounds, warmup_rounds=warmup)
    assert audio.duration > 0 and np.isfinite(audio.samples).all()

    stats = benchmark.stats.stats if benchmark.stats is not None else None  # None under --benchmark-disable
    latencies = [float(x) for x in stats.data] if stats is not None else []
    benchmark.extra_info.update({
        "engine": "tts_core", "tier": tier, "text": text_name, "text_chars": len(text), "model": bench_model,
        "hardware": hardware, "device": str(engine.device), "threads": torch.get_num_threads(),
        "workload": "single", "cached": False,
        "audio_s": audio.duration,
        "rtf": float(np.median(latencies)) / audio.duration if latencies else None,
        "throughput_audio_s_per_s": audio.duration / float(np.median(latencies)) if latencies else None,
        "latencies_s": latencies,
        "peak_rss_mb": monitor.peak_rss_mb,  # whole process: other tiers' engines stay loaded
        "cuda_max_allocated_mb": torch.cuda.max_memory_allocated() / 2**20 if hardware == "cuda" else None,
    })
    if tier != "baseline":
        fid = _fidelity(engine, reference_audio(text, hardware), text)
        benchmark.extra_info.update(fid)  # stored first, so a failing tier's figures still reach the report
        assert fid["fid_pass"], (f"{tier} fails its {fid['fid_gate']} fidelity gate on {text_name}: "
                                 f"SNR {fid['fid_snr_db']:.1f} dB, MCD {fid['fid_mcd_db']:.3f} dB, "
                                 f"frames equal {fid['fid_frames_equal']}")
