"""espeak-ng's own formant synthesizer as a non-neural reference point: a speed reference only.

Synthesis goes through ctypes on the `libespeak-ng.so` that `espeakng_loader` ships (no extra
install). espeak-ng keeps process-global state (voice, callback, parameters), and `tts_core`'s
front-end uses the same library in the same process for phonemes: `dlopen` of one path gives one
handle, so this adapter borrows the front-end's handle and lock (`tts_core.text.phonemize`) rather
than initializing espeak a second time. The front-end initializes with AUDIO_OUTPUT_SYNCHRONOUS, in
which `espeak_Synth` calls our callback with 16-bit buffers before it returns. (Piper's own
phonemizer links a separate static espeak-ng inside `piper.espeakbridge`; the two do not share state.)

Scales: `length_scale` maps to espeak's speaking rate (175 words/min / length_scale); espeak has no
noise, so `noise_scale` and `noise_w` are accepted and ignored.
"""

from __future__ import annotations

import ctypes
import queue
import threading
from typing import Any, Iterator, Optional, Sequence

import numpy as np

from tts_core.audio import Audio

SAMPLE_RATE = 22050  # espeak-ng's output rate for its formant voices
DEFAULT_RATE_WPM = 175  # espeakRATE_NORMAL
TIERS = ("default",)
ALIASES = {"baseline": "default"}
NOTE = "formant synthesizer: a speed reference only, not comparable in quality"

_ESPEAK_RATE = 1  # espeak_PARAMETER espeakRATE
_POS_CHARACTER = 1  # espeak_POSITION_TYPE
_CHARS_UTF8 = 1  # espeakCHARS_UTF8
_EE_OK = 0
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_DONE = object()


def _bind(lib: Any) -> None:
    """Declare the signatures of the synthesis functions (the front-end declares the phoneme ones)."""
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
    lib.espeak_Synth.restype = ctypes.c_int


class EspeakNgEngine:
    """Follows `bench.engines.base.BenchEngine` (+ `TierChecking`) over espeak-ng's synthesizer."""

    def __init__(self, name: str = "espeak-ng", voice: str = "en-us") -> None:
        self.name = name
        self.voice = voice
        self.tier = ""
        self.model = ""
        self._loaded = False

    @classmethod
    def available(cls) -> Optional[str]:
        """None when espeakng_loader imports, else the reason to skip."""
        try:
            import espeakng_loader  # noqa: F401
        except ImportError:
            return "espeakng-loader is not installed; pip install espeakng-loader"
        return None

    @classmethod
    def models(cls) -> tuple[str, ...]:
        """The voices it stands beside as a speed reference: the real voice only (beside the random `tiny`
        voice a formant synthesizer's figures mean nothing)."""
        return ("joe-medium",)

    @classmethod
    def check_tier(cls, tier: str) -> None:
        if ALIASES.get(tier, tier) not in TIERS:
            raise ValueError(f"`tier.name` = {tier!r} is not an espeak-ng variant; expected one of "
                             f"{', '.join([*TIERS, *ALIASES])}.")

    def load(self, *, model: str, device: str, tier: str, seed: Optional[int]) -> dict[str, Any]:
        """Initialize espeak-ng (shared with the front-end) and select `voice`. `model` is recorded, not
        used: espeak speaks with its own voice. Raises ValueError for a non-CPU device or unknown tier."""
        self.check_tier(tier)
        if device != "cpu":
            raise ValueError(f"`hardware.device` = {device!r}: espeak-ng runs on the CPU only; use cpu.")
        from tts_core.text.phonemize import _LOCK, _engine

        with _LOCK:
            handle = _engine()
            handle.set_voice(self.voice)
            _bind(handle.lib)
        self.tier, self.model, self._loaded = ALIASES.get(tier, tier), model, True
        return {"source": "espeakng_loader", "voice": self.voice, "model_ignored": model}

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE

    def _synth(self, text: str, length_scale: Optional[float], put: Any, cancelled: threading.Event) -> None:
        """Run espeak_Synth on `text`, handing each int16 buffer (as float32) to `put`; holds the espeak lock."""
        from tts_core.text.phonemize import _LOCK, _engine

        def on_audio(wav: Any, n: int, _events: Any) -> int:
            if wav and n > 0:
                put(np.ctypeslib.as_array(wav, shape=(n,)).astype(np.float32) / 32768.0)
            return 1 if cancelled.is_set() else 0  # non-zero aborts synthesis

        callback = _SYNTH_CALLBACK(on_audio)  # referenced until espeak_Synth returns
        data = text.encode("utf-8")
        rate = round(DEFAULT_RATE_WPM / length_scale) if length_scale else DEFAULT_RATE_WPM
        with _LOCK:
            handle = _engine()
            handle.set_voice(self.voice)
            lib = handle.lib
            lib.espeak_SetSynthCallback(callback)
            lib.espeak_SetParameter(_ESPEAK_RATE, rate, 0)
            try:
                code = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            finally:
                lib.espeak_SetParameter(_ESPEAK_RATE, DEFAULT_RATE_WPM, 0)
        if code != _EE_OK and not cancelled.is_set():
            raise RuntimeError(f"espeak-ng: espeak_Synth returned error {code}.")

    def stream(self, text: str, noise_scale: Optional[float] = None, length_scale: Optional[float] = None,
               noise_w: Optional[float] = None) -> Iterator[Audio]:
        """Chunks as espeak hands them over (about 60 ms each); synthesis runs on a worker thread."""
        if not self._loaded:
            raise RuntimeError(f"{type(self).__name__}: call load() first.")
        chunks: queue.Queue = queue.Queue()
        cancelled = threading.Event()
        failure: list[BaseException] = []

        def work() -> None:
            try:
                self._synth(text, length_scale, chunks.put, cancelled)
            except BaseException as exc:  # re-raised in the consumer
                failure.append(exc)
            finally:
                chunks.put(_DONE)

        worker = threading.Thread(target=work, name="espeak-ng-synth", daemon=True)
        worker.start()
        try:
            while (item := chunks.get()) is not _DONE:
                yield Audio(item, SAMPLE_RATE)
        finally:
            cancelled.set()
            worker.join()
        if failure:
            raise failure[0]

    def synthesize(self, text: str, **scales: Optional[float]) -> Audio:
        return Audio.concat(self.stream(text, **scales), SAMPLE_RATE)

    def synthesize_batch(self, texts: Sequence[str], **scales: Optional[float]) -> list[Audio]:
        """One by one: espeak-ng has no batching."""
        return [self.synthesize(text, **scales) for text in texts]

    def describe(self) -> dict[str, Any]:
        from importlib import metadata

        return {
            "name": self.name,
            "device": "cpu",
            "threads": 1,
            "tier": {"name": self.tier, "runtime": "espeak-ng formant synthesizer", "voice": self.voice},
            "tier_name": self.tier,
            "fidelity_gate": None,  # not applicable: a different synthesizer
            "comparable_quality": False,
            "note": NOTE,
            "uses_torch": False,
            "batching": "none: one by one",
            "streaming": "espeak's synthesis buffers (about 60 ms)",
            "versions": {"espeakng-loader": metadata.version("espeakng-loader")},
        }

    def close(self) -> None:
        self._loaded = False
