"""From a validated `BenchConfig` to one comparison group: its contenders, text classes and identity.

The tiers asked for (`+tier=X` or `sweep.tiers`) get their references added (`advanced-X` needs `advanced`,
every tier needs the engine's `baseline`), so every comparison is paired within the same rounds; a stored
baseline is never a reference. Peers (`sweep.peers`) join the same rounds, compared with our baseline. Servers
(`sweep.servers`) join them too, each an `engine=http` contender that starts its own server: a served tier is paired
with the same tier in process when the sweep measures it, Piper's server with Piper in process (else our baseline).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hydra.utils import get_class
from omegaconf import OmegaConf

from tts_core.machine import isa_caps

from bench.env import code_version, host, measured_versions
from bench.errors import BenchConfigError
from bench.measure import ablation
from bench.measure.rows import Contender
from bench.sweep.config import BASELINE_TIER, BenchConfig, TextConfig
from bench.texts import FileTexts, read_text

log = logging.getLogger("bench.sweep")
ENGINE_CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "engine"  # the sweep's engine group


@dataclass(frozen=True)
class RunPaths:
    """Where one sweep (or one job of a multirun) reads and writes."""

    run_id: str
    run_dir: Path  # results/<run-id>: shared by all jobs of the sweep
    out_dir: Path  # this job's folder (run_dir itself for a single run)
    store_file: Path  # results/store.jsonl: every finished group, for resume and history
    cache_dir: Path  # results/.cache: machine peaks, partial rounds of unfinished groups

    @property
    def results_file(self) -> Path:
        return self.out_dir / "results.jsonl"

    def rounds_file(self, group_id: str) -> Path:
        """The rounds of an unfinished group: kept across runs, so a killed sweep resumes."""
        return self.cache_dir / "rounds" / f"{group_id}.jsonl"

    @classmethod
    def under(cls, results_dir: Path, run_id: str, out_dir: Path | None = None) -> "RunPaths":
        results_dir = results_dir.resolve()
        run_dir = results_dir / run_id
        return cls(run_id, run_dir, (out_dir or run_dir).resolve(), results_dir / "store.jsonl", results_dir / ".cache")


@dataclass
class Group:
    """One comparison: contenders that speak the same texts in the same rounds."""

    group_id: str
    contenders: list[Contender]
    classes: list[str]
    text: dict[str, Any]  # how round texts are made: {"kind": "generated" | "file" | "repeated", ...}
    workload: dict[str, Any]
    model: str
    code_version: str
    host: str


def tiers_of(cfg: BenchConfig) -> list[str]:
    """The tiers asked for, their references first (baseline, then e.g. advanced for advanced-X); for an engine that
    serves one tier (`serves_one_tier`, a server) only the tiers asked for."""
    asked = [cfg.tier.name] if cfg.tier is not None else list(cfg.sweep.tiers)
    if getattr(get_class(engine_dict(cfg)["_target_"]), "serves_one_tier", False):
        return list(dict.fromkeys(asked))
    out: list[str] = [BASELINE_TIER]
    for tier in asked:
        chain, t = [], tier
        while t is not None and t not in out and t not in chain:
            chain.append(t)
            t = ablation.reference_tier(t)
        out.extend(reversed(chain))
    return list(dict.fromkeys(out))


def texts_of(cfg: BenchConfig) -> list[TextConfig]:
    return [cfg.text] if cfg.text is not None else [TextConfig(name=name) for name in cfg.sweep.texts]


def resolve_hardware(hardware: dict[str, Any]) -> dict[str, Any]:
    """`auto` becomes what is present: `cuda` if torch sees a GPU, else `cpu-all`."""
    if hardware["device"] != "auto":
        return hardware
    import torch

    if torch.cuda.is_available():
        return dict(hardware, name="cuda", device="cuda")
    return dict(hardware, name="cpu-all", device="cpu")


def engine_dict(cfg: BenchConfig) -> dict[str, Any]:
    engine = cfg.engine if isinstance(cfg.engine, dict) else asdict(cfg.engine)
    return dict(engine)


def peer_engine(name: str) -> dict[str, Any]:
    """The engine config `configs/engine/<name>.yaml` holds, as the sweep would compose it."""
    path = ENGINE_CONFIGS / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in ENGINE_CONFIGS.glob("*.yaml")))
        raise BenchConfigError(f"`sweep.peers` names {name!r}, which is not an engine; expected some of {known}.")
    node = OmegaConf.load(path)
    node.pop("defaults", None)
    return dict(OmegaConf.to_container(node, resolve=True))  # type: ignore[arg-type]


def validate(cfg: Any) -> BenchConfig:
    """The typed config of a composed `DictConfig`; raises `BenchConfigError` naming the field and the allowed values."""
    bench_cfg = OmegaConf.to_object(cfg)
    if not isinstance(bench_cfg, BenchConfig):
        raise BenchConfigError("the composed config is not a sweep config; compose `configs/sweep.yaml`.")
    check(bench_cfg)
    return bench_cfg


def check(cfg: BenchConfig) -> None:
    """Checks that need more than one field or the engine; raises `BenchConfigError` naming the field."""
    check_tier = getattr(get_class(engine_dict(cfg)["_target_"]), "check_tier", None)
    for tier in tiers_of(cfg) if check_tier is not None else []:
        try:
            check_tier(tier)
        except ValueError as exc:
            raise BenchConfigError(str(exc)) from None
    for name in cfg.sweep.peers:
        peer_engine(name)
    for text in texts_of(cfg):
        if text.path is not None:
            try:
                FileTexts(read_text(text.path))
            except (ValueError, UnicodeDecodeError) as exc:
                raise BenchConfigError(f"`text.path` = {text.path!r}: {exc}; give a UTF-8 text file with at least one "
                                       "sentence of words.") from None
    if cfg.workload.name == "repeated" and cfg.text is not None and cfg.text.path is None and not cfg.text.file.is_file():
        raise BenchConfigError(f"`text.name` = {cfg.text.name!r} has no built-in file for workload=repeated.")


def _unavailable(engine: dict[str, Any], model: str, device: str) -> str | None:
    """Why an engine cannot take part here (no such device, extra not installed, voice it does not have), or None."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            return "cuda not available on this machine"
    cls = get_class(engine["_target_"])
    available = getattr(cls, "available", None)
    reason = available() if callable(available) else None
    if reason:
        return reason
    models = getattr(cls, "models", None)
    if callable(models) and model not in models():
        return f"{engine['name']} has no voice {model!r} (it speaks {', '.join(models())})"
    return None


def contender_name(engine: str, tier: str, hardware: str) -> str:
    return f"{engine}:{tier}@{hardware}"


def safe_name(name: str) -> str:
    """`name` as a file name: letters, digits and - _ . + kept, anything else `_`."""
    return "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in name)


def fidelity_reference(c: Contender, group: Group) -> str | None:
    """The contender whose noise-free audio `c` is gated against (fidelity, heard quality): its own engine's
    baseline on the same hardware (a CUDA tier against the CUDA fp32 baseline, never against the CPU's: a duration
    that rounds differently on another device changes the frame count). None when the group has none."""
    for other in group.contenders:
        if other.engine_name == c.engine_name and other.hardware == c.hardware and ablation.reference_tier(other.tier) is None:
            return other.name
    return None


def served_contender(entry: str, contenders: list[Contender], engine_name: str, hardware: dict[str, Any], model: str,
                     time_limit_s: float, scenario: Any = None) -> Contender:
    """The contender of one `sweep.servers` entry: an HTTP adapter that starts the server in its worker (health
    checked within 80% of `sweep.time_limit_s`, the limit of the worker's `load`), paired as the module says. Under
    a serving `scenario` our server batches and schedules as the scenario's in-process dispatcher does (`max_batch`,
    `max_wait_ms`, `policy` and its first-audio target) in `workers` engine processes."""
    from bench.serve.config import first_audio_target_ms
    from bench.servers import parse_entry, unavailable

    spec = parse_entry(entry, health_timeout_s=max(1.0, 0.8 * time_limit_s))
    kind = spec.server_kind
    if scenario is not None and kind.takes_batching:
        spec.max_batch, spec.max_wait_ms = int(scenario.max_batch), float(scenario.max_wait_ms)
        spec.policy, spec.first_audio_ms = scenario.policy, first_audio_target_ms(scenario)
        spec.workers = int(scenario.workers)
    http = {"_target_": "bench.engines.http.HttpEngine", "name": spec.engine_name, "api": kind.api.name,
            "url": "http://127.0.0.1:0/", "server": asdict(spec)}
    same = contender_name(kind.in_process or engine_name, spec.tier, hardware["name"])
    reference = same if any(c.name == same for c in contenders) else (contenders[0].name if contenders else None)
    return Contender(name=contender_name(spec.engine_name, spec.tier, hardware["name"]), engine=http, tier=spec.tier,
                     hardware=hardware, reference=reference, peer=kind.peer, skipped=unavailable(spec, model))


def build_group(cfg: BenchConfig, serving: Any = None) -> Group:
    """The comparison `cfg` asks for. `serving`: the LoadGen scenario the group runs under, if any (its `max_batch`
    and `max_wait_ms` are our managed servers' batching, `served_contender`)."""
    hardware = resolve_hardware(asdict(cfg.hardware))
    engine = engine_dict(cfg)
    model = cfg.model.name
    contenders: list[Contender] = []
    tiers = tiers_of(cfg)
    for tier in tiers:
        ref = ablation.reference_tier(tier)
        contenders.append(Contender(
            name=contender_name(engine["name"], tier, hardware["name"]), engine=engine, tier=tier, hardware=hardware,
            reference=contender_name(engine["name"], ref, hardware["name"]) if ref in tiers else None,
            skipped=_unavailable(engine, model, hardware["device"])))
    base = contenders[0].name
    if engine["name"] == ablation.OUR_ENGINE:
        for name in cfg.sweep.peers:
            peer = peer_engine(name)
            contenders.append(Contender(name=contender_name(name, "default", hardware["name"]), engine=peer, tier="default",
                                        hardware=hardware, reference=base, peer=True, skipped=_unavailable(peer, model, hardware["device"])))
    for entry in cfg.sweep.servers:
        contenders.append(served_contender(entry, contenders, engine["name"], hardware, model, cfg.sweep.time_limit_s,
                                           serving))
    texts = texts_of(cfg)
    if cfg.workload.name == "repeated":
        text = {"kind": "repeated", "files": {t.label: str(t.file) for t in texts}}
    elif texts[0].path is not None:
        text = {"kind": "file", "path": str(texts[0].path), "per_round": texts[0].sentences_per_round}
    else:
        text = {"kind": "generated", "seed": cfg.measure.seed}
    classes = [t.label for t in texts]
    version = code_version(tuple(getattr(get_class(engine["_target_"]), "measured_code", ())))
    # what a stored group must match to be reused: machine, measuring code, package versions and every axis
    identity = {"host": host(), "isa_caps": isa_caps(), "code": version, "versions": measured_versions(), "model": model,
                "workload": asdict(cfg.workload), "text": text, "classes": classes, "measure": asdict(cfg.measure),
                "contenders": [[c.name, c.engine, c.tier, c.hardware] for c in contenders]}
    group_id = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return Group(group_id, contenders, classes, text, asdict(cfg.workload), model, version, host())
