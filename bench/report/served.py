"""What serving answers, in the report. Under load (LoadGen's server search): per contender the highest rate whose
first audio stays within the bound (`answer_table`, which the report leads with) and every probe with why it did
or did not meet the bound (`probes_table`). Over HTTP: served tiers against the same tier in process (paired
first audio, ms) and the listeners' underruns (`sections`, none when no row was measured over HTTP). `df` holds
result rows with `extra` dicts, `serving` the LoadGen rows with their extras as columns (`build.serving_rows`)."""

from __future__ import annotations

from typing import Any, Callable

import pandas as pd

from bench.report import html as h
from bench.report.analysis import value
from bench.serve.search import plays_within_bound, ttfa_field

PIPER_NOTE = "Piper's server returns one whole WAV: its first audio is its whole synthesis"
SERVER = "server"  # LoadGen's scenario whose rows are the search's probes


def _probes(serving: pd.DataFrame) -> pd.DataFrame:
    if serving.empty or "scenario" not in serving:
        return serving.iloc[0:0]
    return serving[serving["scenario"] == SERVER]


def met(r: pd.Series) -> bool:
    """Whether an ok probe met the bound by the search's own rule (LoadGen VALID, and no simulated listener underran)."""
    return r["status"] == "ok" and plays_within_bound({"valid": value(r, "valid"), "underrun_rate": value(r, "underrun_rate")})


def _pct(r: pd.Series) -> str:
    p = value(r, "latency_percentile")
    return f"p{p * 100:g}" if p is not None else "p?"


def ttfa_at_bound_ms(r: pd.Series) -> float | None:
    """The probe's first audio (ms) at the percentile its bound applies to."""
    col = ttfa_field(value(r, "latency_percentile"))
    return _ms(value(r, col)) if col else None


def why_not(r: pd.Series) -> str:
    """Why a probe did not meet the bound, from LoadGen's own checks (`bench.serve.loadgen_log.figures`)."""
    if r["status"] != "ok":
        return f"failed: {value(r, 'error') or value(r, 'reason') or 'no reason stored'}"
    if value(r, "valid") == "VALID":
        rate = value(r, "underrun_rate")
        return f"VALID, but {rate:.0%} of streams underran" if rate else ""
    if value(r, "bound_met") is False:
        return f"{_pct(r)} over the bound"
    if value(r, "early_stopping_met") is False:
        return "early stopping: too few queries for its misses"
    if value(r, "min_queries_met") is False or value(r, "min_duration_met") is False:
        return "too few queries or too short (max_duration_s)"
    return "INVALID"


def _bound(r: pd.Series) -> str:
    bound = value(r, "latency_bound_ms")
    return f"{_pct(r)} <= {bound:g} ms" if bound is not None else "–"


def _probe(r: pd.Series | None) -> str:
    if r is None:
        return "–"
    ttfa = ttfa_at_bound_ms(r)
    achieved = value(r, "achieved_qps")
    return (f"{r['target_qps']:.3g} QPS" + (f" ({achieved:.3g} achieved)" if achieved is not None else "")
            + (f", {_pct(r)} {ttfa:.0f} ms" if ttfa is not None else "") + f": {why_not(r)}")


def answer_table(serving: pd.DataFrame) -> pd.DataFrame:
    """Per contender of a server search: the highest rate that met the bound, what it achieved there, its first
    audio at the bound's percentile, and the lowest rate probed above it that did not (with LoadGen's reason).
    Highest first; a contender that met the bound at no rate probed has no rate and its lowest probe as the next."""
    probes = _probes(serving)
    machines = probes["machine"].nunique() if "machine" in probes else 1
    out = []
    for (machine, contender), g in (probes.groupby(["machine", "contender"], sort=True) if not probes.empty else []):
        g = g.sort_values("target_qps")
        ok = g[[met(r) for _, r in g.iterrows()]]
        best = ok.iloc[-1] if not ok.empty else None
        above = g[g["target_qps"] > best["target_qps"]] if best is not None else g
        nxt = next((r for _, r in above.iterrows() if not met(r)), None)
        first = g.iloc[0]
        out.append({**({"machine": machine} if machines > 1 else {}), "contender": contender,
                    "highest QPS within the bound": None if best is None else best["target_qps"],
                    "achieved QPS": None if best is None else value(best, "achieved_qps"),
                    "first audio there (ms)": None if best is None else ttfa_at_bound_ms(best),
                    "bound": _bound(first),
                    "next probe up": _probe(nxt), "probes": len(g),
                    "search stopped": value(first, "search_stop") or "–",
                    "note": PIPER_NOTE if str(contender).startswith("piper-http") else ""})
    table = pd.DataFrame(out)
    if table.empty:
        return table
    table = table if table["note"].astype(bool).any() else table.drop(columns="note")
    return table.sort_values("highest QPS within the bound", ascending=False, na_position="last").reset_index(drop=True)


def probes_table(serving: pd.DataFrame) -> pd.DataFrame:
    """Every LoadGen run but the concurrency curve's, in order of contender and rate: verdict, why it did not meet
    the bound, first audio (ms) at p50/p90/p99, underruns, batch size, queries."""
    rows = serving[serving["scenario"].isin(["server", "offline", "singlestream"])] if not serving.empty else serving
    out = []
    for _, r in (rows.sort_values(["contender", "scenario", "target_qps"]).iterrows() if not rows.empty else []):
        out.append({"contender": r["contender"], "scenario": r["scenario"], "target QPS": value(r, "target_qps"),
                    "achieved QPS": value(r, "achieved_qps"), "verdict": value(r, "valid") or r["status"],
                    "not met because": "" if r["scenario"] != SERVER or met(r) else why_not(r),
                    "first audio p50 (ms)": _ms(value(r, "ttfa_s")), "p90 (ms)": _ms(value(r, "ttfa_p90_s")),
                    "p99 (ms)": _ms(value(r, "ttfa_p99_s")), "underrun rate": value(r, "underrun_rate"),
                    "mean batch": value(r, "mean_batch_size"), "queries": value(r, "queries")})
    frame = pd.DataFrame(out)
    return frame.dropna(axis=1, how="all") if not frame.empty else frame


def _tier(extra: Any) -> dict[str, Any]:
    tier = (extra.get("engine") or {}).get("tier") if isinstance(extra, dict) else None
    return tier if isinstance(tier, dict) else {}


def lead(answer: pd.DataFrame, probes: pd.DataFrame, curve: pd.DataFrame, img: Callable[[str, str], str]) -> str:
    """What a serving run answers, for the top of the page: per contender the highest load within the first-audio
    bound with the load-against-first-audio chart, and the concurrency curve where rows hold one; a run with
    LoadGen rows of neither kind (offline, singlestream) leads with those runs. Empty without LoadGen rows.
    `img(name, alt)` embeds the report's chart `name` ("serving", "concurrency"); the frames are `answer_table`,
    `probes_table` and `concurrency.curve_table`."""
    parts = []
    if not answer.empty:
        parts.append(h.Section(
            "answer", "Highest load within the first-audio bound",
            h.table(answer, "", css="headline") + img("serving", "load against first audio per contender"),
            "Per contender, the highest rate LoadGen's server search probed that met the bound: LoadGen called it VALID "
            "(first audio within the bound at the percentile, and early stopping passed) and, over HTTP, no simulated "
            "listener underran. The next probe up is the lowest rate above it that did not, with LoadGen's reason. "
            "The chart: each probe's first audio at the bound's percentile against the rate it achieved, filled "
            "where LoadGen called it VALID; the dashed line is the bound."))
    if not curve.empty:
        parts.append(h.Section(
            "concurrency", "First audio against concurrent streams",
            img("concurrency", "first audio and audio throughput against concurrent streams")
            + h.table(curve, ""),
            "Closed-loop clients at each level, every request a fresh text; figures as each level's row stores them."))
    if not parts and not probes.empty:
        parts.append(h.Section("loadgen", "LoadGen runs", h.table(probes, "", css="headline"),
                               "One row per LoadGen run; LoadGen's own logs are kept under results/<run-id>/loadgen/."))
    return "".join(h.section(p) for p in parts)


def probes_section(answer: pd.DataFrame, probes: pd.DataFrame) -> h.Section:
    """Every LoadGen run below the answer it leads with (empty where no server search leads: `lead` shows them)."""
    return h.Section("serving", "Every LoadGen run", h.table(probes, "") if not answer.empty else "",
                     "One row per LoadGen run (the server scenario: Poisson arrivals at the target rate), with LoadGen's "
                     "verdict and, where a probe did not meet the bound, which of LoadGen's checks it failed (the "
                     "percentile, early stopping, too few queries) or that a listener underran. Over HTTP every query "
                     "is its own request, and a simulated listener starts playback at the first chunk and counts an "
                     "underrun when playback reaches audio not yet received (underrun rate: the share of streams that "
                     "did). LoadGen's own mlperf_log_summary.txt and mlperf_log_detail.txt of every run are kept under "
                     "results/<run-id>/loadgen/.")


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


def sections(df: pd.DataFrame) -> list[h.Section]:
    """The report's "served" section, or nothing when no served tier shares rounds with an in-process one. (Under
    load, the rates and underruns of servers lead the page: `lead`, `probes_section`.)"""
    paired = served_vs_in_process(df)
    if paired.empty:
        return []
    return [h.Section("served", "Served over HTTP against in process", h.table(paired, ""),
                      "Time to first audio over HTTP = request sent to the first audio bytes received. The paired "
                      "difference is served minus in process, same text and round (mean, ms, 95% bootstrap "
                      "interval). " + PIPER_NOTE + ".")]


def _ms(seconds: Any) -> float | None:
    return float(seconds) * 1e3 if isinstance(seconds, (int, float)) and seconds == seconds else None
