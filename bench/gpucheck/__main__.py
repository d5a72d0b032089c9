"""`python -m bench.gpucheck prepare DIR` | `python -m bench.gpucheck run DIR [--out OUT] [--budget-s S] [--only ...]`."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from bench.gpucheck.clock import process_started

    started = process_started()  # the budget counts the interpreter's and torch's start-up too
    parser = argparse.ArgumentParser(prog="python -m bench.gpucheck", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="phonemize, write weights, config, CPU reference audio (needs the voice)")
    prep.add_argument("dir")
    prep.add_argument("--voice", default="joe-medium", choices=("joe-medium", "tiny"))
    run = sub.add_parser("run", help="run the checks on the GPU; writes report.json and report.html after each")
    run.add_argument("dir")
    run.add_argument("--out", default="gpucheck-report")
    run.add_argument("--rounds", type=int, default=5, help="paired rounds per timed comparison (at most)")
    run.add_argument("--budget-s", type=float, default=None,
                     help="seconds from the process's start; long checks shrink to fit, the rest is skipped "
                          "(default: bench.gpucheck.run.DEFAULT_BUDGET_S, 330)")
    run.add_argument("--only", nargs="*", help="run only these checks (an earlier report in --out is kept)")
    run.add_argument("--device", default=None, help=argparse.SUPPRESS)  # "cpu": code paths only, not a GPU check
    args = parser.parse_args(argv)
    if args.command == "prepare":
        from bench.gpucheck.bundle import prepare

        manifest = prepare(args.dir, args.voice)
        print(f"bundle {args.dir}: {manifest['bundle_mb']} MB, {len(manifest['texts'])} texts, "
              f"{manifest['weights']['params']:,} weights in fp16, in {manifest['prepare_seconds']} s")
        return 0
    from bench.gpucheck.run import DEFAULT_BUDGET_S, configure_logging, run as run_checks

    if args.rounds < 2:
        parser.error(f"`--rounds` = {args.rounds}; expected an integer >= 2")
    budget_s = DEFAULT_BUDGET_S if args.budget_s is None else args.budget_s
    if budget_s <= 0:
        parser.error(f"`--budget-s` = {budget_s:g}; expected a number of seconds > 0")
    configure_logging()
    return run_checks(args.dir, args.out, device=args.device, rounds=args.rounds, budget_s=budget_s,
                      only=args.only, started=started)


if __name__ == "__main__":
    sys.exit(main())
