"""torch.compile on the GPU, in a process of its own under a timeout.

Inductor + Triton may build for minutes, and need a C compiler even offline; a build inside the run could not be
bounded (a signal waits for the build's C call to return). So the run starts `python -m bench.gpucheck.compiled`
and kills its process group when its allowance is spent: a build that does not finish is reported as such.
The probe times `baseline+compile` against `baseline` (the ablation's pair): the first call (the build), then
paired rounds on the medium text after one untimed round, and the exact gate on its audio.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

MIN_BUILD_S = 30.0  # with less left the check does not start (the quickest build seen: 15-20 s, on a CPU)
MAX_S = 240.0  # the longest the check waits for the probe, whatever is left of the budget
COMPILERS = ("cc", "gcc", "clang")


def missing_tools() -> list[str]:
    """What Inductor's GPU build needs and this machine lacks: a C compiler, Triton."""
    missing = [] if any(shutil.which(c) for c in COMPILERS) else [f"a C compiler ({', '.join(COMPILERS)})"]
    if importlib.util.find_spec("triton") is None:
        missing.append("triton")
    return missing


def bounded(cmd: list[str], timeout_s: float) -> dict[str, Any]:
    """Run `cmd` in a new process group; kill the group after `timeout_s`. Returns `seconds`, `timed_out`, the
    exit code `rc`, `result` (the JSON object on the last stdout line that holds one, or None) and `stderr_tail`."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        out, err = "", ""
    finally:  # also when the run itself is interrupted: no build outlives it
        if proc.poll() is None:
            with contextlib.suppress(OSError):  # the group is gone already
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
    result = None
    for line in reversed((out or "").splitlines()):
        if line.startswith("{"):
            with contextlib.suppress(ValueError):  # not JSON after all
                result = json.loads(line)
                break
    return {"seconds": time.perf_counter() - t0, "timed_out": timed_out, "rc": proc.returncode, "result": result,
            "stderr_tail": (err or "")[-2000:]}


def compile_check(ctx: Any) -> dict[str, Any]:
    """torch.compile's build time, speed-up and exact gate on the GPU, within min(allowance, `MAX_S`) seconds."""
    if not ctx.cuda:
        return {"status": "n/a", "reason": "not measured on a CPU (see tts_core.tiers.switches.compile.COMPILE_ON_CPU)"}
    missing = missing_tools()
    if missing:
        return {"status": "skip", "reason": f"Inductor's GPU build needs {' and '.join(missing)}"}
    timeout_s = max(MIN_BUILD_S, min(MAX_S, ctx.deadline() - time.time()))
    r = bounded([sys.executable, "-m", "bench.gpucheck.compiled", str(ctx.bundle.root), "--device", ctx.device,
                 "--rounds", str(ctx.rounds)], timeout_s)
    if r["timed_out"]:
        return {"status": "info", "built": False, "timeout_s": timeout_s, "stderr_tail": r["stderr_tail"],
                "note": f"no result within {timeout_s:.0f} s: the build (or its rounds) did not finish; killed"}
    if r["result"] is None:
        return {"status": "error", "error": f"the probe exited {r['rc']} without a result",
                "stderr_tail": r["stderr_tail"]}
    return {"status": "info", "built": True, "timeout_s": timeout_s, "seconds": r["seconds"], **r["result"]}


def probe(bundle_dir: str, device: str, rounds: int, candidate: str = "baseline+compile") -> dict[str, Any]:
    """`candidate` against `baseline` on the medium text, TF32 off: the first call's seconds (the build), paired
    rounds after one untimed round, the exact gate on the audio (noise zeroed)."""
    import torch

    from bench.gpucheck import bundle
    from bench.gpucheck.context import ZERO, CheckContext
    from bench.gpucheck.paired import interleaved, speedup
    from tts_core.fidelity import compare

    ctx = CheckContext(bundle.load(bundle_dir), device, rounds=rounds)
    text = ctx.text("medium")
    with ctx.exact_fp32(), ctx.engine("baseline") as ref, ctx.engine(candidate) as cand:
        ref.synthesize(text)
        t0 = time.perf_counter()
        cand.synthesize(text)
        ctx.sync()
        first_call_s = time.perf_counter() - t0
        times = interleaved({"baseline": lambda: ref.synthesize(text), candidate: lambda: cand.synthesize(text)},
                            rounds, ctx.sync, warmup=1)
        fid = compare(ref.synthesize(text, **ZERO).samples, cand.synthesize(text, **ZERO).samples,
                      ctx.bundle.sample_rate)
    return {"candidate": candidate, "torch": torch.__version__, "first_call_s": first_call_s,
            "median_s": {k: statistics.median(v) for k, v in times.items()},
            "speedup": speedup(times["baseline"], times[candidate]), "gate": "exact",
            "gate_failures": fid.failures("exact"), "fidelity": fid.to_dict()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpucheck.compiled", description=__doc__)
    parser.add_argument("bundle")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--candidate", default="baseline+compile", help="tier spec timed against baseline")
    args = parser.parse_args(argv)
    print(json.dumps(probe(args.bundle, args.device, args.rounds, args.candidate), default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
