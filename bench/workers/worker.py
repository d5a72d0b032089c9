"""The worker process: one contender, loaded once, serving the parent's requests until `close`.

It is started with the `spawn` method, so it has its own memory, thread pool, process-wide torch flags
and kernel caches; nothing one contender does can speed up or slow down another's figures except the
machine itself, which the parent's balanced order spreads over all of them.
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from bench.workers.engine_thread import EngineThread
from bench.workers.protocol import WorkerSpec, reply_error, reply_ok

log = logging.getLogger("bench.worker")

def _redirect_output(log_file: str) -> None:
    """Send this process's stdout and stderr (C-level too: espeak-ng, oneDNN) to `log_file`."""
    if not log_file:
        return
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, force=True,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (a sweep killed with -9 leaves no orphan)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _set_threads(threads: int) -> None:
    """Thread pools are sized before torch is imported (OpenMP reads the variables once)."""
    if threads > 0:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[name] = str(threads)


def _own_audio_cache(contender: str) -> str:
    """Give this contender's engine an audio-cache root of its own (its tiers' folders go below it), so no other
    worker, not even one of the same tier on other hardware in a parallel job, reads or clears its entries.
    Returns the folder."""
    from tts_core.constants import ENV_AUDIO_CACHE_DIR, audio_cache_dir

    os.environ[ENV_AUDIO_CACHE_DIR] = str(audio_cache_dir(contender))  # "<cache>/audio/<contender>"
    return os.environ[ENV_AUDIO_CACHE_DIR]


class WorkerState:
    """The contender this process holds, and the ops the parent may call on it."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.adapter: Any = None
        # every op's engine work runs on this one thread, the load included: the serving ops' dispatchers hand their
        # calls to it, so no second OpenMP team slows them (bench.serve.engine_thread)
        self.engine_thread = EngineThread(name="engine")

    def _sync(self) -> None:
        if self.spec.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()

    def _clear(self) -> None:
        clear = getattr(self.adapter, "clear_cache", None)
        if callable(clear):
            clear()

    def load(self) -> dict[str, Any]:
        """Build the adapter and load the voice, timed from a cold start of this process's engine."""
        from hydra.utils import get_class, instantiate

        from bench.env import collect_env

        if self.spec.threads > 0:
            import torch

            torch.set_num_threads(self.spec.threads)
        available = getattr(get_class(self.spec.engine["_target_"]), "available", None)
        reason = available() if callable(available) else None
        if reason:
            return {"skipped": reason}
        self.adapter = instantiate(self.spec.engine, _convert_="all")
        self._sync()
        t0 = time.perf_counter()
        info = self.adapter.load(model=self.spec.model, device=self.spec.device, tier=self.spec.tier, seed=self.spec.seed)
        self._sync()
        load_s = time.perf_counter() - t0
        work_pids = getattr(self.adapter, "work_pids", None)  # a server of its own, outside this process
        return {"load_s": load_s, "load_info": info, "describe": self.adapter.describe(),
                "thread": threading.current_thread().name,  # the engine thread (bench.workers.engine_thread)
                "env": collect_env(self.spec.device), "sample_rate": self.adapter.sample_rate,
                "work_pids": list(work_pids()) if callable(work_pids) else []}

    def round(self, text: str, warm: bool = False, audio_path: str | None = None) -> dict[str, Any]:
        """One timed round of the workload on `text`; the audio cache is cleared first (untimed) unless `warm`.
        Housekeeping the engine has pending runs after the clock stops; with `audio_path` the round's audio is
        then written there as a 16-bit WAV (after the clock, for the heard-quality pass) and named in the answer."""
        from bench.measure.timing import run_round

        if not warm:
            self._clear()
        result = run_round(self.adapter, self.spec.workload, text, self.spec.device)
        housekeep = getattr(self.adapter, "housekeep", None)
        housekept = bool(housekeep()) if callable(housekeep) else False
        out = dict(result.figures(), chars=len(text), housekeeping_after=housekept)
        if audio_path:
            Path(audio_path).parent.mkdir(parents=True, exist_ok=True)
            result.audio.save_wav(audio_path)
            out["audio_file"] = audio_path
        return out

    def fidelity(self, text: str) -> dict[str, Any]:
        """Noise-free samples of `text` (float32) and the sample rate, for the fidelity gate."""
        from bench.measure.timing import ZERO_NOISE

        self._clear()
        audio = self.adapter.synthesize(text, **ZERO_NOISE)
        return {"samples": audio.samples, "sample_rate": audio.sample_rate}

    def sample(self, text: str, path: str, max_s: float) -> dict[str, Any]:
        """Save the first `max_s` seconds of `text` spoken with the default scales as a WAV at `path`; the whole
        audio comes back too (for the heard-quality pass)."""
        from tts_core.audio import Audio

        self._clear()
        audio = self.adapter.synthesize(text)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Audio(audio.samples[: int(max_s * audio.sample_rate)], audio.sample_rate).save_wav(path)
        return {"path": path, "audio_s": audio.duration, "samples": audio.samples, "sample_rate": audio.sample_rate}

    def stages(self, text: str) -> dict[str, float] | None:
        """Seconds per stage of one noise-free synthesis of `text` (the noise-free run `flops` counts, so each
        stage's FLOPs over its seconds is its achieved rate), and `audio_s`, the seconds of audio that synthesis
        made (tts_core reports it from the profiled run; for an adapter that does not, an untimed second
        noise-free synthesis, whose durations are deterministic); None for an engine that cannot time its stages."""
        from bench.measure.timing import ZERO_NOISE

        profile = getattr(self.adapter, "profile_stages", None)
        if not callable(profile):
            return None
        self._clear()
        out = dict(profile(text, **ZERO_NOISE))
        if "audio_s" not in out:
            out["audio_s"] = self.adapter.synthesize(text, **ZERO_NOISE).duration
        return out

    def flops(self, text: str) -> dict[str, Any] | None:
        """FLOPs of one noise-free synthesis of `text`, in total and per stage, counted on this (eager fp32)
        engine; None for an engine without a torch model."""
        from bench.measure.compute import count_stage_flops, stage_classes
        from bench.measure.timing import ZERO_NOISE

        model = getattr(getattr(self.adapter, "engine", None), "model", None)
        if model is None:
            return None
        self._clear()
        counted, audio = count_stage_flops(lambda: self.adapter.synthesize(text, **ZERO_NOISE), stage_classes(model))
        return dict(counted, audio_s=audio.duration)

    def peak(self, seconds: float = 0.5) -> dict[str, float]:
        from bench.measure.compute import matmul_peaks

        return matmul_peaks(self.spec.device, seconds)

    def memory(self) -> dict[str, Any]:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        out: dict[str, Any] = {"max_rss_mb": peak}
        if self.spec.device.startswith("cuda"):
            import torch

            out.update(cuda_max_allocated_mb=torch.cuda.max_memory_allocated() / 2**20,
                       cuda_max_reserved_mb=torch.cuda.max_memory_reserved() / 2**20)
        return out

    def serve(self, scenario: dict[str, Any], samples: list[str], out_dir: str) -> list[dict[str, Any]]:
        """Run a LoadGen scenario over this contender; LoadGen's logs go under `out_dir`."""
        from bench.serve.config import ScenarioConfig
        from bench.serve.run import run_scenario

        return run_scenario(self.adapter, ScenarioConfig(**scenario), samples, Path(out_dir), self.engine_thread)

    def concurrency(self, settings: dict[str, Any], seed: int) -> list[dict[str, Any]]:
        """The concurrency curve over this contender (`bench.serve.curve.run_curve`): one dict of row figures per
        level; every request a fresh sentence from generator seed `seed`."""
        from bench.serve.curve import run_curve
        from bench.serve.curve_config import CurveConfig

        return run_curve(self.adapter, CurveConfig(**settings), seed, self.engine_thread)

    def close(self) -> None:
        if self.adapter is not None:
            self.adapter.close()
            self.adapter = None


def worker_main(conn: Any, spec_dict: dict[str, Any], parent_pid: int) -> None:
    """Entry point of the spawned process: answer requests on `conn` until `close` or the pipe closes."""
    _die_with_parent(parent_pid)
    spec = WorkerSpec(**spec_dict)
    _redirect_output(spec.log_file)
    _set_threads(spec.threads)
    _own_audio_cache(spec.contender)
    state = WorkerState(spec)
    ops: dict[str, Callable[..., Any]] = {
        "load": state.load, "round": state.round, "fidelity": state.fidelity, "sample": state.sample,
        "stages": state.stages, "flops": state.flops, "peak": state.peak, "memory": state.memory, "serve": state.serve,
        "concurrency": state.concurrency, "close": state.close,
    }
    on_caller = {"serve", "concurrency"}  # ops whose clients wait here and hand engine calls to the engine thread
    log.info("worker for %s started (pid %d)", spec.contender, os.getpid())
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent went away
            break
        op = message.get("op")
        try:
            args = message.get("args", {})
            value = ops[op](**args) if op in on_caller else state.engine_thread.call(ops[op], **args)
            conn.send(reply_ok(value))
        except Exception as exc:  # the parent turns this into a failed row and goes on
            traceback.print_exc()
            conn.send(reply_error(exc, traceback.format_exc(limit=12)))
        if op == "close":
            break
    conn.close()
