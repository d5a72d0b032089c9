"""The shipped tiers and ablation specs such as "baseline+compile" or "advanced-streaming"."""

from __future__ import annotations

from dataclasses import fields

from tts_core.errors import ConfigError
from tts_core.tiers.config import AUTO, TierConfig

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
    decoder_tiling=AUTO,
    memory_pool=AUTO,
    streaming=AUTO,
    fewer_chunks=True,  # exact; a short sentence streams in two chunks (in time where the decoder runs faster
    # than chunk_frames / first chunk = 256 / 20 times real time: about 60x measured here)
)

TIERS: dict[str, TierConfig] = {t.name: t for t in (BASELINE, OPTIMIZED, ADVANCED)}
TIER_NAMES: tuple[str, ...] = tuple(TIERS)

# The fields each switch sets to turn it "on" (ablation: baseline+<switch>); removing it (<tier>-<switch>)
# resets these fields only, never what the switch needs (REQUIRES) or a neighbour's.
SWITCHES: dict[str, dict[str, object]] = {
    "inference_mode": {"inference_mode": True},
    "threads1": {"threads": 1},
    "warmup": {"warmup": 1},
    "weight_cache": {"weight_cache": True},
    "engine_registry": {"engine_registry": True},
    "audio_cache": {"audio_cache": True},
    "batching": {"batch_sentences": True},
    "batch_optimizer": {"batch_optimizer": True},
    "memory_pool": {"memory_pool": True},
    "fp16": {"precision": "fp16"},
    "bf16": {"precision": "bf16"},
    "int8": {"precision": "int8"},  # alone: int8 weights, dequantized per call (memory, not speed)
    "int8_static": {"precision": "int8"},  # with the fusion it needs: int8 arithmetic in the low-rate resblocks
    "compile": {"compile": True},
    "fusion": {"fusion": True},
    "banded_attention": {"banded_attention": True},
    "decode_window": {"decode_window_frames": 256},
    "bucketing": {"bucket_frames": 32, "bucket_tokens": 16},
    "tiling": {"decoder_tiling": True},
    "streaming": {"streaming": True},
    "fewer_chunks": {"fewer_chunks": True},
    "workers": {"workers": 2},
    "housekeeping": {"housekeeping": True},
    "cuda_flags": {"cudnn_benchmark": True, "tf32": True},
    "deterministic": {"deterministic": True},
}
SWITCH_NAMES: tuple[str, ...] = tuple(SWITCHES)
# what a switch needs to do anything, turned on with it when it is added
REQUIRES: dict[str, dict[str, object]] = {
    "engine_registry": {"weight_cache": True},
    "batch_optimizer": {"batch_sentences": True},
    "int8_static": {"fusion": True},
    "fewer_chunks": {"streaming": True},
}

_OFF = {f.name: f.default for f in fields(TierConfig)}


def _switch(spec: str, name: str) -> dict[str, object]:
    if name not in SWITCHES:
        raise ConfigError(f"tier {spec!r}: unknown switch `{name}`; expected one of {', '.join(SWITCH_NAMES)}.")
    return SWITCHES[name]


def resolve_tier(spec: str | TierConfig) -> TierConfig:
    """A tier from its name, or an ablation: "<tier>+<switch>" adds a switch, "<tier>-<switch>" removes it.

    Raises `ConfigError` naming the allowed tiers and switches.
    """
    if isinstance(spec, TierConfig):
        return spec
    base_name, op, switch = spec, "", ""
    for sep in ("+", "-"):
        if sep in spec and spec.split(sep, 1)[0] in TIERS:
            base_name, switch = spec.split(sep, 1)
            op = sep
            break
    if base_name not in TIERS:
        raise ConfigError(
            f"`tier` = {spec!r} is unknown; expected one of {', '.join(TIER_NAMES)}, "
            f"or '<tier>+<switch>' / '<tier>-<switch>' with a switch in {', '.join(SWITCH_NAMES)}."
        )
    tier = TIERS[base_name]
    if not op:
        return tier
    changes = dict(_switch(spec, switch))
    if op == "+":
        return tier.with_(name=spec, **{**REQUIRES.get(switch, {}), **changes})
    if set(changes) == {"precision"}:  # one candidate of "auto", or the fixed precision it names
        return _without_precision(tier, spec, str(changes["precision"]))
    return tier.with_(name=spec, **{k: _OFF[k] for k in changes})


def _without_precision(tier: TierConfig, spec: str, precision: str) -> TierConfig:
    """`tier` without one lower precision: out of the candidates when "auto" decides, fp32 when it is the one fixed."""
    if tier.precision == AUTO:
        return tier.with_(name=spec, precision_candidates=tuple(p for p in tier.precision_candidates if p != precision))
    return tier.with_(name=spec, precision="fp32" if tier.precision == precision else tier.precision)
