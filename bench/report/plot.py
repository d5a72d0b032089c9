"""Matplotlib helpers shared by the charts: a styled figure, PNG bytes, stable colours, grouped bars.

Matplotlib runs on the Agg backend with math text off, so a `$` in a label is drawn as is.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from typing import Iterator

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

FIXED_COLOURS = {"baseline": "#8c8c8c", "optimized": "#3b75af", "advanced": "#2e9a55"}
OTHER_COLOURS = ["#d1773a", "#8e63b5", "#c44e52", "#937860", "#da8bc3", "#64b5cd", "#ccb974", "#4c72b0"]
STYLE = {"text.parse_math": False, "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
         "axes.grid": True, "grid.alpha": 0.3, "axes.titlesize": 10, "legend.fontsize": 8, "legend.frameon": False}


def colour(label: str, _cache: dict[str, str] = {}) -> str:  # noqa: B006 - a stable colour per label
    """The tier's fixed colour (by the tier part of `engine:tier@hardware`), else one from the palette."""
    tier = label.split(":", 1)[-1].split("@", 1)[0]
    if label.startswith(("tts_core:", "baseline", "optimized", "advanced")) and tier in FIXED_COLOURS:
        return FIXED_COLOURS[tier]
    return _cache.setdefault(label, OTHER_COLOURS[len(_cache) % len(OTHER_COLOURS)])


@contextmanager
def figure(ncols: int = 1, nrows: int = 1, width: float = 9.0, height: float = 3.4) -> Iterator[tuple]:
    """(figure, flat array of axes) in the report's style; closed on exit."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, height * nrows), squeeze=False)
        try:
            yield fig, axes.ravel()
        finally:
            plt.close(fig)


def png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=96)
    return buf.getvalue()


def short(label: object, n: int = 28) -> str:
    """`label` cut to `n` characters, with `$` escaped so matplotlib never parses a label as mathtext."""
    s = str(label)
    s = s if len(s) <= n else s[: n - 1] + "…"
    return s.replace("$", r"\$")


def grouped_bars(ax: plt.Axes, series: dict[str, dict[str, tuple]], xs: list[str], fmt: str = "{:.2f}") -> None:
    """Bars of each series side by side at each x; values are (value, lo, hi), lo/hi may be None."""
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        pos = np.arange(len(xs)) + (i - (len(series) - 1) / 2) * width
        vals = [values.get(x, (np.nan, None, None)) for x in xs]
        heights = [v[0] for v in vals]
        err = np.array([[max(v[0] - v[1], 0) if v[1] is not None else 0 for v in vals],
                        [max(v[2] - v[0], 0) if v[2] is not None else 0 for v in vals]])  # (2, len(xs))
        ax.bar(pos, heights, width * 0.92, label=short(name, 40), color=colour(name),
               yerr=err if err.any() else None, capsize=3, error_kw={"elinewidth": 1})
        for x, v in zip(pos, vals):  # the value sits above the bar or its CI, whichever is higher
            if not np.isnan(v[0]):
                ax.text(x, max(v[0], v[2] or 0), fmt.format(v[0]), ha="center", va="bottom", fontsize=7)
    ax.set_xticks(np.arange(len(xs)), [short(x, 16) for x in xs])
    top = max([v[2] or v[0] for s in series.values() for v in s.values() if not np.isnan(v[0])] or [1.0])
    legend_rows = -(-len(series) // 3) if len(series) > 1 else 0
    ax.set_ylim(top=top * (1.12 + 0.12 * legend_rows) if top > 0 else None)  # room for value labels and legend
    if len(series) > 1:
        ax.legend(ncols=min(len(series), 3), loc="upper left")
