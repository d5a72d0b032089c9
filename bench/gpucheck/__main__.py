"""`python -m bench.gpucheck prepare DIR` | `python -m bench.gpucheck run DIR [--out OUT]`."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpucheck", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="phonemize, write weights, config, CPU reference audio (needs the voice)")
    prep.add_argument("dir")
    prep.add_argument("--voice", default="joe-medium", choices=("joe-medium", "tiny"))
    run = sub.add_parser("run", help="run the checks on the GPU; writes report.json and report.html")
    run.add_argument("dir")
    run.add_argument("--out", default="gpucheck-report")
    run.add_argument("--rounds", type=int, default=5, help="paired rounds per timed comparison")
    run.add_argument("--budget-s", type=float, default=270.0, help="skip remaining checks after this many seconds")
    run.add_argument("--only", nargs="*", help="run only these checks")
    run.add_argument("--device", default=None, help=argparse.SUPPRESS)  # "cpu": code paths only, not a GPU check
    args = parser.parse_args(argv)
    if args.command == "prepare":
        from bench.gpucheck.bundle import prepare

        manifest = prepare(args.dir, args.voice)
        print(f"bundle {args.dir}: {manifest['bundle_mb']} MB, {len(manifest['texts'])} texts, "
              f"{manifest['weights']['params']:,} weights in fp16, in {manifest['prepare_seconds']} s")
        return 0
    from bench.gpucheck.run import run as run_checks

    if args.rounds < 2:
        parser.error(f"`--rounds` = {args.rounds}; expected an integer >= 2")
    return run_checks(args.dir, args.out, device=args.device, rounds=args.rounds, budget_s=args.budget_s,
                      only=args.only)


if __name__ == "__main__":
    sys.exit(main())
