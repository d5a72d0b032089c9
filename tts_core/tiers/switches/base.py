"""What one switch declares: its settings, where it acts, when it does not apply, what it needs, how it is judged.

A switch is one file under `tts_core/tiers/switches/` holding one `Switch` subclass instance; the ordered tuple in
`switches/__init__.py` lists them. Everything else reads the switches from there: `TierConfig`'s fields and their
checks (`config.py`), the ablation names (`presets.py`), the model the engine and the calibration build
(`build.transform`), the renderer's options (`build.renderer_options`), the stream plan (`build.stream_plan`), the
load (`build.load_plan`), the runtime parts beside the model (`build.runtime_parts`), the flags set at load and
around every call (`tts_core.flags`), what the calibration may choose and how it measures it (`tts_core.calibrate`),
and where the harness looks for a switch's effect (`bench.measure.ablation`). Each of those loops over the registry
and calls one hook per switch: a switch's settings are read by name only in its own file.
This module imports neither torch nor the model code: a tier can be named and validated without them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from tts_core.tiers.kinds import SPEED, CalibrationKind

if TYPE_CHECKING:
    import torch
    from torch import nn

    from tts_core.stream_plan import StreamPlan

# `tts_core.tiers.config.TierConfig`, whose fields are built from these switches (so not imported here)
TierConfig = Any

AUTO = "auto"
# Where a switch acts, each with its hook: process flags set once at load (`load_flags`) and torch flags around
# every call (`scoped_flags`); the model's modules (`transform`); the renderer's options (`renderer_options`); parts
# of the runtime beside the model (`runtime_parts`: caches, batcher, pool, workers, housekeeping); the load
# (`load_options`: weights, warm-up, registry); the engine's stream plan (`stream_plan`).
ACTS_ON = ("flags", "model", "renderer", "runtime", "load", "stream")
# Where its effect can show: steady-state rounds, time to first audio, load and first call, repeated text with a
# warm cache, synthesize_batch only, memory.
SHOWS_IN = ("throughput", "ttfa", "load", "warm", "batch")
# The fidelity gate its audio must pass against the fp32 baseline (`tts_core.fidelity`); "heard" adds the
# listening test the harness runs on lossy contenders.
GATES = ("exact", "half", "int8")


@dataclass(frozen=True)
class Setting:
    """One field of `TierConfig`: its default, what it means (with units), and which values it takes.

    `valid(value)` says whether a value is allowed; `allowed` says which are, in the words an error shows.
    `auto` = the calibration may decide it ("auto" is then allowed too). `coerce` turns what YAML or JSON gives
    (a list) into the field's type (a tuple) before the check."""

    name: str
    default: Any
    doc: str
    allowed: str
    valid: Callable[[Any], bool]
    auto: bool = False
    coerce: Callable[[Any], Any] | None = None

    def accepts(self, value: Any) -> bool:
        return (self.auto and value == AUTO) or self.valid(value)

    @property
    def allowed_text(self) -> str:
        return f"{self.allowed} or 'auto'" if self.auto else self.allowed


def flag(name: str, doc: str, auto: bool = False) -> Setting:
    """An on/off setting (off by default)."""
    return Setting(name, False, doc, "true or false", lambda v: isinstance(v, bool), auto=auto)


def count(name: str, default: int, doc: str, minimum: int, unit: str = "") -> Setting:
    """An integer setting of at least `minimum`."""
    return Setting(name, default, doc, f"an integer >= {minimum}{unit}",
                   lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum)


def optional_count(name: str, doc: str, minimum: int, none_means: str) -> Setting:
    """An integer setting of at least `minimum`, or None."""
    return Setting(name, None, doc, f"an integer >= {minimum}, or None ({none_means})",
                   lambda v: v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= minimum))


@dataclass(frozen=True)
class NotApplicable:
    """A switch a tier turns on that cannot act here, and why (e.g. CUDA flags on a CPU)."""

    switch: str
    fields: tuple[str, ...]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"switch": self.switch, "fields": list(self.fields), "reason": self.reason}

    def __str__(self) -> str:
        return f"{', '.join(self.fields)} ({self.reason})"


@dataclass
class BuildContext:
    """What a model transform may need beyond the tier: the device, the front-end (for texts a transform
    measures on, e.g. static int8's activation ranges), whether the input model may be changed in place (the
    engine's load: no fp32 copy stays resident; the calibration: never, it builds several candidates from one
    model), and the notes of switches that turned out not to apply."""

    device: "torch.device"
    frontend: Any = None
    in_place: bool = False
    notes: list[NotApplicable] = field(default_factory=list)


@dataclass
class RuntimeContext:
    """What a runtime part may need beyond the tier: the device (and as the caller named it, which worker processes
    load on), the seed, the voice's name (None for a voice passed in memory), the factory of a worker process's
    engine, and the parts the switches before it built (by name, registry order)."""

    device: "torch.device"
    device_name: str = "cpu"
    seed: int | None = 0
    voice_name: str | None = None
    worker_factory: Callable[..., Any] | None = None
    parts: dict[str, Any] = field(default_factory=dict)


# Hook `scoped_flags` sets a flag through this: put(obj, attribute, value) records the old value, restored after the
# call.
Put = Callable[[object, str, object], None]


class Switch:
    """One optimization. Subclasses set the class attributes and override the hooks where they act.

    - `name`: the switch's name, also its ablation name unless `ablations` says otherwise.
    - `settings`: the `TierConfig` fields it owns (the first is the one that turns it on).
    - `ablations`: ablation name -> the fields that turn it on (`baseline+<name>`); removing it
      (`advanced-<name>`) resets those fields to their defaults. Empty: no ablation.
    - `requires`: fields turned on with it, because it does nothing without them.
    - `acts_on`, `shows_in`: see `ACTS_ON`, `SHOWS_IN`.
    - `calibrated`: the calibration may choose it (its first setting accepts "auto").
    - `measured_by`: how the calibration judges a candidate (`tts_core.tiers.kinds`): `SPEED` (paired render
      time), `FIRST_AUDIO` (time to first audio, whole against chunked) or a `DecoderHeadroom` (a `chunk_frames`
      window decodes well within the first chunk's audio).
    """

    name: str = ""
    doc: str = ""
    settings: tuple[Setting, ...] = ()
    ablations: Mapping[str, Mapping[str, Any]] | None = None  # None: {name: {first setting: True}}
    requires: Mapping[str, Any] = {}
    acts_on: tuple[str, ...] = ()
    shows_in: str = "throughput"
    calibrated: bool = False
    calibration_order: int = 50  # the calibration decides switches in this order (lower first)
    budgeted: bool = True  # False: measured whatever is left of the calibration's budget (the first, most paying)
    measured_by: CalibrationKind = SPEED
    builds_per_process: bool = False  # a build in every process (torch.compile): must hold on fresh lengths and
    # repay its build within the calibration's payback audio

    # ---- declarations ---------------------------------------------------------------------------
    def ablation_fields(self) -> dict[str, dict[str, Any]]:
        """Ablation name -> the fields it sets."""
        if self.ablations is not None:
            return {k: dict(v) for k, v in self.ablations.items()}
        return {self.name: {self.settings[0].name: True}}

    def requires_for(self, ablation: str) -> dict[str, Any]:
        """The fields `baseline+<ablation>` turns on with it."""
        return dict(self.requires)

    def without(self, tier: TierConfig, ablation: str) -> dict[str, Any]:
        """The changes `<tier>-<ablation>` makes: the ablation's fields back to their defaults (never what it
        requires, nor a neighbour's)."""
        defaults = {s.name: s.default for s in self.settings}
        return {k: defaults[k] for k in self.ablation_fields()[ablation]}

    def gate(self, tier: TierConfig) -> str:
        """The fidelity gate the audio of `tier` with this switch on must pass (exact unless lossy)."""
        return "exact"

    def check(self, tier: TierConfig) -> None:
        """Rules across this switch's fields (or with another switch's); raise `ConfigError` via `bad_field`."""

    def enabled(self, tier: TierConfig) -> bool:
        """Whether `tier` (resolved: no "auto") turns this switch on."""
        value = getattr(tier, self.settings[0].name)
        return bool(value) and value != AUTO

    # ---- applicability and cross-switch rules ---------------------------------------------------
    def not_applicable(self, tier: TierConfig, device: "torch.device") -> NotApplicable | None:
        """Why this switch, turned on by `tier`, cannot act on `device`; None when it can (or is off)."""
        return None

    def settle(self, tier: TierConfig, device: "torch.device") -> tuple[TierConfig, NotApplicable | None]:
        """`tier` with this switch's fields adjusted to what `device` can run (e.g. fusion dropped where int8
        cannot run fused), and the note that says so; the same rule for the engine and the calibration."""
        return tier, None

    # ---- calibration ----------------------------------------------------------------------------
    def candidates(self, tier: TierConfig) -> list[dict[str, Any]]:
        """The field changes the calibration tries when this switch is "auto" in `tier` (best one kept)."""
        return [{self.settings[0].name: True}]

    def candidate_name(self, changes: dict[str, Any]) -> str:
        """How the calibration's results name a candidate (`fusion`; a precision by its value: `bf16`)."""
        return self.settings[0].name

    def off(self) -> dict[str, Any]:
        """The fields an undecided ("auto") switch takes while it is not chosen."""
        return {self.settings[0].name: self.settings[0].default}

    def skip(self, tier: TierConfig, device: "torch.device") -> str | None:
        """Why the calibration does not measure this switch for `tier` (decided so far) on `device`, else None."""
        return None

    # ---- where it acts ---------------------------------------------------------------------------
    def transform(self, model: "nn.Module", tier: TierConfig, ctx: BuildContext) -> "nn.Module":
        """`model` with this switch applied (called only when `enabled`); a new shell, never a change to the
        modules of `model` unless `ctx.in_place`."""
        return model

    def renderer_options(self, tier: TierConfig) -> dict[str, Any]:
        """Keyword arguments of `tts_core.render.Renderer` this switch sets (called for every tier)."""
        return {}

    def load_flags(self, tier: TierConfig, device: "torch.device") -> NotApplicable | None:
        """Set what cannot be scoped to a call, once at load and for the whole process (called for every tier,
        before the voice loads); the note when it cannot take effect in this process."""
        return None

    def scoped_flags(self, tier: TierConfig, device: "torch.device", put: Put) -> None:
        """Set this switch's torch flags for one call (called for every tier around every call): through `put`,
        which restores them after; torch's thread count and deterministic mode are restored by the caller."""

    def stream_plan(self, tier: TierConfig, plan: "StreamPlan") -> "StreamPlan":
        """`plan` with this switch's part of the stream plan (called for every tier, in registry order)."""
        return plan

    def load_options(self, tier: TierConfig) -> dict[str, Any]:
        """Fields of `tts_core.tiers.build.LoadPlan` this switch sets (called for every tier)."""
        return {}

    def runtime_parts(self, tier: TierConfig, ctx: RuntimeContext) -> dict[str, Any]:
        """Parts beside the model this switch builds, by name (called for every tier at load, in registry order;
        `ctx.parts` holds those built before). A part with a `close()` is closed with the engine."""
        return {}

    def batches_requests(self, tier: TierConfig) -> bool:
        """Whether this switch, as `tier` sets it, gains from requests grouped into one call (a server batches
        them then)."""
        return False

    def __repr__(self) -> str:
        return f"<switch {self.name}>"
