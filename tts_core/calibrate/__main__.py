"""`python -m tts_core.calibrate --voice joe-medium --tier advanced`: run a tier's calibration alone and say what it
chose, with the figure behind each choice, where the choice is stored, and whether it was read back or measured."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from tts_core.constants import ENV_CACHE_DIR, ENV_RECALIBRATE
from tts_core.errors import TTSError
from tts_core.tiers import TIER_NAMES
from tts_core.voices import VOICE_NAMES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tts_core.calibrate",
        description="Decide a tier's \"auto\" switches (fused decoder, FP16/BF16, streaming, buffer pool, ...) by "
        "measurement on this machine, as the first Engine.load does, and store the choice where later loads read it "
        f"(<cache dir>/calibration; the cache dir is ${ENV_CACHE_DIR}, else ~/.cache/tts_core). Progress goes to "
        "stderr, one line per candidate; the choices go to stdout. A candidate is kept when it is at least 1.05x "
        "faster (median of paired rounds) and passes its fidelity gate; streaming when it cuts the time to first "
        "audio by 1.5x. Bounded by the calibration's budget (about 90 s).",
        epilog="Examples:\n"
        "  python -m tts_core.calibrate --voice joe-medium                 # the advanced tier on the CPU\n"
        "  python -m tts_core.calibrate --voice joe-medium --recalibrate   # measure again, replacing the choice\n"
        "  python -m tts_core.calibrate --voice joe-medium --threads 2     # as an engine with 2 threads loads\n"
        "  python -m tts_core.calibrate --voice tiny --tier advanced-fusion  # the tiny test voice, an ablation",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--voice", default="joe-medium", choices=VOICE_NAMES,
                   help="joe-medium: the real voice; tiny: random weights for tests (default: joe-medium)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default: cpu)")
    p.add_argument("--tier", default="advanced",
                   help=f"a tier with \"auto\" switches: one of {', '.join(TIER_NAMES)} or an ablation such as "
                   "advanced-streaming (default: advanced)")
    p.add_argument("--threads", type=int, default=None,
                   help="intra-op threads (an integer >= 1); part of the stored choice's key, so give what the "
                   "engine will run with (default: the tier's own, else torch's default for this machine)")
    p.add_argument("--recalibrate", action="store_true",
                   help=f"ignore a stored choice and measure again (as {ENV_RECALIBRATE}=1 does)")
    return p


def kind_of(tier: Any, candidate: str) -> Any:
    """How the calibration judged the candidate called `candidate` for `tier`: its switch's kind (`SPEED` for a
    name no switch gives)."""
    from tts_core.tiers.kinds import SPEED
    from tts_core.tiers.switches import CALIBRATED

    for switch in CALIBRATED:
        if any(switch.candidate_name(changes) == candidate for changes in switch.candidates(tier)):
            return switch.measured_by
    return SPEED


def _figure(kind: Any, m: dict[str, Any]) -> str:
    """The measured figure of one candidate and the verdict, in words."""
    from tts_core.calibrate.measure import why_not

    fig = kind.describe(m) if kind.measured(m) else "not measured"
    why = why_not(kind, m)
    verdict = "pays" if m.get("pays") else "does not pay"
    return f"{fig} ({verdict}{': ' + why if why else ''}{', reused' if m.get('reused') else ''})"


def report(result: dict[str, Any], path: str, tier: Any) -> str:
    """The printed summary of a calibration of `tier`, `result`, stored at `path`."""
    how = ("read back from the stored calibration" if result.get("cached")
           else f"measured now, in {result.get('seconds', 0.0):.1f} s")
    lines = [f"calibration of {result.get('device')} ({result.get('cpu')}, {result.get('threads')} threads, "
             f"torch {result.get('torch')}): {how}", f"stored in {path}", "choices:"]
    measurements = result.get("measurements", {})
    for name, choice in result.get("choices", {}).items():
        figure = (_figure(kind_of(tier, name), measurements[name]) if name in measurements
                  else "the fastest candidate that pays (below)")
        lines.append(f"  {name:<15} -> {str(choice):<6} {figure}")
    others = [n for n in measurements if n not in result.get("choices", {})]
    if others:
        lines.append("measured candidates:")
        lines += [f"  {name:<15} {_figure(kind_of(tier, name), measurements[name])}" for name in others]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    import torch

    from tts_core.calibrate import child
    from tts_core.flags import flag_scope
    from tts_core.setup import resolve_device
    from tts_core.tiers import resolve_tier

    try:
        tier = resolve_tier(args.tier)
        dev = resolve_device(args.device)
    except (TTSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not tier.auto_fields:
        print(f"error: `tier` = {args.tier!r} has no \"auto\" switches, so there is nothing to calibrate; "
              "expected a tier such as advanced (see --help).", file=sys.stderr)
        return 2
    if args.threads is not None and args.threads < 1:
        print(f"error: `threads` = {args.threads} is not allowed; expected an integer >= 1.", file=sys.stderr)
        return 2
    with flag_scope(tier, dev):  # the tier's own thread count, else this process's
        threads = args.threads or torch.get_num_threads()
    if args.recalibrate:
        os.environ[ENV_RECALIBRATE] = "1"  # the measuring module reads it
    try:
        result, path = child.calibrate_by_name(args.voice, dev, tier, threads)
    except TTSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(report(result, str(path), tier))
    return 0


if __name__ == "__main__":
    sys.exit(main())
