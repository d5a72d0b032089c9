"""HTML building blocks: one self-contained page, inline CSS, no script, everything user-supplied escaped.

Every string that came from results (text names, paths, errors, config values, environment strings)
passes through `esc` or pandas' `to_html(escape=True)`; images and audio are `data:` URIs.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from html import escape

import pandas as pd

from bench.report.tables import tidy

CSS = """
:root { --fg:#1d232a; --muted:#5b6570; --line:#dde2e7; --bg:#ffffff; --soft:#f5f7f9;
        --good:#1f7a44; --bad:#b3261e; --neutral:#6b5f00; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
       font:14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 28px 60px; }
header h1 { font-size: 22px; margin: 0 0 4px; }
header .meta { color: var(--muted); margin: 0 0 14px; }
header .meta span + span::before { content: " · "; }
nav { font-size: 12.5px; margin: 6px 0 18px; padding: 8px 10px; background: var(--soft); border-radius: 6px; }
nav a { color: #2a5d8f; text-decoration: none; margin-right: 12px; white-space: nowrap; }
h2 { font-size: 17px; margin: 30px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 16px 0 6px; }
p.intro, p.empty { color: var(--muted); margin: 4px 0 10px; }
p.empty { font-style: italic; }
p.warning { color: var(--bad); font-weight: 600; margin: 6px 0 10px; }
ul.verdicts { list-style: none; padding: 0; margin: 10px 0 4px; }
ul.verdicts li { margin: 4px 0; padding: 6px 10px; border-left: 4px solid var(--neutral); background: var(--soft); border-radius: 3px; }
ul.verdicts li.pays { border-color: var(--good); }
ul.verdicts li.loses, ul.verdicts li.broken { border-color: var(--bad); }
.tablewrap { overflow-x: auto; margin: 6px 0 10px; }
.tablewrap.tall { max-height: 460px; overflow-y: auto; }
table.data { border-collapse: collapse; font-size: 12.5px; font-variant-numeric: tabular-nums; }
table.data th, table.data td { border-bottom: 1px solid var(--line); padding: 4px 9px; text-align: left; vertical-align: top; }
table.data thead th { background: var(--soft); position: sticky; top: 0; }
table.data tbody tr:nth-child(even) { background: #fafbfc; }
table.headline { font-size: 13.5px; }
img.chart { display: block; max-width: 100%; height: auto; margin: 8px 0 14px; border: 1px solid var(--line); border-radius: 4px; }
.samples { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 10px; }
.sample { background: var(--soft); padding: 8px 10px; border-radius: 6px; }
.sample .label { font-weight: 600; }
.sample .sub { color: var(--muted); font-size: 12px; }
.sample audio { width: 100%; margin-top: 6px; }
details summary { cursor: pointer; color: #2a5d8f; margin: 6px 0; }
footer { color: var(--muted); font-size: 12px; margin-top: 40px; }
"""


def esc(value: object) -> str:
    """HTML-escape any value, quotes included."""
    return escape("" if value is None else str(value), quote=True)


@dataclass
class Section:
    anchor: str
    title: str
    body: str  # already-safe HTML built with the helpers below
    intro: str = ""  # plain text, escaped on output


def empty(message: str) -> str:
    """A one-line note in italics, or nothing for an empty message."""
    return f'<p class="empty">{esc(message)}</p>' if message else ""


def warning(message: str) -> str:
    """A one-line note that needs attention (refused files)."""
    return f'<p class="warning">{esc(message)}</p>'


def table(frame: pd.DataFrame, message: str, css: str = "", tall: bool = False) -> str:
    """A pandas table with escaping on; when the frame is empty, the note `message` (nothing when it is "")."""
    if frame is None or frame.empty:
        return empty(message)
    classes = ["data"] + ([css] if css else [])
    inner = tidy(frame).to_html(index=False, escape=True, na_rep="–", border=0, classes=classes)
    return f'<div class="tablewrap{" tall" if tall else ""}">{inner}</div>'


def chart(png: bytes | None, alt: str, message: str) -> str:
    """A PNG embedded as a data URI; with nothing to draw, the note `message` (nothing when it is "")."""
    if not png:
        return empty(message)
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="chart" alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def audio(label: str, sub: str, wav: bytes) -> str:
    data = base64.b64encode(wav).decode("ascii")
    return (f'<div class="sample"><div class="label">{esc(label)}</div><div class="sub">{esc(sub)}</div>'
            f'<audio controls preload="metadata" src="data:audio/wav;base64,{data}"></audio></div>')


def verdicts(items: list[tuple[str, str]]) -> str:
    """(sentence, kind) pairs; kind is pays, loses, neutral or broken and only picks the colour. Nothing when empty."""
    if not items:
        return ""
    lis = "".join(f'<li class="{esc(kind)}">{esc(text)}</li>' for text, kind in items)
    return f'<ul class="verdicts">{lis}</ul>'


def details(summary: str, body: str) -> str:
    return f"<details><summary>{esc(summary)}</summary>{body}</details>"


def section(s: Section) -> str:
    """One section: its heading, its intro and its body."""
    intro = f'<p class="intro">{esc(s.intro)}</p>' if s.intro else ""
    return f'<section id="{esc(s.anchor)}"><h2>{esc(s.title)}</h2>{intro}{s.body}</section>'


def page(title: str, meta: list[str], top: str, sections: list[Section], footer: str) -> str:
    """The whole document: header (title, meta line), `top` (what the run answers: serving, headline, verdicts),
    nav, then the sections that have something to show (a section with an empty body is left out)."""
    sections = [s for s in sections if s.body]
    nav = "".join(f'<a href="#{esc(s.anchor)}">{esc(s.title)}</a>' for s in sections)
    body = "".join(section(s) for s in sections)
    meta_html = "".join(f"<span>{esc(m)}</span>" for m in meta)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
        f'<header><h1>{esc(title)}</h1><p class="meta">{meta_html}</p></header>'
        f"{top}<nav>{nav}</nav>{body}<footer>{esc(footer)}</footer></main></body></html>\n"
    )
