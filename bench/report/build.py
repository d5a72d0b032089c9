"""`write_report`: results files in, one self-contained `index.html` plus its tables as CSV and JSON out.

Beside the page: `verdicts.json` (one record per non-reference contender's pooled row), `peers.json` (each
peer with the paired comparisons against it), `refused.json` (file paths refused, see `bench.report.paths`)
and every table as CSV and JSON. All figures are copied from the rows.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from bench.quality import report as quality_report
from bench.serve import report as serve_report
from bench.report import analysis, audio, charts, concurrency, tables
from bench.report import served as served_report
from bench.report import html as h
from bench.report.load import load_results
from bench.report.paths import FileGuard, roots_of
from bench.results.stats import NOISY_SPREAD

log = logging.getLogger(__name__)
REPORTS_DIR = Path("reports")


def run_label(df: pd.DataFrame, paths: list[Path]) -> str:
    """The run id: the rows' one run id, `merged-<hash>` for several, else the results folder's name."""
    ids = sorted(set(df["run_id"].astype(str))) if not df.empty else []
    if len(ids) == 1:
        return ids[0]
    if ids:
        return "merged-" + hashlib.sha1("\n".join(ids).encode()).hexdigest()[:8]
    names = [p.name if p.is_dir() else p.parent.name for p in paths]
    return names[0] if len(set(names)) == 1 and names[0] else "empty"


def _safe_dirname(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_.+" else "_" for c in name).strip(".")
    return cleaned or "run"


def _cpu_names(df: pd.DataFrame) -> list[str]:
    names = []
    for env in df["env"]:
        if isinstance(env, dict):
            for key in ("cpu", "cpu_model", "cpu.brand_raw", "cpu_brand"):
                if env.get(key) and not isinstance(env[key], dict):
                    names.append(str(env[key]))
                    break
    return sorted(set(names))


def _meta(df: pd.DataFrame, run_id: str) -> list[str]:
    if df.empty:
        return [f"run {run_id}", "no rows"]
    stamps = pd.to_numeric(df["timestamp"], errors="coerce")
    stamps = stamps[stamps > 0]
    date = datetime.fromtimestamp(float(stamps.max()), timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if not stamps.empty else "date unknown"
    counts = df["status"].value_counts()
    status = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "failed", "skipped") if counts.get(s, 0))
    models = ", ".join(sorted(set(df["model"].astype(str)) - {""}))
    return [f"run {run_id}", "machines: " + "; ".join(sorted(set(df["machine"]))), *(f"CPU: {c}" for c in _cpu_names(df)),
            *( [f"model: {models}"] if models else []), date, status]


class ReportChartError(RuntimeError):
    """Charts raised while the report was built in strict mode (CI); the report was still written."""

    def __init__(self, index: Path, failures: list[str]) -> None:
        super().__init__(f"{len(failures)} chart(s) raised (report written to {index}): " + "; ".join(failures))
        self.index = index
        self.failures = failures


def _safe_chart(fn: Callable[[], bytes | None], name: str, failures: list[str]) -> tuple[bytes | None, str]:
    """Draw one chart; a chart that raises is logged with its traceback, noted in `failures` (strict mode turns
    them into an error once everything is written) and says why on the page instead of costing the report.
    A chart with nothing to draw leaves no trace on the page."""
    try:
        return fn(), ""
    except Exception as exc:  # noqa: BLE001 - one bad chart must not cost the whole report
        log.error("chart %s failed: %s: %s", name, type(exc).__name__, exc, exc_info=True)
        failures.append(f"{name}: {type(exc).__name__}: {exc}")
        return None, f"The {name} chart could not be drawn: {type(exc).__name__}: {exc}"


def _finite(value: Any) -> Any:
    """`value` with NaN and infinities as None, recursively (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _write_tables(frames: dict[str, pd.DataFrame], records: dict[str, list[dict[str, Any]]], out_dir: Path) -> None:
    """Each frame as `<name>.csv` and `<name>.json`; each record list as `<name>.json` (nested fields kept)."""
    for name, frame in frames.items():
        frame.to_csv(out_dir / f"{name}.csv", index=False)
        frame.to_json(out_dir / f"{name}.json", orient="records", indent=1, default_handler=str)
    for name, items in records.items():
        text = json.dumps(_finite(items), indent=1, allow_nan=False, default=str)
        (out_dir / f"{name}.json").write_text(text + "\n", encoding="utf-8")


def _verdict_items(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(sentence, css kind) per stored verdict: "advanced vs baseline on m: pays, 1.52x [1.45–1.60] over 24 pairs"."""
    items = []
    for rec in records:
        ref = str(rec["reference"]).split("@")[0]
        if rec["verdict"] == "identical here":
            items.append((f"{rec['contender']} vs {ref} on {rec['machine']}: identical here "
                          "(its resolved switches equal the reference's)", "neutral"))
            continue
        metric = f", {rec['metric']}" if rec["metric"] else ""
        pairs = f" over {rec['pairs']} pairs" if rec["pairs"] else ""
        fails = "" if not str(rec["fidelity"]).startswith("FAILS") else f"; fidelity {rec['fidelity']}"
        items.append((f"{rec['contender']} vs {ref} on {rec['machine']}: {rec['verdict'] or 'no verdict stored'} — "
                      f"{analysis.fmt_ratio(rec['speedup'], rec['ci_lo'], rec['ci_hi'])}{pairs}{metric}{fails}",
                      analysis.kind(rec["verdict"], False if fails else None)))
    return items


def pooled(df: pd.DataFrame) -> pd.DataFrame:
    """Each contender's pooled row (`text == "all"`)."""
    return df[df["text"] == "all"] if not df.empty else df


def heard_quality_frames(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The heard-quality table per contender and the transcripts that differ from their text (stored fields only)."""
    rows = pooled(df)
    if rows.empty or "wer" not in rows or rows["wer"].isna().all():
        return {"quality": pd.DataFrame(), "transcripts": pd.DataFrame()}
    return {"quality": quality_report.quality_table(rows), "transcripts": quality_report.transcripts(rows)}


def serving_rows(df: pd.DataFrame) -> pd.DataFrame:
    """LoadGen rows (workload `serve`) with their `extra` fields as columns, as `bench.serve.report` reads them."""
    if df.empty or "workload" not in df:
        return pd.DataFrame()
    rows = df[df["workload"] == analysis.SERVE]
    if rows.empty:
        return rows
    extra = pd.DataFrame([e if isinstance(e, dict) else {} for e in rows["extra"]], index=rows.index)
    out = rows.join(extra[[c for c in extra.columns if c not in rows.columns]])
    return out.assign(ttfa_p50_s=out["ttfa_s"])


def render(df: pd.DataFrame, run_id: str, sources: list[Path],
           chart_failures: list[str] | None = None) -> tuple[str, dict[str, pd.DataFrame], dict[str, list]]:
    """The page's HTML, its tables (name -> frame) and its JSON records (verdicts, peers) for the rows in `df`;
    each chart that raised is appended to `chart_failures` ("name: error")."""
    failures = chart_failures if chart_failures is not None else []
    guard = FileGuard(roots_of(sources))
    verdicts = analysis.verdict_records(df) if not df.empty else []
    peer_recs = analysis.peer_records(df) if not df.empty else []
    frames = {
        "headline": analysis.headline(df) if not df.empty else pd.DataFrame(),
        "verdicts": pd.DataFrame(verdicts), "machines": tables.machines(df),
        "peer_comparisons": analysis.peer_comparisons(peer_recs),
        "ablations": analysis.ablations(df) if not df.empty else pd.DataFrame(),
        "time_to_first_audio": tables.time_to_first_audio(df), "roofline": tables.roofline(df),
        "trust": tables.trust(df),
        "stages": tables.stages(df), "cost_fits": analysis.cost_fits(df) if not df.empty else pd.DataFrame(),
        "cached": tables.cached(df), "noisy": tables.noisy(df), "failures": tables.failures(df),
        "environment": tables.environment(df), "rows": tables.all_rows(df) if not df.empty else pd.DataFrame(),
    }
    frames.update(heard_quality_frames(df))
    served = serving_rows(df)
    frames["serving"] = served_report.answer_table(served)
    frames["serving_probes"] = served_report.probes_table(served)
    frames["concurrency"] = concurrency.curve_table(served)
    peers_frame = pd.DataFrame([{k: v for k, v in p.items() if k != "comparisons"} for p in peer_recs])
    c = {name: _safe_chart(fn, name, failures) for name, fn in {
        "speedup": lambda: charts.speedup_by_text(df), "rtf distribution": lambda: charts.rtf_distributions(df),
        "memory": lambda: charts.peak_memory(df), "memory timeline": lambda: charts.memory_timelines(df, guard),
        "ablation": lambda: charts.ablation(df), "stage breakdown": lambda: charts.stage_breakdown(df),
        "roofline": lambda: charts.roofline(df), "time to first audio": lambda: charts.time_to_first_audio(df),
        "peers": lambda: charts.peers(df),
        "speed against quality": lambda: charts.speed_quality(df),
        "serving": lambda: serve_report.qps_latency_chart(served),
        "concurrency": lambda: concurrency.curve_chart(served),
    }.items()} if not df.empty else {}

    def img(name: str, alt: str) -> str:
        png, message = c.get(name, (None, ""))
        return h.chart(png, alt, message)

    clips, clip_problems = audio.samples(df, guard) if not df.empty else ([], [])
    sample_html = ('<div class="samples">' + "".join(h.audio(*s) for s in clips) + "</div>") if clips else ""
    sample_html += "".join(h.empty(p) for p in clip_problems)
    refused = guard.notes()
    measured = analysis.fresh_rows(df)  # rows of rounds: the headline, verdicts and every section below but serving
    lead = served_report.lead(frames["serving"], frames["serving_probes"], frames["concurrency"], img)
    if df.empty:
        top = h.empty("No results: the inputs held no result rows, so there is nothing to compare. "
                      "Run a sweep (python -m bench.sweep) or check the paths given.")
    elif (df["status"] == "ok").sum() == 0:
        top = h.empty("No configuration succeeded: every row failed or was skipped. See “Failed and skipped” below for the reasons.")
    elif not lead and measured.empty and not frames["cached"].empty:
        top = h.empty("Only warm-cache (cache-hit) rows in these results: a cache hit is not a tier's speedup, so "
                      "nothing is headlined or judged. See “Warm (cached) rows” below.")
    else:
        failed = frames["failures"]
        top = ("".join(h.warning(f"The machine stayed busy: {reason}. Its figures are from fewer rounds than "
                                 "planned; measure again on a quieter machine.") for reason in tables.busy(df))
               + "".join(h.warning(note) for note in analysis.capped_against_peers(df))
               + lead
               + h.table(frames["machines"], "")
               + h.table(frames["headline"], "", css="headline")
               + h.verdicts(_verdict_items(verdicts))
               + h.table(frames["trust"], "")
               + (h.empty(f"{len(failed)} configuration(s) failed or were skipped: see “Failed and skipped”.") if not failed.empty else "")
               + (h.warning(f"{len(refused)} file path(s) named by rows were refused: see “Refused files”.") if refused else ""))
    sections = [
        h.Section("speed", "Speed", img("speedup", "stored speedup by tier and text class")
                  + img("rtf distribution", "RTF of every round per contender"),
                  "Speedup = geometric mean of per-round ratios (reference RTF / this RTF, same text, same round) with its "
                  "95% bootstrap interval, as stored by the sweep; the report recomputes nothing."),
        h.Section("peers", "Peers", img("peers", "peer engines next to our tiers") + h.table(peers_frame, "")
                  + (h.table(frames["peer_comparisons"], "No paired comparisons against a peer stored in the rows.")
                     if not peers_frame.empty else ""),
                  "Each peer's pooled figures, and the paired comparisons of our tiers against it (from the rows' comparisons)."),
        h.Section("ablations", "Ablations", img("ablation", "stored ablation verdicts") + h.table(frames["ablations"], ""),
                  "What each ablation changes against its reference (resolved switches after calibration) and its stored verdict; "
                  "an ablation whose switches resolve to the reference's is marked identical here and has no bar."),
        h.Section("streaming", "Time to first audio", img("time to first audio", "time to first audio per tier")
                  + h.table(frames["time_to_first_audio"], "")),
        h.Section("roofline", "Roofline per stage", img("roofline", "achieved vs peak GFLOP/s per stage")
                  + h.table(frames["roofline"], ""),
                  "Each stage's FLOPs (counted once on the eager fp32 baseline, for the noise-free text the stages "
                  "were timed on) over its seconds, against this machine's measured matmul peak for the precision "
                  "that stage runs in (a precision switch converts the flow and decoder only: the encoder and duration "
                  "predictor of a BF16 or FP16 tier run in fp32); the whole model is the model's FLOPs per audio second / RTF. Piper runs the same voice "
                  "as one onnxruntime graph, so it has the whole-model figure only. A stage far below the peak is "
                  "bound by overhead or memory, not arithmetic. The FLOPs are the reference graph's for every row "
                  "(model FLOPs): a tier that skips part of that work, as banded attention skips the zero blocks of "
                  "the encoder's relative-position terms, shows the reference work per second it delivers."),
        h.Section("stages", "Stage breakdown", img("stage breakdown", "stage breakdown per tier")
                  + h.table(frames["stages"], ""),
                  "Seconds in each stage of one noise-free synthesis of the longest class's text (untimed by the rounds), "
                  "divided by the audio seconds of that same synthesis; not a round of the sweep."),
        h.Section("quality", "Heard quality", img("speed against quality", "throughput against WER per contender")
                  + h.table(frames["quality"], "")
                  + (h.table(frames["transcripts"], "Every scored transcript matches its text once normalized.")
                     if not frames["quality"].empty else ""),
                  "Whisper tiny.en (faster-whisper) transcribes the audio the timed rounds produced (every contender the "
                  "same texts; the table says how many texts and words); WER/CER against the text, both normalized alike, "
                  "pooled by words; DNSMOS P.835 SIG/BAK/OVRL, mean over texts. Deltas are per-text means against the "
                  "reference's audio of the same round (our tiers: the engine's fp32 baseline; peers: our baseline), "
                  "with 95% bootstrap intervals over texts. The gate (WER +1 point, OVRL -0.1 at most) decides on the "
                  "intervals: pass only when both lie within the limits, fail when one lies wholly beyond, else not "
                  "enough evidence. Transcripts that differ are listed with their WAV (audio/<contender>/, beside "
                  "transcripts.json)."),
        served_report.probes_section(frames["serving"], frames["serving_probes"]),
        *served_report.sections(df),  # HTTP: served against in process, paired
        h.Section("memory", "Memory", img("memory", "peak memory by contender") + img("memory timeline", "memory timelines")),
        h.Section("scaling", "Cost vs text length", h.table(frames["cost_fits"], ""),
                  "Every stored round's latency fitted as a fixed cost + a cost per second of audio (the round's audio = "
                  f"latency / RTF). A fit over fewer than {analysis.MIN_FIT_LENGTHS} distinct lengths, or with a negative "
                  "fixed cost, is marked as not a finding and shows no figures."),
        h.Section("samples", "Audio samples", sample_html, f"The first {audio.MAX_SECONDS:.0f} s of one sample per contender."),
        h.Section("cache", "Warm (cached) rows", h.table(frames["cached"], ""),
                  "Rows measured on cache hits (workload=repeated), shown apart with their warm speedup; they never enter "
                  "the headline, verdicts.json or the speedup charts."),
        h.Section("noisy", "Noisy results", h.table(frames["noisy"], "No noisy results: no row's rounds spread more "
                                                                      f"than {NOISY_SPREAD:.0%} within a text class."
                                                    if not measured.empty else ""),
                  "Rows whose paired ratios against their reference (or, for a reference, whose RTF) spread more than "
                  f"{NOISY_SPREAD:.0%} within a text class (standard deviation of the log, about a CV); latency across "
                  "texts of different lengths is not noise."),
        h.Section("failures", "Failed and skipped", h.table(frames["failures"], "")),
        h.Section("refused", "Refused files", "".join(h.empty(n) for n in refused),
                  "Paths named by rows (samples, memory timelines) are read only inside the results folders given to the report."),
        h.Section("environment", "Environment", h.table(frames["environment"], "")),
        h.Section("rows", "All rows", h.details(f"Show all {len(df)} rows", h.table(frames["rows"], "", tall=True))
                  if not frames["rows"].empty else ""),
    ]
    footer = ("Generated by python -m bench.report from: " + ", ".join(map(str, sources))
              + ("" if refused else ". No file path was refused."))
    page = h.page(f"TTS benchmark report — {run_id}", _meta(df, run_id), top, sections, footer)
    return page, frames, {"verdicts": verdicts, "peers": peer_recs, "refused": [asdict(r) for r in guard.refused]}


def write_report(results_paths: list[Path], out_dir: Path | None = None, strict: bool = False) -> Path:
    """Write `reports/<run-id>/index.html` (or `out_dir/index.html`) and its tables; return the HTML path.

    `results_paths`: results JSONL files, results folders and pytest-benchmark JSON files, from one
    machine or several (merged, grouped by host and hardware). A chart that raises is logged and its place on
    the page says why; with `strict` (CI) everything is still written, then `ReportChartError` is raised.
    """
    paths = [Path(p) for p in results_paths]
    df = load_results(paths)
    run_id = run_label(df, paths)
    out_dir = Path(out_dir) if out_dir is not None else REPORTS_DIR / _safe_dirname(run_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    page, frames, records = render(df, run_id, paths, failures)
    _write_tables(frames, records, out_dir)
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    if strict and failures:
        raise ReportChartError(index, failures)
    return index
