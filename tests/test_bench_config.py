"""Config composition: every shipped YAML composes and validates; bad overrides fail with the field's name."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from bench.errors import BenchConfigError
from bench.sweep.plan import validate
from bench.sweep.config import BenchConfig
from bench.sweep.plan import build_group, check, tiers_of

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
GROUPS = sorted(p.name for p in CONFIGS.iterdir() if p.is_dir() and not p.name.startswith("_"))


def compose_cfg(*overrides: str):
    with initialize_config_module(config_module="configs", version_base="1.3"):
        return compose(config_name="sweep", overrides=list(overrides))


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIGS / group).glob("*.yaml"))


def test_default_sweep_is_one_group_of_tiers_and_peers_over_three_classes() -> None:
    cfg = validate(compose_cfg())
    assert isinstance(cfg, BenchConfig) and cfg.tier is None and cfg.text is None
    group = build_group(cfg)
    names = [c.name.split("@")[0] for c in group.contenders]
    assert names == ["tts_core:baseline", "tts_core:optimized", "tts_core:advanced", "piper-onnxruntime:default",
                     "espeak-ng:default"]
    assert group.classes == ["short", "medium", "long"] and group.workload["name"] == "stream"
    assert all(c.reference == group.contenders[0].name for c in group.contenders[1:])
    assert group.text == {"kind": "generated", "seed": 0}


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
    group = build_group(validate(compose_cfg("text=file", f"text.path={path}", "engine=fake")))
    assert group.classes == ["file:mine.txt"] and group.text["kind"] == "file"


def test_one_tier_adds_its_references_first() -> None:
    cfg = validate(compose_cfg("+tier=advanced-streaming", "text=short", "engine=fake"))
    assert tiers_of(cfg) == ["baseline", "advanced", "advanced-streaming"]
    group = build_group(cfg)
    refs = {c.tier: c.reference for c in group.contenders}
    assert refs == {"baseline": None, "advanced": "fake:baseline@cpu-all", "advanced-streaming": "fake:advanced@cpu-all"}


def test_group_id_changes_with_what_is_compared() -> None:
    a = build_group(validate(compose_cfg("+tier=optimized", "engine=fake"))).group_id
    b = build_group(validate(compose_cfg("+tier=advanced", "engine=fake"))).group_id
    c = build_group(validate(compose_cfg("+tier=optimized", "engine=fake", "measure.seed=1"))).group_id
    assert len({a, b, c}) == 3
    assert a == build_group(validate(compose_cfg("+tier=optimized", "engine=fake"))).group_id


def test_an_instruction_set_cap_is_another_group(monkeypatch) -> None:
    """A sweep run with torch capped to AVX2 must not reuse the uncapped run's finished group."""
    for name in ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS"):
        monkeypatch.delenv(name, raising=False)
    uncapped = build_group(validate(compose_cfg("+tier=optimized", "engine=fake"))).group_id
    monkeypatch.setenv("MKL_ENABLE_INSTRUCTIONS", "AVX2")
    assert build_group(validate(compose_cfg("+tier=optimized", "engine=fake"))).group_id != uncapped


@pytest.mark.parametrize(
    "overrides,field",
    [
        (["+tier=optimized", "tier.name=turbo"], "tier.name"),
        (["hardware.threads=-2"], "hardware.threads"),
        (["hardware.device=tpu"], "hardware.device"),
        (["text=file", "text.path=/no/such/file.txt"], "text.path"),
        (["workload.batch_size=0"], "workload.batch_size"),
        (["sweep.texts=[short,epic]"], "sweep.texts"),
        (["measure.min_rounds=1"], "measure.min_rounds"),
        (["measure.target_half_width=2"], "measure.target_half_width"),
        (["measure.budget_s=0"], "measure.budget_s"),
        (["sweep.peers=[nobody]"], "sweep.peers"),
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


@pytest.mark.parametrize("spec", ["baseline+fewer_chunks", "advanced-fusion", "optimized+bf16", "advanced+int8_static"])
def test_every_ablation_of_the_registry_is_a_tier_option_without_a_yaml(spec: str) -> None:
    from bench.sweep.config import ablation_tiers
    from tts_core.tiers import SWITCH_NAMES

    assert {f"baseline+{switch}" for switch in SWITCH_NAMES} <= set(ablation_tiers())
    cfg = validate(compose_cfg(f"+tier={spec}"))
    assert cfg.tier.name == spec
    check(cfg)


@pytest.mark.parametrize("content", [b"   \n\n", b"\xff\xfe not utf-8"])
def test_a_text_file_with_nothing_to_speak_is_refused_before_anything_runs(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "mine.txt"
    path.write_bytes(content)
    with pytest.raises(BenchConfigError, match="text.path"):
        validate(compose_cfg("text=file", f"text.path={path}", "engine=fake"))
