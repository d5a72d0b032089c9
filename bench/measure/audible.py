"""Time to first *audible* audio: the arrival of the first chunk that holds sound a listener hears, so a stream
that opens with silence gets no credit for it (Coval's benchmarks time the first audible speech the same way).

Audible is relative to the utterance's own level, since voices and engines differ in loudness: the audio is cut
into `FRAME_S` frames, the utterance's level is the `LEVEL_PERCENTILE` percentile of their RMS (a loud click does not
set it), and the first frame within `AUDIBLE_DB` of that level is where the sound starts. The joe voice opens a
sentence with 0-60 ms of near silence, its frames 55-77 dB below that level, and the first syllable rises through
-30 dB within a frame or two (six short sentences, advanced tier): at -30 dB the threshold sits well above the
silence and at the onset. A stream whose first chunk is only silence (a padded or a tiny first chunk) is timed
from the chunk after it.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

FRAME_S = 0.020  # seconds per frame: one analysis window of speech
LEVEL_PERCENTILE = 95.0  # the utterance's level: near its loudest frames, robust to a single click
AUDIBLE_DB = -30.0  # a frame this far below the level (dB) or louder is audible


def first_audible_sample(samples: np.ndarray, sample_rate: int) -> int | None:
    """Index of the first audible sample of `samples` (float, any scale): in the first audible frame, the first
    sample whose magnitude reaches the frame threshold (a frame may straddle silence and sound); None for silence."""
    frame = max(1, int(round(FRAME_S * sample_rate)))
    n = len(samples) // frame
    if n == 0:
        return None
    x = np.asarray(samples[: n * frame], dtype=np.float64).reshape(n, frame)
    rms = np.sqrt((x ** 2).mean(axis=1))  # (n,)
    level = float(np.percentile(rms, LEVEL_PERCENTILE))
    if level <= 0.0:
        return None
    threshold = level * 10 ** (AUDIBLE_DB / 20)
    loud = np.flatnonzero(rms >= threshold)
    if not loud.size:
        return None
    start = int(loud[0]) * frame
    return start + int(np.argmax(np.abs(x[loud[0]]) >= threshold))


def first_audible_s(arrivals_s: Sequence[float], chunk_samples: Sequence[np.ndarray], sample_rate: int) -> float | None:
    """Seconds from the request to the arrival of the chunk holding the first audible frame of the whole stream;
    None when the stream holds no audible frame (or no chunk)."""
    if not chunk_samples:
        return None
    at = first_audible_sample(np.concatenate([np.asarray(c) for c in chunk_samples]), sample_rate)
    if at is None:
        return None
    ends = np.cumsum([len(c) for c in chunk_samples])  # one past each chunk's last sample
    return float(arrivals_s[int(np.searchsorted(ends, at, side="right"))])
