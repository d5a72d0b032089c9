"""The body of `POST /v1/audio/speech`, checked field by field, and OpenAI-shaped errors."""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any

from tts_core.serve.config import DEFAULT_RESPONSE_FORMAT, RESPONSE_FORMATS, SPEED_RANGE, ServeConfig
from tts_core.serve.errors import (INPUT_TOO_LONG, INVALID_JSON, INVALID_SPEED, INVALID_TYPE, INVALID_VOICE,
                                   MISSING_PARAMETER, UNSUPPORTED_FORMAT, UNSUPPORTED_STREAM_FORMAT, ApiError)

__all__ = ["ApiError", "SpeechRequest", "parse_speech_request", "streaming_wav_header"]


@dataclass(frozen=True)
class SpeechRequest:
    """One checked request: the text, the output format and the speed (1.0 = the voice's own pace)."""

    text: str
    response_format: str
    speed: float


def parse_speech_request(raw: bytes, config: ServeConfig, voices: tuple[str, ...]) -> SpeechRequest:
    """Check the JSON body of a speech request; raises `ApiError` (400 or 413) naming the field at fault.

    `voices` are the names accepted for `voice` (the loaded voice and "default"). `model` must be a string
    and is otherwise ignored (one engine is loaded). Whether the text is speakable is the engine's call."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(INVALID_JSON, f"The body is not valid JSON ({exc}); send a JSON object such as "
                                     '{"model": "tts-1", "input": "Hello.", "voice": "default"}.') from None
    if not isinstance(body, dict):
        raise ApiError(INVALID_JSON, f"The body must be a JSON object, got {type(body).__name__}.")
    for name in ("model", "input", "voice"):
        if name not in body:
            raise ApiError(MISSING_PARAMETER, f"`{name}` is required.", name)
        if not isinstance(body[name], str):
            raise ApiError(INVALID_TYPE, f"`{name}` must be a string, got {type(body[name]).__name__}.", name)
    text = body["input"]
    if len(text) > config.max_input_chars:
        raise ApiError(INPUT_TOO_LONG, f"`input` has {len(text):,} characters; at most {config.max_input_chars:,} are "
                                       "accepted in one request: split the text.", "input")
    if body["voice"] not in voices:
        raise ApiError(INVALID_VOICE, f"`voice` = {body['voice']!r} is not loaded; expected one of "
                                      f"{', '.join(voices)}.", "voice")
    fmt = body.get("response_format", DEFAULT_RESPONSE_FORMAT)
    if fmt not in RESPONSE_FORMATS:
        raise ApiError(UNSUPPORTED_FORMAT, f"`response_format` = {fmt!r} is not supported; expected one of "
                                           f"{', '.join(RESPONSE_FORMATS)}.", "response_format")
    stream_format = body.get("stream_format", "audio")
    if stream_format != "audio":
        raise ApiError(UNSUPPORTED_STREAM_FORMAT, f"`stream_format` = {stream_format!r} is not supported; expected "
                                                  "audio.", "stream_format")
    speed = body.get("speed", 1.0)
    lo, hi = SPEED_RANGE
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not math.isfinite(speed) or not lo <= speed <= hi:
        raise ApiError(INVALID_SPEED, f"`speed` = {speed!r} is out of range; expected a number in {lo}..{hi}.", "speed")
    return SpeechRequest(text=text, response_format=fmt, speed=float(speed))


def streaming_wav_header(sample_rate: int) -> bytes:
    """A 44-byte header of 16-bit mono PCM WAV whose sizes are 0xFFFFFFFF: the length is not known while
    streaming (readers take the data to the end of the stream, as with other OpenAI-compatible servers)."""
    unknown = 0xFFFFFFFF
    return (b"RIFF" + struct.pack("<I", unknown) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
            + b"data" + struct.pack("<I", unknown))
