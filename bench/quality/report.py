"""Report pieces for heard quality: a table per tier, transcripts that differ from the text, and a
speed-against-quality chart. Each takes the results frame (one row per configuration, with the fields of
`bench.quality.gate.ROW_FIELDS`) and returns a DataFrame, escaped HTML, or PNG bytes (None: no data).

Drawn with the report's own helpers (`bench.report.plot`: Agg, math text off, PNG at 96 dpi).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from html import escape

import pandas as pd

from bench.report.plot import figure, png

from bench.quality.gate import GATE_NAME
from bench.quality.wer import canonical

GROUP = ["engine", "tier"]
THROUGHPUT = "throughput_audio_s_per_s"


def _scored(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that carry a WER (ok rows the quality pass scored)."""
    if df is None or df.empty or "wer" not in df:
        return pd.DataFrame()
    rows = df[pd.to_numeric(df["wer"], errors="coerce").notna()]
    return rows[rows["status"] == "ok"] if "status" in rows else rows


def quality_table(df: pd.DataFrame) -> pd.DataFrame:
    """Per engine and tier: texts scored, mean WER/CER (%), mean DNSMOS SIG/BAK/OVRL, the mean changes
    against the baseline, and how many texts passed the gate."""
    rows = _scored(df)
    if rows.empty:
        return pd.DataFrame()
    out = []
    for (engine, tier), g in rows.groupby(GROUP, sort=False):
        entry = {"engine": engine, "tier": tier, "texts": len(g),
                 "wer_%": 100 * g["wer"].astype(float).mean(), "cer_%": 100 * g["cer"].astype(float).mean()}
        for m in ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl"):
            entry[m] = g[m].astype(float).mean()
        for m, scale in (("wer_delta", 100), ("dnsmos_ovrl_delta", 1)):
            vals = pd.to_numeric(g.get(m), errors="coerce") if m in g else pd.Series(dtype=float)
            entry["wer_delta_pt" if m == "wer_delta" else m] = scale * vals.mean() if vals.notna().any() else None
        gated = g["quality_pass"].dropna() if "quality_pass" in g else pd.Series(dtype=bool)
        entry["gate"] = f"{int(gated.astype(bool).sum())}/{len(gated)} pass" if len(gated) else "–"
        out.append(entry)
    return pd.DataFrame(out)


def transcripts(df: pd.DataFrame, texts: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Rows whose transcript differs from the text once both are normalized: engine, tier, text, what was
    said (normalized) and what the ASR heard. `texts` maps a row's text name to its words (default: built-ins)."""
    rows = _scored(df)
    if rows.empty or "asr_transcript" not in rows:
        return pd.DataFrame()
    texts = dict(texts) if texts is not None else _builtin_texts()
    out = []
    for _, r in rows.iterrows():
        said = texts.get(str(r["text"]))
        heard = canonical(str(r["asr_transcript"] or ""))
        if said is None or canonical(said) != heard:
            out.append({"engine": r["engine"], "tier": r["tier"], "text": r["text"], "wer_%": 100 * float(r["wer"]),
                        "said": canonical(said) if said is not None else "–", "heard": heard or "(nothing)"})
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
        ax.set_ylabel("WER % (mean over texts)")
        ax.set_title(f"speed against heard quality (gate {GATE_NAME})")
        ax.set_ylim(bottom=0)
        return png(fig)


def data_uri(image: bytes) -> str:
    """PNG bytes as a `data:image/png;base64,...` URI for an <img src>."""
    return "data:image/png;base64," + base64.b64encode(image).decode("ascii")


def _builtin_texts() -> dict[str, str]:
    from bench.texts import BUILTIN_TEXTS, read_text, text_path

    return {name: read_text(text_path(name)) for name in BUILTIN_TEXTS}
