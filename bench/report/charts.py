"""Charts, one function each: take the results frame, return PNG bytes, or None when there is no data.

Matplotlib runs on the Agg backend with math text off, so a `$` in a text name is drawn as is.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.report.analysis import Effect, median_latency, ok_rows, primary, speedup  # noqa: E402
from bench.report.load import TIER_ORDER, resolve, text_sort_key, tier_sort_key  # noqa: E402

FIXED_COLOURS = {"baseline": "#8c8c8c", "optimized": "#3b75af", "advanced": "#2e9a55"}
OTHER_COLOURS = ["#d1773a", "#8e63b5", "#c44e52", "#937860", "#da8bc3", "#64b5cd", "#ccb974", "#4c72b0"]
STAGES = [("stage_frontend_s", "frontend"), ("stage_encoder_s", "encoder + duration"),
          ("stage_flow_s", "flow"), ("stage_decoder_s", "decoder")]
STYLE = {"text.parse_math": False, "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
         "axes.grid": True, "grid.alpha": 0.3, "axes.titlesize": 10, "legend.fontsize": 8, "legend.frameon": False}


def colour(label: str, _cache: dict[str, str] = {}) -> str:  # noqa: B006 - a stable colour per label
    if label in FIXED_COLOURS:
        return FIXED_COLOURS[label]
    return _cache.setdefault(label, OTHER_COLOURS[len(_cache) % len(OTHER_COLOURS)])


@contextmanager
def _figure(ncols: int = 1, nrows: int = 1, width: float = 9.0, height: float = 3.4) -> Iterator[tuple]:
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height * nrows), squeeze=False)
        try:
            yield fig, axes.ravel()
        finally:
            plt.close(fig)


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=96)
    return buf.getvalue()


def _short(label: object, n: int = 28) -> str:
    """`label` cut to `n` characters, with `$` escaped so matplotlib never parses a label as mathtext."""
    s = str(label)
    s = s if len(s) <= n else s[: n - 1] + "…"
    return s.replace("$", r"\$")


def _series_by_text(rows: pd.DataFrame, name, value) -> dict[str, dict[str, tuple]]:
    """{series name: {text: (value, None, None)}}; names get "@ machine" when rows span several machines."""
    many = rows["machine"].nunique() > 1
    series: dict[str, dict[str, tuple]] = {}
    for _, r in rows.iterrows():
        key = name(r) + (f" @ {r['machine']}" if many else "")
        series.setdefault(key, {})[str(r["text"])] = (value(r), None, None)
    return series


def _tier_bars(ax, prim: pd.DataFrame, machine: str, column: str) -> pd.DataFrame:
    """Bars of `column` per tier, grouped by text, for one machine; returns that machine's rows."""
    rows = prim[prim["machine"] == machine]
    texts = sorted(set(rows["text"].astype(str)), key=text_sort_key)
    series = {t: {str(r["text"]): (float(r[column]), None, None) for _, r in rows[rows["tier"] == t].iterrows()}
              for t in sorted(set(rows["tier"]), key=tier_sort_key)}
    _grouped_bars(ax, series, texts, fmt="{:.0f}")
    return rows


def _grouped_bars(ax: plt.Axes, series: dict[str, dict[str, tuple]], xs: list[str], fmt: str = "{:.2f}") -> None:
    """Bars of each series side by side at each x; values are (value, lo, hi), lo/hi may be None."""
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        pos = np.arange(len(xs)) + (i - (len(series) - 1) / 2) * width
        vals = [values.get(x, (np.nan, None, None)) for x in xs]
        heights = [v[0] for v in vals]
        err = np.array([[max(v[0] - v[1], 0) if v[1] is not None else 0 for v in vals],
                        [max(v[2] - v[0], 0) if v[2] is not None else 0 for v in vals]])
        ax.bar(pos, heights, width * 0.92, label=_short(name), color=colour(name),
               yerr=err if err.any() else None, capsize=3, error_kw={"elinewidth": 1})
        for x, v in zip(pos, vals):  # the value sits above the bar or its CI, whichever is higher
            if not np.isnan(v[0]):
                ax.text(x, max(v[0], v[2] or 0), fmt.format(v[0]), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(np.arange(len(xs)), [_short(x, 16) for x in xs])
    top = max([v[2] or v[0] for s in series.values() for v in s.values() if not np.isnan(v[0])] or [1.0])
    legend_rows = -(-len(series) // 4) if len(series) > 1 else 0
    ax.set_ylim(top=top * (1.12 + 0.12 * legend_rows) if top > 0 else None)  # room for value labels and legend
    if len(series) > 1:
        ax.legend(ncols=min(len(series), 4), loc="upper left")


def _machines(df: pd.DataFrame) -> list[str]:
    return sorted(set(df["machine"])) if not df.empty else []


def speedup_by_tier_text(df: pd.DataFrame) -> bytes | None:
    """Speedup over baseline of each main tier, per text, with 95% bootstrap CIs; one panel per machine."""
    prim = primary(df)
    machines = [m for m in _machines(prim) if {"baseline"} < set(prim[prim["machine"] == m]["tier"])]
    if not machines:
        return None
    with _figure(ncols=len(machines), width=min(9.0 * len(machines), 18)) as (fig, axes):
        for ax, machine in zip(axes, machines):
            rows = prim[prim["machine"] == machine]
            texts = sorted(set(rows["text"].astype(str)), key=text_sort_key)
            tiers = [t for t in TIER_ORDER[1:] if t in set(rows["tier"])]
            series = {}
            for tier in tiers:
                vals = {}
                for text in texts:
                    sp = speedup(rows[rows["text"].astype(str) == text], "baseline", tier)
                    if sp:
                        vals[text] = (sp.point, sp.lo, sp.hi)
                series[tier] = vals
            _grouped_bars(ax, series, texts)
            ax.axhline(1.0, color="black", lw=0.8, ls="--")
            ax.set_ylabel("speedup vs baseline (x)")
            ax.set_title(f"Speedup by text length — {_short(machine, 40)}")
        return _png(fig)


def peak_memory_by_tier(df: pd.DataFrame) -> bytes | None:
    """Peak RSS (MB) of every tier, per text; one panel per machine."""
    prim = primary(df).dropna(subset=["peak_rss_mb"])
    machines = _machines(prim)
    if not machines:
        return None
    with _figure(ncols=len(machines), width=min(9.0 * len(machines), 18)) as (fig, axes):
        for ax, machine in zip(axes, machines):
            _tier_bars(ax, prim, machine, "peak_rss_mb")
            ax.set_ylabel("peak RSS (MB)")
            ax.set_title(f"Peak memory by tier — {_short(machine, 40)}")
        return _png(fig)


def latency_distributions(df: pd.DataFrame) -> bytes | None:
    """Box plots of every round's latency (s), one panel per text, a box per machine and tier."""
    prim = primary(df)
    prim = prim[prim["latencies_s"].map(lambda v: isinstance(v, list) and len(v) > 0)]
    if prim.empty:
        return None
    texts = sorted(set(prim["text"].astype(str)), key=text_sort_key)
    many = len(_machines(prim)) > 1
    with _figure(ncols=len(texts), width=min(4.2 * len(texts), 18), height=3.8) as (fig, axes):
        for ax, text in zip(axes, texts):
            rows = prim[prim["text"].astype(str) == text]
            rows = rows.iloc[sorted(range(len(rows)), key=lambda i: tier_sort_key(rows.iloc[i]["tier"]))]
            labels = [f"{r['tier']}\n{_short(r['machine'], 14)}" if many else str(r["tier"]) for _, r in rows.iterrows()]
            box = ax.boxplot(list(rows["latencies_s"]), patch_artist=True, widths=0.6)
            for patch, tier in zip(box["boxes"], rows["tier"]):
                patch.set_facecolor(colour(str(tier)))
                patch.set_alpha(0.75)
            ax.set_xticks(range(1, len(labels) + 1), [_short(lbl, 18) for lbl in labels], rotation=30, ha="right")
            ax.set_title(f"text: {_short(text, 30)}")
            ax.set_ylabel("latency per round (s)")
        return _png(fig)


def cost_scaling(df: pd.DataFrame, fits: pd.DataFrame) -> bytes | None:
    """Latency, RTF and peak RSS against audio seconds, with each tier's fitted fixed + per-second cost."""
    prim = primary(df).dropna(subset=["audio_s"])
    if prim.empty or prim["audio_s"].nunique() < 2:
        return None
    with _figure(ncols=3, width=13.5, height=3.8) as (fig, axes):
        for (machine, tier), rows in sorted(prim.groupby(["machine", "tier"]), key=lambda kv: tier_sort_key(kv[0][1])):
            name = tier if prim["machine"].nunique() == 1 else f"{tier} @ {machine}"
            c = colour(str(tier))
            rows = rows.sort_values("audio_s")
            lat = rows.apply(median_latency, axis=1)
            axes[0].scatter(rows["audio_s"], lat, color=c, s=18)
            fit = fits[(fits["machine"] == machine) & (fits["tier"] == tier)] if not fits.empty else fits
            if not fit.empty:
                f = fit.iloc[0]
                xs = np.linspace(0, float(rows["audio_s"].max()), 20)
                axes[0].plot(xs, f["fixed cost (s)"] + f["cost per audio second (s)"] * xs, color=c, lw=1,
                             label=f"{_short(name, 22)}: {f['fixed cost (s)']:.2f} s + {f['cost per audio second (s)']:.3f} s/s")
            axes[1].plot(rows["audio_s"], rows["rtf"], "o-", color=c, ms=4, lw=1, label=_short(name, 24))
            axes[2].plot(rows["audio_s"], rows["peak_rss_mb"], "o-", color=c, ms=4, lw=1, label=_short(name, 24))
        axes[0].set(title="Latency vs audio length (fit: fixed + per second)", xlabel="audio (s)", ylabel="median latency (s)")
        axes[1].set(title="Real-time factor (lower is faster)", xlabel="audio (s)", ylabel="RTF")
        axes[2].set(title="Peak memory vs audio length", xlabel="audio (s)", ylabel="peak RSS (MB)")
        axes[0].legend(fontsize=7)
        axes[2].legend(fontsize=7)
        return _png(fig)


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


def memory_timelines(df: pd.DataFrame, limit: int = 24) -> bytes | None:
    """Memory over time from each row's mprof file; one panel per text."""
    rows = ok_rows(df)
    rows = rows[rows["mprof_file"].notna()] if not rows.empty else rows
    curves = []
    for _, r in rows.iterrows():
        path = resolve(r["mprof_file"], r["base_dir"])
        if path is not None:
            t, m = read_mprof(path)
            if t.size:
                curves.append((str(r["text"]), str(r["tier"]), t, m))
    if not curves:
        return None
    curves = sorted(curves, key=lambda c: (text_sort_key(c[0]), tier_sort_key(c[1])))[: limit]
    texts = sorted({c[0] for c in curves}, key=text_sort_key)
    with _figure(ncols=len(texts), width=min(4.5 * len(texts), 18), height=3.4) as (fig, axes):
        for ax, text in zip(axes, texts):
            for _, tier, t, m in (c for c in curves if c[0] == text):
                ax.plot(t, m, color=colour(tier), lw=1, label=_short(tier, 22))
            ax.set(title=f"Memory timeline — text: {_short(text, 24)}", xlabel="time (s)", ylabel="RSS (MB)")
            ax.legend(fontsize=7)
        return _png(fig)


def ablation(effects: list[Effect]) -> bytes | None:
    """What each switch adds or costs: speedup (x, log scale) with 95% CIs, one bar per effect."""
    if not effects:
        return None
    labels = [f"{_short(e.name, 20)} ({_short(e.compared, 34)})" + (f" — {_short(e.machine, 14)}" if len({x.machine for x in effects}) > 1 else "") for e in effects]
    with _figure(width=9.0, height=0.45 * len(effects) + 1.2) as (fig, axes):
        ax = axes[0]
        vals = [e.speedup.point for e in effects]
        lo = [v - (e.speedup.lo if e.speedup.lo is not None else v) for v, e in zip(vals, effects)]
        hi = [(e.speedup.hi if e.speedup.hi is not None else v) - v for v, e in zip(vals, effects)]
        cols = ["#2e9a55" if v >= 1 else "#c44e52" for v in vals]
        y = np.arange(len(effects))[::-1]
        ax.barh(y, [v - 1 for v in vals], left=1, color=cols, xerr=[lo, hi], capsize=3, height=0.6)
        for yi, v, e in zip(y, vals, effects):
            right = max(v, e.speedup.hi or v, 1) * 1.03  # beyond the bar and its CI
            ax.text(right, yi, f"{v:.2f}x" + ("" if e.fidelity_ok is not False else "  fidelity fails"), va="center", fontsize=8)
        ax.axvline(1, color="black", lw=0.8)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_yticks(y, labels)
        ax.set_xlabel("speedup from the switch (x, log scale; > 1 pays)")
        ax.set_title("Ablations: what each optimization adds or costs")
        lo_lim, hi_lim = min(min(vals) * 0.8, 0.8), max(max(vals) * 1.35, 1.3)
        ax.set_xlim(lo_lim, hi_lim)
        ticks = [t for t in (0.1, 0.25, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10, 20) if lo_lim <= t <= hi_lim]
        ax.set_xticks(ticks, [f"{t:g}x" for t in ticks])
        return _png(fig)


def stage_breakdown(df: pd.DataFrame) -> bytes | None:
    """Stacked seconds per stage (frontend, encoder, flow, decoder) for every tier and text."""
    cols = [c for c, _ in STAGES]
    prim = primary(df)
    prim = prim[prim[cols].notna().any(axis=1)] if not prim.empty else prim
    if prim.empty:
        return None
    prim = prim.assign(_t=prim["text"].map(text_sort_key), _k=prim["tier"].map(tier_sort_key)).sort_values(["machine", "_t", "_k"])
    many = prim["machine"].nunique() > 1
    labels = [f"{r['tier']}\n{r['text']}" + (f"\n{r['machine']}" if many else "") for _, r in prim.iterrows()]
    per_audio = bool(pd.to_numeric(prim["audio_s"], errors="coerce").gt(0).all())
    scale = pd.to_numeric(prim["audio_s"], errors="coerce").to_numpy() if per_audio else np.ones(len(prim))
    with _figure(width=max(9.0, 0.5 * len(prim) + 2), height=4.0) as (fig, axes):
        ax = axes[0]
        bottom = np.zeros(len(prim))
        palette = ["#c9c9c9", "#e0a458", "#5b8fc7", "#2e9a55"]
        for (col, name), c in zip(STAGES, palette):
            vals = pd.to_numeric(prim[col], errors="coerce").fillna(0).to_numpy() / scale
            ax.bar(range(len(prim)), vals, bottom=bottom, label=name, color=c, width=0.75)
            bottom += vals
        ax.set_xticks(range(len(prim)), [_short(lbl, 30) for lbl in labels], fontsize=7, rotation=90)
        ax.set_ylabel("seconds per audio second" if per_audio else "seconds per round")
        ax.set_ylim(top=bottom.max() * 1.2)
        ax.set_title("Where the time goes: stage breakdown per tier and text" + (" (per audio second)" if per_audio else ""))
        ax.legend(ncols=4, loc="upper left")
        return _png(fig)


def roofline(df: pd.DataFrame) -> bytes | None:
    """Achieved GFLOP/s of each tier against the machine's measured fp32 peak."""
    prim = primary(df).dropna(subset=["achieved_gflops"]) if not df.empty else df
    if prim.empty:
        return None
    machines = _machines(prim)
    with _figure(ncols=len(machines), width=min(9.0 * len(machines), 18)) as (fig, axes):
        for ax, machine in zip(axes, machines):
            rows = _tier_bars(ax, prim, machine, "achieved_gflops")
            peak = pd.to_numeric(rows["peak_gflops"], errors="coerce").dropna()
            if not peak.empty:
                ax.axhline(float(peak.max()), color="#c44e52", ls="--", lw=1,
                           label=f"measured fp32 peak {peak.max():.0f} GFLOP/s")
                ax.set_ylim(top=max(ax.get_ylim()[1], float(peak.max()) * 1.35))
                ax.legend(ncols=4, loc="upper left")
            ax.set_ylabel("achieved GFLOP/s")
            ax.set_title(f"Roofline: achieved vs peak compute — {_short(machine, 40)}")
        return _png(fig)


def time_to_first_audio(df: pd.DataFrame) -> bytes | None:
    """Time to first audio (ms) of streaming rows, per tier and text."""
    rows = ok_rows(df)
    rows = rows[pd.to_numeric(rows["ttfa_s"], errors="coerce").notna()] if not rows.empty else rows
    if rows.empty:
        return None
    texts = sorted(set(rows["text"].astype(str)), key=text_sort_key)
    series = _series_by_text(rows, lambda r: f"{r['engine']}:{r['tier']}" if r["engine"] != "tts_core" else str(r["tier"]),
                             lambda r: 1000 * float(r["ttfa_s"]))
    series = dict(sorted(series.items(), key=lambda kv: tier_sort_key(kv[0])))
    with _figure(width=9.0) as (fig, axes):
        _grouped_bars(axes[0], series, texts, fmt="{:.0f}")
        axes[0].set_ylabel("time to first audio (ms)")
        axes[0].set_title("Streaming: time to first audio")
        return _png(fig)


def peers(df: pd.DataFrame) -> bytes | None:
    """RTF of other engines next to ours, per text (single workload, uncached)."""
    rows = ok_rows(df)
    if rows.empty or not (rows["engine"] != "tts_core").any():
        return None
    rows = rows[rows["workload"].fillna("").isin(["single", ""]) & rows["cached"].map(lambda c: c is not True)]
    rows = rows[(rows["engine"] != "tts_core") | rows["tier"].isin(TIER_ORDER)].dropna(subset=["rtf"])
    if rows.empty:
        return None
    texts = sorted(set(rows["text"].astype(str)), key=text_sort_key)
    series = _series_by_text(rows, lambda r: str(r["tier"]) if r["engine"] == "tts_core" else str(r["engine"]),
                             lambda r: float(r["rtf"]))
    with _figure(width=9.0) as (fig, axes):
        _grouped_bars(axes[0], series, texts, fmt="{:.3f}")
        axes[0].set_ylabel("RTF (lower is faster)")
        axes[0].set_title("Peers: our tiers next to other engines")
        return _png(fig)
