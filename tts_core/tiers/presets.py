"""The shipped tiers and ablation specs such as "baseline+compile" or "advanced-streaming"."""

from __future__ import annotations

from tts_core.errors import ConfigError
from tts_core.tiers.config import AUTO, TierConfig
from tts_core.tiers.switches import ABLATION_NAMES, ABLATIONS, kernel_cache

BASELINE = TierConfig(name="baseline")  # fp32 eager as commonly written: autograd on, nothing cached

OPTIMIZED = TierConfig(
    name="optimized",
    inference_mode=True,
    threads=None,
    cudnn_benchmark=True,
    warmup=1,
    weight_cache=True,
    engine_registry=True,
    batch_sentences=True,
    banded_attention=True,  # exact, and less work at every length
    decode_window_frames=256,  # exact; the decoder's memory and shapes bounded at any sentence length
    housekeeping=True,
    kernel_cache=kernel_cache.BOUNDED,  # every sentence length is a new shape here: few kernels kept, bounded RSS
    retain_heap=True,  # freed activations stay mapped: no page faults re-mapping them at every call
)

ADVANCED = OPTIMIZED.with_(
    name="advanced",
    audio_cache=True,
    batch_optimizer=True,
    precision=AUTO,
    # INT8 is opt-in (advanced+int8_static): static int8 passes the int8 gate, but Whisper misheard 2 more words of
    # the built-in texts than on the baseline's audio (WER 4.5% against 3.2%; BF16 3.2%), for 1.05-1.13x with oneDNN
    # capped to AVX2
    precision_candidates=("fp16", "bf16"),
    compile=AUTO,
    fusion=AUTO,
    bucket_frames=32,  # flow and decoder inputs padded to 32-frame multiples, exact (kernels are built per shape)
    bucket_tokens=16,  # encoder and duration inputs padded to 16-token multiples, exact
    kernel_cache=kernel_cache.BUCKETED,  # the buckets and windows bound the shapes: keep every kernel they need
    decoder_tiling=AUTO,
    memory_pool=AUTO,
    streaming=AUTO,
    fewer_chunks=AUTO,  # a short sentence streams in two chunks, where the decoder is fast enough to stay ahead
)

TIERS: dict[str, TierConfig] = {t.name: t for t in (BASELINE, OPTIMIZED, ADVANCED)}
TIER_NAMES: tuple[str, ...] = tuple(TIERS)

# Ablation name -> the fields it sets to turn its switch "on" (baseline+<name>); removing it (<tier>-<name>) resets
# these fields only, never what the switch needs (its `requires`) or a neighbour's. From the registry.
SWITCHES: dict[str, dict[str, object]] = {name: sw.ablation_fields()[name] for name, sw in ABLATIONS.items()}
SWITCH_NAMES: tuple[str, ...] = ABLATION_NAMES


def split_tier(spec: str) -> tuple[str, str, str]:
    """("advanced", "-", "streaming") for "advanced-streaming"; (spec, "", "") for a plain tier or a name that is
    neither."""
    for sep in ("+", "-"):
        head, found, switch = spec.partition(sep)
        if found and head in TIERS:
            return head, sep, switch
    return spec, "", ""


def resolve_tier(spec: str | TierConfig) -> TierConfig:
    """A tier from its name, or an ablation: "<tier>+<switch>" adds a switch, "<tier>-<switch>" removes it.

    Raises `ConfigError` naming the allowed tiers and switches.
    """
    if isinstance(spec, TierConfig):
        return spec
    base_name, op, ablation = split_tier(spec)
    if base_name not in TIERS:
        raise ConfigError(
            f"`tier` = {spec!r} is unknown; expected one of {', '.join(TIER_NAMES)}, "
            f"or '<tier>+<switch>' / '<tier>-<switch>' with a switch in {', '.join(SWITCH_NAMES)}."
        )
    tier = TIERS[base_name]
    if not op:
        return tier
    if ablation not in ABLATIONS:
        raise ConfigError(f"tier {spec!r}: unknown switch `{ablation}`; expected one of {', '.join(SWITCH_NAMES)}.")
    switch = ABLATIONS[ablation]
    if op == "+":
        return tier.with_(name=spec, **{**switch.requires_for(ablation), **switch.ablation_fields()[ablation]})
    return tier.with_(name=spec, **switch.without(tier, ablation))
