"""The report's tables as DataFrames; the HTML, CSV and JSON files are written from these."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.report.analysis import NOISY_CV, fmt_ratio, ok_rows, per_class, pooled, value, vector_extensions
from bench.report.load import text_sort_key, tier_sort_key

KEY_COLUMNS = ["machine", "contender", "reference", "model", "text", "workload", "cached", "status", "rounds",
               "speedup", "speedup_ci_low", "speedup_ci_high", "verdict", "stop_reason", "latency_p50_s", "latency_cv",
               "rtf", "audio_s", "ttfa_s", "load_s", "peak_rss_mb", "cuda_max_allocated_mb", "fid_gate", "fid_pass",
               "fid_snr_db", "fid_mcd_db", "run_id"]
STAGES = [("stage_frontend_s", "frontend"), ("stage_encoder_s", "encoder + duration"),
          ("stage_flow_s", "flow"), ("stage_decoder_s", "decoder")]


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Whole numbers as integers, None as missing (shown as a dash), floats to 4 significant places."""
    frame = frame.copy()
    frame.columns.name = None
    for col in frame.columns:
        if col in ("rounds", "points", "threads", "text_chars", "pairs", "underruns", "speedup_pairs"):
            frame[col] = pd.to_numeric(frame[col], errors="coerce").map(lambda v: "–" if pd.isna(v) else int(v))
        elif frame[col].dtype == object:
            frame[col] = frame[col].map(lambda v: pd.NA if v is None else v)
        elif pd.api.types.is_float_dtype(frame[col]):
            frame[col] = frame[col].map(lambda v: v if pd.isna(v) else float(f"{v:.4g}"))
    return frame


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    if frame.empty:
        return frame
    keys = {"tier": tier_sort_key, "text": text_sort_key}
    cols = [c for c in ("machine", "engine", "tier", "contender", "text", "workload") if c in frame]
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
    return _sorted(bad[["machine", "contender", "engine", "tier", "text", "status", "why"]]).reset_index(drop=True)


def noisy(df: pd.DataFrame) -> pd.DataFrame:
    """Per-class rows whose round-to-round latency CV exceeds 10% (pooled rows mix text lengths, so are left out)."""
    rows = per_class(df)
    if rows.empty:
        return pd.DataFrame()
    cv = pd.to_numeric(rows["latency_cv"], errors="coerce")
    rows = rows[cv > NOISY_CV].assign(latency_cv=cv[cv > NOISY_CV].round(3))
    cols = ["machine", "contender", "engine", "tier", "text", "rounds", "latency_p50_s", "latency_cv"]
    return _sorted(rows[cols]).reset_index(drop=True)


def machines(df: pd.DataFrame) -> pd.DataFrame:
    """One line per machine (host / hardware): CPU model, vector extensions, cores, GPU, from the rows' `env`."""
    out: dict[str, dict[str, Any]] = {}
    for _, r in df.iterrows() if not df.empty else []:
        env = r["env"] if isinstance(r["env"], dict) else {}
        cpu = env.get("cpu") or env.get("cpu_model") or env.get("cpu.brand_raw")
        line = out.setdefault(str(r["machine"]), {"machine": r["machine"], "host": r["host"] or "–", "hardware": r["hardware"]})
        if cpu and "CPU" not in line:
            caps = env.get("isa_caps") or {}
            line.update({"CPU": str(cpu), "vector extensions": vector_extensions(env.get("cpu_flags")),
                         "capped to (torch only)": ", ".join(f"{k}={v}" for k, v in caps.items()) or "no cap",
                         "logical cores": env.get("cores_logical"), "GPU": env.get("gpu") or "none"})
    return pd.DataFrame(list(out.values()))


def time_to_first_audio(df: pd.DataFrame) -> pd.DataFrame:
    """Per contender: stored median time to first audio, chunk gaps, underruns and the stored TTFA speedup."""
    rows = pooled(df)
    rows = rows[pd.to_numeric(rows["ttfa_s"], errors="coerce").notna()] if not rows.empty else rows
    out = [{"machine": r["machine"], "contender": r["contender"], "TTFA (ms)": 1000 * float(r["ttfa_s"]),
            "vs": value(r, "reference") or "–",
            "TTFA speedup [95% CI]": fmt_ratio(value(r, "ttfa_speedup"), value(r, "ttfa_speedup_ci_low"), value(r, "ttfa_speedup_ci_high")),
            "median chunk gap (ms)": 1000 * float(pd.Series(r["chunk_gaps_s"]).median()) if r["chunk_gaps_s"] else None,
            "underruns": value(r, "underruns")} for _, r in rows.iterrows()]
    return pd.DataFrame(out)


STAGE_ROOFLINE = [("stage_encoder_gflops", "encoder + duration"), ("stage_flow_gflops", "flow"),
                  ("stage_decoder_gflops", "decoder")]


def _of_peak(achieved: float | None, peak: float | None) -> str:
    if achieved is None:
        return "–"
    return f"{achieved:.3g} ({achieved / peak:.0%})" if peak else f"{achieved:.3g}"


def roofline(df: pd.DataFrame) -> pd.DataFrame:
    """Per contender: model GFLOP per audio second, the measured peak for its precision, achieved GFLOP/s of each
    stage and of the whole model with their share of that peak (all stored). A peer on the same voice (Piper) has
    its whole-model figure only: it cannot time our stages."""
    rows = pooled(df)
    has = pd.to_numeric(rows["achieved_gflops"], errors="coerce").notna() if not rows.empty else None
    rows = rows[has] if not rows.empty else rows
    out = []
    for _, r in rows.iterrows():
        peak, achieved = value(r, "peak_gflops"), float(r["achieved_gflops"])
        flops = value(r, "flops_per_audio_s")
        out.append({"machine": r["machine"], "contender": r["contender"], "precision": value(r, "precision") or "–",
                    "GFLOP per audio s": None if flops is None else flops / 1e9, "peak GFLOP/s": peak,
                    **{f"{name} GFLOP/s (of peak)": _of_peak(value(r, col), peak) for col, name in STAGE_ROOFLINE},
                    "achieved GFLOP/s": achieved, "share of peak": f"{achieved / peak:.0%}" if peak else "–"})
    return pd.DataFrame(out)


def stages(df: pd.DataFrame) -> pd.DataFrame:
    """Per contender: stored seconds per round in each stage (frontend, encoder, flow, decoder)."""
    rows = pooled(df)
    cols = [c for c, _ in STAGES]
    rows = rows[rows[cols].notna().any(axis=1)] if not rows.empty else rows
    out = [{"machine": r["machine"], "contender": r["contender"], **{label: value(r, c) for c, label in STAGES}}
           for _, r in rows.iterrows()]
    return pd.DataFrame(out)


def cached(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that measure the warm (cache-hit) case, shown apart; empty when no row has `cached` = True."""
    rows = ok_rows(df)
    rows = rows[rows["cached"].map(lambda c: c is True)] if not rows.empty else rows
    cols = ["machine", "contender", "text", "rounds", "latency_p50_s", "rtf", "verdict"]
    return _sorted(rows[cols]).reset_index(drop=True) if not rows.empty else pd.DataFrame()
