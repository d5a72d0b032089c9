"""Ablation rules: references, where a switch shows, and "identical here" on resolved switches."""

from __future__ import annotations

from bench.measure import ablation


def describe(tier: dict, not_applicable: list[str] | None = None) -> dict:
    return {"tier": tier, "stats": {"not_applicable": not_applicable or []}}


def test_references_of_tiers_and_ablations() -> None:
    assert ablation.reference_tier("baseline") is None and ablation.reference_tier("default") is None
    assert ablation.reference_tier("optimized") == "baseline"
    assert ablation.reference_tier("advanced-streaming") == "advanced"
    assert ablation.reference_tier("baseline+fusion") == "baseline"


def test_a_switch_that_does_not_apply_on_the_device_is_identical_here() -> None:
    ref = describe({"name": "advanced", "cudnn_benchmark": True})
    cand = describe({"name": "advanced-cuda_flags", "cudnn_benchmark": False}, ["cudnn_benchmark (no CUDA device)"])
    assert ablation.identical_here("advanced-cuda_flags", ref, cand)
    applies = describe({"name": "advanced-cuda_flags", "cudnn_benchmark": False})
    assert not ablation.identical_here("advanced-cuda_flags", ref, applies)
    keyed = describe({"name": "advanced-cuda_flags", "cudnn_benchmark": False},
                     [{"switch": "cuda_flags", "fields": ["cudnn_benchmark", "tf32"], "reason": "no CUDA device"}])
    assert ablation.identical_here("advanced-cuda_flags", ref, keyed)  # as engines of this version report it


def test_precision_candidates_do_not_count_once_precision_is_decided() -> None:
    ref = describe({"name": "advanced", "precision": "fp32", "precision_candidates": ["fp16", "bf16", "int8"]})
    cand = describe({"name": "advanced-fp16", "precision": "fp32", "precision_candidates": ["bf16", "int8"]})
    assert ablation.identical_here("advanced-fp16", ref, cand)
    chosen = describe({"name": "advanced-fp16", "precision": "bf16", "precision_candidates": ["bf16", "int8"]})
    assert ablation.effective_diff(ref, chosen) == {"precision": ["fp32", "bf16"]}


def test_a_main_tier_is_never_identical_here() -> None:
    same = describe({"name": "x"})
    assert not ablation.identical_here("optimized", same, same)


def test_where_switches_show() -> None:
    assert ablation.metric_for("advanced-streaming", "stream") == ("ttfa", None)
    assert ablation.metric_for("advanced-warmup", "stream") == ("load", None)
    metric, why = ablation.metric_for("advanced-audio_cache", "stream")
    assert metric is None and "workload=repeated" in why
    assert ablation.metric_for("advanced", "stream") == ("throughput", None)


def test_where_a_switch_shows_is_read_from_the_switch() -> None:
    from tts_core.tiers.switches import ABLATIONS

    assert ablation.metric_for("baseline+workers", "stream")[0] is None
    for name, switch in ABLATIONS.items():
        assert switch.shows_in in ablation.EXERCISED_BY, name
        expected = switch.shows_in if "stream" in ablation.EXERCISED_BY[switch.shows_in] else None
        assert ablation.metric_for(f"baseline+{name}", "stream")[0] == expected, name


def test_stage_gflops_are_each_stages_counted_flops_over_its_seconds() -> None:
    from bench.measure.rows import Contender, GroupFacts, _stage_gflops

    counted = {"long": {"flops": 6e9, "audio_s": 2.0,
                        "stage_flops": {"encoder": 0.4e9, "flow": 1.2e9, "decoder": 4.0e9}}}
    facts = GroupFacts("run", "g", "host", "v", "joe-medium", "stream", "cmd", flops={"tts_core": counted})
    ours = Contender("tts_core:advanced@cpu", {"name": "tts_core"}, "advanced", {"name": "cpu"},
                     stages={"long": {"frontend": 0.1, "encoder": 0.2, "flow": 0.04, "decoder": 0.1}})
    assert _stage_gflops(ours, facts) == {"stage_encoder_gflops": 2.0, "stage_flow_gflops": 30.0,
                                          "stage_decoder_gflops": 40.0}
    other_voice = Contender("espeak-ng:default@cpu", {"name": "espeak-ng"}, "default", {"name": "cpu"}, peer=True,
                            stages=ours.stages)
    assert _stage_gflops(other_voice, facts) == {}  # no FLOPs counted for its voice
    untimed = Contender("tts_core:baseline@cpu", {"name": "tts_core"}, "baseline", {"name": "cpu"})
    assert _stage_gflops(untimed, facts) == {}
