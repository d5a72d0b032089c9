"""Child entry point: measure one configuration in this fresh process and write its rows.

    python -m bench.run_one <spec.json | JSON text> [--out rows.jsonl]

Rows go to `--out` (JSON lines; the parent reads them) or to stdout. An exception becomes a `failed`
row carrying its type and message; a crash leaves no rows, and the parent records why.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from pathlib import Path

from bench.schema import ResultRow
from bench.spec import MeasureSpec
from bench.store import append_rows, encode_row


def load_spec(arg: str) -> MeasureSpec:
    text = arg if arg.lstrip().startswith("{") else Path(arg).read_text(encoding="utf-8")
    return MeasureSpec.from_json(text)


def measure_safely(spec: MeasureSpec) -> list[ResultRow]:
    """The rows of `spec`; an exception anywhere becomes failed rows."""
    from bench.measure.session import measure

    try:
        return measure(spec)
    except Exception as exc:  # the sweep goes on; the row says what went wrong
        traceback.print_exc()
        return spec.failed_rows(f"{type(exc).__name__}: {exc}", extra={"traceback": traceback.format_exc(limit=8)})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_one", description=__doc__.split("\n")[0])
    parser.add_argument("spec", help="path of a MeasureSpec JSON file, or the JSON itself")
    parser.add_argument("--out", help="JSONL file to append the rows to (default: stdout)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    rows = measure_safely(load_spec(args.spec))
    if args.out:
        append_rows(args.out, rows)
    else:
        sys.stdout.writelines(encode_row(row) for row in rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
