"""Audio off the wire: int16 PCM (raw, or behind a WAV header that may be a streaming one) decoded to float32 as
the bytes arrive, and the two request shapes an HTTP TTS server speaks (OpenAI's speech API, Piper's Flask server).

Kept apart from the adapter (`bench/engines/http.py`) so the stand-in servers of the tests and the adapter share
one definition of each shape.
"""

from __future__ import annotations

import json
import struct
from typing import Any, Optional

import numpy as np

FORMATS = ("pcm", "wav")
STREAMING_WAV_SIZE = 0xFFFFFFFF  # a streaming WAV header's RIFF and data sizes: unknown length
PCM_SCALE = 32768.0  # int16 -> float32 in [-1, 1)


class WireFormatError(ValueError):
    """The server's bytes are not the audio the adapter asked for (not 16-bit mono PCM, a broken WAV header)."""


def openai_request(text: str, voice: str, model_id: str, response_format: str, speed: float) -> dict[str, Any]:
    """The JSON body of OpenAI's `POST /v1/audio/speech` (speed 1.0 = the voice's own pace)."""
    return {"model": model_id, "input": text, "voice": voice, "response_format": response_format, "speed": speed}


def piper_request(text: str, noise_scale: Optional[float], length_scale: Optional[float],
                  noise_w: Optional[float]) -> dict[str, Any]:
    """The JSON body of Piper's `POST /synthesize`; scales left None are not sent (the voice's defaults)."""
    body: dict[str, Any] = {"text": text}
    for key, value in (("noise_scale", noise_scale), ("length_scale", length_scale), ("noise_w_scale", noise_w)):
        if value is not None:
            body[key] = float(value)
    return body


def error_message(status: int, body: bytes) -> str:
    """A server's error answer in one line: OpenAI's `{"error": {"message", "type", "code"}}` when it is that shape,
    else the start of the body."""
    try:
        err = json.loads(body.decode("utf-8")).get("error")
    except (ValueError, UnicodeDecodeError, AttributeError):
        err = None
    if isinstance(err, dict):
        tail = ", ".join(f"{k} {err[k]!r}" for k in ("type", "param", "code") if err.get(k) is not None)
        return f"HTTP {status}: {err.get('message')}" + (f" ({tail})" if tail else "")
    text = body[:300].decode("utf-8", errors="replace").strip()
    return f"HTTP {status}: {text or '(empty body)'}"


def wav_header(sample_rate: int, n_samples: Optional[int] = None) -> bytes:
    """A 44-byte 16-bit mono WAV header; `n_samples` None gives the streaming sizes (0xFFFFFFFF)."""
    data = STREAMING_WAV_SIZE if n_samples is None else 2 * n_samples
    riff = STREAMING_WAV_SIZE if n_samples is None else 36 + data
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate,
            2 * sample_rate, 2, 16) + b"data" + struct.pack("<I", data))


class PcmDecoder:
    """Turns the bytes of one response, as they arrive, into float32 samples.

    `wav=True`: a RIFF header comes first (its `fmt ` chunk gives the rate; chunks before `data` are skipped);
    `header_done` says when the audio proper starts. An odd byte is held until its partner arrives.
    """

    def __init__(self, wav: bool, sample_rate: Optional[int] = None) -> None:
        self.wav = wav
        self.sample_rate = sample_rate
        self.header_done = not wav
        self._pending = b""

    def feed(self, data: bytes) -> np.ndarray:
        """Float32 samples completed by `data` (possibly none)."""
        buf = self._pending + data
        if not self.header_done:
            start = self._parse_header(buf)
            if start is None:
                self._pending = buf
                return np.zeros(0, np.float32)
            buf = buf[start:]
        usable = len(buf) - len(buf) % 2
        self._pending = buf[usable:]
        return np.frombuffer(buf[:usable], dtype="<i2").astype(np.float32) / PCM_SCALE

    def _parse_header(self, buf: bytes) -> Optional[int]:
        """Offset of the first audio byte once the whole header is in `buf`, else None."""
        if len(buf) < 12:
            return None
        if buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
            raise WireFormatError(f"the response is not a WAV (starts {buf[:12]!r}); expected a RIFF/WAVE header.")
        pos = 12
        while len(buf) >= pos + 8:
            tag, size = buf[pos:pos + 4], struct.unpack("<I", buf[pos + 4:pos + 8])[0]
            if tag == b"data":
                self.header_done = True
                return pos + 8
            if len(buf) < pos + 8 + size:
                return None
            if tag == b"fmt ":
                fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", buf[pos + 8:pos + 24])
                if fmt != 1 or channels != 1 or bits != 16:
                    raise WireFormatError(f"the WAV holds format {fmt}, {channels} channel(s), {bits} bits; "
                                          "expected 16-bit mono PCM (format 1).")
                self.sample_rate = rate
            pos += 8 + size + size % 2
        return None
