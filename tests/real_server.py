"""Our real speech server for the tests: `python -m tts_core.serve` on 127.0.0.1 and a free port (`--port 0`),
the tiny voice, up in a few seconds. A test module starts one in a module-scoped fixture and reuses it:

    @pytest.fixture(scope="module")
    def server() -> Iterator[RealServer]:
        with running("--max-queue", "8") as s:
            yield s

Needs the `server` extra (FastAPI, uvicorn); without it the tests that use it skip (fail under TTS_STRICT_DEPS=1).
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
from typing import Iterator, Optional

from optional_deps import require

VOICE = "tiny"
TIER = "baseline"
SEED = 0  # the server's default --seed: the engine in the test loads with the same, for the same samples
START_TIMEOUT_S = 120.0  # guards against a hang only: the tiny voice is up in seconds
STOP_TIMEOUT_S = 15.0
ERR_LINES = 400  # of the server's stderr kept for messages
SPEECH_PATH = "/v1/audio/speech"


class RealServer:
    """A server subprocess; `url` (http://127.0.0.1:PORT) once its 'listening on' line came.

    `args` go after the defaults (`--voice tiny --tier baseline --host 127.0.0.1 --port 0 --log-level warning`),
    so a later `--tier X` wins. Raises RuntimeError with the server's stderr when it exits or never listens."""

    def __init__(self, *args: str, default_sigint: bool = False) -> None:
        require("fastapi")
        require("uvicorn")
        cmd = [sys.executable, "-m", "tts_core.serve", "--voice", VOICE, "--tier", TIER, "--host", "127.0.0.1",
               "--port", "0", "--log-level", "warning", *args]
        # a shell's background job inherits SIGINT ignored, and Python then keeps ignoring it: `default_sigint`
        # gives the server SIGINT's default, as a terminal's Ctrl-C finds it
        restore = (lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) if default_sigint else None
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, "OMP_NUM_THREADS": "1"}, preexec_fn=restore)
        lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._err: "collections.deque[str]" = collections.deque(maxlen=ERR_LINES)

        def read_out() -> None:
            for line in self.proc.stdout:  # type: ignore[union-attr]
                lines.put(line)
            lines.put(None)  # the server closed its stdout: it exited

        def read_err() -> None:  # drained all along, so a chatty server never blocks on a full pipe
            for line in self.proc.stderr:  # type: ignore[union-attr]
                self._err.append(line)

        threading.Thread(target=read_out, name="real-server-stdout", daemon=True).start()
        self._err_reader = threading.Thread(target=read_err, name="real-server-stderr", daemon=True)
        self._err_reader.start()
        try:
            line = lines.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            line = None
        if line is None or not line.startswith("listening on http://127.0.0.1:"):
            self.stop()
            raise RuntimeError(f"the server did not start (exit code {self.proc.returncode}, first line {line!r}); "
                               f"its stderr ends: {self.stderr()[-2000:]}")
        self.url = line.split()[-1]

    def stderr(self) -> str:
        """The last ERR_LINES lines of the server's stderr; complete once it has exited."""
        if self.proc.poll() is not None:
            self._err_reader.join(STOP_TIMEOUT_S)
        return "".join(self._err)

    @property
    def speech_url(self) -> str:
        """Where `POST /v1/audio/speech` goes (what `engine.url` takes)."""
        return f"{self.url}{SPEECH_PATH}"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT_S."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def running(*args: str) -> Iterator[RealServer]:
    """A `RealServer` with `args`, stopped on leaving."""
    server = RealServer(*args)
    try:
        yield server
    finally:
        server.stop()
