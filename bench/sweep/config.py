"""Typed schemas of the sweep's configuration, registered in Hydra's ConfigStore.

Values live in YAML under `configs/<group>/`; each group file starts with
`defaults: [base_<group>, _self_]`, so Hydra checks keys and types against these dataclasses.
`OmegaConf.to_object(cfg)` builds the dataclasses, and their `__post_init__` rejects bad values
with a message that names the field and the allowed values.
"""

from __future__ import annotations

import re

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from bench.errors import bad_field
from bench.quality.selection import PER_CLASS
from bench.texts import TEXT_CLASSES, text_path

WORKLOADS = ("stream", "single", "batch", "repeated")
DEVICES = ("cpu", "cuda", "auto")
BASELINE_TIER = "baseline"


@dataclass
class EngineConfig:
    """Which adapter measures the engine; `_target_` is a class following `bench.engines.base.BenchEngine`."""

    _target_: str = MISSING
    name: str = MISSING


@dataclass
class FakeEngineConfig(EngineConfig):
    """The stand-in engine of the harness tests (`bench.engines.fake`)."""

    _target_: str = "bench.engines.fake.FakeEngine"
    name: str = "fake"
    rtf: float = 0.002  # seconds of wall time per second of audio it pretends to spend
    work: str = "sleep"  # sleep, or spin: compute for that time on one thread (a busy neighbour slows it)
    misbehave: Dict[str, str] = field(default_factory=dict)  # tier -> raise, exit, sigkill, hang, oom, fidelity


@dataclass
class HttpEngineConfig(EngineConfig):
    """A TTS server over HTTP (`bench.engines.http`); the adapter checks the values and names the field."""

    _target_: str = "bench.engines.http.HttpEngine"
    name: str = "http"
    url: str = "http://127.0.0.1:8000/v1/audio/speech"
    api: str = "openai"  # openai | piper
    voice: str = "default"
    model_id: str = "tts_core"
    response_format: str = "pcm"  # pcm | wav
    timeout_s: float = 120.0  # per read, seconds
    server: Optional[Dict[str, Any]] = None  # a server the adapter starts itself (bench.servers.ServerSpec fields)


@dataclass
class TierConfig:
    """An optimization tier: a name `tts_core.tiers.resolve_tier` accepts (`baseline`, `baseline+<switch>`, ...)."""

    name: str = MISSING

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise bad_field("tier", "name", self.name, "a tier name such as baseline, optimized, advanced")


@dataclass
class HardwareConfig:
    """Where the engine runs. `threads` 0 means every core."""

    name: str = MISSING
    device: str = "cpu"
    threads: int = 0

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise bad_field("hardware", "device", self.device, " or ".join(DEVICES))
        if self.threads < 0:
            raise bad_field("hardware", "threads", self.threads, "0 (every core) or a positive integer")


@dataclass
class ModelConfig:
    """Which voice: `joe-medium` (Piper's en_US-joe-medium) or `tiny` (a small random voice for tests)."""

    name: str = MISSING

    def __post_init__(self) -> None:
        if not self.name:
            raise bad_field("model", "name", self.name, "joe-medium or tiny")


@dataclass
class TextConfig:
    """What the rounds speak. `short`, `medium`, `long`: fresh generated text of that class every round
    (`bench/texts/generator.py`); `file` with `path`: a file of your own, its sentences spread over rounds.
    With `workload=repeated` a class name means the built-in text of that name, spoken again every round."""

    name: str = MISSING
    path: Optional[str] = None  # the file for `text=file`
    sentences_per_round: int = 3  # text=file: sentences spoken per round

    def __post_init__(self) -> None:
        if self.path is None and self.name not in TEXT_CLASSES:
            raise bad_field("text", "name", self.name, f"{', '.join(TEXT_CLASSES)}, or file with `text.path`")
        if self.path is not None and not Path(self.path).is_file():
            raise bad_field("text", "path", self.path, "an existing UTF-8 text file")
        if self.sentences_per_round < 1:
            raise bad_field("text", "sentences_per_round", self.sentences_per_round, "a positive integer")

    @property
    def file(self) -> Path:
        """The file spoken: the user's, or the built-in text of this name (repeated workload)."""
        return Path(self.path) if self.path is not None else text_path(self.name)

    @property
    def label(self) -> str:
        """Name in result rows: the class, or `file:<file name>`."""
        return self.name if self.path is None else f"file:{Path(self.path).name}"


@dataclass
class WorkloadConfig:
    """What one round does: `stream` (the default: time to first audio, chunk gaps and total time), `single`
    synthesize, `batch` of the text's sentences, or `repeated`: the same built-in text every round with the
    engine's caches kept (the warm-cache and cache-audit case, labelled `cached` in its rows)."""

    name: str = MISSING
    batch_size: int = 8  # batch: at most this many sentences per call

    def __post_init__(self) -> None:
        if self.name not in WORKLOADS:
            raise bad_field("workload", "name", self.name, ", ".join(WORKLOADS))
        if self.batch_size < 1:
            raise bad_field("workload", "batch_size", self.batch_size, "a positive integer")


INTERFERENCE_MODES = ("detect", "record")  # measure.interference


@dataclass
class MeasureConfig:
    """How long a comparison runs. Rounds go on until every compared interval is within `target_half_width`
    (after `min_rounds` per text class), or `budget_s` of rounds has passed, or `max_rounds` ran."""

    min_rounds: int = 10  # per text class (bench.results.stats.MIN_PAIRS: fewer give per-class rows no verdict)
    max_rounds: int = 72  # all classes together
    budget_s: float = 300.0  # wall seconds for the rounds of one comparison group
    target_half_width: float = 0.05  # 0.05: stop when every 95% interval is within +-5%
    sample_wav_s: float = 8.0  # longest audio sample saved for the report
    fidelity: bool = True
    flops: bool = True
    stages: bool = True
    quality: bool = True  # ASR + DNSMOS of the rounds' audio (skipped, with one line, without the extra)
    quality_texts_per_class: int = PER_CLASS  # rounds per class whose audio is kept and scored (more until 200 words)
    seed: int = 0  # engine seed and the text generator's seed
    rounds_per_process: int = 24  # accepted rounds per worker process; then each contender gets a new one (0: never)
    max_set_aside: int = 30  # rounds set aside (disturbed, outliers) and measured again before "machine busy" stops
    busy_budget_s: float = 120.0  # wall seconds of set-aside rounds the budget does not count, at most
    interference: str = "detect"  # detect: disturbed and outlier rounds set aside and measured again; record: marked only

    def __post_init__(self) -> None:
        if self.rounds_per_process < 0:
            raise bad_field("measure", "rounds_per_process", self.rounds_per_process,
                            "an integer >= 0 (0: one process per contender for the whole run)")
        if self.max_set_aside < 0:
            raise bad_field("measure", "max_set_aside", self.max_set_aside, "an integer >= 0")
        if self.interference not in INTERFERENCE_MODES:
            raise bad_field("measure", "interference", self.interference, " or ".join(INTERFERENCE_MODES))
        if self.busy_budget_s < 0:
            raise bad_field("measure", "busy_budget_s", self.busy_budget_s, "seconds >= 0")
        if self.min_rounds < 2:
            raise bad_field("measure", "min_rounds", self.min_rounds, "an integer >= 2 (an interval needs two pairs)")
        if self.max_rounds < self.min_rounds:
            raise bad_field("measure", "max_rounds", self.max_rounds, f">= measure.min_rounds ({self.min_rounds})")
        if self.budget_s <= 0:
            raise bad_field("measure", "budget_s", self.budget_s, "seconds > 0")
        if not 0 < self.target_half_width < 1:
            raise bad_field("measure", "target_half_width", self.target_half_width, "a fraction in (0, 1), e.g. 0.05")
        if self.sample_wav_s < 0:
            raise bad_field("measure", "sample_wav_s", self.sample_wav_s, "seconds >= 0")
        if isinstance(self.quality_texts_per_class, bool) or not isinstance(self.quality_texts_per_class, int) \
                or self.quality_texts_per_class < 1:
            raise bad_field("measure", "quality_texts_per_class", self.quality_texts_per_class, "an integer >= 1")


RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
RUN_ID_HELP = "a plain name (letters, digits, . _ + -; no slashes, not starting with a dot): it names folders under results/ and reports/"


@dataclass
class SweepConfig:
    """The run as a whole: which tiers and texts when none is chosen, limits, where results go."""

    tiers: list[str] = field(default_factory=lambda: ["baseline", "optimized", "advanced"])
    texts: list[str] = field(default_factory=lambda: ["short", "medium", "long"])
    peers: list[str] = field(default_factory=lambda: ["piper-onnxruntime", "espeak-ng"])  # engines in the same rounds
    servers: list[str] = field(default_factory=list)  # servers started as contenders: tts_core:TIER, piper-http
    run_id: str = MISSING
    results_dir: str = "results"
    reports_dir: str = "reports"
    fresh: bool = False  # true: measure again a comparison the store already has
    time_limit_s: float = 600.0  # per worker call (a load, a round); the worker is killed past it
    memory_limit_mb: float = 16384.0  # per worker (RSS of its process and children); killed past it
    report: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.run_id, str) and self.run_id != MISSING and not RUN_ID_RE.fullmatch(self.run_id):
            raise bad_field("sweep", "run_id", self.run_id, RUN_ID_HELP)
        if self.time_limit_s <= 0:
            raise bad_field("sweep", "time_limit_s", self.time_limit_s, "seconds > 0")
        if self.memory_limit_mb <= 0:
            raise bad_field("sweep", "memory_limit_mb", self.memory_limit_mb, "megabytes > 0")
        for name in self.texts:
            if name not in TEXT_CLASSES:
                raise bad_field("sweep", "texts", name, ", ".join(TEXT_CLASSES))
        if not self.tiers:
            raise bad_field("sweep", "tiers", self.tiers, "at least one tier name")
        from bench.servers import ENTRY_HELP, parse_entry

        for entry in self.servers:
            try:
                parse_entry(entry)
            except ValueError:
                raise bad_field("sweep", "servers", entry, ENTRY_HELP) from None


@dataclass
class BenchConfig:
    """The primary config (`configs/sweep.yaml`). `tier` and `text` unset mean the sweep's default sets."""

    engine: Any = MISSING
    model: ModelConfig = MISSING
    hardware: HardwareConfig = MISSING
    workload: WorkloadConfig = MISSING
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    tier: Optional[TierConfig] = None
    text: Optional[TextConfig] = None
    scenario: Any = MISSING  # how to measure: an entry of configs/scenario/ (bench/scenarios/config.py), e.g. rounds


def ablation_tiers() -> list[str]:
    """`<tier>+<switch>` and `<tier>-<switch>` for every shipped tier and every ablation of the switches' registry
    (`tts_core/tiers/switches/`): config options of the `tier` group without a YAML file each."""
    from tts_core.tiers import SWITCH_NAMES, TIER_NAMES

    return [f"{tier}{op}{switch}" for tier in TIER_NAMES for op in "+-" for switch in SWITCH_NAMES]


def register_configs() -> None:
    """Store every schema in Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="base_sweep", node=BenchConfig)
    cs.store(group="engine", name="base_engine", node=EngineConfig)
    cs.store(group="engine", name="base_fake_engine", node=FakeEngineConfig)
    cs.store(group="engine", name="base_http_engine", node=HttpEngineConfig)
    cs.store(group="tier", name="base_tier", node=TierConfig)
    for name in ablation_tiers():  # `+tier=baseline+fusion`: every ablation the switches' registry defines
        cs.store(group="tier", name=name, node=TierConfig(name=name))
    cs.store(group="hardware", name="base_hardware", node=HardwareConfig)
    cs.store(group="model", name="base_model", node=ModelConfig)
    cs.store(group="text", name="base_text", node=TextConfig)
    cs.store(group="workload", name="base_workload", node=WorkloadConfig)
    cs.store(group="measure", name="base_measure", node=MeasureConfig)
    from bench.scenarios.config import register as register_scenarios

    register_scenarios(cs)


register_configs()
