"""report.json and a one-page report.html of a GPU check, rewritten whole after every check (each file written
to a temporary name and renamed, so a kill never leaves half a file)."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "info": "#0969da", "skip": "#6e7781", "n/a": "#6e7781",
            "error": "#cf222e", "interrupted": "#bf8700", "pending": "#6e7781", "running": "#bf8700"}


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write(report: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write `report.json` and `report.html` into `out_dir`; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    js, page = out_dir / "report.json", out_dir / "report.html"
    _atomic(js, json.dumps(report, indent=1, default=str))
    _atomic(page, render_html(report))
    return js, page


def _anchor_table(rows: list[dict[str, Any]]) -> str:
    """Our anchor rows beside the published ones: latency and samples per second."""
    def f(v: Any, scale: float = 1.0, digits: int = 2) -> str:
        return "" if v is None else f"{v * scale:,.{digits}f}"

    head = ("<tr><th>precision</th><th>batch</th><th>ours ms</th><th>published ms</th>"
            "<th>ours M samples/s</th><th>published M samples/s</th></tr>")
    body = "".join(
        f"<tr><td>{html.escape(r['precision'])}</td><td>{r['batch']}</td><td>{f(r['latency_s'], 1e3, 1)}</td>"
        f"<td>{f((r.get('published') or {}).get('latency_s'), 1e3, 0)}</td><td>{f(r['samples_per_s'], 1e-6)}</td>"
        f"<td>{f((r.get('published') or {}).get('samples_per_s'), 1e-6)}</td></tr>" for r in rows)
    return f"<table border='1' cellpadding='4'>{head}{body}</table>"


def render_html(report: dict[str, Any]) -> str:
    """A self-contained page: the verdict, the environment, one section per check with its figures."""
    esc = html.escape
    banner = "" if report.get("gpu_check") else (
        "<p><b>Not a GPU check</b>: this run exercised the code paths on "
        f"{esc(str(report.get('device')))}.</p>")
    why = "".join(f"<p>{esc(k)}: {esc(', '.join(report[k]))}</p>" for k in ("failed", "not_run") if report.get(k))
    if report.get("interrupted"):
        why += f"<p>interrupted: {esc(str(report['interrupted']))}</p>"
    parts = [f"<h1>GPU check: {esc(report['verdict'])}</h1>", banner, why,
             f"<pre>{esc(json.dumps(report.get('environment', {}), indent=1, default=str))}</pre>"]
    for name, result in report["checks"].items():
        status = result.get("status", "?")
        colour = _COLOURS.get(status, "#000")
        body = {k: v for k, v in result.items() if k != "status"}
        table = _anchor_table(result["rows"]) if name == "anchors" and result.get("rows") else ""
        parts.append(f"<h2>{esc(name)}: <span style='color:{colour}'>{esc(status)}</span></h2>{table}"
                     f"<pre>{esc(json.dumps(body, indent=1, default=str))}</pre>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>GPU check</title>"
            "<style>body{font-family:sans-serif;max-width:70em;margin:auto}pre{background:#f6f8fa;padding:.5em;"
            "overflow:auto;max-height:30em}</style></head><body>" + "".join(parts) + "</body></html>")
