"""Charts, one function each: take the results frame, return PNG bytes, or None when there is no data.

Every figure drawn is a stored one (speedups and intervals from the rows, never recomputed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from bench.report.analysis import OURS, is_ablation, is_main, is_peer, judged, per_class, pooled, value
from bench.report.load import text_sort_key
from bench.report.paths import FileGuard
from bench.report.plot import colour, figure, grouped_bars, png, short
from bench.report.peaks import stage_peaks
from bench.report.tables import STAGE_KEYS, STAGE_ROOFLINE, STAGES, stage_seconds


def label(r: pd.Series, many_machines: bool = False) -> str:
    """The contender as a chart label: the tier for ours, `engine:tier` for peers, "@ machine" when needed."""
    name = str(r["tier"]) if r["engine"] == OURS else f"{r['engine']}:{r['tier']}"
    return name + (f" @ {r['machine']}" if many_machines else "")


def _many(rows: pd.DataFrame) -> bool:
    return rows["machine"].nunique() > 1


def _by_text(rows: pd.DataFrame, column: str, lo: str | None = None, hi: str | None = None, scale: float = 1.0) -> dict:
    """{contender label: {text: (value, lo, hi)}} of stored columns, scaled."""
    many, series = _many(rows), {}
    for _, r in rows.iterrows():
        v = value(r, column)
        if v is None:
            continue
        low, high = (value(r, lo), value(r, hi)) if lo and hi else (None, None)
        finite = low is not None and high is not None and np.isfinite([low, high]).all()
        series.setdefault(label(r, many), {})[str(r["text"])] = (
            float(v) * scale, float(low) * scale if finite else None, float(high) * scale if finite else None)
    return series


def _texts(rows: pd.DataFrame) -> list[str]:
    return sorted(set(rows["text"].astype(str)), key=text_sort_key)


def ok_rows_with(df: pd.DataFrame, column: str) -> pd.DataFrame:
    """Ok rows (per class and pooled) whose `column` is stored, in report order."""
    rows = pd.concat([per_class(df), pooled(df)]) if not df.empty else df
    rows = rows.drop_duplicates(subset=["contender", "text", "run_id"]) if not rows.empty else rows
    return rows[pd.to_numeric(rows[column], errors="coerce").notna()] if not rows.empty else rows


def speedup_by_text(df: pd.DataFrame) -> bytes | None:
    """Stored speedup over the reference (x, 95% CI) of our main tiers, per text class and pooled ("all")."""
    rows = ok_rows_with(df, "speedup")
    rows = rows[rows.apply(is_main, axis=1)] if not rows.empty else rows
    if rows.empty:
        return None
    with figure(width=9.0) as (fig, axes):
        grouped_bars(axes[0], _by_text(rows, "speedup", "speedup_ci_low", "speedup_ci_high"), _texts(rows))
        axes[0].axhline(1.0, color="black", lw=0.8, ls="--")
        axes[0].set_ylabel("speedup vs reference (x)")
        axes[0].set_title("Paired speedup by text class (geometric mean of per-round ratios, 95% CI)")
        return png(fig)


def rtf_distributions(df: pd.DataFrame) -> bytes | None:
    """Box plots of every round's RTF per contender (pooled rows: all rounds of all text classes)."""
    rows = pooled(df)
    rows = rows[rows["rtfs"].map(lambda v: isinstance(v, list) and len(v) > 0)] if not rows.empty else rows
    if rows.empty:
        return None
    many = _many(rows)
    names = [label(r, many) for _, r in rows.iterrows()]
    with figure(width=max(9.0, 0.9 * len(rows) + 2), height=3.8) as (fig, axes):
        box = axes[0].boxplot(list(rows["rtfs"]), patch_artist=True, widths=0.6)
        for patch, name in zip(box["boxes"], names):
            patch.set_facecolor(colour(name))
            patch.set_alpha(0.75)
        axes[0].set_xticks(range(1, len(names) + 1), [short(n, 22) for n in names], rotation=30, ha="right")
        axes[0].set(ylabel="RTF per round (wall / audio s)", title="Real-time factor of every round (lower is faster)")
        return png(fig)


def peak_memory(df: pd.DataFrame) -> bytes | None:
    """Peak RSS (MB) of every contender, per text class and pooled."""
    rows = ok_rows_with(df, "peak_rss_mb")
    if rows.empty:
        return None
    with figure(width=9.0) as (fig, axes):
        grouped_bars(axes[0], _by_text(rows, "peak_rss_mb"), _texts(rows), fmt="{:.0f}")
        axes[0].set(ylabel="peak RSS (MB)", title="Peak memory by contender (one worker process each)")
        return png(fig)


def read_mprof(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(seconds from start, MB) of a memory_profiler `.dat` file; other lines (CMDLINE, FUNC) are skipped."""
    times, mem = [], []
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "MEM":
            try:
                mem.append(float(parts[1]))
                times.append(float(parts[2]))
            except ValueError:
                continue
    t = np.asarray(times)
    return (t - t[0] if t.size else t), np.asarray(mem)


def memory_timelines(df: pd.DataFrame, guard: FileGuard, limit: int = 16) -> bytes | None:
    """Memory over time from each contender's mprof file (read only inside the results folders)."""
    rows = df[(df["status"] == "ok") & df["mprof_file"].notna()] if not df.empty else df
    curves, seen = [], set()
    for _, r in rows.iterrows():
        path = guard.find(r["mprof_file"], r["base_dir"], f"{r['contender']} / {r['text']}", "mprof_file")
        if path is not None and path not in seen:
            seen.add(path)
            t, m = read_mprof(path)
            if t.size:
                curves.append((label(r, _many(rows)), t, m))
    if not curves:
        return None
    with figure(width=9.0, height=3.6) as (fig, axes):
        for name, t, m in curves[:limit]:
            axes[0].plot(t, m, color=colour(name), lw=1, label=short(name, 30))
        axes[0].set(title="Memory timeline of each contender's worker", xlabel="time (s)", ylabel="RSS (MB)")
        axes[0].legend(fontsize=7, ncols=2)
        return png(fig)


def ablation(df: pd.DataFrame) -> bytes | None:
    """Stored speedup (x, log scale, 95% CI) of each ablation vs its reference; "identical here" has no bar."""
    rows = pooled(df)
    rows = rows[rows.apply(is_ablation, axis=1)] if not rows.empty else rows
    if rows.empty:
        return None
    many = _many(rows)
    with figure(width=9.0, height=0.5 * len(rows) + 1.3) as (fig, axes):
        ax, y = axes[0], np.arange(len(rows))[::-1]
        vals = []
        for yi, (_, r) in zip(y, rows.iterrows()):
            point, lo, hi, _ = judged(r)
            verdict, metric = value(r, "verdict") or "no verdict", value(r, "verdict_metric")
            if verdict == "identical here" or point is None:
                ax.text(1.0, yi, f"  {verdict}", va="center", fontsize=8, color="#5b6570")
                continue
            vals += [point, lo or point, hi or point]
            err = [[max(point - (lo or point), 0)], [max((hi or point) - point, 0)]]
            ax.barh(yi, point - 1, left=1, color="#2e9a55" if verdict.startswith("pays") else
                    "#c44e52" if verdict.startswith("costs") else "#b0a24a", xerr=err, capsize=3, height=0.6)
            ax.text(max(point, hi or point, 1) * 1.03, yi, f"{point:.2f}x {verdict}" + (f" ({metric})" if metric else ""),
                    va="center", fontsize=8)
        ax.axvline(1, color="black", lw=0.8)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        lo_lim, hi_lim = min(min(vals or [1]) * 0.8, 0.8), max(max(vals or [1]) * 2.2, 1.6)
        ax.set_xlim(lo_lim, hi_lim)
        ticks = [t for t in (0.1, 0.25, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10, 20) if lo_lim <= t <= hi_lim]
        ax.set_xticks(ticks, [f"{t:g}x" for t in ticks])
        ax.set_yticks(y, [short(f"{label(r, many)} vs {str(value(r, 'reference') or '–').split('@')[0]}", 44)
                          for _, r in rows.iterrows()])
        ax.set_ylim(-0.6, len(rows) - 0.4)
        ax.set(xlabel="speedup vs reference (x, log scale; > 1 pays)", title="Ablations: stored paired verdicts")
        return png(fig)


def stage_breakdown(df: pd.DataFrame) -> bytes | None:
    """Stacked stored seconds per stage (frontend, encoder, flow, decoder) of one noise-free synthesis of the longest
    class's text per contender, per second of that synthesis's own audio (seconds of the synthesis when a row did
    not record its audio)."""
    rows = pooled(df)
    cols = [c for c, _ in STAGES]
    rows = rows[rows[cols].notna().any(axis=1)] if not rows.empty else rows
    if rows.empty:
        return None
    timed = [stage_seconds(r) for _, r in rows.iterrows()]
    per_audio = all(audio is not None for _, audio, _ in timed)
    with figure(width=max(9.0, 0.8 * len(rows) + 2), height=3.8) as (fig, axes):
        ax, bottom = axes[0], np.zeros(len(rows))
        for (_, name), c in zip(STAGES, ["#c9c9c9", "#e0a458", "#5b8fc7", "#2e9a55"]):
            vals = np.array([(secs[name] or 0.0) / (audio if per_audio else 1.0) for secs, audio, _ in timed])
            ax.bar(range(len(rows)), vals, bottom=bottom, label=name, color=c, width=0.7)
            bottom += vals
        ax.set_xticks(range(len(rows)), [short(label(r, _many(rows)), 24) for _, r in rows.iterrows()], rotation=30, ha="right")
        ax.set_ylabel("seconds per audio second" if per_audio else "seconds of the synthesis")
        ax.set_ylim(top=bottom.max() * 1.25 if bottom.max() > 0 else None)
        texts = sorted({t for _, _, t in timed})
        ax.set_title("Where the time goes: one noise-free synthesis of the " + "/".join(texts) + " text"
                     + (", per second of its own audio" if per_audio else " (its audio length not recorded)"))
        ax.legend(ncols=4, loc="upper left")
        return png(fig)


def roofline(df: pd.DataFrame) -> bytes | None:
    """Stored achieved GFLOP/s of each stage and of the whole model for our main tiers and the peers on our voice
    (whole model only), on a log scale; a dash over each bar marks the measured peak of the precision that stage
    runs in (`peaks.stage_precisions`), a line each precision's peak."""
    rows = pooled(df)
    rows = rows[pd.to_numeric(rows["achieved_gflops"], errors="coerce").notna()] if not rows.empty else rows
    rows = rows[rows.apply(lambda r: is_main(r) or is_peer(r), axis=1)] if not rows.empty else rows
    if rows.empty:
        return None
    many, whole = _many(rows), "whole model"
    series = {label(r, many): {name: (float(v), None, None) for col, name in [*STAGE_ROOFLINE, ("achieved_gflops", whole)]
                               if (v := value(r, col)) is not None}
              for _, r in rows.iterrows()}
    xs = [name for _, name in STAGE_ROOFLINE] + [whole]
    ticks, peaks = [], {}  # (x position, bar width, peak) of each bar; precision -> peak
    width = 0.8 / max(len(series), 1)
    for i, (_, r) in enumerate(rows.iterrows()):
        per_stage = stage_peaks(r, df)
        own = (str(value(r, "precision") or "fp32"), value(r, "peak_gflops"))
        for j, (col, _) in enumerate([*STAGE_ROOFLINE, ("achieved_gflops", whole)]):
            precision, peak = per_stage[STAGE_KEYS[col]] if col in STAGE_KEYS else own
            if value(r, col) is not None and peak:
                ticks.append((j + (i - (len(series) - 1) / 2) * width, width, float(peak)))
                peaks[precision] = max(peaks.get(precision, 0.0), float(peak))
    with figure(width=10.0, height=4.2) as (fig, axes):
        ax = axes[0]
        grouped_bars(ax, series, xs, fmt="{:.3g}")
        ax.set_yscale("log")
        ax.yaxis.set_minor_formatter(NullFormatter())
        for (precision, peak), style in zip(sorted(peaks.items()), ["--", ":", "-.", (0, (5, 1))]):
            ax.axhline(peak, color="#c44e52", ls=style, lw=1, label=f"measured {precision} peak {peak:.0f} GFLOP/s")
        for x, w, peak in ticks:
            ax.hlines(peak, x - w / 2, x + w / 2, color="black", lw=1.5, alpha=0.8)
        values = [v[0] for s in series.values() for v in s.values()] + list(peaks.values())
        lo_lim, hi_lim = min(values) / 2, max(values) * 4  # log scale: room above for the legend
        ax.set_ylim(lo_lim, hi_lim)
        yticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000) if lo_lim <= t <= hi_lim]
        ax.set_yticks(yticks, [f"{t:g}" for t in yticks])
        ax.set_xticks(range(len(xs)), xs)  # whole names (grouped_bars shortens them)
        ax.set(ylabel="achieved GFLOP/s (log)",
               title="Roofline per stage: FLOPs / seconds; black dash = peak of the precision the stage runs in")
        ax.legend(ncols=3, loc="upper left", fontsize=7)
        return png(fig)


def time_to_first_audio(df: pd.DataFrame) -> bytes | None:
    """Stored median time to first audio (ms) per contender, per text class and pooled."""
    rows = ok_rows_with(df, "ttfa_s")
    if rows.empty:
        return None
    with figure(width=9.0) as (fig, axes):
        grouped_bars(axes[0], _by_text(rows, "ttfa_s", scale=1000.0), _texts(rows), fmt="{:.0f}")
        axes[0].set(ylabel="time to first audio (ms)", title="Time to first audio (every round streams)")
        return png(fig)


def peers(df: pd.DataFrame) -> bytes | None:
    """Stored RTF of peer engines next to our main tiers, per text class and pooled."""
    rows = ok_rows_with(df, "rtf")
    if rows.empty or not rows.apply(is_peer, axis=1).any():
        return None
    rows = rows[rows.apply(lambda r: is_peer(r) or is_main(r), axis=1)]
    with figure(width=9.0) as (fig, axes):
        grouped_bars(axes[0], _by_text(rows, "rtf"), _texts(rows), fmt="{:.3f}")
        axes[0].set(ylabel="RTF (lower is faster)", title="Peers: our tiers next to other engines")
        return png(fig)


MARKERS = "osD^v<>PXh"


def speed_quality(df: pd.DataFrame) -> bytes | None:
    """Throughput (audio s per wall s, log scale: espeak-ng runs ~100x faster than a neural voice) against WER (%),
    one point per contender's pooled fresh-text row that carries both; labelled in a legend, never on the points.
    A vertical bar, where stored, is the 95% interval over texts of the WER change against the engine's baseline
    (`wer_delta_ci_low/high`), drawn around the point: the uncertainty of this WER relative to the baseline's."""
    rows = pooled(df)
    if rows.empty or "wer" not in rows:
        return None
    x = pd.to_numeric(rows["throughput_audio_s_per_s"], errors="coerce")
    y = pd.to_numeric(rows["wer"], errors="coerce")
    rows = rows[x.gt(0) & y.notna()]
    if rows.empty:
        return None
    many = _many(rows)
    with figure(width=9.0, height=3.8) as (fig, axes):
        ax = axes[0]
        for k, (_, r) in enumerate(rows.iterrows()):
            name, px, py = label(r, many), float(r["throughput_audio_s_per_s"]), 100 * float(r["wer"])
            delta, lo, hi = (value(r, c) for c in ("wer_delta", "wer_delta_ci_low", "wer_delta_ci_high"))
            bars = delta is not None and lo is not None and hi is not None and np.isfinite([lo, hi]).all()
            err = [[max(100 * (delta - lo), 0)], [max(100 * (hi - delta), 0)]] if bars else None
            ax.errorbar([px], [py], yerr=err, fmt=MARKERS[k % len(MARKERS)], color=colour(name), ms=7, capsize=3,
                        label=short(name, 40))
        ax.set_xscale("log")
        lo, hi = ax.get_xlim()
        ax.xaxis.set_minor_formatter(NullFormatter())  # math text is off: plain numbers, not 10^k
        ticks = [t for t in (0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000, 3000) if lo <= t <= hi] or [lo, hi]
        ax.set_xticks(ticks, [f"{t:.3g}x" for t in ticks])
        ax.set_xlim(lo, hi)
        ax.set_ylim(bottom=0)
        ax.set(xlabel="throughput (audio s per wall s, log scale; pooled median round)", ylabel="WER % (mean over texts)",
               title="Speed against heard quality (bars: 95% interval of the WER change vs the baseline)")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
        return png(fig)
