"""`SynthesisConfig`: the settings of one synthesis call (as Piper's), None meaning the voice's default.

    engine.synthesize("Hello.", SynthesisConfig(noise_scale=0.0, noise_w=0.0))   # deterministic audio

The engine resolves it against the voice (`resolved`) before rendering, so the renderer only ever sees numbers.
Imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from tts_core.errors import bad_field


@dataclass(frozen=True)
class SynthesisConfig:
    """Per-call sampling settings; None = the voice's default. `noise_scale` = `noise_w` = 0 gives deterministic
    audio for any seed.

    - `noise_scale`: the prior's noise (>= 0).
    - `length_scale`: speaking time, 1.0 = the voice's pace, 2.0 = twice as long (in (0, 20]).
    - `noise_w`: the duration predictor's noise (>= 0).
    """

    noise_scale: float | None = None
    length_scale: float | None = None
    noise_w: float | None = None

    @classmethod
    def of(cls, config: "SynthesisConfig | None" = None, **settings: float | None) -> "SynthesisConfig":
        """`config` (default: all None) with the settings given by keyword on top; an unknown keyword is a
        `TypeError` naming the allowed ones."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(settings) - set(names))
        if unknown:
            raise TypeError(f"unknown synthesis setting `{unknown[0]}`; expected one of {', '.join(names)}.")
        base = config if config is not None else cls()
        if not isinstance(base, cls):
            raise TypeError(f"`config` must be a SynthesisConfig, got {type(base).__name__}.")
        given = {k: v for k, v in settings.items() if v is not None}
        return cls(**{**{n: getattr(base, n) for n in names}, **given}) if given else base

    def resolved(self, defaults: "SynthesisConfig") -> "SynthesisConfig":
        """Every None replaced by `defaults`' value, as floats; raises `ConfigError` for a value out of range."""
        values: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            values[f.name] = float(getattr(defaults, f.name) if value is None else value)
        out = SynthesisConfig(**values)
        if out.noise_scale < 0:
            raise bad_field("SynthesisConfig", "noise_scale", out.noise_scale, "a number >= 0")
        if out.noise_w < 0:
            raise bad_field("SynthesisConfig", "noise_w", out.noise_w, "a number >= 0")
        if not 0 < out.length_scale <= 20:
            raise bad_field("SynthesisConfig", "length_scale", out.length_scale, "a number in (0, 20]")
        return out
