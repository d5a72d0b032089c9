"""`QualityScorer`: one audio + its text -> ASR transcript, WER, CER and DNSMOS, cached by audio hash."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from bench.quality.audio import as_mono, audio_key
from bench.quality.cache import ScoreCache
from bench.quality.config import QualityConfig
from bench.quality.deps import available


@dataclass(frozen=True)
class QualityFigures:
    """Heard quality of one audio. wer/cer are fractions (0.093 = 9.3%); dnsmos_* are MOS on a 1-5 scale.

    reference and heard are the text and the transcript as WER compares them; quality_s is the wall time
    this score cost (seconds; near 0 when `cached`); audio_s is the audio's length in seconds.
    """

    wer: float
    cer: float
    dnsmos_sig: float
    dnsmos_bak: float
    dnsmos_ovrl: float
    asr_transcript: str
    reference: str
    heard: str
    audio_s: float
    quality_s: float
    cached: bool

    def row(self) -> dict[str, Any]:
        """The absolute fields of a result row: wer, cer, dnsmos_sig/bak/ovrl, asr_transcript, quality_s."""
        return {"wer": self.wer, "cer": self.cer, "dnsmos_sig": self.dnsmos_sig, "dnsmos_bak": self.dnsmos_bak,
                "dnsmos_ovrl": self.dnsmos_ovrl, "asr_transcript": self.asr_transcript,
                "quality_s": self.quality_s}


@dataclass
class QualityCost:
    """What scoring cost in this process: seconds of wall time spent (model loads included), cache hits and
    misses, and seconds of audio actually scored (misses only)."""

    seconds: float = 0.0
    load_s: float = 0.0
    asr_s: float = 0.0
    dnsmos_s: float = 0.0
    hits: int = 0
    misses: int = 0
    audio_s: float = 0.0

    @property
    def s_per_audio_s(self) -> float | None:
        """Scoring seconds per second of scored audio (model loads excluded), or None before any miss."""
        return (self.seconds - self.load_s) / self.audio_s if self.audio_s else None

    def figures(self) -> dict[str, Any]:
        """The cost as plain numbers for a row's extra: seconds (all, loading, ASR, DNSMOS), texts scored and cache
        hits, audio seconds scored (misses only) and scoring seconds per audio second."""
        return {"seconds": self.seconds, "load_s": self.load_s, "asr_s": self.asr_s, "dnsmos_s": self.dnsmos_s,
                "scored": self.misses, "cache_hits": self.hits, "audio_s_scored": self.audio_s,
                "s_per_audio_s": self.s_per_audio_s}

    def line(self) -> str:
        """One line for a log or the report."""
        rate = "" if self.s_per_audio_s is None else f", {self.s_per_audio_s:.2f} s per audio s"
        return (f"quality pass: {self.seconds:.1f} s ({self.load_s:.1f} s loading models, {self.asr_s:.1f} s ASR, "
                f"{self.dnsmos_s:.1f} s DNSMOS), {self.misses} scored "
                f"({self.audio_s:.1f} s of audio{rate}), {self.hits} cache hits")


class QualityScorer:
    """Scores audio against its text; models load on the first miss and stay for the process."""

    def __init__(self, config: QualityConfig) -> None:
        from bench.quality.asr import Transcriber
        from bench.quality.dnsmos import Dnsmos

        self.config = config
        self.asr = Transcriber(config)
        self.dnsmos = Dnsmos(threads=config.cpu_threads)
        self.model_ids = f"{self.asr.model_id}|{self.dnsmos.model_id}"
        self.cache = ScoreCache(config.cache_dir)
        self.cost = QualityCost()
        self._loaded = False

    def _measure(self, audio: np.ndarray, sample_rate: int) -> dict[str, Any]:
        if not self._loaded:
            t = time.perf_counter()
            self.asr._load()
            self.dnsmos._load()
            self.cost.load_s += time.perf_counter() - t
            self._loaded = True
        t = time.perf_counter()
        transcript = self.asr.transcribe(audio, sample_rate)
        self.cost.asr_s += time.perf_counter() - t
        t = time.perf_counter()
        mos = self.dnsmos.score(audio, sample_rate)
        self.cost.dnsmos_s += time.perf_counter() - t
        return {"transcript": transcript, "sig": mos.sig, "bak": mos.bak, "ovrl": mos.ovrl}

    def score(self, samples: np.ndarray, sample_rate: int, text: str) -> QualityFigures:
        """Heard quality of mono float audio (n,) at `sample_rate` Hz that was synthesized from `text`."""
        from bench.quality.wer import canonical, error_rates

        start = time.perf_counter()
        audio = as_mono(samples)
        key = audio_key(audio, sample_rate, self.model_ids)
        entry = self.cache.get(key)
        cached = entry is not None
        if entry is None:
            entry = self._measure(audio, sample_rate)
            self.cache.put(key, entry)
        wer, cer = error_rates(text, entry["transcript"])
        spent = time.perf_counter() - start
        self.cost.seconds += spent
        if cached:
            self.cost.hits += 1
        else:
            self.cost.misses += 1
            self.cost.audio_s += audio.size / sample_rate
        return QualityFigures(wer=wer, cer=cer, dnsmos_sig=entry["sig"], dnsmos_bak=entry["bak"],
                              dnsmos_ovrl=entry["ovrl"], asr_transcript=entry["transcript"],
                              reference=canonical(text), heard=canonical(entry["transcript"]),
                              audio_s=audio.size / sample_rate, quality_s=spent, cached=cached)


def open_scorer(config: QualityConfig, note: Callable[[str], None] | None = None) -> QualityScorer | None:
    """A scorer, or None when the pass is off or the extra is missing; in the latter case `note` (default:
    a line on stderr) gets the one line saying how to install it."""
    if not config.enabled:
        return None
    reason = available()
    if reason is not None:
        (note or (lambda line: print(line, file=sys.stderr)))(reason)
        return None
    return QualityScorer(config)
