"""The calibration in a process of its own: what the child runs, and the parent's side that starts and waits for it.

A process that measured candidates (fused decoders, FP16/BF16/INT8 copies, oneDNN kernels for every shape it met)
keeps hundreds of MB of RSS after they are dropped; a child that exits hands all of it back. The child loads the
voice by name, runs `tts_core.calibrate.measure.calibrate` with the parent's intra-op threads, stores the result and exits. Its log
records travel back over a queue to the parent's `tts_core` logger, so progress lines still appear.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
import traceback
import types
from pathlib import Path
from typing import Any, Iterator

import torch

from tts_core.errors import CalibrationError
from tts_core.tiers import TierConfig

log = logging.getLogger("tts_core")

CHILD_MARGIN_S = 180.0  # on top of the calibration's own budget: starting Python and torch, loading the voice,
# and the fusion and streaming measurements, which run before the budget is checked (a slow, shared machine)
POLL_S = 0.2  # how often the parent checks that the child is alive while it waits
JOIN_S = 10.0  # how long an exiting child may take to go before it is killed
PARENT_CHECK_S = 1.0  # how often the child checks that its parent is still alive


def calibrate_by_name(voice_name: str, dev: torch.device, tier: TierConfig,
                      threads: int, budget_s: float | None = None) -> tuple[dict[str, Any], Path]:
    """Load `voice_name` as the engine would for `tier`, then calibrate it on `dev` with `threads` intra-op threads:
    the result (stored, or measured now) and the file it is stored in. What the child runs; the command too.
    `budget_s`: the calibration's budget in seconds (None: `measure.BUDGET_S`; a caller that bounds it, such as the
    GPU check, hands its bound to the child this way)."""
    from tts_core.calibrate import measure
    from tts_core.calibrate.stored import stored_path
    from tts_core.flags import flag_scope
    from tts_core.loading import load_voice_for

    voice, frontend, _ = load_voice_for(voice_name, dev, tier)  # as the engine's load does
    with flag_scope(tier, dev):
        torch.set_num_threads(threads)  # the parent's count wins over the tier's (the stored key holds it)
        return measure.calibrate(voice, frontend, dev, tier, budget_s=budget_s), stored_path(voice, dev, tier)


def _watch_parent(ppid: int) -> None:
    """Exit when the parent is gone (killed hard, its queue end closed): a calibration nobody waits for is waste."""
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != ppid:
            os._exit(3)


def _child_main(voice_name: str, device: str, tier: TierConfig, threads: int, budget_s: float, level: int,
                out: Any, ppid: int) -> None:
    """Body of the child: threads first, log records to `out`, calibrate, put ("result", dict) or ("error", text)."""
    torch.set_num_threads(threads)
    threading.Thread(target=_watch_parent, args=(ppid,), name="parent-watch", daemon=True).start()
    logger = logging.getLogger("tts_core")
    logger.handlers[:] = [logging.handlers.QueueHandler(out)]
    logger.setLevel(level)
    logger.propagate = False
    try:
        out.put(("result", calibrate_by_name(voice_name, torch.device(device), tier, threads, budget_s)[0]))
    except BaseException:
        out.put(("error", traceback.format_exc()))
    # Flush the queue, then skip the interpreter's teardown (1-2 s with torch loaded, for nothing).
    out.close()
    out.join_thread()
    os._exit(0)


@contextlib.contextmanager
def _startable() -> Iterator[None]:
    """Start the child from any process, for the length of `start()`:
    - a daemonic one (a benchmark's worker, say): multiprocessing refuses daemons children so none are orphaned,
      and this child watches its parent and exits when it is gone;
    - one whose main script loads an engine at module level, unguarded: spawn re-runs the main script in the
      child, which would load (and calibrate) again. The child needs nothing from `__main__` (its target and
      arguments are tts_core's), so `start()` is shown an empty one."""
    me = mp.current_process()
    was_daemon = me.daemon
    main = sys.modules.get("__main__")
    if was_daemon:
        me.daemon = False
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main
        if was_daemon:
            me.daemon = True


def rerun_hint(voice_name: str, dev: torch.device, tier: TierConfig, threads: int) -> str:
    """The command that runs this calibration alone, with its full output."""
    return (f"python -m tts_core.calibrate --voice {voice_name} --device {dev} --tier {tier.name} "
            f"--threads {threads}")


def run_in_child(voice_name: str, dev: torch.device, tier: TierConfig, budget_s: float) -> dict[str, Any]:
    """Calibrate in a spawned child with this process's intra-op threads and a budget of `budget_s` seconds; its log
    records are handled by this process's loggers as they arrive. Raises `CalibrationError` when the child fails,
    dies or runs past the budget plus `CHILD_MARGIN_S` (it is killed then): never hangs."""
    threads = torch.get_num_threads()
    timeout_s = budget_s + CHILD_MARGIN_S
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_child_main, name="tts-calibration", daemon=True,
                       args=(voice_name, str(dev), tier, threads, budget_s, log.getEffectiveLevel(), out, os.getpid()))
    what = f"calibration of {voice_name} on {dev} for tier {tier.name}"
    hint = rerun_hint(voice_name, dev, tier, threads)
    with _startable():
        proc.start()
    log.info("%s runs in child process %d (%d threads)", what, proc.pid, threads)
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            try:
                item = out.get(timeout=POLL_S)
            except queue.Empty:
                if not proc.is_alive():
                    item = _last_words(out)
                    if item is None:
                        raise CalibrationError(
                            f"{what}: its child process {proc.pid} died without an answer ({_exit_text(proc)}). "
                            f"Run it alone to see why: {hint}") from None
                elif time.monotonic() > deadline:
                    proc.kill()
                    raise CalibrationError(
                        f"{what}: its child process {proc.pid} ran past {timeout_s:.0f} s (the calibration budget "
                        f"plus {CHILD_MARGIN_S:.0f} s) and was killed. Run it alone to see where it stalls: "
                        f"{hint}") from None
                else:
                    continue
            if isinstance(item, logging.LogRecord):
                logger = logging.getLogger(item.name)
                if logger.isEnabledFor(item.levelno):
                    logger.handle(item)
                continue
            kind, payload = item
            if kind == "result":
                return payload
            last = payload.strip().splitlines()[-1]
            raise CalibrationError(f"{what} failed in its child process {proc.pid}: {last}. Run it alone to "
                                   f"reproduce: {hint}\nThe child's traceback:\n{payload}")
    finally:
        proc.join(timeout=JOIN_S)
        if proc.is_alive():
            proc.kill()
            proc.join()
        out.close()
        out.cancel_join_thread()


def _last_words(out: Any) -> Any:
    """What a child that has just exited left in the queue (its answer may arrive after it is gone), else None."""
    try:
        while True:
            item = out.get(timeout=1.0)
            if not isinstance(item, logging.LogRecord):
                return item
            logger = logging.getLogger(item.name)
            if logger.isEnabledFor(item.levelno):
                logger.handle(item)
    except queue.Empty:
        return None


def _exit_text(proc: Any) -> str:
    code = proc.exitcode
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
