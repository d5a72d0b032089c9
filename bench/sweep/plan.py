"""From a validated `BenchConfig` to the ordered list of configurations to measure.

No tier chosen: the sweep's tiers (`sweep.tiers`); no text chosen: the sweep's texts (`sweep.texts`).
Every candidate tier gets its baseline counterpart, measured first (resume finds it in the store
when it was measured before on this machine and code).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from hydra.utils import get_class

from bench.config import BASELINE_TIER, BenchConfig, TextConfig
from bench.env import code_version, host
from bench.errors import BenchConfigError, bad_field
from bench.spec import MeasureSpec
from bench.texts import read_text


@dataclass(frozen=True)
class RunPaths:
    """Where one sweep (or one job of a multirun) reads and writes."""

    run_id: str
    run_dir: Path  # results/<run-id>: shared by all jobs of the sweep
    out_dir: Path  # this job's folder (run_dir itself for a single run)
    store_file: Path  # results/store.jsonl: every row ever measured, for resume and stored baselines
    cache_dir: Path  # results/.cache: fidelity references

    @property
    def results_file(self) -> Path:
        return self.out_dir / "results.jsonl"

    @classmethod
    def under(cls, results_dir: Path, run_id: str, out_dir: Path | None = None) -> "RunPaths":
        results_dir = results_dir.resolve()
        run_dir = results_dir / run_id
        return cls(run_id, run_dir, (out_dir or run_dir).resolve(), results_dir / "store.jsonl", results_dir / ".cache")


def tiers_of(cfg: BenchConfig) -> list[str]:
    return [cfg.tier.name] if cfg.tier is not None else list(cfg.sweep.tiers)


def texts_of(cfg: BenchConfig) -> list[TextConfig]:
    return [cfg.text] if cfg.text is not None else [TextConfig(name=name) for name in cfg.sweep.texts]


def resolve_hardware(hardware: dict) -> dict:
    """`auto` becomes what is present: `cuda` if torch sees a GPU, else `cpu-all`."""
    if hardware["device"] != "auto":
        return hardware
    import torch

    if torch.cuda.is_available():
        return dict(hardware, name="cuda", device="cuda")
    return dict(hardware, name="cpu-all", device="cpu")


def check(cfg: BenchConfig) -> None:
    """Checks that need more than one field or the engine; raises `BenchConfigError` naming the field."""
    if cfg.sweep.compare == "interleaved" and cfg.workload.name == "repeated":
        raise bad_field("sweep", "compare", "interleaved", "separate with workload=repeated (cached rows need their own process)")
    check_tier = getattr(get_class(engine_dict(cfg)["_target_"]), "check_tier", None)
    for tier in tiers_of(cfg) if check_tier is not None else []:
        try:
            check_tier(tier)
        except ValueError as exc:
            raise BenchConfigError(str(exc)) from None


def engine_dict(cfg: BenchConfig) -> dict:
    engine = cfg.engine if isinstance(cfg.engine, dict) else asdict(cfg.engine)
    return dict(engine)


def build_plan(cfg: BenchConfig, paths: RunPaths) -> list[MeasureSpec]:
    """The configurations of this sweep, baselines first, each as a `MeasureSpec` for a fresh child."""
    tiers = tiers_of(cfg)
    if cfg.sweep.compare == "separate" and BASELINE_TIER not in tiers:
        tiers = [BASELINE_TIER, *tiers]
    tiers = sorted(dict.fromkeys(tiers), key=lambda t: t != BASELINE_TIER)
    hardware = resolve_hardware(asdict(cfg.hardware))
    engine = engine_dict(cfg)
    version = code_version(tuple(getattr(get_class(engine["_target_"]), "measured_code", ())))
    texts = [(text.label, read_text(text.file)) for text in texts_of(cfg)]
    specs = []
    for tier in tiers:
        for label, text in texts:
            specs.append(MeasureSpec(
                run_id=paths.run_id, host=host(), code_version=version, engine=engine, tier=tier,
                hardware=hardware, model=cfg.model.name, text_label=label, text=text, workload=asdict(cfg.workload),
                measure=asdict(cfg.measure), compare=cfg.sweep.compare, run_dir=str(paths.run_dir),
                out_dir=str(paths.out_dir), cache_dir=str(paths.cache_dir),
            ))
    return specs

