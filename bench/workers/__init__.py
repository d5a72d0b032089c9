"""Worker processes: one per contender (engine x tier x hardware), driven by the parent over a pipe.

`protocol` holds the messages, `worker` the process itself, `client` the parent's handle (limits, RSS)."""

from bench.workers.client import Worker, WorkerFailure
from bench.workers.protocol import WorkerSpec

__all__ = ["Worker", "WorkerFailure", "WorkerSpec"]
