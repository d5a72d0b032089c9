"""How the calibration judges a switch's candidate: one small class per way, chosen by the switch
(`Switch.measured_by`).

Each kind says how a candidate is measured (`measure`, which runs the calibration's own timing of that kind), the
figure the best candidate maximises (`figure`), that figure in words (`describe`) and what a candidate needs to be
kept (`needs`). Imports neither torch nor the calibration: the switches declare their kind without them.
"""

from __future__ import annotations

from typing import Any

MIN_SPEEDUP = 1.05  # a switch must buy at least 5% (median of the paired per-round ratios) to be worth it...
MIN_WIN_SHARE = 0.75  # ...and win at least this share of the interleaved rounds, so noise cannot talk it in
ROUNDS = 8  # interleaved rounds (and repeats of a first-audio or decode timing)
MIN_TTFA_GAIN = 1.5  # streaming must cut time to first audio by a third


class CalibrationKind:
    """A way to judge a candidate. `run` is the calibration in progress (`tts_core.calibrate.measure.Calibration`),
    `ref` the warm renderer of what was decided so far (`decided`), `cand_tier` the candidate, `must_beat` the
    figure of the best candidate so far."""

    name = ""

    def measure(self, run: Any, switch: Any, name: str, ref: Any, decided: Any, cand_tier: Any,
                must_beat: float) -> dict[str, Any]:
        raise NotImplementedError

    def figure(self, m: dict[str, Any]) -> float:
        """What the best candidate maximises (0 where it was not measured)."""
        raise NotImplementedError

    def describe(self, m: dict[str, Any]) -> str:
        """The measured figure in words."""
        raise NotImplementedError

    def needs(self) -> str:
        """What a candidate needs to be kept, in words."""
        raise NotImplementedError

    def measured(self, m: dict[str, Any]) -> bool:
        """Whether `m` holds this kind's figure (False: skipped, failed or dropped before measuring)."""
        return True

    def __repr__(self) -> str:
        return f"<calibration kind {self.name}>"


class Speed(CalibrationKind):
    """Paired render time of the calibration's texts, interleaved with the reference, with the fidelity gate."""

    name = "speed"

    def measure(self, run: Any, switch: Any, name: str, ref: Any, decided: Any, cand_tier: Any,
                must_beat: float) -> dict[str, Any]:
        return run.speed(switch, name, ref, cand_tier, must_beat)

    def figure(self, m: dict[str, Any]) -> float:
        return float(m.get("speedup") or 0.0)

    def describe(self, m: dict[str, Any]) -> str:
        return f"{m['speedup']:.2f}x, won {m.get('won_rounds', 0)} of {m.get('rounds', 0)} rounds"

    def needs(self) -> str:
        return f"needs >= {MIN_SPEEDUP}x and {MIN_WIN_SHARE:.0%} of {ROUNDS} rounds won"

    def measured(self, m: dict[str, Any]) -> bool:
        return m.get("speedup") is not None


class FirstAudio(CalibrationKind):
    """Time to first audio of the longest sentence, whole against chunked, with the exact gate on the samples."""

    name = "first_audio"

    def __init__(self, min_gain: float = MIN_TTFA_GAIN) -> None:
        self.min_gain = min_gain

    def measure(self, run: Any, switch: Any, name: str, ref: Any, decided: Any, cand_tier: Any,
                must_beat: float) -> dict[str, Any]:
        return run.first_audio(ref, decided, self.min_gain)

    def figure(self, m: dict[str, Any]) -> float:
        return float(m.get("ttfa_gain") or 0.0)

    def describe(self, m: dict[str, Any]) -> str:
        return (f"first audio {m['whole_sentence_first_audio_s']:.3f} s -> {m['chunked_first_audio_s']:.3f} s, "
                f"{m['ttfa_gain']:.2f}x")

    def needs(self) -> str:
        return f"needs {self.min_gain}x and the exact gate"

    def measured(self, m: dict[str, Any]) -> bool:
        return "ttfa_gain" in m


class DecoderHeadroom(CalibrationKind):
    """Seconds to decode a `chunk_frames` window with its margins against the first chunk's audio, which plays while
    it decodes: kept at most `max_share` of it, with the tier's gate on a streamed sentence."""

    name = "decoder_headroom"

    def __init__(self, max_share: float) -> None:
        self.max_share = max_share

    def measure(self, run: Any, switch: Any, name: str, ref: Any, decided: Any, cand_tier: Any,
                must_beat: float) -> dict[str, Any]:
        return run.decoder_headroom(ref, cand_tier, self.max_share)

    def figure(self, m: dict[str, Any]) -> float:
        return 1 / m["headroom"] if m.get("headroom") else 0.0

    def describe(self, m: dict[str, Any]) -> str:
        return (f"a {m['decode_window_s'] * 1e3:.0f} ms decode within {m['first_chunk_audio_s'] * 1e3:.0f} ms of "
                f"first audio, {m['headroom']:.2f} of it")

    def needs(self) -> str:
        return f"needs at most {self.max_share} of it"

    def measured(self, m: dict[str, Any]) -> bool:
        return "headroom" in m


SPEED = Speed()
FIRST_AUDIO = FirstAudio()
