"""report.json and a one-page report.html of a GPU check."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "info": "#0969da", "skip": "#6e7781", "error": "#cf222e"}


def write(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write `report.json` and `report.html` into `out_dir`; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js = out_dir / "report.json"
    js.write_text(json.dumps(report, indent=1, default=str))
    page = out_dir / "report.html"
    page.write_text(render_html(report))
    return js, page


def render_html(report: dict[str, Any]) -> str:
    """A self-contained page: the verdict, the environment, one section per check with its figures."""
    esc = html.escape
    banner = "" if report.get("gpu_check") else (
        "<p><b>Not a GPU check</b>: this run exercised the code paths on "
        f"{esc(str(report.get('device')))}.</p>")
    parts = [f"<h1>GPU check: {esc(report['verdict'])}</h1>", banner,
             f"<pre>{esc(json.dumps(report.get('environment', {}), indent=1, default=str))}</pre>"]
    for name, result in report["checks"].items():
        status = result.get("status", "?")
        colour = _COLOURS.get(status, "#000")
        body = {k: v for k, v in result.items() if k != "status"}
        parts.append(f"<h2>{esc(name)}: <span style='color:{colour}'>{esc(status)}</span></h2>"
                     f"<pre>{esc(json.dumps(body, indent=1, default=str))}</pre>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>GPU check</title>"
            "<style>body{font-family:sans-serif;max-width:70em;margin:auto}pre{background:#f6f8fa;padding:.5em;"
            "overflow:auto;max-height:30em}</style></head><body>" + "".join(parts) + "</body></html>")
