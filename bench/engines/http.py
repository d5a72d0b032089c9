"""An engine behind an HTTP endpoint, measured as a client sees it (`engine=http`).

    engine.api=openai  POST {url} (OpenAI's /v1/audio/speech shape), `pcm` or `wav` streamed in chunks;
                       GET /health on the same host gives the voice, tier and sample rate.
    engine.api=piper   POST {url} (Piper's Flask server, /synthesize): one whole WAV per request;
                       GET /voices gives the voice's config (its sample rate).

What differs between the two is one entry of `bench.engines.http_api.APIS` each; this adapter names neither.

Time to first audio is the time from the call (connect + request sent) to the first audio bytes received (past a
WAV header); RTF comes from the decoded audio's length. Each request opens its own connection, so calls from many
threads run concurrently. With `engine.server` set (what `sweep.servers` builds) the adapter first starts that
server in a process of its own on 127.0.0.1 and a free port (`bench.servers`), and stops it on `close`.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence
from urllib.parse import urlsplit

from tts_core.audio import Audio

from bench.engines.http_api import api_named
from bench.engines.http_wire import FORMATS, PcmDecoder, error_message

LOOPBACK = ("127.0.0.1", "localhost", "::1")  # hosts whose server runs on this machine

READ_BYTES = 1 << 16  # at most this many bytes per read; a chunked response returns one chunk per read


class HttpServerUnavailable(ConnectionError):
    """Nothing answers at the engine's URL; the message says which URL and how to start the server."""


class HttpEngineError(RuntimeError):
    """The server answered a request with an error (the message carries its status and OpenAI-shaped error)."""


class HttpEngine:
    """Follows `bench.engines.base.BenchEngine` over an HTTP TTS server (see the module docstring).

    `voice` and `model_id` are the OpenAI request's `voice` and `model`; `timeout_s` bounds each read (seconds);
    `server` (a dict, `bench.servers.ServerSpec` fields) makes the adapter start and stop the server itself.
    """

    measured_code = ("bench/engines/http.py", "bench/engines/http_wire.py")
    serves_one_tier = True  # a server speaks the tier it was started with: no in-process baseline beside it

    def __init__(self, name: str = "http", url: str = "http://127.0.0.1:8000/v1/audio/speech", api: str = "openai",
                 voice: str = "default", model_id: str = "tts_core", response_format: str = "pcm",
                 timeout_s: float = 120.0, server: Optional[dict[str, Any]] = None) -> None:
        self.api = api_named(api)
        if response_format not in FORMATS:
            raise ValueError(f"`engine.response_format` = {response_format!r} is not allowed; expected "
                             f"{' or '.join(FORMATS)}.")
        if not timeout_s > 0:
            raise ValueError(f"`engine.timeout_s` = {timeout_s!r} is not allowed; expected seconds > 0.")
        self.name, self.url, self.voice, self.model_id = name, url, voice, model_id
        self.response_format = self.api.response_format(response_format)
        self.timeout_s = timeout_s
        self.server = dict(server) if server else None
        self.tier = ""
        self._rate: Optional[int] = None
        self._health: dict[str, Any] = {}
        self._managed: Any = None
        self._check_url()

    def _check_url(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"`engine.url` = {self.url!r} is not allowed; expected http://HOST:PORT/PATH "
                             "(e.g. http://127.0.0.1:8000/v1/audio/speech).")

    # ---- loading ------------------------------------------------------------------------------
    def load(self, *, model: str, device: str, tier: str, seed: Optional[int]) -> dict[str, Any]:
        """Start the managed server if there is one, then ask the server what it serves. Raises
        `HttpServerUnavailable` when nothing answers and ValueError when it serves another voice or tier."""
        info: dict[str, Any] = {"source": "http", "url": self.url, "api": self.api.name}
        if self.server is not None:
            from bench.servers import ManagedServer, ServerSpec

            spec = ServerSpec(**self.server)
            self._managed = ManagedServer(spec, _server_log(spec.label))
            self.url = self._managed.start(model=model, device=device, seed=seed)
            info.update(url=self.url, server=self._managed.facts())
        self._health = self._get_health()
        self._check_served(model, tier)
        self.tier = tier
        return info

    def _get_health(self) -> dict[str, Any]:
        path = self.api.health_path
        status, body = self._request("GET", path, None, timeout_s=min(self.timeout_s, 10.0))
        if status != 200:
            raise HttpServerUnavailable(f"{self._base()}{path} answered {error_message(status, body)}; "
                                        "the server is not ready.")
        health = self.api.health(json.loads(body.decode("utf-8")))
        self._rate = health["sample_rate"]
        return health

    def _check_served(self, model: str, tier: str) -> None:
        if not self.api.names_what_it_serves:
            return
        served_tier, voice = self._health.get("tier"), self._health.get("voice")
        if served_tier is not None and served_tier != tier:
            raise ValueError(f"the server at {self.url} serves tier {served_tier!r}, the sweep asked for `tier.name` = "
                             f"{tier!r}; ask for +tier={served_tier} (or start the server with --tier {tier}).")
        if voice is not None and voice != model:
            raise ValueError(f"the server at {self.url} speaks voice {voice!r}, the sweep asked for `model.name` = "
                             f"{model!r}; use model={voice} (or start the server with --voice {model}).")

    @property
    def sample_rate(self) -> int:
        if self._rate is None:
            raise RuntimeError(f"{type(self).__name__}: call load() first.")
        return self._rate

    # ---- requests -----------------------------------------------------------------------------
    def _base(self) -> str:
        parts = urlsplit(self.url)
        return f"http://{parts.hostname}:{parts.port or 80}"

    def _connect(self, method: str, path: str, body: Optional[dict[str, Any]],
                 timeout_s: float) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout_s)
        payload = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        try:
            conn.request(method, path, body=payload, headers=headers)
            return conn, conn.getresponse()
        except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected) as exc:
            conn.close()
            raise HttpServerUnavailable(f"no server answers at {self._base()}{path} ({type(exc).__name__}); "
                                        f"{self.api.start_hint}.") from None
        except socket.timeout:
            conn.close()
            raise TimeoutError(f"{self._base()}{path}: no answer within {timeout_s:g} s (engine.timeout_s).") from None

    def _request(self, method: str, path: str, body: Optional[dict[str, Any]], timeout_s: float) -> tuple[int, bytes]:
        conn, resp = self._connect(method, path, body, timeout_s)
        try:
            return resp.status, resp.read()
        finally:
            conn.close()

    def stream(self, text: str, **scales: Optional[float]) -> Iterator[Audio]:
        """The response's audio as it arrives: one `Audio` per read that completed samples."""
        rate = self.sample_rate
        body = self.api.body(text, self.voice, self.model_id, self.response_format, **scales)
        conn, resp = self._connect("POST", urlsplit(self.url).path or "/", body, self.timeout_s)
        try:
            if resp.status != 200:
                raise HttpEngineError(f"{self.url}: {error_message(resp.status, resp.read())}"
                                      + (f"; Retry-After {resp.getheader('Retry-After')} s" if resp.status == 429 else ""))
            header_rate = resp.getheader("X-Sample-Rate")
            if header_rate is not None and int(header_rate) != rate:
                raise HttpEngineError(f"{self.url}: X-Sample-Rate {header_rate} differs from the {rate} Hz /health gave.")
            decoder = PcmDecoder(wav=self.response_format == "wav", sample_rate=rate)
            while True:
                try:
                    data = resp.read1(READ_BYTES)
                except socket.timeout:
                    raise TimeoutError(f"{self.url}: no bytes for {self.timeout_s:g} s (engine.timeout_s).") from None
                if not data:
                    break
                samples = decoder.feed(data)
                if samples.size:
                    yield Audio(samples, decoder.sample_rate or rate)
        finally:
            conn.close()

    def synthesize(self, text: str, **scales: Optional[float]) -> Audio:
        return Audio.concat(self.stream(text, **scales), self.sample_rate)

    def synthesize_batch(self, texts: Sequence[str], **scales: Optional[float]) -> list[Audio]:
        """One request per text, all sent at once (the server may batch them; the client does not serialize)."""
        if not texts:
            return []
        with ThreadPoolExecutor(max_workers=len(texts), thread_name_prefix="http-batch") as pool:
            return list(pool.map(lambda t: self.synthesize(t, **scales), texts))

    # ---- facts ----------------------------------------------------------------------------------
    def work_pids(self) -> list[int]:
        """The processes that do this contender's work besides the worker: a server on this machine that the sweep
        did not start (one it started is the worker's child already), so the interference check counts its CPU as
        the contender's own, not as another process's (`bench.measure.interference`). Empty for a remote server."""
        parts = urlsplit(self.url)
        if self._managed is not None or parts.hostname not in LOOPBACK:
            return []
        import psutil

        try:
            return sorted({c.pid for c in psutil.net_connections(kind="tcp")
                           if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == parts.port and c.pid})
        except (psutil.Error, OSError):
            return []

    def describe(self) -> dict[str, Any]:
        served = self._health.get("tier") or self.tier
        return {
            "name": self.name,
            "device": str((self.server or {}).get("device") or self._health.get("device") or "cpu"),
            "threads": None,
            "tier": {"name": self.tier, "served": True, "served_tier": served, "api": self.api.name, "url": self.url,
                     "response_format": self.response_format},
            "tier_name": self.tier,
            "fidelity_gate": None,  # int16 over the wire: no sample-exact gate; heard quality still applies
            "uses_torch": False,
            "comparable_quality": True,
            "batching": "server-side, if any: synthesize_batch sends one request per text, all at once",
            "streaming": self.api.streaming,
            "seeded": None,
            "server": {k: v for k, v in self._health.items() if k != "status"},
            "managed_server": self._managed.facts() if self._managed is not None else None,
        }

    def close(self) -> None:
        if self._managed is not None:
            self._managed.stop()
            self._managed = None


def _server_log(label: str) -> Path:
    """Where a managed server's output goes: next to this worker's own log (its stderr, when that is a file),
    else the current directory's `logs/`."""
    try:
        worker_log = Path(os.readlink("/proc/self/fd/2"))
    except OSError:
        worker_log = None
    folder = worker_log.parent if worker_log is not None and worker_log.is_file() else Path("logs")
    stem = worker_log.stem if worker_log is not None and worker_log.is_file() else "server"
    safe = "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in label)
    return folder / f"{stem}.server-{safe}.log"
