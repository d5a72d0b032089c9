"""`write_report`: results files in, one self-contained `index.html` plus its tables as CSV and JSON out."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pandas as pd

from bench.report import analysis, audio, charts, tables
from bench.report import html as h
from bench.report.load import load_results

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
            for key in ("cpu_model", "cpu.brand_raw", "cpu_brand", "cpu"):
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


def _safe_chart(fn: Callable[[], bytes | None], name: str) -> tuple[bytes | None, str]:
    """Draw one chart; a chart that fails says why instead of failing the whole report."""
    try:
        return fn(), f"No data for the {name} chart in these results."
    except Exception as exc:  # noqa: BLE001 - one bad chart must not cost the whole report
        log.warning("chart %s failed: %s", name, exc)
        return None, f"The {name} chart could not be drawn: {type(exc).__name__}: {exc}"


def _write_tables(frames: dict[str, pd.DataFrame], out_dir: Path) -> None:
    for name, frame in frames.items():
        frame.to_csv(out_dir / f"{name}.csv", index=False)
        frame.to_json(out_dir / f"{name}.json", orient="records", indent=1, default_handler=str)


def render(df: pd.DataFrame, run_id: str, sources: list[Path]) -> tuple[str, dict[str, pd.DataFrame]]:
    """The page's HTML and its tables (name -> frame) for the rows in `df`."""
    headline = analysis.headline(df)
    effects = analysis.effects(df)
    fits = analysis.cost_fits(df)
    frames = {
        "headline": headline,
        "verdicts": pd.DataFrame([{"machine": e.machine, "optimization": e.name, "compared": e.compared,
                                   "speedup": e.speedup.point, "ci_lo": e.speedup.lo, "ci_hi": e.speedup.hi,
                                   "memory_change": e.memory_change, "fidelity": e.fidelity, "verdict": e.verdict()}
                                  for e in effects]),
        "cost_fits": fits, "peers": tables.peers(df), "cached_vs_uncached": tables.cached_vs_uncached(df),
        "noisy": tables.noisy(df), "failures": tables.failures(df), "environment": tables.environment(df),
        "rows": tables.all_rows(df) if not df.empty else pd.DataFrame(),
    }
    if df.empty:
        top = h.empty("No results: the inputs held no result rows, so there is nothing to compare. "
                      "Run a sweep (python -m bench.sweep) or check the paths given.")
    elif (df["status"] == "ok").sum() == 0:
        top = h.empty("No configuration succeeded: every row failed or was skipped. See “Failed and skipped” below for the reasons.")
    else:
        top = (h.table(headline, "No baseline/optimized/advanced rows of tts_core to headline.", css="headline")
               + h.verdicts([(e.verdict(), e.call()[1]) for e in effects]))
    c = {name: _safe_chart(fn, name) for name, fn in {
        "speedup": lambda: charts.speedup_by_tier_text(df), "memory": lambda: charts.peak_memory_by_tier(df),
        "latency distribution": lambda: charts.latency_distributions(df),
        "cost scaling": lambda: charts.cost_scaling(df, fits), "memory timeline": lambda: charts.memory_timelines(df),
        "ablation": lambda: charts.ablation(effects), "stage breakdown": lambda: charts.stage_breakdown(df),
        "roofline": lambda: charts.roofline(df), "time to first audio": lambda: charts.time_to_first_audio(df),
        "peers": lambda: charts.peers(df),
    }.items()} if not df.empty else {}

    def img(name: str, alt: str) -> str:
        png, message = c.get(name, (None, f"No data for the {name} chart."))
        return h.chart(png, alt, message)

    clips, clip_problems = audio.samples(df) if not df.empty else ([], [])
    sample_html = ('<div class="samples">' + "".join(h.audio(*s) for s in clips) + "</div>") if clips else h.empty("No audio samples in these results.")
    sample_html += "".join(h.empty(p) for p in clip_problems)
    sections = [
        h.Section("speed", "Speed", img("speedup", "speedup by tier and text length")
                  + img("latency distribution", "latency distributions"),
                  "Speedup = baseline latency / tier latency (median rounds, uncached single calls); bars show 95% bootstrap CIs over rounds."),
        h.Section("scaling", "Cost vs text length", img("cost scaling", "latency, RTF and memory vs audio seconds")
                  + h.table(fits, "Not enough distinct text lengths to fit a fixed + per-second cost."),
                  "Latency fitted as fixed cost + cost per second of audio, per tier."),
        h.Section("memory", "Memory", img("memory", "peak memory by tier") + img("memory timeline", "memory timelines")),
        h.Section("ablations", "Ablations", img("ablation", "ablation effects"),
                  "baseline+X is compared with baseline; advanced-X (advanced without X) tells what X adds inside advanced."),
        h.Section("stages", "Stage breakdown", img("stage breakdown", "stage breakdown")),
        h.Section("roofline", "Roofline", img("roofline", "achieved vs peak GFLOP/s")),
        h.Section("streaming", "Streaming", img("time to first audio", "time to first audio")),
        h.Section("peers", "Peers", img("peers", "peer engines") + h.table(frames["peers"], "No peer engines in these results.")),
        h.Section("samples", "Audio samples", sample_html, f"The first {audio.MAX_SECONDS:.0f} s of one sample per tier."),
        h.Section("cache", "Cached vs uncached", h.table(frames["cached_vs_uncached"], "No repeated-text (cached) rows in these results."),
                  "Cache hits are shown apart and never enter the speedups above."),
        h.Section("noisy", "Noisy results", h.table(frames["noisy"], "No noisy results: every row's CV is at most 10%."),
                  "Rows whose latency varies more than 10% (CV) between rounds; treat their figures with care."),
        h.Section("failures", "Failed and skipped", h.table(frames["failures"], "No failed or skipped configurations.")),
        h.Section("environment", "Environment", h.table(frames["environment"], "No environment recorded.")),
        h.Section("rows", "All rows", h.details(f"Show all {len(df)} rows", h.table(frames["rows"], "No rows.", tall=True))),
    ]
    footer = "Generated by python -m bench.report from: " + ", ".join(map(str, sources))
    return h.page(f"TTS benchmark report — {run_id}", _meta(df, run_id), top, sections, footer), frames


def write_report(results_paths: list[Path], out_dir: Path | None = None) -> Path:
    """Write `reports/<run-id>/index.html` (or `out_dir/index.html`) and its tables; return the HTML path.

    `results_paths`: results JSONL files, results folders and pytest-benchmark JSON files, from one
    machine or several (merged, grouped by host and hardware).
    """
    paths = [Path(p) for p in results_paths]
    df = load_results(paths)
    run_id = run_label(df, paths)
    out_dir = Path(out_dir) if out_dir is not None else REPORTS_DIR / _safe_dirname(run_id)
    out_dir.mkdir(parents=True, exist_ok=True)
    page, frames = render(df, run_id, paths)
    _write_tables(frames, out_dir)
    index = out_dir / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
