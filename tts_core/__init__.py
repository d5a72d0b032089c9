"""tts_core: a PyTorch TTS engine on Piper's en_US joe voice, with optimization tiers.

    from tts_core import Engine
    with Engine.load(voice="joe-medium", device="cpu", tier="optimized") as engine:
        engine.synthesize("Hello, world.").save_wav("hello.wav")
        engine.synthesize("Slower.", SynthesisConfig(length_scale=1.5))  # per-call settings; None = the voice's
"""

from typing import TYPE_CHECKING

from tts_core.audio import Audio
from tts_core.errors import (
    ConfigError,
    EmptyTextError,
    InputFileError,
    MemoryLimitError,
    TextError,
    TTSError,
    UnspeakableTextError,
    VoiceError,
)
from tts_core.synthesis import SynthesisConfig
from tts_core.tiers import TIER_NAMES, TierConfig, resolve_tier
from tts_core.voices import VOICE_NAMES

if TYPE_CHECKING:
    from tts_core.engine import Engine


def __getattr__(name: str):
    # Engine pulls in torch; load it on first use so `tts_core.fidelity` and friends stay light.
    if name == "Engine":
        from tts_core.engine import Engine

        return Engine
    raise AttributeError(f"module 'tts_core' has no attribute {name!r}")

__version__ = "0.1.0"

__all__ = [
    "Audio",
    "ConfigError",
    "EmptyTextError",
    "Engine",
    "InputFileError",
    "MemoryLimitError",
    "SynthesisConfig",
    "TIER_NAMES",
    "TTSError",
    "TextError",
    "TierConfig",
    "UnspeakableTextError",
    "VOICE_NAMES",
    "VoiceError",
    "resolve_tier",
]
