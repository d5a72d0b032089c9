"""`run`: the checks in order, gated ones first, within a time budget that counts from the process's start.

The report is rewritten before and after every check, and once more when SIGTERM, SIGINT, SIGHUP or the run's own
hard limit (`HARD_GRACE_S` past the budget) stops it, so a run cut short leaves what it had. The verdict: "fail"
when a gated check failed or any check crashed, else "incomplete" when a gated check did not run (skipped,
interrupted, left out), else "pass"; the exit code is `EXIT_CODES[verdict]`. With `only`, the checks of an earlier
report in the same folder (same device and voice) are kept and the verdict is over both.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Iterator

from bench.gpucheck import bundle, report
from bench.gpucheck.environment import environment, flags_now

NO_CUDA_MESSAGE = "No CUDA device here: nothing was checked (run this on the GPU machine)."
EXIT_CODES = {"pass": 0, "fail": 1, "incomplete": 2}
DEFAULT_BUDGET_S = 330.0
HARD_GRACE_S = 45.0  # the run stops itself this long after its budget, whatever a check is doing
DONE = ("pass", "fail", "error", "info", "n/a")  # a check with one of these statuses ran (or cannot apply)
RUN_FLAGS = ("TF32 off for matmuls and cuDNN convolutions throughout (PyTorch's default leaves cuDNN TF32 on), so "
             "exact switches are judged on fp32 numbers; a tier that asks for TF32 (the anchors' tf32 rows) turns "
             "it on for its own calls")


class Interrupted(BaseException):
    """A signal or the run's hard time limit stopped it (a BaseException, so no check's `except Exception`
    swallows it)."""


def verdict(checks: dict[str, dict[str, Any]], gated: tuple[str, ...]) -> tuple[str, list[str], list[str]]:
    """(verdict, failed, not_run): failed = gated checks that failed and any check that crashed; not_run = gated
    checks absent or not done."""
    failed = [n for n, r in checks.items() if r.get("status") == "error" or (n in gated and r.get("status") == "fail")]
    not_run = [n for n in gated if checks.get(n, {}).get("status") not in DONE]
    return ("fail" if failed else "incomplete" if not_run else "pass"), failed, not_run


@contextlib.contextmanager
def stoppable(hard_limit_s: float) -> Iterator[None]:
    """Turn SIGTERM, SIGINT and SIGHUP, and SIGALRM after `hard_limit_s`, into `Interrupted` in the block (once:
    a second signal while the report is written is ignored). Outside the main thread, only KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[str] = []

    def handler(signum: int, _frame: Any) -> None:
        if fired:
            return
        name = signal.Signals(signum).name
        fired.append(name)
        raise Interrupted(f"hard time limit of {hard_limit_s:.0f} s" if signum == signal.SIGALRM else name)

    catch = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGALRM]
    old = {s: signal.signal(s, handler) for s in catch}
    signal.setitimer(signal.ITIMER_REAL, max(hard_limit_s, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for s, h in old.items():
            signal.signal(s, h)


def configure_logging() -> None:
    """Show the engine's INFO lines (loads, the calibration's one line per candidate) on stderr."""
    log = logging.getLogger("tts_core")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)


def _previous(out: Path, device: str, voice: str, only: list[str]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Checks of an earlier report in `out` (same device and voice) that this `only` run does not repeat."""
    path = out / "report.json"
    try:
        prev = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}, None
    if prev.get("device") != device or (prev.get("bundle") or {}).get("voice") != voice:
        return {}, None
    kept = {n: r for n, r in (prev.get("checks") or {}).items() if n not in only}
    return kept, {"kept": sorted(kept), "from_run_started_at": prev.get("started_at"),
                  "environment": prev.get("environment")}


def run(bundle_dir: str | Path, out_dir: str | Path, device: str | None = None, rounds: int = 5,
        budget_s: float = DEFAULT_BUDGET_S, only: list[str] | None = None, started: float | None = None) -> int:
    """Run the checks on `device` (default: "cuda" if present) and return the verdict's exit code (0 pass, 1 fail,
    2 incomplete). `budget_s` counts from `started` (epoch seconds; default now, the CLI passes the process's
    start). Without CUDA and without an explicit `device`, print that nothing was checked and return 0.
    `device` = "cpu" only exercises the code paths (the report says it is not a GPU check)."""
    import torch

    from bench.gpucheck.checks import CHECKS, GATED
    from bench.gpucheck.context import CheckContext

    if device is None:
        if not torch.cuda.is_available():
            print(NO_CUDA_MESSAGE)
            return 0
        device = "cuda"
    unknown = sorted(set(only or []) - set(CHECKS))
    if unknown:
        raise ValueError(f"`--only` = {unknown[0]!r}; expected some of {', '.join(CHECKS)}.")
    started = time.time() if started is None else started
    os.environ.setdefault("TTS_CORE_CACHE_DIR", tempfile.mkdtemp(prefix="gpucheck-cache-"))  # no stale audio
    ctx = CheckContext(bundle.load(bundle_dir), device, rounds=rounds, budget_s=budget_s, started=started)
    out, gpu = Path(out_dir), device.startswith("cuda")
    voice = ctx.bundle.manifest["voice"]["name"]
    selected = [n for n in CHECKS if not only or n in only]
    kept, merged = _previous(out, device, voice, only) if only else ({}, None)
    rep: dict[str, Any] = {
        "verdict": "incomplete", "failed": [], "not_run": list(GATED), "device": device, "gpu_check": gpu,
        "note": None if gpu else "not a GPU check: code paths exercised on the CPU",
        "bundle": {"dir": str(bundle_dir), "voice": voice}, "rounds": rounds, "budget_s": budget_s,
        "started_at": datetime.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "seconds": ctx.elapsed(), "run_flags": RUN_FLAGS, "running": None, "merged": merged,
        "environment": environment(device),
        "checks": {n: kept.get(n) or {"status": "pending"} for n in CHECKS if n in kept or n in selected},
    }

    def save() -> None:
        rep["seconds"] = ctx.elapsed()
        rep["verdict"], rep["failed"], rep["not_run"] = verdict(rep["checks"], GATED)
        report.write(rep, out)

    with stoppable(started + budget_s + HARD_GRACE_S - time.time()), ctx.exact_fp32():
        try:
            save()
            for i, name in enumerate(selected):
                check, left = CHECKS[name], ctx.left_s()
                ctx.allowance_s = max(0.0, left) * check.weight / sum(CHECKS[n].weight for n in selected[i:])
                if left <= 0 or left < check.min_s:
                    rep["checks"][name] = {"status": "skip", "reason": f"{max(left, 0):.0f} s of the {budget_s:g} s "
                                                                       f"budget left; it needs {check.min_s:g} s"}
                    print(f"[{ctx.elapsed():6.1f} s] {name}: skip", flush=True)
                    save()
                    continue
                ctx.check_started = time.time()
                meta = {"allowance_s": round(ctx.allowance_s, 1), "flags": flags_now()}
                rep["checks"][name], rep["running"] = {"status": "running", **meta}, name
                save()
                print(f"[{ctx.elapsed():6.1f} s] {name} (allowed {ctx.allowance_s:.0f} s) ...", flush=True)
                try:
                    result = check.run(ctx)
                except Interrupted:
                    rep["checks"][name] = {"status": "interrupted", **meta,
                                           "seconds": time.time() - ctx.check_started}
                    raise
                except Exception as exc:  # a crash of one check is its failure, reported, not the run's end
                    result = {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                              "traceback": traceback.format_exc()[-4000:]}
                rep["checks"][name] = {**result, **meta, "seconds": time.time() - ctx.check_started}
                rep["running"] = None
                save()
                print(f"[{ctx.elapsed():6.1f} s] {name}: {result['status']}", flush=True)
        except (Interrupted, KeyboardInterrupt) as stop:
            rep["interrupted"], rep["running"] = str(stop) or type(stop).__name__, None
            print(f"[{ctx.elapsed():6.1f} s] interrupted: {rep['interrupted']}", flush=True)
        try:
            save()
        except Interrupted as stop:  # the first signal came while saving: once more (later ones are ignored)
            rep["interrupted"] = str(stop)
            save()
    js, page = out / "report.json", out / "report.html"
    print(f"{rep['verdict']} in {rep['seconds']:.0f} s: {js} {page}"
          + (f" (failed: {', '.join(rep['failed'])})" if rep["failed"] else "")
          + (f" (not run: {', '.join(rep['not_run'])})" if rep["not_run"] else ""), flush=True)
    return EXIT_CODES[rep["verdict"]]
