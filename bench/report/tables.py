"""The report's tables as DataFrames; the HTML, CSV and JSON files are written from these."""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.report.analysis import is_true, fmt_ratio, is_cached, ok_rows, per_class, pooled, value, vector_extensions
from bench.report.load import POOLED, text_sort_key, tier_sort_key
from bench.report.peaks import ROOFLINE_STAGES, stage_peaks

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
    """Rows the sweep flagged noisy (`noisy`): their paired ratios (a contender with a reference) or their RTF (a
    reference) spread more than `NOISY_SPREAD` within a text class, with the spread and what it was taken over.
    Older rows flagged on latency CV are shown per class only (their pooled flag mixed text lengths)."""
    rows = pd.concat([per_class(df), pooled(df)]) if not df.empty else df
    out = []
    for _, r in rows.drop_duplicates(subset=["contender", "text", "run_id"]).iterrows() if not rows.empty else []:
        if not is_true(r.get("noisy")):
            continue
        extra = r["extra"] if isinstance(r.get("extra"), dict) else {}
        spread, basis = extra.get("noisy_spread"), extra.get("noisy_basis")
        if spread is None:  # an older row: flagged on latency CV
            if r["text"] == POOLED:
                continue
            spread, basis = value(r, "latency_cv"), "latency CV (older row)"
        out.append({"machine": r["machine"], "contender": r["contender"], "engine": r["engine"], "tier": r["tier"],
                    "text": r["text"], "rounds": r["rounds"], "spread": None if spread is None else round(float(spread), 3),
                    "spread of": basis})
    return _sorted(pd.DataFrame(out)).reset_index(drop=True) if out else pd.DataFrame()


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
    """Per contender: stored median time to first audio (first bytes, and first audible sound: `bench.measure.
    audible`), chunk gaps, underruns and the stored TTFA speedup."""
    rows = pooled(df)
    rows = rows[pd.to_numeric(rows["ttfa_s"], errors="coerce").notna()] if not rows.empty else rows
    out = [{"machine": r["machine"], "contender": r["contender"], "TTFA (ms)": 1000 * float(r["ttfa_s"]),
            "first audible (ms)": (1000 * float(value(r, "first_audible_s"))
                                   if value(r, "first_audible_s") is not None else None),
            "vs": value(r, "reference") or "–",
            "TTFA speedup [95% CI]": fmt_ratio(value(r, "ttfa_speedup"), value(r, "ttfa_speedup_ci_low"), value(r, "ttfa_speedup_ci_high")),
            "median chunk gap (ms)": 1000 * float(pd.Series(r["chunk_gaps_s"]).median()) if r["chunk_gaps_s"] else None,
            "chunk gaps from": _gap_rounds(r), "underruns": value(r, "underruns")} for _, r in rows.iterrows()]
    return pd.DataFrame(out)


def trust(df: pd.DataFrame) -> pd.DataFrame:
    """Per comparison group (its pooled rows): why its rounds stopped, how many were accepted, how many were set
    aside as disturbed and measured again, how many accepted ones are outliers (kept), and in how many worker
    processes per contender they ran."""
    rows = pooled(df)
    out = []
    for group, g in (rows.groupby("group_id", sort=False) if not rows.empty and "group_id" in rows else []):
        r = g.iloc[0]
        extra = r["extra"] if isinstance(r.get("extra"), dict) else {}
        rounds = pd.to_numeric(g["rounds"], errors="coerce").max() if "rounds" in g else None
        out.append({"machine": r["machine"], "group": str(group)[:8], "stopped": value(r, "stop_reason") or "–",
                    "rounds": None if rounds is None or pd.isna(rounds) else int(rounds),
                    "disturbed, measured again": extra.get("rounds_disturbed"),
                    "outliers (kept, marked)": extra.get("rounds_outliers"),
                    "disturbed, kept (measure.interference=record)": extra.get("rounds_flagged"),
                    "processes per contender": extra.get("processes")})
    return pd.DataFrame(out)


def busy(df: pd.DataFrame) -> list[str]:
    """The stop reasons that say the machine stayed busy (`bench.measure.rounds`), one per group."""
    reasons = pooled(df)["stop_reason"].dropna().astype(str) if not df.empty and "stop_reason" in df else []
    return sorted({x for x in reasons if x.startswith("machine busy")})


def _gap_rounds(r: pd.Series) -> str:
    """Which rounds the stored `chunk_gaps_s` come from: every round (`extra["chunk_gap_rounds"]` of them), or,
    in rows stored before that was recorded, the round of median latency only."""
    if not r["chunk_gaps_s"]:
        return "–"
    extra = r["extra"] if isinstance(r.get("extra"), dict) else {}
    n = extra.get("chunk_gap_rounds")
    return f"all {n} streamed rounds" if isinstance(n, int) else "the median-latency round only (older row)"


STAGE_ROOFLINE = [("stage_encoder_gflops", "encoder + duration"), ("stage_flow_gflops", "flow"),
                  ("stage_decoder_gflops", "decoder")]
STAGE_KEYS = dict(zip((c for c, _ in STAGE_ROOFLINE), ROOFLINE_STAGES))  # column -> peaks stage name


def _of_peak(achieved: float | None, peak: float | None, precision: str = "") -> str:
    if achieved is None:
        return "–"
    if not peak:
        return f"{achieved:.3g} (no {precision} peak measured)" if precision else f"{achieved:.3g}"
    return f"{achieved:.3g} ({achieved / peak:.0%} of {precision} peak)" if precision else f"{achieved:.3g} ({achieved / peak:.0%})"


def roofline(df: pd.DataFrame) -> pd.DataFrame:
    """Per contender: model GFLOP per audio second, achieved GFLOP/s of each stage against the measured peak of the
    precision that stage runs in (`peaks.stage_precisions`: a BF16 tier's encoder and duration predictor run in
    fp32), and of the whole model against the row's precision peak. A peer on the same voice (Piper) has its
    whole-model figure only: it cannot time our stages."""
    rows = pooled(df)
    has = pd.to_numeric(rows["achieved_gflops"], errors="coerce").notna() if not rows.empty else None
    rows = rows[has] if not rows.empty else rows
    out = []
    for _, r in rows.iterrows():
        peak, achieved = value(r, "peak_gflops"), float(r["achieved_gflops"])
        flops = value(r, "flops_per_audio_s")
        per_stage = stage_peaks(r, df)
        staged = any(value(r, col) is not None for col, _ in STAGE_ROOFLINE)
        out.append({"machine": r["machine"], "contender": r["contender"], "precision": value(r, "precision") or "–",
                    "stage precisions": ", ".join(f"{s} {p}" for s, (p, _) in per_stage.items()) if staged else "–",
                    "GFLOP per audio s": None if flops is None else flops / 1e9, "peak GFLOP/s": peak,
                    **{f"{name} GFLOP/s (of peak)": _of_peak(value(r, col), per_stage[STAGE_KEYS[col]][1],
                                                             per_stage[STAGE_KEYS[col]][0])
                       for col, name in STAGE_ROOFLINE},
                    "achieved GFLOP/s": achieved, "share of peak": f"{achieved / peak:.0%}" if peak else "–"})
    return pd.DataFrame(out)


def stage_seconds(r: pd.Series) -> tuple[dict[str, float | None], float | None, str]:
    """({stage label: stored seconds}, audio seconds of the synthesis they were timed on or None, text classes):
    the stage timings are one noise-free synthesis of the longest class's text, not a round."""
    extra = r["extra"] if isinstance(r.get("extra"), dict) else {}
    audio = extra.get("stage_audio_s")
    texts = extra.get("stage_texts")
    audio = float(audio) if isinstance(audio, (int, float)) and audio > 0 else None
    return ({label: value(r, c) for c, label in STAGES}, audio,
            ", ".join(map(str, texts)) if isinstance(texts, list) and texts else "–")


def stages(df: pd.DataFrame) -> pd.DataFrame:
    """Per contender: seconds per audio second in each stage (frontend, encoder, flow, decoder) of one noise-free
    synthesis of the longest class's text, over that synthesis's own audio; rows stored before the audio was
    recorded give the synthesis's seconds and say so."""
    rows = pooled(df)
    cols = [c for c, _ in STAGES]
    rows = rows[rows[cols].notna().any(axis=1)] if not rows.empty else rows
    out = []
    for _, r in rows.iterrows():
        secs, audio, texts = stage_seconds(r)
        figures = {f"{k} (s per audio s)": None if v is None or audio is None else v / audio for k, v in secs.items()}
        if audio is None:
            figures = {f"{k} (s of the synthesis)": v for k, v in secs.items()}
        out.append({"machine": r["machine"], "contender": r["contender"], "timed on": texts,
                    "audio of that synthesis (s)": audio, **figures})
    return pd.DataFrame(out)


def cached(df: pd.DataFrame) -> pd.DataFrame:
    """Rows that measure the warm (cache-hit) case, shown apart with their stored warm speedup; empty when no row
    has `cached` = True. They never enter the headline, verdicts.json or the speedup charts."""
    rows = ok_rows(df)
    rows = rows[[is_cached(r) for _, r in rows.iterrows()]] if not rows.empty else rows
    if rows.empty:
        return pd.DataFrame()
    warm = "warm speedup [95% CI] (cache hits)"
    rows = rows.assign(**{warm: [fmt_ratio(value(r, "speedup"), value(r, "speedup_ci_low"), value(r, "speedup_ci_high"))
                                 for _, r in rows.iterrows()]})
    return _sorted(rows[["machine", "contender", "text", "rounds", "latency_p50_s", "rtf", warm, "verdict"]]).reset_index(drop=True)
