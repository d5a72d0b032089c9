"""Every error the speech server answers, in one table: its HTTP status, OpenAI's error `type` and our `code`.

`request.py` (the body's checks) and `app.py` (engine, queue and loading errors) answer from this table, and so
does the stand-in server of the tests (`tests/http_standin.py`), so a client tested against either sees the same
statuses and codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

INVALID_REQUEST = "invalid_request_error"  # OpenAI's `type` for the client's mistakes
RATE_LIMIT = "rate_limit_error"
SERVER_ERROR = "server_error"


@dataclass(frozen=True)
class ErrorKind:
    """One kind of error: the HTTP `status`, the `code` clients and /metrics see, OpenAI's `type`."""

    status: int
    code: str
    type: str = INVALID_REQUEST


INVALID_JSON = ErrorKind(400, "invalid_json")
MISSING_PARAMETER = ErrorKind(400, "missing_required_parameter")
INVALID_TYPE = ErrorKind(400, "invalid_type")
INPUT_TOO_LONG = ErrorKind(413, "input_too_long")
INVALID_VOICE = ErrorKind(400, "invalid_voice")
UNSUPPORTED_FORMAT = ErrorKind(400, "unsupported_format")
UNSUPPORTED_STREAM_FORMAT = ErrorKind(400, "unsupported_stream_format")
INVALID_SPEED = ErrorKind(400, "invalid_speed")
EMPTY_INPUT = ErrorKind(400, "empty_input")
UNSPEAKABLE_INPUT = ErrorKind(400, "unspeakable_input")
INVALID_INPUT = ErrorKind(400, "invalid_input")  # any other text the engine refuses
QUEUE_FULL = ErrorKind(429, "queue_full", RATE_LIMIT)  # answered with Retry-After
SYNTHESIS_FAILED = ErrorKind(500, "synthesis_failed", SERVER_ERROR)  # mid-stream: the body ends early instead
LOADING = ErrorKind(503, "loading", SERVER_ERROR)  # answered with Retry-After
NO_ENGINE = ErrorKind(503, "no_engine", SERVER_ERROR)  # --workers N: no engine process is left (a 503: Retry-After)
CLIENT_CLOSED = ErrorKind(499, "client_closed")  # nginx's status for a client that left: counted, never received

ERRORS: dict[str, ErrorKind] = {k.code: k for k in (
    INVALID_JSON, MISSING_PARAMETER, INVALID_TYPE, INPUT_TOO_LONG, INVALID_VOICE, UNSUPPORTED_FORMAT,
    UNSUPPORTED_STREAM_FORMAT, INVALID_SPEED, EMPTY_INPUT, UNSPEAKABLE_INPUT, INVALID_INPUT, QUEUE_FULL,
    SYNTHESIS_FAILED, LOADING, NO_ENGINE, CLIENT_CLOSED)}
RETRY_STATUSES = (QUEUE_FULL.status, LOADING.status)  # answers that carry Retry-After


class ApiError(Exception):
    """An error answered as OpenAI does: `kind`'s HTTP status and `{"error": {message, type, param, code}}`."""

    def __init__(self, kind: ErrorKind, message: str, param: Optional[str] = None) -> None:
        super().__init__(message)
        self.kind, self.message, self.param = kind, message, param
        self.status, self.code, self.type = kind.status, kind.code, kind.type

    def body(self) -> dict[str, Any]:
        """The JSON body OpenAI's clients parse."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
