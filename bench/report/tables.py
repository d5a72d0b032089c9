"""The report's tables as DataFrames; the HTML, CSV and JSON files are written from these."""

from __future__ import annotations

import pandas as pd

from bench.report.analysis import NOISY_CV, median_latency, ok_rows
from bench.report.load import text_sort_key, tier_sort_key

KEY_COLUMNS = ["machine", "engine", "tier", "model", "text", "workload", "cached", "status", "rounds",
               "latency_p50_s", "latency_cv", "rtf", "audio_s", "ttfa_s", "peak_rss_mb", "cuda_max_allocated_mb",
               "fid_gate", "fid_pass", "fid_snr_db", "fid_mcd_db", "run_id"]


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Whole numbers as integers, None as missing (shown as a dash), floats to 4 significant places."""
    frame = frame.copy()
    frame.columns.name = None
    for col in frame.columns:
        if col in ("rounds", "points", "threads", "text_chars"):
            frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
        elif frame[col].dtype == object:
            frame[col] = frame[col].map(lambda v: pd.NA if v is None else v)
        elif pd.api.types.is_float_dtype(frame[col]):
            frame[col] = frame[col].map(lambda v: v if pd.isna(v) else float(f"{v:.4g}"))
    return frame


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    keys = {"tier": tier_sort_key, "text": text_sort_key}
    cols = [c for c in ("machine", "engine", "tier", "text", "workload") if c in frame]
    return frame.sort_values(cols, key=lambda s: s.astype(str).map(keys[s.name]) if s.name in keys else s.astype(str))


def all_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Every row with its key columns, rounded for reading."""
    cols = [c for c in KEY_COLUMNS if c in df]
    return _sorted(df[cols]).reset_index(drop=True)


def environment(df: pd.DataFrame) -> pd.DataFrame:
    """Environment strings (torch, CPU, flags, threads, GPU, ...) with one column per machine."""
    if df.empty:
        return pd.DataFrame()
    per_machine: dict[str, dict[str, str]] = {}
    for _, r in df.iterrows():
        env = r["env"] if isinstance(r["env"], dict) else {}
        target = per_machine.setdefault(str(r["machine"]), {"host": str(r["host"] or "–")})
        for k, v in env.items():
            target.setdefault(str(k), str(v))
    frame = pd.DataFrame(per_machine)
    frame.index.name = "setting"
    return frame.fillna("–").reset_index()


def failures(df: pd.DataFrame) -> pd.DataFrame:
    """Failed and skipped configurations with what went wrong or why they were skipped."""
    bad = df[df["status"] != "ok"] if not df.empty else df
    if bad.empty:
        return pd.DataFrame()
    bad = bad.assign(why=bad["error"].where(bad["error"].notna(), bad["reason"]).fillna("(no reason recorded)"))
    return _sorted(bad[["machine", "engine", "tier", "text", "workload", "status", "why"]]).reset_index(drop=True)


def noisy(df: pd.DataFrame) -> pd.DataFrame:
    """Rows whose round-to-round coefficient of variation exceeds 10%: their speedups are less certain."""
    rows = ok_rows(df)
    if rows.empty:
        return pd.DataFrame()
    cv = pd.to_numeric(rows["latency_cv"], errors="coerce")
    rows = rows[cv > NOISY_CV].assign(latency_cv=cv[cv > NOISY_CV].round(3))
    cols = ["machine", "engine", "tier", "text", "workload", "cached", "rounds", "latency_p50_s", "latency_cv"]
    return _sorted(rows[cols]).reset_index(drop=True)


def cached_vs_uncached(df: pd.DataFrame) -> pd.DataFrame:
    """Repeated-text figures, cold and cache-hit side by side; the cached ones never enter speedups."""
    rows = ok_rows(df)
    if rows.empty:
        return pd.DataFrame()
    rows = rows[rows["cached"].map(lambda c: c is True or c is False)]
    if rows.empty:
        return pd.DataFrame()
    rows = rows.assign(latency=rows.apply(median_latency, axis=1), state=rows["cached"].map({True: "cached", False: "uncached"}))
    table = rows.pivot_table(index=["machine", "engine", "tier", "text"], columns="state", values="latency", aggfunc="median")
    table = table.reindex(columns=["uncached", "cached"]).rename(columns=lambda c: f"{c} latency (s)")
    if table.notna().all(axis=1).any():
        table["cache speedup (x)"] = table["uncached latency (s)"] / table["cached latency (s)"]
    return _sorted(table.reset_index()).reset_index(drop=True)


def peers(df: pd.DataFrame) -> pd.DataFrame:
    """Other engines' figures next to our main tiers, on the same texts."""
    rows = ok_rows(df)
    if rows.empty or not (rows["engine"] != "tts_core").any():
        return pd.DataFrame()
    rows = rows[rows["cached"].map(lambda c: c is not True)]
    rows = rows[(rows["engine"] != "tts_core") | rows["tier"].isin(["baseline", "optimized", "advanced"])]
    rows = rows[rows["workload"].fillna("").isin(["single", ""])]
    rows = rows.assign(latency_p50_s=rows.apply(median_latency, axis=1))
    cols = ["machine", "engine", "tier", "text", "latency_p50_s", "rtf", "peak_rss_mb", "load_s"]
    return _sorted(rows[cols]).reset_index(drop=True)
