"""What the report states, read from the rows: headline, verdicts, peers, ablations.

Nothing here computes a speedup, an interval or a verdict: the sweep stores them in each row
(`bench/results/stats.py` is the one place for statistics) and this module only selects and formats them.
The one fit left (`cost_fits`) fits the rows' stored median latencies against their audio length.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from bench.report.load import POOLED, TIER_ORDER, text_sort_key, tier_sort_key

OURS = "tts_core"
SERVE = "serve"  # the workload of LoadGen rows (one per run: a load, not a round); the serving sections read them


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == "ok"] if not df.empty else df


def is_cached(row: pd.Series | dict) -> bool:
    """Whether the row measured the warm (cache-hit) case (`cached` True, as `workload=repeated` stores)."""
    return is_true(row.get("cached"))


def is_true(v: Any) -> bool:
    """Whether a stored flag is True (a Python or numpy bool; None and NaN are not)."""
    return isinstance(v, (bool, np.bool_)) and bool(v)


def fresh_rows(df: pd.DataFrame) -> pd.DataFrame:
    """The ok rows measured in rounds on fresh text: cache-hit rows (`cached` True) never enter a headline, a
    verdict, a speedup chart or a fit (`tables.cached` shows them apart), nor do LoadGen rows (workload `serve`:
    each is one load, and rows at different loads are not one contender's figures; `build.serving_rows`)."""
    rows = ok_rows(df)
    if rows.empty:
        return rows
    rounds = rows["workload"] != SERVE if "workload" in rows else True
    return rows[~rows["cached"].map(is_true) & rounds]


def value(row: pd.Series | dict, key: str) -> Any:
    """`row[key]`, with NaN / missing as None."""
    v = row.get(key)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def pooled(df: pd.DataFrame) -> pd.DataFrame:
    """Each contender's pooled (`text == "all"`) fresh-text ok row; a contender without one keeps all its rows
    (cache-hit rows are left out: `fresh_rows`)."""
    rows = fresh_rows(df)
    if rows.empty:
        return rows
    key = rows["machine"].astype(str) + "\n" + rows["contender"].astype(str)
    keep = (rows["text"] == POOLED) | ~key.isin(set(key[rows["text"] == POOLED]))
    return _sorted(rows[keep])


def per_class(df: pd.DataFrame) -> pd.DataFrame:
    """The fresh-text ok rows of single text classes (everything but the pooled rows and cache-hit rows)."""
    rows = fresh_rows(df)
    return _sorted(rows[rows["text"] != POOLED]) if not rows.empty else rows


def _sorted(rows: pd.DataFrame) -> pd.DataFrame:
    if rows.empty:
        return rows
    key = rows.apply(lambda r: (str(r["machine"]), r["engine"] != OURS, str(r["engine"]), tier_sort_key(str(r["tier"])),
                                text_sort_key(str(r["text"]))), axis=1)
    return rows.iloc[sorted(range(len(rows)), key=lambda i: key.iloc[i])]


def is_main(row: pd.Series) -> bool:
    return row["engine"] == OURS and row["tier"] in TIER_ORDER


def is_peer(row: pd.Series) -> bool:
    return row["engine"] != OURS


def is_ablation(row: pd.Series) -> bool:
    return row["engine"] == OURS and row["tier"] not in TIER_ORDER


def fmt_ratio(point: Any, lo: Any = None, hi: Any = None) -> str:
    """"1.23x [1.18–1.28]" from stored figures; "–" without a point."""
    if point is None or pd.isna(point):
        return "–"
    finite = lo is not None and hi is not None and not pd.isna(lo) and not pd.isna(hi) and math.isfinite(lo) and math.isfinite(hi)
    return f"{point:.2f}x" + (f" [{lo:.2f}–{hi:.2f}]" if finite else "")


def judged(row: pd.Series | dict) -> tuple[Any, Any, Any, Any]:
    """(speedup, ci low, ci high, pairs) of the metric the row's verdict speaks of (ttfa, else throughput)."""
    pairs = value(row, "speedup_pairs")
    pairs = None if pairs is None else int(pairs)
    if value(row, "verdict_metric") == "ttfa":
        return value(row, "ttfa_speedup"), value(row, "ttfa_speedup_ci_low"), value(row, "ttfa_speedup_ci_high"), pairs
    return value(row, "speedup"), value(row, "speedup_ci_low"), value(row, "speedup_ci_high"), pairs


def kind(verdict: Any, fid_pass: Any = None) -> str:
    """CSS class for a stored verdict string: pays, loses, broken (pays but fails fidelity) or neutral."""
    text = str(verdict or "")
    if text.startswith("pays"):
        return "broken" if fid_pass is False else "pays"
    return "loses" if text.startswith("costs") else "neutral"


def fidelity(row: pd.Series | dict) -> str:
    """'pass' / 'FAILS (gate, figures)' / 'reference' / 'not measured' from the row's fid_* fields."""
    passed = value(row, "fid_pass")
    if passed is None:
        ours_reference = value(row, "reference") is None and row.get("engine") == OURS and row.get("tier") == "baseline"
        return "reference" if ours_reference else "not measured"
    if passed:
        return "pass" + (f" ({row['fid_gate']} gate)" if value(row, "fid_gate") else "")
    bits = [f"{row['fid_gate']} gate"] if value(row, "fid_gate") else []
    for col, label, unit in (("fid_snr_db", "SNR", " dB"), ("fid_mcd_db", "MCD", " dB"), ("fid_spec_corr", "spec corr", "")):
        if value(row, col) is not None:
            bits.append(f"{label} {row[col]:.3g}{unit}")
    return "FAILS (" + ", ".join(bits) + ")" if bits else "FAILS"


def _frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """A table of `records` with the pair counts as integers (missing stays missing)."""
    frame = pd.DataFrame(records)
    if "pairs" in frame:
        frame["pairs"] = pd.to_numeric(frame["pairs"], errors="coerce").astype("Int64")
    return frame


def _num(v: Any, spec: str, scale: float = 1.0) -> str:
    return "–" if v is None or pd.isna(v) else spec.format(float(v) * scale)


def headline(df: pd.DataFrame) -> pd.DataFrame:
    """One line per machine and contender (our main tiers, then peers): stored speedup [95% CI] and verdict."""
    out = []
    for _, r in pooled(df).iterrows():
        if is_ablation(r):
            continue
        point, lo, hi, pairs = judged(r)
        metric = value(r, "verdict_metric")
        out.append({
            "machine": r["machine"], "contender": r["contender"], "vs": value(r, "reference") or "(reference)",
            "speedup [95% CI]": fmt_ratio(point, lo, hi), "pairs": pairs,
            "verdict": (value(r, "verdict") or "–") + (f" ({metric})" if metric and metric != "throughput" else ""),
            "RTF": _num(value(r, "rtf"), "{:.3f}"), "TTFA (ms)": _num(value(r, "ttfa_s"), "{:.0f}", 1000),
            "peak RSS (MB)": _num(value(r, "peak_rss_mb"), "{:.0f}"), "fidelity": fidelity(r), "text": r["text"],
        })
    return _frame(out)


def command(row: pd.Series) -> str | None:
    """The command that reproduces the row, when the sweep recorded one in `extra`."""
    extra = row.get("extra") if isinstance(row.get("extra"), dict) else {}
    return extra.get("command")


def verdict_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """verdicts.json: one record per non-reference contender's pooled row, figures copied from the row."""
    out = []
    for _, r in pooled(df).iterrows():
        if value(r, "reference") is None:
            continue
        point, lo, hi, pairs = judged(r)
        out.append({"machine": r["machine"], "contender": r["contender"], "optimization": r["tier"],
                    "engine": r["engine"], "reference": r["reference"], "metric": value(r, "verdict_metric"),
                    "speedup": point, "ci_lo": lo, "ci_hi": hi, "pairs": pairs, "verdict": value(r, "verdict"),
                    "text": r["text"], "switch_diff": r["switch_diff"] if isinstance(r["switch_diff"], dict) else {},
                    "fidelity": fidelity(r), "command": command(r), **cpu_of(r)})
    return out


def cpu_of(row: pd.Series) -> dict[str, Any]:
    """The CPU a row was measured on, with its vector extensions (and the GPU, if any), from its `env`."""
    env = row.get("env") if isinstance(row.get("env"), dict) else {}
    return {"cpu": env.get("cpu"), "cpu_vector_extensions": vector_extensions(env.get("cpu_flags")),
            "isa_caps": env.get("isa_caps") or {}, "gpu": env.get("gpu")}


def peer_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """peers.json: each peer's pooled figures and the stored comparisons of our tiers against it."""
    rows = pooled(df)
    classes = per_class(df)
    out = []
    for _, p in rows[rows.apply(is_peer, axis=1)].iterrows() if not rows.empty else []:
        comparisons = []
        for _, r in pd.concat([rows, classes]).iterrows():
            if r["engine"] != OURS or r["machine"] != p["machine"] or not isinstance(r["comparisons"], list):
                continue
            for c in r["comparisons"]:
                if isinstance(c, dict) and c.get("reference") == p["contender"]:
                    comparisons.append({"contender": r["contender"], "tier": r["tier"], "text": r["text"], **c})
        comparisons.sort(key=lambda c: (c["text"] != POOLED, tier_sort_key(c["tier"]), text_sort_key(c["text"])))
        out.append({"machine": p["machine"], "contender": p["contender"], "engine": p["engine"], "tier": p["tier"],
                    "rtf": value(p, "rtf"), "ttfa_s": value(p, "ttfa_s"), "peak_rss_mb": value(p, "peak_rss_mb"),
                    "load_s": value(p, "load_s"), "comparisons": comparisons})
    return out


def capped_against_peers(df: pd.DataFrame) -> list[str]:
    """One sentence per machine where our tiers ran with torch's instruction sets capped (`ONEDNN_MAX_CPU_ISA` and
    the like, `tts_core.machine.ISA_CAPS`) beside a peer that no such variable caps (onnxruntime picks its kernels
    from the CPU alone): the peer kept the machine's full instruction set, so the comparison is not like for like."""
    rows = ok_rows(df)
    out = []
    for machine, group in rows.groupby("machine", sort=True) if not rows.empty else []:
        ours = group[group["engine"] == OURS]
        peers = sorted({str(e) for e in group.loc[group["engine"] != OURS, "engine"] if e != "fake"})
        caps = {f"{k}={v}" for _, r in ours.iterrows() for k, v in (cpu_of(r)["isa_caps"] or {}).items()}
        if caps and peers:
            out.append(f"{machine}: torch was capped ({', '.join(sorted(caps))}) but {', '.join(peers)} was not "
                       "(onnxruntime and espeak-ng read none of these variables and use every instruction set this "
                       "CPU has): each comparison with a peer here sets capped tts_core against an uncapped peer, "
                       "which flatters the peer. A figure for a CPU without those instruction sets comes from one.")
    return out


def peer_comparisons(records: list[dict[str, Any]]) -> pd.DataFrame:
    """The pooled comparisons of `peer_records` as a table: our tier vs peer, speedup [CI], verdict."""
    out = [{"machine": p["machine"], "contender": c["contender"], "vs peer": p["contender"], "metric": c.get("metric"),
            "speedup [95% CI]": fmt_ratio(c.get("speedup"), c.get("ci_low"), c.get("ci_high")), "pairs": c.get("pairs"),
            "verdict": c.get("verdict")}
           for p in records for c in p["comparisons"] if c["text"] == POOLED]
    return _frame(out)


def switch_text(diff: Any) -> str:
    """"field: a → b; ..." for a stored `switch_diff`; "none (identical switches)" when empty."""
    if not isinstance(diff, dict) or not diff:
        return "none (identical switches)"
    parts = []
    for name, pair in diff.items():
        ref, this = (pair[0], pair[1]) if isinstance(pair, (list, tuple)) and len(pair) == 2 else ("?", pair)
        parts.append(f"{name}: {ref} → {this}")
    return "; ".join(parts)


def ablations(df: pd.DataFrame) -> pd.DataFrame:
    """Each ablation's pooled row: what differs from its reference and its stored verdict."""
    rows = pooled(df)
    out = []
    for _, r in rows[rows.apply(is_ablation, axis=1)].iterrows() if not rows.empty else []:
        point, lo, hi, pairs = judged(r)
        identical = value(r, "verdict") == "identical here"
        out.append({"machine": r["machine"], "contender": r["contender"], "vs": value(r, "reference") or "–",
                    "switches that differ": switch_text(r["switch_diff"]), "verdict": value(r, "verdict") or "–",
                    "metric": value(r, "verdict_metric") or "–",
                    "speedup [95% CI]": "–" if identical else fmt_ratio(point, lo, hi), "pairs": pairs,
                    "fidelity": fidelity(r)})
    return _frame(out)


MIN_FIT_LENGTHS = 5  # distinct audio lengths below which a fixed + per-second fit is not a finding


def _fit_points(group: pd.DataFrame) -> pd.DataFrame:
    """(audio_s, latency_s) of every stored round of the contender's class rows (audio = latency / RTF of the
    round), or each class's median where the rounds were not stored."""
    pts = []
    for _, r in group.iterrows():
        lat, rtfs = r.get("latencies_s"), r.get("rtfs")
        if isinstance(lat, list) and isinstance(rtfs, list) and len(lat) == len(rtfs) and lat:
            pts += [(t / f, t) for t, f in zip(lat, rtfs) if t is not None and f]
        elif value(r, "audio_s") is not None and value(r, "latency_p50_s") is not None:
            pts.append((float(r["audio_s"]), float(r["latency_p50_s"])))
    return pd.DataFrame(pts, columns=["audio_s", "latency_s"], dtype=float)


def fit_trust(distinct_lengths: int, fixed_s: float) -> str:
    """"trusted", or why a fit of latency = fixed + per second x audio is not a finding."""
    if distinct_lengths < MIN_FIT_LENGTHS:
        return f"not a finding: {distinct_lengths} distinct lengths (at least {MIN_FIT_LENGTHS} needed)"
    if fixed_s < 0:
        return f"not a finding: negative fixed cost ({fixed_s:.3g} s), the straight line does not hold"
    return "trusted"


def cost_fits(df: pd.DataFrame) -> pd.DataFrame:
    """Per contender: latency (s) = fixed + per_audio_s x audio seconds, least squares over every stored round of
    its text classes, with `fit_trust`'s judgement; an untrusted fit shows no figures."""
    out = []
    rows = per_class(df)
    for contender, group in rows.groupby("contender", sort=False) if not rows.empty else []:
        pts = _fit_points(group)
        distinct = int(pts["audio_s"].round(3).nunique())
        if distinct < 2:
            continue
        slope, intercept = np.polyfit(pts["audio_s"], pts["latency_s"], 1)
        trust = fit_trust(distinct, float(intercept))
        ok = trust == "trusted"
        out.append({"machine": group["machine"].iloc[0], "contender": contender,
                    "fixed cost (s)": float(intercept) if ok else None,
                    "cost per audio second (s)": float(slope) if ok else None,
                    "points": len(pts), "distinct lengths": distinct, "fit": trust})
    return pd.DataFrame(out)


def vector_extensions(flags: Any) -> str:
    """The SIMD flags of `env["cpu_flags"]` grouped for reading: "avx, avx2, fma, AVX-512 (f, bw, vnni)"."""
    names = flags.split() if isinstance(flags, str) else [str(f) for f in flags or []]
    plain = [f for f in names if not f.startswith(("avx512", "amx"))]
    groups = []
    for prefix, label in (("avx512", "AVX-512"), ("amx", "AMX")):
        members = [f.removeprefix(prefix).lstrip("_") or prefix for f in names if f.startswith(prefix)]
        if members:
            groups.append(f"{label} ({', '.join(members)})")
    return ", ".join(plain + groups) or "not recorded"
