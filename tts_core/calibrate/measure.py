"""Decide a tier's "auto" switches by measurement on the device at hand.

The switches the calibration may choose, their candidates, the gate each must pass and the order they are decided
in come from the registry (`tts_core.tiers.switches`, `calibrated = True`). Each switch is decided on top of what was
kept before it (the fused decoder before the precisions), and every candidate is built by the one path the engine
runs (`tts_core.tiers.build`: settle -> transform -> renderer options), so the calibrated path is the path that runs.

A candidate renders a fixed set of sentences with noise zeroed, interleaved with the reference (what was decided so
far) in A B A B rounds so machine drift cancels; its audio is checked against the fp32 reference with the fidelity
gate of its kind, and it is kept only if it passes and is at least `MIN_SPEEDUP` faster; a switch may be judged
another way (`Switch.measured_by`, `tts_core.tiers.kinds`: streaming by the time to first audio, fewer_chunks by the
decoder's headroom). The choice and every figure behind it are
stored as JSON under the cache directory, keyed by voice weights, device, CPU, torch version, threads and the tier's
fixed switches, and reported by `Engine.stats()`. Its cost is bounded by its budget (`budget_s`, default
`BUDGET_S`): a candidate is measured only while `CANDIDATE_RESERVE_S` of the budget is left, one built per process (torch.compile) while `COMPILE_RESERVE_S`
is. One INFO line per candidate on the `tts_core` logger reports progress.
"""

from __future__ import annotations

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

from tts_core.calibrate.stored import CALIBRATION_VERSION, locate, render_path
from tts_core.constants import cache_dir, recalibrate_requested
from tts_core.fidelity import compare
from tts_core.machine import cpu_model
from tts_core.render import Renderer
from tts_core.stream_plan import StreamPlan
from tts_core.synthesis import SynthesisConfig
from tts_core.tiers.build import gate, make_renderer, renderer_options, settle, stream_plan, transform
from tts_core.tiers.config import AUTO, TierConfig
from tts_core.tiers.kinds import MIN_SPEEDUP, MIN_WIN_SHARE, ROUNDS, CalibrationKind
from tts_core.tiers.switches import CALIBRATED, BuildContext, Switch

log = logging.getLogger("tts_core")

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
ZERO = SynthesisConfig(0.0, 1.0, 0.0)


@dataclass(frozen=True)
class CalibrationTexts:
    """Phoneme ids the calibration renders: `batches` for the gate and warm-up, `probe` to drop hopeless candidates
    quickly, and one fresh set of sentences per interleaved round (`rounds`)."""

    batches: list[list[int]]
    probe: list[list[int]]
    rounds: list[list[list[int]]]
    fresh: list[list[list[int]]]
BUDGET_S = 90.0  # wall-clock bound of one calibration on a fresh machine
# torch.compile rebuilds in every new process: it is kept only if its speed-up repays that build within this
# much audio (ten minutes of speech), so a tiny or overhead-bound model does not pay tens of seconds per start
COMPILE_PAYBACK_AUDIO_S = 600.0
MIN_COMPILE_BUILD_S = 15.0  # the quickest torch.compile build of these stages seen here (tiny voice: 20.7 s)
COMPILE_RESERVE_S = 50.0  # torch.compile is measured only with this much budget left (it built in 44-59 s)
CANDIDATE_RESERVE_S = 15.0  # any other candidate only with this much left (a full measurement took 10-13 s here)


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
            log.info("calibration: %-14s reused (measured before on this machine)", name.split(" on ")[0])
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


def _ttfa(renderer: Renderer, ids: list[int], plan: StreamPlan, chunked: bool) -> tuple[float, np.ndarray]:
    """Seconds to the first audio of `ids`, chunked as `plan` says or whole, and the whole audio."""
    t0 = time.perf_counter()
    if chunked:
        stream = renderer.stream(ids, ZERO, None, plan)
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


def why_not(kind: CalibrationKind, m: dict[str, Any]) -> str:
    """Why the candidate measured as `m` is not kept, in words: its note, error or gate failures, else what its kind
    needs ("" when it pays)."""
    if m.get("pays"):
        return ""
    return m.get("note") or m.get("error") or "; ".join(m.get("gate_failures") or []) or kind.needs()


def _progress(kind: CalibrationKind, name: str, m: dict[str, Any]) -> None:
    """One INFO line per candidate: its figure and verdict."""
    if not kind.measured(m):
        log.info("calibration: %-14s not kept: %s", name, m.get("note") or m.get("error"))
        return
    log.info("calibration: %-14s %s (%s)%s", name, kind.describe(m),
             "kept" if m.get("pays") else f"not kept: {why_not(kind, m)}",
             f", {m['setup_s']:.1f} s to build" if m.get("setup_s", 0) >= 1 else "")


def _label(name: str, on: dict[str, Any]) -> str:
    """A candidate's key among the machine's shared measurements: "bf16 on fusion=True" (its name, and what was
    kept before it)."""
    return f"{name} on {', '.join(f'{k}={v}' for k, v in on.items())}" if on else name


def candidate_renderer(voice: Any, frontend: Any, device: torch.device, tier: TierConfig,
                       batch_vocoder: bool | None = None) -> Renderer:
    """`tier`'s renderer, built by the engine's own path (`settle -> transform -> renderer options`, as
    `tts_core.setup.build_parts` builds it), never changing the voice's model."""
    settled, _ = settle(tier, device)
    model = transform(voice.model, settled, BuildContext(device, frontend, in_place=False))
    return make_renderer(model, device, settled, batch_vocoder=batch_vocoder)


class Calibration:
    """One calibration run: the voice, the texts, the fp32 reference and its audio, and the renderers built so far
    (one per decided state, warm on every text), so each switch is measured against what was kept before it.
    `budget_s`: the seconds it may spend (see `skipped`)."""

    def __init__(self, voice: Any, frontend: Any, device: torch.device, tier: TierConfig,
                 batch_vocoder: bool | None, budget_s: float) -> None:
        self.voice, self.frontend, self.device, self.tier = voice, frontend, device, tier
        self.batch_vocoder = batch_vocoder
        self.budget_s = budget_s
        self.base = tier.undecided_off()
        self.started = time.perf_counter()
        self.texts = CalibrationTexts(
            batches=[s.ids for s in frontend.sentences(TEXT)], probe=[s.ids for s in frontend.sentences(PROBE)],
            rounds=[[s.ids for s in frontend.sentences(t)] for t in ROUND_TEXTS[:ROUNDS]],
            fresh=[[s.ids for s in frontend.sentences(t)] for t in FRESH_TEXTS])
        self._renderers: dict[str, Renderer] = {}
        self.reference = self.renderer(self.base)
        _, self.reference_audio = _render_all(self.reference, self.texts.batches)
        self.reference_s, _ = _render_all(self.reference, self.texts.batches)

    @property
    def spent_s(self) -> float:
        return time.perf_counter() - self.started

    def build(self, tier: TierConfig) -> Renderer:
        return candidate_renderer(self.voice, self.frontend, self.device, tier, self.batch_vocoder)

    def renderer(self, tier: TierConfig) -> Renderer:
        """The warm renderer of a decided state (built once, warmed on every text, as a service that has spoken
        for a while is)."""
        key = json.dumps(tier.measured_fields(), sort_keys=True, default=str)
        if key not in self._renderers:
            ren = self.build(tier)
            for ids in [self.texts.batches, *self.texts.rounds]:
                _render_all(ren, ids)
            self._renderers[key] = ren
        return self._renderers[key]

    @property
    def path(self) -> str:
        return render_path(self.device, self.batch_vocoder)

    def speed(self, switch: Switch, name: str, ref: Renderer, cand_tier: TierConfig,
              must_beat: float) -> dict[str, Any]:
        """Gate and time `cand_tier` against `ref`. `must_beat`: the speed-up over `ref` it needs to be chosen (a
        better candidate measured before sets it); one `GIVE_UP` times short of it on the probe sentence, it stops."""
        t0 = time.perf_counter()
        try:
            cand = self.build(cand_tier)
            probe = self.texts.probe
            _render_all(cand, probe)  # also the warm-up (compiles, if compiled)
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
            _, audio = _render_all(cand, self.texts.batches)
            for ids in self.texts.rounds:
                _render_all(cand, ids)
            rounds = self.texts.rounds
            timing = _interleaved(lambda i: _render_all(ref, rounds[i])[0],
                                  lambda i: _render_all(cand, rounds[i])[0], len(rounds), GIVE_UP)
        except Exception as exc:  # a candidate that cannot run here is reported, never fatal
            log.warning("calibration: %s failed on %s: %s", name, self.device, exc)
            return {"error": f"{type(exc).__name__}: {exc}", "pays": False}
        fid = compare(self.reference_audio, audio, self.voice.sample_rate)
        gate_name = gate(settle(cand_tier, self.device)[0])
        failures = fid.failures(gate_name)
        pays = not failures and timing["speedup"] >= MIN_SPEEDUP and timing["won_enough"]
        m = {**timing, "setup_s": setup_s, "gate": gate_name, "fidelity": fid.to_dict(), "gate_failures": failures,
             "pays": pays}
        if pays and switch.builds_per_process:
            _fresh_lengths(m, cand, ref, self.texts)
            _payback(m, len(self.reference_audio) / self.voice.sample_rate)
        return m

    def first_audio(self, ref: Renderer, decided: TierConfig, min_gain: float) -> dict[str, Any]:
        """Time to first audio of the longest sentence, whole against chunked as `decided`'s stream plan cuts it,
        with the exact gate on the samples; kept when it gains at least `min_gain`."""
        longest = max(self.texts.batches, key=len)
        plan = stream_plan(decided)
        whole = statistics.median(_ttfa(ref, longest, plan, False)[0] for _ in range(ROUNDS))
        runs = [_ttfa(ref, longest, plan, True) for _ in range(ROUNDS)]
        chunked = statistics.median(r[0] for r in runs)
        fid = compare(_ttfa(ref, longest, plan, False)[1], runs[-1][1], self.voice.sample_rate)
        failures = fid.failures("exact")
        gain = whole / chunked if chunked > 0 else float("inf")
        return {"whole_sentence_first_audio_s": whole, "chunked_first_audio_s": chunked, "ttfa_gain": gain,
                "fidelity": fid.to_dict(), "gate": "exact", "gate_failures": failures,
                "pays": not failures and gain >= min_gain}

    def decoder_headroom(self, ref: Renderer, tier: TierConfig, max_share: float) -> dict[str, Any]:
        """Seconds to decode a `chunk_frames` window with its margins (median of `ROUNDS`, warm) against the audio
        of the first chunk, which plays while it decodes; kept when the share is at most `max_share`, with the
        tier's gate on a sentence streamed as `tier`'s plan cuts it, against the fp32 reference."""
        from tts_core.tiers.precision import compute_dtype

        model = ref.model
        plan = stream_plan(tier)
        margin = plan.with_margins(*ref.default_margins).decoder_margin
        z = torch.randn(1, int(model.config.inter_channels), plan.chunk_frames + 2 * margin,
                        generator=torch.Generator().manual_seed(0)).to(ref.device, compute_dtype(model))  # (1, C, F)
        seconds = []
        with torch.inference_mode():
            for _ in range(ROUNDS + 1):
                t0 = time.perf_counter()
                model.decode(z)
                if ref.device.type == "cuda":
                    torch.cuda.synchronize(ref.device)
                seconds.append(time.perf_counter() - t0)
        decode_s = statistics.median(seconds[1:])  # the first builds the shape's kernels
        first_audio_s = plan.first_chunk_frames * ref.hop / self.voice.sample_rate
        headroom = decode_s / first_audio_s
        longest = max(self.texts.batches, key=len)
        chunks = ref.stream(longest, ZERO, None, plan)
        gate_name = gate(settle(tier, self.device)[0])
        fid = compare(self.reference.render([longest], ZERO, [None])[0], np.concatenate(list(chunks)),
                      self.voice.sample_rate)
        failures = fid.failures(gate_name)
        return {"decode_window_s": decode_s, "first_chunk_audio_s": first_audio_s, "headroom": headroom,
                "gate": gate_name, "fidelity": fid.to_dict(), "gate_failures": failures,
                "pays": not failures and headroom <= max_share}

    def skipped(self, switch: Switch, decided: TierConfig, measured_before: bool) -> str | None:
        """Why `switch` is not measured on top of `decided`: its own rule, or (unless its figures are stored from
        before) the budget left."""
        reason = switch.skip(decided, self.device)
        if reason:
            return reason if reason.startswith("not measured") else f"not measured: {reason}"
        if measured_before or not switch.budgeted:
            return None
        left = self.budget_s - self.spent_s
        if switch.builds_per_process:
            most_saved = self.reference_s / (len(self.reference_audio) / self.voice.sample_rate) * COMPILE_PAYBACK_AUDIO_S
            if most_saved < MIN_COMPILE_BUILD_S:
                return (f"not measured: the reference spends {most_saved:.1f} s on {COMPILE_PAYBACK_AUDIO_S:.0f} s "
                        f"of audio, less than a build takes (at least {MIN_COMPILE_BUILD_S:.0f} s), so it cannot "
                        "repay one")
            if left < COMPILE_RESERVE_S:
                return (f"not measured: {max(left, 0):.0f} s of the {self.budget_s:.0f} s calibration budget left, "
                        f"building it needs about {COMPILE_RESERVE_S:.0f} s")
        elif left < CANDIDATE_RESERVE_S:
            return (f"not measured: {max(left, 0):.0f} s of the {self.budget_s:.0f} s calibration budget left, a "
                    f"measurement needs about {CANDIDATE_RESERVE_S:.0f} s")
        return None

    def decide(self, switch: Switch, decided: TierConfig, shared: Measured,
               measurements: dict[str, Any]) -> dict[str, Any]:
        """The field changes `switch` keeps on top of `decided`: its best candidate that passes and pays, else off.
        Each candidate's figures go into `measurements` under its name, with what it was measured on (`on`)."""
        base = self.base.measured_fields()
        on = {k: v for k, v in decided.measured_fields().items() if v != base[k]}
        candidates = switch.candidates(self.tier)
        best: dict[str, Any] = switch.off()
        best_speed = 1.0
        kind = switch.measured_by
        for changes in candidates:
            name = switch.candidate_name(changes)
            label = _label(name, on)
            reason = self.skipped(switch, decided, shared.has(label))
            if reason:
                m = {"pays": False, "note": reason}
                _progress(kind, name, m)
            else:
                cand_tier = decided.with_(**changes)

                def measure(cand_tier: TierConfig = cand_tier, name: str = name,
                            must_beat: float = best_speed) -> dict[str, Any]:
                    m = kind.measure(self, switch, name, self.renderer(decided), decided, cand_tier, must_beat)
                    _progress(kind, name, m)
                    return m

                m = shared.once(label, measure)
            measurements[name] = dict(m, on=on, timed_against=_kept(decided))
            figure = kind.figure(m)
            if m.get("pays") and figure > best_speed:
                best, best_speed = dict(changes), figure
        return best


def _kept(tier: TierConfig) -> dict[str, Any]:
    """The calibrated switches `tier` runs with: what a candidate on top of it is timed against ({} = eager fp32)."""
    return {sw.settings[0].name: getattr(tier, sw.settings[0].name) for sw in CALIBRATED if sw.enabled(tier)}


def calibrate(voice: Any, frontend: Any, device: torch.device, tier: TierConfig,
              batch_vocoder: bool | None = None, budget_s: float | None = None) -> dict[str, Any]:
    """Choices for `tier.auto_fields` on this device, measured (or read back from a stored calibration), from the
    voice's own model (never changed). `batch_vocoder` None = the device's own vocoder path (see `Renderer`); tests
    force the other one. `budget_s`: the seconds the measuring may spend (None: `BUDGET_S`)."""
    voice.model.to(device).eval()
    where = locate(voice, device, tier, batch_vocoder)
    path, stored = where.path, where.read()
    if stored is not None:
        return stored
    if path.is_file() and not recalibrate_requested():
        log.warning("calibration file %s is unreadable; measuring again", path)
    stale = sorted(p.name for p in path.parent.glob(f"{voice.name}-*.json") if "-candidates" not in p.name) \
        if path.parent.is_dir() else []
    if stale and not recalibrate_requested():
        log.info("no calibration of version %d for this tier and machine (%d older files stay, unused): measuring "
                 "again", CALIBRATION_VERSION, len(stale))
    log.info("calibrating %s on %s for %s (stored for next time in %s)", voice.name, device, tier.auto_fields, path)
    run = Calibration(voice, frontend, device, tier, batch_vocoder, BUDGET_S if budget_s is None else budget_s)
    shared = Measured(cache_dir() / "calibration" / f"{voice.name}-{where.machine}-candidates.json",
                      recalibrate_requested())
    choices: dict[str, Any] = {}
    measurements: dict[str, Any] = {}
    decided = run.base
    for switch in CALIBRATED:
        if getattr(tier, switch.settings[0].name) != AUTO:
            continue
        kept = run.decide(switch, decided, shared, measurements)
        choices.update(kept)
        decided = decided.with_(**kept)
    result = {"version": CALIBRATION_VERSION, "key": path.stem.rsplit("-", 1)[-1], "device": str(device), "cpu": cpu_model(),
              "render_path": run.path, "buckets": _buckets(tier),
              "torch": torch.__version__, "threads": torch.get_num_threads(), "choices": choices,
              "measurements": measurements, "seconds": run.spent_s, "cached": False}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(result, indent=1, default=str))
    os.replace(tmp, path)
    log.info("calibration chose %s in %.1f s", choices, result["seconds"])
    return result


def _buckets(tier: TierConfig) -> dict[str, int]:
    """The token and frame buckets `tier`'s renderer pads to (recorded beside the choices)."""
    options = renderer_options(tier)
    return {"tokens": options["token_bucket"], "frames": options["frame_bucket"]}


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
