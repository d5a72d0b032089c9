"""The concurrency curve in the report: first audio and audio throughput against concurrent streams.

It reads LoadGen-style rows (workload `serve`, `build.serving_rows`) whose `scenario` is `concurrency`, one per
contender and level, with the level in `concurrency` (closed-loop clients). What a level measured is read from
the row's own fields where present, none computed here: `ttfa_s` / `ttfa_p90_s` / `ttfa_p99_s` (first audio
p50/p90/p99, s), `first_audible_p90_s`, `chunk_gap_p99_s`, `underrun_rate`, `audio_s_per_s` (audio seconds
delivered per wall second), `goodput_qps` (requests per second that met the first-audio bound with no underrun)
and `engine_errors`. No such rows, no section: the curve is left out rather than drawn empty.
"""

from __future__ import annotations

import pandas as pd

from bench.report.plot import colour, figure, png, short

SCENARIO = "concurrency"
COLUMNS = {  # row field -> table column, (scale to the column's unit)
    "ttfa_s": ("first audio p50 (ms)", 1e3), "ttfa_p90_s": ("first audio p90 (ms)", 1e3),
    "ttfa_p99_s": ("first audio p99 (ms)", 1e3), "first_audible_p90_s": ("first audible p90 (ms)", 1e3),
    "chunk_gap_p99_s": ("chunk gap p99 (ms)", 1e3), "underrun_rate": ("underrun rate", 1.0),
    "audio_s_per_s": ("audio s per s", 1.0), "goodput_qps": ("goodput (QPS)", 1.0),
    "engine_errors": ("errors", 1.0),
}


def curve_rows(serving: pd.DataFrame) -> pd.DataFrame:
    """The ok concurrency rows with a level, by contender and level."""
    if serving.empty or "scenario" not in serving or "concurrency" not in serving:
        return serving.iloc[0:0]
    rows = serving[(serving["scenario"] == SCENARIO) & (serving["status"] == "ok")]
    rows = rows[pd.to_numeric(rows["concurrency"], errors="coerce").notna()]
    return rows.sort_values(["contender", "concurrency"])


def curve_table(serving: pd.DataFrame) -> pd.DataFrame:
    """One line per contender and level with the figures its row stores (columns no row stores are left out)."""
    rows = curve_rows(serving)
    out = []
    for _, r in rows.iterrows():
        line = {"contender": r["contender"], "streams": int(r["concurrency"])}
        for field, (name, scale) in COLUMNS.items():
            v = pd.to_numeric(pd.Series([r.get(field)]), errors="coerce").iloc[0]
            line[name] = None if pd.isna(v) else float(v) * scale
        out.append(line)
    frame = pd.DataFrame(out)
    return frame.dropna(axis=1, how="all") if not frame.empty else frame


def curve_chart(serving: pd.DataFrame) -> bytes | None:
    """PNG: first audio p90 (ms) against concurrent streams, one line per contender, and beside it audio seconds
    per wall second where rows store them. None without concurrency rows that store a p90."""
    table = curve_table(serving)
    if table.empty or "first audio p90 (ms)" not in table:
        return None
    panels = [c for c in ("first audio p90 (ms)", "audio s per s") if c in table]
    with figure(width=5.0 * len(panels), height=3.4, ncols=len(panels)) as (fig, axes):
        for ax, column in zip(axes, panels):
            for contender, g in table.groupby("contender", sort=True):
                ax.plot(g["streams"], g[column], marker="o", color=colour(str(contender)), label=short(contender, 40))
            ax.set_xscale("log", base=2)
            levels = sorted(set(table["streams"]))
            ax.set_xticks(levels, [str(n) for n in levels])  # plain labels: the report's style draws no math text
            ax.minorticks_off()
            ax.set_xlabel("concurrent streams")
            ax.set_ylabel(column)
        axes[0].set_title("First audio against concurrency")
        axes[0].legend(fontsize=8)
        return png(fig)
