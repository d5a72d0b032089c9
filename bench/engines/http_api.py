"""The HTTP APIs the harness speaks to a TTS server, one table: `APIS[name]` (`engine.api`, and the API a managed
server of `bench.servers` speaks). Each entry holds its paths, the response formats it sends, how to build a request
body, how to read its health answer, and what to tell a user when nothing answers.

    openai   OpenAI's speech API as tts_core.serve speaks it: POST /v1/audio/speech, pcm or wav streamed in chunks;
             GET /health gives voice, tier and sample rate
    piper    Piper's Flask server (python -m piper.http_server): POST /synthesize returns one whole WAV;
             GET /voices gives {voice id: voice config}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from bench.engines.http_wire import openai_request, piper_request


@dataclass(frozen=True)
class HttpApi:
    """One server API. `formats`: the response formats it sends (the first when the asked one is not among them);
    `names_what_it_serves`: its health answer names the voice and tier the server was started with (the adapter
    then checks them against the sweep's); `streaming`: how its audio arrives, as the rows describe it."""

    name: str
    speech_path: str
    health_path: str
    formats: tuple[str, ...]
    names_what_it_serves: bool
    streaming: str
    start_hint: str

    def response_format(self, asked: str) -> str:
        """The format this API will send when `asked` is requested."""
        return asked if asked in self.formats else self.formats[0]

    def body(self, text: str, voice: str, model_id: str, response_format: str, noise_scale: Optional[float] = None,
             length_scale: Optional[float] = None, noise_w: Optional[float] = None) -> dict[str, Any]:
        """The JSON body of one speech request (`voice`, `model_id`: the OpenAI request's; scales left None: the
        voice's defaults; `length_scale` > 1 speaks slower); raises ValueError naming what the API cannot take."""
        raise NotImplementedError

    def health(self, data: Any) -> dict[str, Any]:
        """The health answer's JSON as `{"sample_rate": Hz, "voice": ..., "tier": ..., ...}`."""
        raise NotImplementedError


class OpenAiApi(HttpApi):
    def body(self, text: str, voice: str, model_id: str, response_format: str, noise_scale: Optional[float] = None,
             length_scale: Optional[float] = None, noise_w: Optional[float] = None) -> dict[str, Any]:
        if noise_scale is not None or noise_w is not None:
            raise ValueError("`noise_scale` / `noise_w`: OpenAI's speech API has no noise scales; leave them None "
                             "(the server's defaults) with engine.api=openai.")
        speed = 1.0 / length_scale if length_scale else 1.0
        return openai_request(text, voice, model_id, response_format, speed)

    def health(self, data: Any) -> dict[str, Any]:
        return dict(data, sample_rate=int(data["sample_rate"]))


class PiperApi(HttpApi):
    def body(self, text: str, voice: str, model_id: str, response_format: str, noise_scale: Optional[float] = None,
             length_scale: Optional[float] = None, noise_w: Optional[float] = None) -> dict[str, Any]:
        return piper_request(text, noise_scale, length_scale, noise_w)

    def health(self, data: Any) -> dict[str, Any]:
        voice_id, config = next(iter(data.items()))  # {voice id: voice config}
        return {"voice": voice_id, "tier": "default", "sample_rate": int(config["audio"]["sample_rate"])}


OPENAI = OpenAiApi(
    name="openai", speech_path="/v1/audio/speech", health_path="/health", formats=("pcm", "wav"),
    names_what_it_serves=True, streaming="chunks as the server sends them",
    start_hint=("start it first, e.g. `python -m tts_core.serve --voice tiny --tier advanced --host 127.0.0.1 "
                "--port 8000`, or let the sweep start it: 'sweep.servers=[tts_core:advanced]'"))
PIPER = PiperApi(
    name="piper", speech_path="/synthesize", health_path="/voices", formats=("wav",), names_what_it_serves=False,
    streaming="whole response: Piper's server returns one WAV, so first audio = whole synthesis",
    start_hint=("start it first, e.g. `python -m piper.http_server -m MODEL.onnx --host 127.0.0.1 --port 5000` (needs "
                "flask), or let the sweep start it: 'sweep.servers=[piper-http]'"))
APIS: dict[str, HttpApi] = {api.name: api for api in (OPENAI, PIPER)}


def api_named(name: str, field: str = "engine.api") -> HttpApi:
    """The API called `name`; raises ValueError naming `field` and the allowed names."""
    if name not in APIS:
        raise ValueError(f"`{field}` = {name!r} is not allowed; expected one of {', '.join(APIS)}.")
    return APIS[name]
