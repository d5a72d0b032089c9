"""Report pieces for heard quality: a table per contender (texts, words, WER, DNSMOS, deltas with their
intervals, the verdict), the transcripts that differ from their text, and a speed-against-quality chart.
Each takes result rows (the pooled rows, one per contender) and returns a DataFrame, escaped HTML, or PNG
bytes (None: no data); every figure is read from the rows, none is recomputed.

Drawn with the report's own helpers (`bench.report.plot`: Agg, math text off, PNG at 96 dpi).
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from bench.report.plot import figure, png

from bench.quality.gate import GATE_NAME

GROUP = ["engine", "tier"]
THROUGHPUT = "throughput_audio_s_per_s"


def _scored(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that carry a WER: the quality pass scored them (a row failed by the heard gate included)."""
    if df is None or df.empty or "wer" not in df:
        return pd.DataFrame()
    return df[pd.to_numeric(df["wer"], errors="coerce").notna()]


def _extra(row: Any) -> dict[str, Any]:
    extra = row.get("extra") if hasattr(row, "get") else None
    return extra if isinstance(extra, dict) else {}


def _num(row: Any, name: str) -> float | None:
    value = pd.to_numeric(row.get(name), errors="coerce") if name in row else None
    return None if value is None or pd.isna(value) else float(value)


def _delta(row: Any, name: str, scale: float, digits: int) -> str:
    """`+0.4 [-1.2, +2.0]`: a stored mean delta with its stored interval ("–" where none was stored)."""
    mean, lo, hi = (_num(row, f"{name}{end}") for end in ("", "_ci_low", "_ci_high"))
    if mean is None:
        return "–"
    fmt = lambda v: f"{scale * v:+.{digits}f}"  # noqa: E731
    return fmt(mean) + (f" [{fmt(lo)}, {fmt(hi)}]" if lo is not None and hi is not None else " [no interval]")


def quality_table(df: pd.DataFrame) -> pd.DataFrame:
    """One line per scored row (the pooled rows, as the report passes them): texts and words scored, WER/CER
    (%, pooled by words), mean DNSMOS SIG/BAK/OVRL, the mean per-text deltas against the row's reference with
    their stored 95% intervals (WER in points, OVRL in MOS) and the gate's verdict on those intervals."""
    rows = _scored(df)
    if rows.empty:
        return pd.DataFrame()
    out = []
    for _, r in rows.iterrows():
        extra = _extra(r)
        ref = extra.get("quality_reference")
        texts = _num(r, "quality_texts")
        words = _num(r, "quality_words")
        entry = {"engine": r.get("engine"), "tier": r.get("tier"),
                 "vs": "–" if not ref else str(ref).split("@")[0] + (" (another voice)" if extra.get("quality_note")
                                                                      else ""),
                 "texts": int(texts) if texts is not None else "–", "words": int(words) if words is not None else "–",
                 "audio_s": extra.get("quality_audio_s"),
                 "wer_%": 100 * float(r["wer"]), "cer_%": 100 * float(r["cer"]) if _num(r, "cer") is not None else None}
        for m in ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"):
            entry[m] = _num(r, m)
        entry["wer_delta_pt [95%]"] = _delta(r, "wer_delta", 100, 1)
        entry["ovrl_delta [95%]"] = _delta(r, "dnsmos_ovrl_delta", 1, 2)
        verdict = r.get("quality_verdict") if "quality_verdict" in r else None
        if not isinstance(verdict, str):  # rows stored before the gate decided on intervals: one text each
            passed = r.get("quality_pass") if "quality_pass" in r else None
            verdict = "–" if passed is None or pd.isna(passed) else ("pass (one text)" if passed else "fail (one text)")
        entry["verdict"] = verdict
        out.append(entry)
    return pd.DataFrame(out)


def transcripts(df: pd.DataFrame) -> pd.DataFrame:
    """The scored texts whose transcript differs from the text once both are normalized, as the rows store
    them (`extra.quality_transcripts`): engine, tier, round, class, WER (%), what was said, what the ASR heard,
    and the stored WAV (beside it, `transcripts.json` holds every text's transcript)."""
    rows = _scored(df)
    if rows.empty or "extra" not in rows:
        return pd.DataFrame()
    out = []
    for _, r in rows.iterrows():
        for t in _extra(r).get("quality_transcripts") or []:
            out.append({"engine": r.get("engine"), "tier": r.get("tier"), "round": t.get("r"),
                        "class": t.get("text_class"), "wer_%": 100 * float(t.get("wer") or 0.0),
                        "said": t.get("said") or "–", "heard": t.get("heard") or "(nothing)",
                        "audio": "/".join(Path(str(t.get("audio") or "")).parts[-3:]) or "–"})
    return pd.DataFrame(out)


def to_html(frame: pd.DataFrame, message: str = "No quality figures.") -> str:
    """A frame as an escaped HTML table (`DataFrame.to_html(escape=True)`), or an escaped note when empty."""
    if frame is None or frame.empty:
        return f'<p class="empty">{escape(message, quote=True)}</p>'
    return frame.to_html(index=False, escape=True, na_rep="–", border=0, float_format=lambda v: f"{v:.3g}",
                         classes=["data"])


def speed_quality_chart(df: pd.DataFrame) -> bytes | None:
    """Throughput (audio seconds per second, x) against mean WER (%, y), one point per engine/tier; PNG bytes."""
    rows = _scored(df)
    if rows.empty or THROUGHPUT not in rows:
        return None
    rows = rows[pd.to_numeric(rows[THROUGHPUT], errors="coerce").notna()]
    if rows.empty:
        return None
    points = rows.groupby(GROUP, sort=False).agg(x=(THROUGHPUT, "median"), y=("wer", "mean")).reset_index()
    with figure(width=6.5, height=3.6) as (fig, axes):
        ax = axes[0]
        for _, p in points.iterrows():
            label = f"{p['engine']} / {p['tier']}"
            ax.scatter([p["x"]], [100 * p["y"]], s=36, label=label)
            ax.annotate(label, (p["x"], 100 * p["y"]), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xlabel("throughput (audio s per wall s, median over texts)")
        ax.set_ylabel("WER % (pooled over the scored texts)")
        ax.set_title(f"speed against heard quality (gate {GATE_NAME})")
        ax.set_ylim(bottom=0)
        return png(fig)


def data_uri(image: bytes) -> str:
    """PNG bytes as a `data:image/png;base64,...` URI for an <img src>."""
    return "data:image/png;base64," + base64.b64encode(image).decode("ascii")
