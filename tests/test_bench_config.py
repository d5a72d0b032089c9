"""Config composition: every shipped YAML composes and validates; bad overrides fail with the field's name."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from bench.config import BenchConfig
from bench.errors import BenchConfigError
from bench.plan import RunPaths, build_plan, check
from bench.sweep import validate

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
GROUPS = sorted(p.name for p in CONFIGS.iterdir() if p.is_dir() and not p.name.startswith("_"))


def compose_cfg(*overrides: str):
    with initialize_config_module(config_module="configs", version_base="1.3"):
        return compose(config_name="sweep", overrides=list(overrides))


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


def test_default_sweep_composes_to_tiers_x_texts(tmp_path: Path) -> None:
    cfg = validate(compose_cfg("engine=fake"))
    assert isinstance(cfg, BenchConfig) and cfg.tier is None and cfg.text is None
    specs = build_plan(cfg, RunPaths.under(tmp_path, "r"))
    assert [(s.tier, s.text_label) for s in specs][:3] == [("baseline", t) for t in ("short", "medium", "long")]
    assert {s.tier for s in specs} == {"baseline", "optimized", "advanced"} and len(specs) == 9
    assert len({s.config_id() for s in specs}) == 9


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g) if not (g == "text" and o == "file")])
def test_every_shipped_yaml_composes(group: str, option: str) -> None:
    prefix = "+" if group == "tier" else ""
    cfg = compose_cfg(f"{prefix}{group}={option}")
    typed = OmegaConf.to_object(cfg)
    assert isinstance(typed, BenchConfig)
    node = getattr(typed, group)
    assert node is not None


def test_every_tier_yaml_names_a_tier_tts_core_knows() -> None:
    for option in options("tier"):
        cfg = validate(compose_cfg(f"+tier={option}"))
        assert cfg.tier.name == option
        check(cfg)


def test_text_file_override(tmp_path: Path) -> None:
    path = tmp_path / "mine.txt"
    path.write_text("A file of my own, spoken aloud.", encoding="utf-8")
    cfg = validate(compose_cfg("text=file", f"text.path={path}", "engine=fake"))
    specs = build_plan(cfg, RunPaths.under(tmp_path, "r"))
    assert {s.text_label for s in specs} == {"file:mine.txt"}
    assert specs[0].text == "A file of my own, spoken aloud."


def test_one_tier_adds_its_baseline_first(tmp_path: Path) -> None:
    cfg = validate(compose_cfg("+tier=advanced", "text=short", "engine=fake"))
    assert [s.tier for s in build_plan(cfg, RunPaths.under(tmp_path, "r"))] == ["baseline", "advanced"]


@pytest.mark.parametrize(
    "overrides,field",
    [
        (["+tier=optimized", "tier.name=turbo"], "tier.name"),
        (["hardware.threads=-2"], "hardware.threads"),
        (["hardware.device=tpu"], "hardware.device"),
        (["text=file", "text.path=/no/such/file.txt"], "text.path"),
        (["workload.batch_size=0"], "workload.batch_size"),
        (["sweep.compare=sideways"], "sweep.compare"),
        (["sweep.texts=[short,epic]"], "text.name"),
        (["workload=repeated", "sweep.compare=interleaved"], "sweep.compare"),
        (["measure.min_rounds=0"], "measure.min_rounds"),
    ],
)
def test_bad_override_names_the_field(overrides: list[str], field: str) -> None:
    with pytest.raises(BenchConfigError, match=field.replace(".", r"\.")):
        validate(compose_cfg(*overrides))


def test_unknown_tier_option_lists_the_available_ones() -> None:
    with pytest.raises(ConfigCompositionException, match="baseline"):
        compose_cfg("+tier=turbo")


def test_missing_text_path_is_reported() -> None:
    with pytest.raises(Exception, match="text.path"):
        validate(compose_cfg("text=file"))


def test_every_switch_has_its_baseline_ablation_yaml() -> None:
    from tts_core.tiers import SWITCH_NAMES

    shipped = set(options("tier"))
    assert {f"baseline+{switch}" for switch in SWITCH_NAMES} <= shipped
