"""DNSMOS P.835 (SIG, BAK, OVRL) from the ONNX model that the `speechmos` wheel ships, run with onnxruntime.

`speechmos.dnsmos` itself imports librosa and requests, which it does not declare, and spends most of its
time on the P.808 model that we do not report; so this module loads the same `sig_bak_ovr.onnx` file and
applies the same scoring as Microsoft's `dnsmos_local.py` (and speechmos): 16 kHz audio, tiled to at least
9.01 s, scored in 9.01 s windows every 1 s, each raw score mapped by the published cubic fit, then averaged.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.quality.audio import DNSMOS_RATE, to_rate

WINDOW_S = 9.01
HOP_S = 1.0
BATCH = 8  # windows per onnxruntime call
# P.835 cubic fits (non-personalized) from raw network outputs to MOS, highest power first
_FIT_SIG = np.poly1d([-0.08397278, 1.22083953, 0.0052439])
_FIT_BAK = np.poly1d([-0.13166888, 1.60915514, -0.39604546])
_FIT_OVRL = np.poly1d([-0.06766283, 1.11546468, 0.04602535])


@dataclass(frozen=True)
class DnsmosScores:
    """Mean opinion scores on a 1-5 scale: speech signal (SIG), background (BAK), overall (OVRL)."""

    sig: float
    bak: float
    ovrl: float


def model_path() -> Path:
    """Path of `sig_bak_ovr.onnx` inside the installed speechmos package (found without importing it)."""
    spec = importlib.util.find_spec("speechmos")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("speechmos is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "dnsmos_models" / "sig_bak_ovr.onnx"


def windows(audio: np.ndarray) -> np.ndarray:
    """16 kHz mono audio (samples,) -> the scored windows (n_windows, 9.01 s x 16 kHz), as DNSMOS cuts them."""
    length = int(WINDOW_S * DNSMOS_RATE)
    if audio.size == 0:
        audio = np.zeros(length, dtype=np.float32)
    while audio.size < length:  # short clips are repeated, as in the reference scorer
        audio = np.concatenate([audio, audio])
    n = int(np.floor(audio.size / DNSMOS_RATE) - WINDOW_S) + 1
    hop = int(HOP_S * DNSMOS_RATE)
    # ends computed as the reference scorer does, in floats: a window whose end rounds one sample short is
    # skipped there, so it is skipped here too (scores match speechmos to float noise)
    cuts = [(i * hop, int((i + WINDOW_S) * hop)) for i in range(n)]
    segs = [audio[a:b] for a, b in cuts if b - a >= length and b <= audio.size]
    if not segs:
        segs = [audio[:length]]
    return np.stack(segs).astype(np.float32)  # (n_windows, 144160)


class Dnsmos:
    """The DNSMOS P.835 network, loaded on first use; `score` takes audio at any sample rate."""

    def __init__(self, threads: int = 0) -> None:
        self._threads = threads
        self._session = None
        self.model_id = f"dnsmos-p835-{_file_sha(model_path())}"

    def _load(self):
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            if self._threads:
                options.intra_op_num_threads = self._threads
            self._session = ort.InferenceSession(str(model_path()), options, providers=["CPUExecutionProvider"])
        return self._session

    def score(self, samples: np.ndarray, sample_rate: int) -> DnsmosScores:
        """SIG / BAK / OVRL of mono float audio in [-1, 1] at `sample_rate` Hz."""
        session = self._load()
        segs = windows(to_rate(samples, sample_rate, DNSMOS_RATE))
        raw = np.concatenate([session.run(None, {"input_1": segs[i: i + BATCH]})[0]
                              for i in range(0, len(segs), BATCH)])  # (n_windows, 3): sig, bak, ovrl
        return DnsmosScores(sig=float(np.mean(_FIT_SIG(raw[:, 0]))), bak=float(np.mean(_FIT_BAK(raw[:, 1]))),
                            ovrl=float(np.mean(_FIT_OVRL(raw[:, 2]))))


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
