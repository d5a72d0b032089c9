"""Decide the advanced tier's "auto" switches by measurement on the device at hand.

For each candidate (FP16, BF16, INT8, torch.compile, the fused decoder, decoder tiling, the buffer pool,
streaming) the calibration renders a fixed set of sentences with noise zeroed, interleaving candidate and
fp32 reference runs (A B A B) so machine drift cancels, checks the candidate's audio against the reference
with the fidelity gate of its kind, and keeps it only if it passes and is at least `MIN_SPEEDUP` faster
(streaming: if it cuts the time to first audio). The choice and every figure behind it are stored as JSON
under the cache directory, keyed by voice weights, device, CPU, torch version and threads, and reported by
`Engine.stats()`.

It renders with the same call the engine makes on this device (`engine_renderer`): the sentences as one
batch, the tier's shape buckets, and the device's vocoder path (CPU: flow and decoder one item at a time,
unmasked; CUDA: batched with masks, which bypasses the fused decoder's bucketing and tiling), so a switch
is judged on the path it will run. Its cost is bounded by `BUDGET_S`: fusion and streaming run first, every
other candidate only while `CANDIDATE_RESERVE_S` of the budget is left, and `torch.compile` (tens of seconds to
build) only on a GPU and while `COMPILE_RESERVE_S` is.
One INFO line per candidate on the `tts_core` logger reports progress.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import json
import logging
import os
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from tts_core.constants import cache_dir, recalibrate_requested
from tts_core.fidelity import compare, gate_for
from tts_core.machine import cpu_model, isa_caps
from tts_core.render import Renderer, Scales
from tts_core.tiers.config import AUTO, TierConfig
from tts_core.tiers.fusion import apply_fusion
from tts_core.tiers.int8 import RANGE_TEXT, activation_ranges, static_int8_available
from tts_core.tiers.precision import apply_compile, apply_precision, with_own_modules
from tts_core.tiers.tiling import apply_tiling

log = logging.getLogger("tts_core")

CALIBRATION_VERSION = 10  # 2: decoder fusion joined the candidates; 3: the engine's render path and buckets;
# 4: candidate measurements shared by every tier of a machine; 6: 8 rounds on 8 texts, both sides warm on them, the
# median paired ratio and 3 rounds in 4 won; 7: torch.compile must also hold on lengths it has never seen;
# 8: FP16/BF16 keep the decoder's output convolution in fp32 and are measured on the fused decoder when it pays;
# 9: streaming's chunks fill the decoder's buckets, the first is 16 frames, later ones up to 4x the audio before them;
# 10: INT8 on the fused decoder is static int8 arithmetic in its low-rate stages (was: int8 weights, unfused),
# streaming is measured second, the rest within the budget, torch.compile not on a CPU
MIN_SPEEDUP = 1.05  # a switch must buy at least 5% (median of the paired per-round ratios) to be worth it...
MIN_WIN_SHARE = 0.75  # ...and win at least this share of the interleaved rounds, so noise cannot talk it in
MIN_TTFA_GAIN = 1.5  # streaming must cut time to first audio by a third
ROUNDS = 8
GIVE_UP = 2.0  # a candidate this many times short of what it must beat (the reference: 1x) on a probe is dropped
PROBE = "Short probe."  # drops hopeless candidates (BF16 on a CPU without AMX, say) in a second
TEXT = (
    "Calibration measures each optimization on this machine before the advanced tier uses it. "
    "A second sentence, of a different length, checks that shapes vary."
)
# Round i of an interleaved comparison renders ROUND_TEXTS[i]. Both sides render every round text once before the
# rounds (the reference at the start, each candidate before its own rounds), so the comparison is of two warm
# engines, as in a service that has spoken for a while: a side that had met the shapes while the other had not
# would win on its caches, not on its work.
ROUND_TEXTS = (
    "Every round speaks sentences that neither side has rendered before.",
    "Fresh lengths matter. A kernel built for one shape is no help for another, and that is what users meet.",
    "The third round is a single, rather longer sentence that keeps going with several clauses, commas and pauses.",
    "Short again. Then a middling one follows it, with a number: forty-two.",
    "Finally, the fifth round ends the comparison on a sentence of its own length, spoken only here.",
    "Six is a small number. Seven is larger, and eight, which follows it, is larger still, as everyone knows.",
    "Quietly, almost without anyone noticing, the seventh round slipped past.",
    "At last the eighth: a pair of clauses, joined by a semicolon; then a full stop.",
)
# A candidate that builds per exact shape (torch.compile recompiles, then falls back after its cache limit) must also
# hold on lengths neither side has met: these are rendered by both, fresh, after its warm rounds.
FRESH_TEXTS = (
    "Hi.",
    "A sentence of medium length comes next, with a little more in it.",
    "Then one that is quite a lot longer than the others, running on through several clauses before it finally, "
    "after some time, reaches its end.",
)
ZERO = Scales(0.0, 1.0, 0.0)


@dataclass(frozen=True)
class CalibrationTexts:
    """Phoneme ids the calibration renders: `batches` for the gate and warm-up, `probe` to drop hopeless candidates
    quickly, and one fresh set of sentences per interleaved round (`rounds`)."""

    batches: list[list[int]]
    probe: list[list[int]]
    rounds: list[list[list[int]]]
    fresh: list[list[list[int]]]
    ranges: list[list[int]] = dataclasses.field(default_factory=list)  # static int8's activation ranges
BUDGET_S = 90.0  # wall-clock bound of one calibration on a fresh machine
# torch.compile rebuilds in every new process: it is kept only if its speed-up repays that build within this
# much audio (ten minutes of speech), so a tiny or overhead-bound model does not pay tens of seconds per start
COMPILE_PAYBACK_AUDIO_S = 600.0
MIN_COMPILE_BUILD_S = 15.0  # the quickest torch.compile build of these stages seen here (tiny voice: 20.7 s)
COMPILE_RESERVE_S = 50.0  # torch.compile is measured only with this much budget left (it built in 44-59 s)
# torch.compile is not measured on a CPU: where it was measured it never paid (0.98x on an AMD EPYC Zen 3 after a 59 s
# build; 0.96x after 28 s with oneDNN and ATen capped to AVX2), and on torch 2.13.0+cpu with AVX-512 its dynamic-shape
# flow aborted the whole process on its first call ("free(): invalid pointer"), which no try/except can catch. The
# ablations (+tier=baseline+compile) still measure it, each in a worker process of its own.
COMPILE_ON_CPU = False
CANDIDATE_RESERVE_S = 15.0  # any other candidate only with this much left (a full measurement took 10-13 s here)


def engine_renderer(model: nn.Module, device: torch.device, tier: TierConfig, pool: Any = None,
                    batch_vocoder: bool | None = None) -> Renderer:
    """A renderer set up as `Engine` sets up its own for `tier` (buckets, device's vocoder path)."""
    return Renderer(model, device, pool=pool, token_bucket=tier.bucket_tokens, frame_bucket=tier.bucket_frames,
                    batch_vocoder=batch_vocoder)


def render_path(renderer: Renderer) -> str:
    """How `renderer` runs the flow and decoder of a multi-sentence batch: "batched-masked" or "per-item"."""
    return "batched-masked" if renderer.batch_vocoder else "per-item"


def _machine_parts(weights_key: str, device: torch.device, tier: TierConfig, path: str) -> list[Any]:
    """What a candidate's measurement depends on: voice, device, CPU (and any cap on its instruction sets), torch,
    threads, batch and bucket sizes, path."""
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else ""
    return [CALIBRATION_VERSION, weights_key, str(device), gpu, cpu_model(), isa_caps(), torch.__version__,
            torch.get_num_threads(), tier.max_batch, tier.batch_tokens, tier.bucket_tokens, tier.bucket_frames, path]


def _key(weights_key: str, device: torch.device, tier: TierConfig, path: str) -> str:
    """The key of one tier's choices: the machine's, plus which switches are left to calibration."""
    parts = [*_machine_parts(weights_key, device, tier, path), sorted(tier.auto_fields),
             list(tier.precision_candidates) if tier.precision == AUTO else []]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:20]


class Measured:
    """Candidate measurements shared by every tier calibrated on this machine (one JSON file): `advanced` and an
    ablation such as `advanced-streaming` decide their common switches from the same measurements, so an
    ablation differs from its reference by its own switch only, never by the noise of a second calibration."""

    def __init__(self, path: Any, fresh: bool) -> None:
        self.path = path
        self.data: dict[str, Any] = {}
        if path.is_file() and not fresh:
            try:
                self.data = dict(json.loads(path.read_text()))
            except (OSError, ValueError):
                log.warning("candidate measurements %s are unreadable; measuring again", path)

    def has(self, name: str) -> bool:
        """True when `name` was measured before on this machine (`once` will not measure it again)."""
        return name in self.data

    def once(self, name: str, measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The stored measurement of `name`, else `measure()`, stored before it is returned."""
        if name in self.data:
            log.info("calibration: %-14s reused (measured before on this machine)", name)
            return dict(self.data[name], reused=True)
        m = measure()
        self.data[name] = m
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        os.replace(tmp, self.path)
        return m


def _render_all(renderer: Renderer, batches: list[list[int]]) -> tuple[float, np.ndarray]:
    """Seconds to render `batches` (id sequences) as the engine renders a group of sentences, and the audio."""
    t0 = time.perf_counter()
    out = renderer.render(batches, ZERO, [None] * len(batches))
    if renderer.device.type == "cuda":
        torch.cuda.synchronize(renderer.device)
    return time.perf_counter() - t0, np.concatenate(out)


def _ttfa(renderer: Renderer, ids: list[int], tier: TierConfig, chunked: bool) -> tuple[float, np.ndarray]:
    t0 = time.perf_counter()
    if chunked:
        stream = renderer.stream(ids, ZERO, None, tier.first_chunk_frames, tier.chunk_frames,
                                 tier.flow_margin, tier.decoder_margin)
        first = next(stream)
        ttfa = time.perf_counter() - t0
        return ttfa, np.concatenate([first, *stream])
    audio = renderer.render([ids], ZERO, [None])[0]
    return time.perf_counter() - t0, audio


def _interleaved(ref: Callable[[int], float], cand: Callable[[int], float], rounds: int,
                 give_up: float) -> dict[str, Any]:
    """Seconds of each, alternating A B A B, round i on input i (`ref(i)`, `cand(i)`). `speedup` is the median of
    the paired per-round ratios; `won_enough` says the candidate won at least `MIN_WIN_SHARE` of `rounds`. Stops
    early when the candidate is hopelessly slower or has lost too many rounds to get there."""
    ref_t, cand_t = [], []
    may_lose = rounds - math.ceil(MIN_WIN_SHARE * rounds)
    for i in range(rounds):
        if i % 2:  # A B, then B A: neither side always runs first (warm caches, clock boost)
            cand_t.append(cand(i))
            ref_t.append(ref(i))
        else:
            ref_t.append(ref(i))
            cand_t.append(cand(i))
        losses = sum(ct >= rt for rt, ct in zip(ref_t, cand_t))
        if cand_t[-1] > give_up * ref_t[-1] or losses > may_lose:
            break
    ratios = [rt / ct if ct > 0 else float("inf") for rt, ct in zip(ref_t, cand_t)]
    wins = sum(ct < rt for rt, ct in zip(ref_t, cand_t))
    return {"reference_s": statistics.median(ref_t), "candidate_s": statistics.median(cand_t),
            "speedup": statistics.median(ratios), "rounds": len(cand_t), "won_rounds": wins,
            "won_enough": len(cand_t) == rounds and wins >= math.ceil(MIN_WIN_SHARE * rounds)}


def _measure(name: str, model: nn.Module, ref: Renderer, texts: CalibrationTexts, device: torch.device,
             reference_audio: np.ndarray, sample_rate: int, tier: TierConfig, precision: str = "fp32",
             must_beat: float = 1.0) -> dict[str, Any]:
    """Gate and time one candidate against `ref`. `must_beat`: the speed-up over `ref` it needs to be chosen (a
    better candidate measured before sets it); one `GIVE_UP` times short of it on the probe sentence, it stops."""
    result = _measure_one(name, model, ref, texts, device, reference_audio, sample_rate, tier, precision, must_beat)
    _progress(name, result)
    return result


def _progress(name: str, m: dict[str, Any]) -> None:
    """One INFO line per measured candidate: its speed-up, verdict and why."""
    if "speedup" in m:
        why = "kept" if m["pays"] else (m.get("note") or "; ".join(m.get("gate_failures") or [])
                                         or f"won {m.get('won_rounds', 0)} of {m.get('rounds', 0)} rounds, "
                                            f"needs {MIN_WIN_SHARE:.0%} of {ROUNDS} and >= {MIN_SPEEDUP}x")
        log.info("calibration: %-14s %.2fx (%s)%s", name, m["speedup"], "kept" if m["pays"] else f"not kept: {why}",
                 f", {m['setup_s']:.1f} s to build" if m.get("setup_s", 0) >= 1 else "")
    else:
        log.info("calibration: %-14s not kept: %s", name, m.get("note") or m.get("error"))


def _measure_one(name: str, model: nn.Module, ref: Renderer, texts: CalibrationTexts, device: torch.device,
                 reference_audio: np.ndarray, sample_rate: int, tier: TierConfig, precision: str,
                 must_beat: float) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        cand = engine_renderer(model, device, tier, batch_vocoder=ref.batch_vocoder)
        probe = texts.probe
        probe_cand, _ = _render_all(cand, probe)  # also the warm-up (compiles, if compiled)
        setup_s = time.perf_counter() - t0
        probe_ref, _ = _render_all(ref, probe)
        probe_cand, _ = _render_all(cand, probe)
        if probe_cand * must_beat > GIVE_UP * probe_ref:
            speedup = probe_ref / probe_cand
            why = (f"{1 / speedup:.1f}x slower" if must_beat <= 1 else
                   f"{speedup:.2f}x where {must_beat:.2f}x is needed to beat the best candidate so far")
            return {"reference_s": probe_ref, "candidate_s": probe_cand, "speedup": speedup,
                    "rounds": 1, "setup_s": setup_s, "pays": False,
                    "note": f"{why} on a probe sentence; not measured further"}
        _, audio = _render_all(cand, texts.batches)
        for ids in texts.rounds:
            _render_all(cand, ids)
        timing = _interleaved(lambda i: _render_all(ref, texts.rounds[i])[0],
                              lambda i: _render_all(cand, texts.rounds[i])[0], len(texts.rounds), GIVE_UP)
    except Exception as exc:  # a candidate that cannot run here is reported, never fatal
        log.warning("calibration: %s failed on %s: %s", name, device, exc)
        return {"error": f"{type(exc).__name__}: {exc}", "pays": False}
    fid = compare(reference_audio, audio, sample_rate)
    gate = gate_for(precision)
    failures = fid.failures(gate)
    pays = not failures and timing["speedup"] >= MIN_SPEEDUP and timing["won_enough"]
    return {**timing, "setup_s": setup_s, "gate": gate, "fidelity": fid.to_dict(), "gate_failures": failures, "pays": pays}


def calibrate(voice: Any, model: nn.Module, frontend: Any, device: torch.device, tier: TierConfig,
              batch_vocoder: bool | None = None) -> dict[str, Any]:
    """Choices for `tier.auto_fields` on this device, measured (or read back from a stored calibration).
    `batch_vocoder` None = the device's own vocoder path (see `Renderer`); tests force the other one."""
    ref = engine_renderer(model, device, tier, batch_vocoder=batch_vocoder)
    key = _key(voice.weights_key, device, tier, render_path(ref))
    path = cache_dir() / "calibration" / f"{voice.name}-{key}.json"
    if path.is_file() and not recalibrate_requested():
        try:
            stored = json.loads(path.read_text())
            if stored.get("version") == CALIBRATION_VERSION:
                return dict(stored, cached=True)
        except (OSError, ValueError):
            log.warning("calibration file %s is unreadable; measuring again", path)

    log.info("calibrating %s on %s for %s (stored for next time in %s)", voice.name, device, tier.auto_fields, path)
    t_start = time.perf_counter()
    texts = CalibrationTexts(batches=[s.ids for s in frontend.sentences(TEXT)],
                             probe=[s.ids for s in frontend.sentences(PROBE)],
                             rounds=[[s.ids for s in frontend.sentences(t)] for t in ROUND_TEXTS[:ROUNDS]],
                             fresh=[[s.ids for s in frontend.sentences(t)] for t in FRESH_TEXTS],
                             ranges=[s.ids for s in frontend.sentences(RANGE_TEXT)]
                             if tier.precision == AUTO and "int8" in tier.precision_candidates else [])
    batches = texts.batches
    _render_all(ref, batches)  # warm-up
    for ids in texts.rounds:
        _render_all(ref, ids)
    ref_s, reference_audio = _render_all(ref, batches)
    sr = voice.sample_rate
    ref_rtf = ref_s / (len(reference_audio) / sr)
    choices: dict[str, Any] = {}
    measurements: dict[str, Any] = {}
    machine = hashlib.sha256(json.dumps(_machine_parts(voice.weights_key, device, tier, render_path(ref)),
                                        default=str).encode()).hexdigest()[:20]
    shared = Measured(cache_dir() / "calibration" / f"{voice.name}-{machine}-candidates.json", recalibrate_requested())

    fused = tier.fusion is True
    if tier.fusion == AUTO:
        m = shared.once("fusion", lambda: _measure("fusion", apply_fusion(with_own_modules(model), tier.bucket_frames),
                                                   ref, texts, device, reference_audio, sr, tier))
        measurements["fusion"] = m
        fused = bool(m["pays"])
    if tier.streaming == AUTO:  # before the candidates a spent budget may skip: first audio matters most
        measurements["streaming"] = shared.once("streaming", lambda: _measure_streaming(ref, batches, tier, sr))
        choices["streaming"] = bool(measurements["streaming"]["pays"])

    def left_s() -> float:
        return BUDGET_S - (time.perf_counter() - t_start)

    if tier.precision == AUTO:
        choices["precision"] = _choose_precision(model, ref, texts, device, reference_audio, sr, tier, shared,
                                                 measurements, fused, left_s)
    if tier.fusion == AUTO:
        choices["fusion"] = fused and (choices.get("precision") != "int8" or static_int8_available(device))
    if tier.decoder_tiling == AUTO and choices.get("fusion"):
        measurements["decoder_tiling"] = {"pays": False, "note": "not measured: the fused decoder replaces the "
                                                                 "modules tiling wraps"}
        choices["decoder_tiling"] = False
    elif tier.decoder_tiling == AUTO:
        m = shared.once("decoder_tiling", lambda: _measure(
            "decoder_tiling", apply_tiling(with_own_modules(model), tier.tile_samples), ref, texts, device,
            reference_audio, sr, tier))
        measurements["decoder_tiling"] = m
        choices["decoder_tiling"] = bool(m["pays"])
    if tier.memory_pool == AUTO:
        def pool() -> dict[str, Any]:
            m = _over_budget(left_s()) or _measure_pool(model, ref, texts, tier)
            _progress("memory_pool", m)
            return m

        measurements["memory_pool"] = shared.once("memory_pool", pool)
        choices["memory_pool"] = bool(measurements["memory_pool"]["pays"])
    if tier.compile == AUTO:
        measurements["compile"] = shared.once("compile", lambda: _measure_compile(
            model, ref, texts, device, reference_audio, sr, tier, ref_rtf, time.perf_counter() - t_start))
        choices["compile"] = bool(measurements["compile"]["pays"])

    result = {"version": CALIBRATION_VERSION, "key": key, "device": str(device), "cpu": cpu_model(),
              "render_path": render_path(ref), "buckets": {"tokens": tier.bucket_tokens, "frames": tier.bucket_frames},
              "torch": torch.__version__, "threads": torch.get_num_threads(), "choices": choices,
              "measurements": measurements, "seconds": time.perf_counter() - t_start, "cached": False}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(result, indent=1, default=str))
    os.replace(tmp, path)
    log.info("calibration chose %s in %.1f s", choices, result["seconds"])
    return result


def _measure_streaming(ref: Renderer, batches: list[list[int]], tier: TierConfig, sr: int) -> dict[str, Any]:
    """Time to first audio of the longest sentence, whole against chunked, with the exact gate on the samples."""
    longest = max(batches, key=len)
    whole = statistics.median(_ttfa(ref, longest, tier, False)[0] for _ in range(ROUNDS))
    runs = [_ttfa(ref, longest, tier, True) for _ in range(ROUNDS)]
    chunked = statistics.median(r[0] for r in runs)
    fid = compare(_ttfa(ref, longest, tier, False)[1], runs[-1][1], sr)
    failures = fid.failures("exact")
    gain = whole / chunked if chunked > 0 else float("inf")
    pays = not failures and gain >= MIN_TTFA_GAIN
    log.info("calibration: %-14s first audio %.3f s -> %.3f s, %.1fx (%s)", "streaming", whole, chunked, gain,
             "kept" if pays else f"not kept: needs {MIN_TTFA_GAIN}x and the exact gate")
    return {"whole_sentence_first_audio_s": whole, "chunked_first_audio_s": chunked, "ttfa_gain": gain,
            "fidelity": fid.to_dict(), "gate": "exact", "gate_failures": failures, "pays": pays}


def _over_budget(left_s: float) -> dict[str, Any] | None:
    """A "not measured" verdict when less than `CANDIDATE_RESERVE_S` of the calibration's budget is left, else None."""
    if left_s >= CANDIDATE_RESERVE_S:
        return None
    return {"pays": False, "note": f"not measured: {max(left_s, 0):.0f} s of the {BUDGET_S:.0f} s calibration budget "
                                   f"left, a measurement needs about {CANDIDATE_RESERVE_S:.0f} s"}


def _choose_precision(model: nn.Module, ref: Renderer, texts: CalibrationTexts, device: torch.device,
                      reference_audio: np.ndarray, sr: int, tier: TierConfig, shared: Measured,
                      measurements: dict[str, Any], fused: bool, left_s: Callable[[], float]) -> str:
    """The fastest of `tier.precision_candidates` that passes its gate and pays, else "fp32"; each one's figures
    go into `measurements`.

    Each candidate is measured as it would run: with the fused decoder on (`fused`), FP16/BF16 run fused and are
    timed against the fused fp32 model, so the choice is of what the tier adds on top of fusion (INT8 is then static
    int8 in the fused decoder's low-rate stages; where oneDNN's quantized convolutions are missing it is int8
    weights, unfused, timed against the eager reference, and replaces fusion). The audio of every
    candidate is gated against the eager fp32 reference. Candidates are ranked by their speed-up over eager fp32
    (the fused one's times fusion's own, where fusion was measured). One measured when less than
    `CANDIDATE_RESERVE_S` of the budget is left (`left_s()`) is not kept, with that reason."""
    fused_ref: Renderer | None = None
    fusion_speedup = float(measurements.get("fusion", {}).get("speedup") or 1.0) if fused else 1.0
    best, best_speed = "fp32", fusion_speedup
    for precision in tier.precision_candidates:
        on_fused = fused and (precision != "int8" or static_int8_available(device))
        if (on_fused and fused_ref is None and not shared.has(f"{precision}+fusion")
                and left_s() >= CANDIDATE_RESERVE_S):
            fused_ref = engine_renderer(apply_fusion(with_own_modules(model), tier.bucket_frames), device, tier,
                                        batch_vocoder=ref.batch_vocoder)
            for ids in [texts.batches, *texts.rounds]:  # warm on every text, as the eager reference is
                _render_all(fused_ref, ids)

        def measure(precision: str = precision, on_fused: bool = on_fused) -> dict[str, Any]:
            skipped = _over_budget(left_s())
            if skipped:
                _progress(precision, skipped)
                return skipped
            if on_fused and precision == "int8":  # static int8 in the fused decoder's low-rate stages
                cand = apply_fusion(with_own_modules(model), tier.bucket_frames,
                                    int8_ranges=activation_ranges(model, texts.ranges))
            elif on_fused:
                cand = apply_fusion(with_own_modules(apply_precision(model, precision)), tier.bucket_frames)
            else:
                cand = apply_precision(model, precision)
            name = f"{precision} (fused)" if on_fused else precision
            must_beat = best_speed / (fusion_speedup if on_fused else 1.0)
            m = _measure(name, cand, fused_ref if on_fused else ref, texts, device, reference_audio, sr, tier,
                         precision, must_beat)
            return {**m, "timed_against": "fused fp32" if on_fused else "eager fp32"}

        m = shared.once(f"{precision}+fusion" if on_fused else precision, measure)
        measurements[precision] = m
        total = float(m.get("speedup") or 0.0) * (fusion_speedup if on_fused else 1.0)
        if m["pays"] and total > best_speed:
            best, best_speed = precision, total
    return best


def _measure_compile(model: nn.Module, ref: Renderer, texts: CalibrationTexts, device: torch.device,
                     reference_audio: np.ndarray, sr: int, tier: TierConfig, ref_rtf: float,
                     spent_s: float) -> dict[str, Any]:
    """torch.compile, unless it cannot repay a build, the calibration budget cannot hold one, or the device is a CPU
    (`COMPILE_ON_CPU`)."""
    most_saved = ref_rtf * COMPILE_PAYBACK_AUDIO_S  # even a compiled graph that took no time saves no more
    if most_saved < MIN_COMPILE_BUILD_S:
        m = {"pays": False, "note": f"not measured: the reference spends {most_saved:.1f} s on "
                                    f"{COMPILE_PAYBACK_AUDIO_S:.0f} s of audio, less than a build takes "
                                    f"(at least {MIN_COMPILE_BUILD_S:.0f} s), so it cannot repay one"}
    elif BUDGET_S - spent_s < COMPILE_RESERVE_S:
        m = {"pays": False, "note": f"not measured: {BUDGET_S - spent_s:.0f} s of the {BUDGET_S:.0f} s calibration "
                                    f"budget left, building it needs about {COMPILE_RESERVE_S:.0f} s"}
    elif device.type == "cpu" and not COMPILE_ON_CPU:
        m = {"pays": False, "note": "not measured on a CPU: it never paid where measured (0.96-0.98x after 28-59 s "
                                    "builds) and its dynamic-shape build can abort the process (torch 2.13, AVX-512); "
                                    "measure it alone with +tier=baseline+compile"}
    else:
        compiled = apply_compile(with_own_modules(model))
        m = _measure("compile", compiled, ref, texts, device, reference_audio, sr, tier)
        if m.get("pays"):
            _fresh_lengths(m, engine_renderer(compiled, device, tier, batch_vocoder=ref.batch_vocoder), ref, texts)
        _payback(m, len(reference_audio) / sr)
        return m
    _progress("compile", m)
    return m


def _fresh_lengths(m: dict[str, Any], cand: Renderer, ref: Renderer, texts: CalibrationTexts) -> None:
    """Refuse a candidate that is slower than the reference on lengths neither has met (`fresh_speedup` < 1)."""
    ratios = []
    for ids in texts.fresh:
        ref_s, _ = _render_all(ref, ids)
        cand_s, _ = _render_all(cand, ids)
        ratios.append(ref_s / cand_s if cand_s > 0 else float("inf"))
    m["fresh_speedup"] = statistics.median(ratios)
    if m["fresh_speedup"] < 1.0:
        m["pays"] = False
        m["note"] = (f"{m['speedup']:.2f}x on lengths it had met, {m['fresh_speedup']:.2f}x on new ones "
                     "(it rebuilds per shape)")
        log.info("calibration: compile not kept: %s", m["note"])


def _payback(m: dict[str, Any], audio_s: float) -> None:
    """Record how much audio the compiled graph must speak to repay its build (`payback_audio_s`), and refuse it
    when that is more than `COMPILE_PAYBACK_AUDIO_S`."""
    if not m.get("pays") or not m.get("candidate_s") or audio_s <= 0:
        return
    saved_per_audio_s = (m["reference_s"] - m["candidate_s"]) / audio_s
    payback = m.get("setup_s", 0.0) / saved_per_audio_s if saved_per_audio_s > 0 else float("inf")
    m["payback_audio_s"] = payback
    if payback > COMPILE_PAYBACK_AUDIO_S:
        m["pays"] = False
        m["note"] = (f"{m['speedup']:.2f}x, but its {m.get('setup_s', 0.0):.0f} s build is repaid only after "
                     f"{payback:.0f} s of audio (limit {COMPILE_PAYBACK_AUDIO_S:.0f} s)")
        log.info("calibration: compile not kept: %s", m["note"])


def _measure_pool(model: nn.Module, ref: Renderer, texts: CalibrationTexts, tier: TierConfig) -> dict[str, Any]:
    from tts_core.runtime import BufferPool

    pool = BufferPool()
    cand = engine_renderer(model, ref.device, tier, pool=pool, batch_vocoder=ref.batch_vocoder)
    for ids in texts.rounds:
        _render_all(cand, ids)
    timing = _interleaved(lambda i: _render_all(ref, texts.rounds[i])[0],
                          lambda i: _render_all(cand, texts.rounds[i])[0], len(texts.rounds), 3.0)
    return {**timing, "pool": pool.stats(), "pays": timing["speedup"] >= MIN_SPEEDUP and timing["won_enough"]}
