"""What serving costs, in the report: served tiers against the same tier in process (paired first audio, ms), and
per server under load its highest rate that stays within the first-audio bound with no listener underrun.
`sections(df, serving)` gives the page's sections (none when no row was measured over HTTP); `df` holds result
rows with `extra` dicts, `serving` the LoadGen rows with their extras as columns (`build.serving_rows`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.report import html as h

PIPER_NOTE = "Piper's server returns one whole WAV: its first audio is its whole synthesis"


def _tier(extra: Any) -> dict[str, Any]:
    tier = (extra.get("engine") or {}).get("tier") if isinstance(extra, dict) else None
    return tier if isinstance(tier, dict) else {}


def served_vs_in_process(df: pd.DataFrame) -> pd.DataFrame:
    """One row per served contender's pooled row: its first audio and RTF, its reference's, and the paired first-audio
    difference (mean, ms, 95% interval) over the rounds both spoke."""
    if df.empty or "extra" not in df:
        return pd.DataFrame()
    pooled = df[(df["text"] == "all") & (df["workload"] != "serve")] if "workload" in df else df[df["text"] == "all"]
    by_name = {r["contender"]: r for _, r in pooled.iterrows()}
    out = []
    for _, row in pooled.iterrows():
        tier, extra = _tier(row["extra"]), row["extra"] if isinstance(row["extra"], dict) else {}
        if not tier.get("served"):
            continue
        ref = by_name.get(row.get("reference"))
        ci = extra.get("served_ttfa_diff_ci_ms") or [None, None]
        out.append({
            "served": row["contender"], "in process": row.get("reference"), "api": tier.get("api"),
            "served TTFA ms": _ms(row.get("ttfa_s")), "in-process TTFA ms": _ms(ref.get("ttfa_s") if ref is not None else None),
            "paired diff ms": extra.get("served_ttfa_diff_ms"), "diff CI low": ci[0], "diff CI high": ci[1],
            "pairs": extra.get("served_ttfa_pairs"),
            "served first audible ms": _ms(row.get("first_audible_s")),
            "first audible paired diff ms": extra.get("served_first_audible_diff_ms"),
            "served RTF": row.get("rtf"),
            "in-process RTF": ref.get("rtf") if ref is not None else None,
            "throughput vs in process": row.get("speedup"), "status": row.get("status"),
            "note": PIPER_NOTE if tier.get("api") == "piper" else "",
        })
    return pd.DataFrame(out)


def underrun_table(serving: pd.DataFrame) -> pd.DataFrame:
    """Per served engine:tier under LoadGen's server scenario: highest rate that met the bound with no underrun, its
    first audio at the percentile, and the underrun rate of every probe."""
    if serving.empty or "underrun_rate" not in serving:
        return pd.DataFrame()
    frame = serving[serving["underrun_rate"].notna()]
    out = []
    for (engine, tier), g in frame.groupby(["engine", "tier"], sort=True):
        met = g[(g["valid"] == "VALID") & (g["underrun_rate"] <= 0.0)]
        best = met.loc[met["achieved_qps"].idxmax()] if not met.empty and "achieved_qps" in met else None
        out.append({"server": f"{engine}:{tier}", "scenario": ", ".join(sorted(set(g["scenario"].astype(str)))),
                    "highest QPS within bound, no underrun": best["target_qps"] if best is not None else None,
                    "percentile": g["latency_percentile"].iloc[0] if "latency_percentile" in g else None,
                    "bound ms": g["latency_bound_ms"].iloc[0] if "latency_bound_ms" in g else None,
                    "p99 first audio ms there": _ms(best.get("ttfa_p99_s")) if best is not None else None,
                    "underrun rate per probe": ", ".join(f"{x:.3f}" for x in g["underrun_rate"]),
                    "note": PIPER_NOTE if str(engine).startswith("piper-http") else ""})
    return pd.DataFrame(out)


def sections(df: pd.DataFrame, serving: pd.DataFrame) -> list[h.Section]:
    """The report's "served" section, or nothing when no contender was measured over HTTP."""
    paired, underruns = served_vs_in_process(df), underrun_table(serving)
    if paired.empty and underruns.empty:
        return []
    body = (h.table(paired, "No served tier shares rounds with an in-process tier.")
            + h.table(underruns, "No LoadGen run over HTTP in these rows."))
    return [h.Section("served", "Served over HTTP against in process", body,
                      "Time to first audio over HTTP = request sent to the first audio bytes received. The paired "
                      "difference is served minus in process, same text and round (mean, ms, 95% bootstrap interval). "
                      "Under load every query is its own request; a simulated listener starts playback at the first "
                      "chunk and counts an underrun when playback reaches audio not yet received; a rate counts only "
                      "when LoadGen calls it VALID and no stream underran. The QPS against first-audio chart above has "
                      "one line per server. " + PIPER_NOTE + ".")]


def _ms(seconds: Any) -> float | None:
    return float(seconds) * 1e3 if isinstance(seconds, (int, float)) and seconds == seconds else None
