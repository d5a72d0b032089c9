"""The serving chart: QPS against first audio at the bound's percentile per tier (PNG bytes). The table of the
highest QPS within the bound is the report's (`bench.report.served.answer_table`).

It takes the rows of `run_scenario` (server rows; one search per tier), as a list of dicts or a DataFrame.
"""

from __future__ import annotations

from typing import Any, Iterable, Optional

import pandas as pd

from bench.report.plot import figure, png
from bench.serve.search import ttfa_field


def _server_rows(rows: Iterable[dict[str, Any]] | pd.DataFrame) -> pd.DataFrame:
    frame = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if frame.empty or "scenario" not in frame:
        return frame.iloc[0:0]
    frame = frame[(frame["scenario"] == "server") & (frame["status"] == "ok")].copy()
    for col in ("engine", "tier"):
        frame[col] = frame[col].fillna("?") if col in frame else "?"
    return frame


def qps_latency_chart(rows: Iterable[dict[str, Any]] | pd.DataFrame) -> Optional[bytes]:
    """PNG: achieved QPS (x) against first audio in seconds (y) at the percentile each run's bound applies to (p90
    in `server.yaml`; a VALID point then sits below its bound), one line per engine:tier; VALID runs filled,
    INVALID hollow, the bound dashed. None when there is no server row."""
    frame = _server_rows(rows)
    if frame.empty:
        return None
    fields = frame.get("latency_percentile", pd.Series(0.99, index=frame.index)).map(ttfa_field)
    frame["at_bound_s"] = [frame.at[i, f] if f in frame else None for i, f in fields.items()]
    frame["at_bound_s"] = pd.to_numeric(frame["at_bound_s"], errors="coerce")
    if frame["at_bound_s"].isna().all():
        return None
    percentiles = sorted({f"p{p * 100:g}" for p in frame.get("latency_percentile", pd.Series(dtype=float)).dropna()})
    with figure(width=6.5, height=3.6) as (fig, axes):
        ax = axes[0]
        for (engine, tier), group in frame.groupby(["engine", "tier"], sort=True):
            group = group.sort_values("target_qps")
            line, = ax.plot(group["achieved_qps"], group["at_bound_s"], marker="", label=f"{engine}:{tier}")
            valid = group["valid"] == "VALID"
            ax.scatter(group.loc[valid, "achieved_qps"], group.loc[valid, "at_bound_s"], color=line.get_color())
            ax.scatter(group.loc[~valid, "achieved_qps"], group.loc[~valid, "at_bound_s"],
                       facecolors="none", edgecolors=line.get_color())
        for bound in sorted(frame["latency_bound_ms"].dropna().unique()):
            ax.axhline(bound / 1000, linestyle="--", color="#c44e52", linewidth=0.8)
        ax.set_xlabel("achieved QPS (queries/s)")
        ax.set_ylabel(f"{'/'.join(percentiles) or 'p?'} first audio (s)")
        ax.set_title("Server: load against first audio at the bound's percentile (filled = VALID)")
        ax.legend(fontsize=8)
        return png(fig)
