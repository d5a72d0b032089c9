"""Command line: `python -m bench.report [RESULTS ...] [--out DIR]`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from bench.report.build import ReportChartError, write_report

RESULTS_DIR = Path("results")
CI_ENV = "CI"  # set to "true" by GitHub Actions and most CI services: the report is built strictly there


def latest_run(results_dir: Path = RESULTS_DIR) -> Path | None:
    """The most recently modified `results/<run-id>/` folder holding a results file, or None (hidden folders,
    such as the sweep's `.cache`, are not runs)."""
    runs = [p for p in results_dir.glob("*") if p.is_dir() and not p.name.startswith(".") and next(p.rglob("*.jsonl"), None)] \
        if results_dir.is_dir() else []
    return max(runs, key=lambda p: p.stat().st_mtime, default=None)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.report",
        description="Write one self-contained HTML report (charts and audio embedded, opens offline) "
                    "with the CSV and JSON of its tables beside it.",
        epilog="Examples:\n"
               "  python -m bench.report                         # latest results/<run-id>/\n"
               "  python -m bench.report results/2024-05-01T12-00-00\n"
               "  python -m bench.report results/a/results.jsonl results/b/results.jsonl --out reports/both\n"
               "  python -m bench.report .benchmarks/            # pytest-benchmark JSON files\n"
               "  python -m bench.report --demo --out /tmp/demo  # synthetic rows, to preview the layout",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results", nargs="*", type=Path, metavar="RESULTS",
                   help="results.jsonl files, results/<run-id>/ folders, or pytest-benchmark .json files / "
                        ".benchmarks/ folders; several machines' files are merged and grouped by host and "
                        "hardware (default: the newest folder under results/)")
    p.add_argument("--out", type=Path, default=None, metavar="DIR",
                   help="folder for index.html and the tables (default: reports/<run-id>/)")
    p.add_argument("--demo", action="store_true", help="report on synthetic rows (written beside the report)")
    p.add_argument("--strict", action="store_true",
                   help=f"exit 1 when a chart raises (everything is still written); the default where "
                        f"{CI_ENV}=true, as in CI")
    p.add_argument("-v", "--verbose", action="store_true", help="log skipped lines and chart problems")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    paths = list(args.results)
    if args.demo:
        from bench.report.synthetic import write_synthetic_run

        paths.append(write_synthetic_run((args.out or Path("reports/demo")) / "synthetic-results"))
    if not paths:
        latest = latest_run()
        if latest is None:
            print("No results given and no results/<run-id>/ folder found; run a sweep first "
                  "(python -m bench.sweep) or pass a results file.", file=sys.stderr)
            return 2
        paths = [latest]
    strict = args.strict or os.environ.get(CI_ENV, "").lower() == "true"
    try:
        index = write_report(paths, args.out, strict=strict)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ReportChartError as exc:
        print(f"error (strict): {exc}", file=sys.stderr)
        return 1
    print(f"wrote {index} ({index.stat().st_size / 1024:.0f} KiB)")
    return 0
