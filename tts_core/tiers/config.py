"""`TierConfig`: every inference optimization as one independent switch.

Its fields are the settings the switches declare (`tts_core.tiers.switches`, one file per switch), so a new switch
brings its fields, their defaults, docs and checks with it. A tier is a named preset of these fields (see
`presets.py`). Each switch can be turned on alone on top of `baseline` or removed from `advanced`, so its effect can
be measured by itself (ablation). Fields that take "auto" are decided by measurement on the device at hand
(`tts_core.calibrate`). Units: frames are latent frames (hop samples each), memory in MB.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, fields, replace
from typing import Any

from tts_core.errors import bad_field
from tts_core.tiers.switches import CALIBRATED, SETTINGS, SWITCHES
from tts_core.tiers.switches.base import AUTO
from tts_core.tiers.switches.precision import LOWER_PRECISIONS, PRECISIONS

__all__ = ["AUTO", "LOWER_PRECISIONS", "PRECISIONS", "TierConfig"]


class _TierMethods:
    """Validation and helpers of `TierConfig` (its fields come from the switches)."""

    name: str

    def __post_init__(self) -> None:
        owner = f"TierConfig({self.name})"
        for setting in SETTINGS.values():
            value = getattr(self, setting.name)
            if setting.coerce is not None and value != AUTO:
                try:
                    value = setting.coerce(value)
                except (TypeError, ValueError):
                    raise bad_field(owner, setting.name, value, setting.allowed_text) from None
                object.__setattr__(self, setting.name, value)
            if not setting.accepts(value):
                raise bad_field(owner, setting.name, value, setting.allowed_text)
        for switch in SWITCHES:
            switch.check(self)  # type: ignore[arg-type]

    @property
    def auto_fields(self) -> list[str]:
        """Switches left to calibration."""
        return [f.name for f in fields(self) if getattr(self, f.name) == AUTO]  # type: ignore[arg-type]

    def undecided_off(self) -> "TierConfig":
        """This tier with every "auto" switch off: what the calibration measures the first candidates against."""
        changes: dict[str, Any] = {}
        for switch in CALIBRATED:
            if getattr(self, switch.settings[0].name) == AUTO:
                changes.update(switch.off())
        return self.with_(**changes)

    def measured_fields(self) -> dict[str, Any]:
        """The fields a measurement of this tier depends on: all but its name and the precision candidates (which
        only say what "auto" tries)."""
        return {k: v for k, v in self.to_dict().items() if k not in ("name", "precision_candidates")}

    def with_(self, **changes: Any) -> "TierConfig":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)  # type: ignore[type-var]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TierConfig":
        """Build from a mapping (YAML, JSON); an unknown key is an error naming it."""
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(data) - known)
        if unknown:
            raise bad_field("TierConfig", unknown[0], data[unknown[0]], f"a known field: {', '.join(sorted(known))}")
        return cls(**data)  # type: ignore[return-value]


def _doc() -> str:
    lines = ["Switches of one tier, one field per setting of each switch (`tts_core.tiers.switches`):", ""]
    lines += [f"- `{s.name}` = {s.default!r}: {s.doc} ({s.allowed_text})" for s in SETTINGS.values()]
    return "\n".join(lines)


TierConfig = dataclasses.make_dataclass(
    "TierConfig",
    [("name", str, dataclasses.field(default="custom"))]
    + [(s.name, Any, dataclasses.field(default=s.default)) for s in SETTINGS.values()],
    bases=(_TierMethods,),
    frozen=True,
)
TierConfig.__module__ = __name__  # pickled by workers: found here by name
TierConfig.__doc__ = _doc()
