"""The wire between the parent and a contender's worker process.

The parent sends `{"op": name, "args": {...}}`; the worker answers `{"ok": True, "result": ...}` or
`{"ok": False, "error": "Type: message", "traceback": "..."}`. Ops (see `bench/workers/worker.py`):

    load          cold load of the engine (timed); returns load facts, the resolved tier and the environment
    round         one timed round of the workload on a text (cache cleared first unless `warm`)
    fidelity      noise-free samples of a text (for the gate; untimed)
    sample        a WAV of a text with the default scales, saved for the report
    stages        seconds per pipeline stage (`profile_stages`), when the engine has it
    flops         the model's FLOPs on a text, per stage (eager fp32 reference only)
    peak          this worker's matmul peak in GFLOP/s per precision (a quiet worker, no engine)
    memory        CUDA peaks and the OS's peak RSS of the worker
    serve         a LoadGen scenario over this contender (`bench.serve.run_scenario`): its rows
    concurrency   the concurrency curve over this contender (`bench.serve.curve.run_curve`): figures per level
    close         release the engine and exit

Everything crossing the pipe is picklable: numbers, strings, lists, dicts and numpy arrays.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OPS = ("load", "round", "fidelity", "sample", "stages", "flops", "peak", "memory", "serve", "concurrency", "close")


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process needs to become one contender."""

    contender: str  # engine:tier@hardware, the name rows and logs use
    engine: dict[str, Any] = field(default_factory=dict)  # the engine group's config (_target_, name, options); {} = no engine
    tier: str = "baseline"
    device: str = "cpu"  # resolved: cpu, cuda, cuda:N
    threads: int = 0  # 0 = the library's default (every core the worker may use)
    model: str = "joe-medium"
    seed: int = 0
    workload: dict[str, Any] = field(default_factory=lambda: {"name": "stream"})
    log_file: str = ""  # the worker's stdout and stderr go here

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def request(op: str, **args: Any) -> dict[str, Any]:
    if op not in OPS:
        raise ValueError(f"`op` = {op!r} is not a worker op; expected one of {', '.join(OPS)}.")
    return {"op": op, "args": args}


def reply_ok(result: Any) -> dict[str, Any]:
    return {"ok": True, "result": result}


def reply_error(exc: BaseException, traceback_text: str) -> dict[str, Any]:
    return {"ok": False, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback_text}
