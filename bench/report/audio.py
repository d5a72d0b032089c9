"""Short audio samples for the report: one WAV per contender, trimmed to a few seconds."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import pandas as pd

from bench.report.analysis import OURS, ok_rows
from bench.report.load import text_sort_key, tier_sort_key
from bench.report.paths import FileGuard

MAX_SECONDS = 4.0


def trimmed_wav(path: Path, max_seconds: float = MAX_SECONDS) -> tuple[bytes, float]:
    """The first `max_seconds` of a PCM WAV file as WAV bytes, and their duration in seconds."""
    with wave.open(str(path), "rb") as src:
        rate, width, channels = src.getframerate(), src.getsampwidth(), src.getnchannels()
        frames = src.readframes(min(src.getnframes(), int(max_seconds * rate)))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as dst:
        dst.setnchannels(channels)
        dst.setsampwidth(width)
        dst.setframerate(rate)
        dst.writeframes(frames)
    return buf.getvalue(), len(frames) / (width * channels * rate)


def samples(df: pd.DataFrame, guard: FileGuard) -> tuple[list[tuple[str, str, bytes]], list[str]]:
    """([(label, subtitle, wav bytes)], [problems]): one sample per contender, shortest text first.

    Files are read only inside the results folders (`guard`); refused paths are recorded there."""
    rows = ok_rows(df)
    rows = rows[rows["sample_wav"].notna()] if not rows.empty else rows
    out, problems, seen = [], [], set()
    if rows.empty:
        return out, problems
    rows = rows.assign(_t=rows["text"].astype(str).map(text_sort_key), _k=rows["tier"].astype(str).map(tier_sort_key),
                       _e=rows["engine"] != OURS)
    many = rows["machine"].nunique() > 1
    for _, r in rows.sort_values(["_e", "_k", "_t"]).iterrows():
        if (r["machine"], r["contender"]) in seen:
            continue
        owner = f"{r['contender']} / {r['text']}"
        path = guard.find(r["sample_wav"], r["base_dir"], owner, "sample_wav")
        if path is None:
            if not any(x.owner == owner and x.path == r["sample_wav"] for x in guard.refused):
                problems.append(f"{owner}: sample file {r['sample_wav']} not found")
            continue
        try:
            wav, seconds = trimmed_wav(path)
        except (wave.Error, EOFError, OSError) as exc:
            problems.append(f"{owner}: cannot read {r['sample_wav']} ({exc})")
            continue
        seen.add((r["machine"], r["contender"]))
        name = str(r["tier"]) if r["engine"] == OURS else f"{r['engine']} ({r['tier']})"
        sub = f"text: {r['text']} · first {seconds:.1f} s" + (f" · {r['machine']}" if many else "")
        out.append((name, sub, wav))
    return out, problems
