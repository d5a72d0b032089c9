"""The body of `POST /v1/audio/speech`, checked field by field, and OpenAI-shaped errors."""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from typing import Any, Optional

from tts_core.serve.config import DEFAULT_RESPONSE_FORMAT, RESPONSE_FORMATS, SPEED_RANGE, ServeConfig


class ApiError(Exception):
    """An error answered as OpenAI does: HTTP `status` and `{"error": {message, type, param, code}}`."""

    def __init__(self, status: int, message: str, param: Optional[str] = None, code: Optional[str] = None,
                 type_: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type_

    def body(self) -> dict[str, Any]:
        """The JSON body OpenAI's clients parse."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


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
        raise ApiError(400, f"The body is not valid JSON ({exc}); send a JSON object such as "
                            '{"model": "tts-1", "input": "Hello.", "voice": "default"}.', None, "invalid_json") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"The body must be a JSON object, got {type(body).__name__}.", None, "invalid_json")
    for name in ("model", "input", "voice"):
        if name not in body:
            raise ApiError(400, f"`{name}` is required.", name, "missing_required_parameter")
        if not isinstance(body[name], str):
            raise ApiError(400, f"`{name}` must be a string, got {type(body[name]).__name__}.", name, "invalid_type")
    text = body["input"]
    if len(text) > config.max_input_chars:
        raise ApiError(413, f"`input` has {len(text):,} characters; at most {config.max_input_chars:,} are accepted "
                            "in one request: split the text.", "input", "input_too_long")
    if body["voice"] not in voices:
        raise ApiError(400, f"`voice` = {body['voice']!r} is not loaded; expected one of {', '.join(voices)}.",
                       "voice", "invalid_voice")
    fmt = body.get("response_format", DEFAULT_RESPONSE_FORMAT)
    if fmt not in RESPONSE_FORMATS:
        raise ApiError(400, f"`response_format` = {fmt!r} is not supported; expected one of {', '.join(RESPONSE_FORMATS)}.",
                       "response_format", "unsupported_format")
    stream_format = body.get("stream_format", "audio")
    if stream_format != "audio":
        raise ApiError(400, f"`stream_format` = {stream_format!r} is not supported; expected audio.",
                       "stream_format", "unsupported_stream_format")
    speed = body.get("speed", 1.0)
    lo, hi = SPEED_RANGE
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not math.isfinite(speed) or not lo <= speed <= hi:
        raise ApiError(400, f"`speed` = {speed!r} is out of range; expected a number in {lo}..{hi}.", "speed", "invalid_speed")
    return SpeechRequest(text=text, response_format=fmt, speed=float(speed))


def streaming_wav_header(sample_rate: int) -> bytes:
    """A 44-byte header of 16-bit mono PCM WAV whose sizes are 0xFFFFFFFF: the length is not known while
    streaming (readers take the data to the end of the stream, as with other OpenAI-compatible servers)."""
    unknown = 0xFFFFFFFF
    return (b"RIFF" + struct.pack("<I", unknown) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
            + b"data" + struct.pack("<I", unknown))
