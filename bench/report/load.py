"""Read results into one pandas DataFrame: sweep JSONL files, result folders and pytest-benchmark JSON.

Each row is a `ResultRow` field set plus `source` (the file it came from), `base_dir` (where its
relative `mprof_file` and `sample_wav` paths resolve, see `bench.report.paths`) and `machine` (host and
hardware, the group key of the headline). A row without a `contender` (pytest-benchmark, schema v1) gets
`engine:tier@hardware`. Files from several machines merge into one frame.
"""

from __future__ import annotations

import json
import logging
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from bench.results.schema import ResultRow

log = logging.getLogger(__name__)

ROW_FIELDS = [f.name for f in fields(ResultRow)]
TIER_ORDER = ("baseline", "optimized", "advanced")
POOLED = "all"  # the text of a contender's pooled row (every round of every class)


NOT_ROWS = ("rounds.jsonl",)  # the sweep's raw rounds and its hidden caches hold no result rows


def _holds_rows(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return path.is_file() and path.name not in NOT_ROWS and not any(p.startswith(".") for p in parts[:-1])


def find_result_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into the `.jsonl` and pytest-benchmark `.json` files below them, sorted (the sweep's
    `rounds.jsonl` and hidden folders such as `results/.cache` are not results)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.jsonl") if _holds_rows(p, path))
            found += sorted(p for p in path.rglob("*.json") if p.is_file() and _is_benchmark_json(p))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"results path {str(path)!r} does not exist; pass a results.jsonl, "
                                    "a results/<run-id>/ folder or a .benchmarks/ JSON file.")
    return list(dict.fromkeys(found))


def _is_benchmark_json(path: Path) -> bool:
    try:
        return isinstance(data := json.loads(path.read_text()), dict) and "benchmarks" in data
    except (OSError, ValueError):
        return False


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a results JSONL file; blank lines and a truncated (unparsable) line are skipped."""
    rows = []
    lines = path.read_text(errors="replace").splitlines()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):  # `null`, a list, a number: not a row
                raise TypeError(f"a JSON {type(data).__name__}, not a row object")
            rows.append(ResultRow.from_dict(data).to_dict())
        except (ValueError, TypeError) as exc:
            # the last line may be cut short by a killed worker: expected, not worth a warning
            (log.info if n == len(lines) else log.warning)("%s:%d skipped (%s)", path, n, exc)
    return rows


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list):
        out[prefix] = ", ".join(map(str, value))
    else:
        out[prefix] = value


def read_pytest_benchmark(path: Path) -> list[dict[str, Any]]:
    """One row per benchmark of a pytest-benchmark JSON file.

    `extra_info` keys named like `ResultRow` fields fill those fields (rtf, audio_s, peak_rss_mb, ...);
    `params` give the axes; `stats` give the latencies (seconds; raw rounds when saved).
    """
    data = json.loads(path.read_text())
    machine = data.get("machine_info") or {}
    env: dict[str, Any] = {}
    _flatten("", machine, env)
    env.pop("cpu.flags", None)  # hundreds of flags; the plugin hook records the ones that matter
    commit = (data.get("commit_info") or {}).get("id")
    if commit:
        env["commit"] = commit
    run_id = path.stem
    try:
        stamp = pd.Timestamp(data["datetime"]).timestamp()
    except (KeyError, ValueError, TypeError):
        stamp = path.stat().st_mtime
    rows = []
    for bench in data.get("benchmarks", []):
        extra = dict(bench.get("extra_info") or {})
        params = dict(bench.get("params") or {})
        stats = bench.get("stats") or {}
        row: dict[str, Any] = {k: v for k, v in {**params, **extra}.items() if k in ROW_FIELDS}
        latencies = extra.get("latencies_s") or stats.get("data") or []
        mean, std = stats.get("mean"), stats.get("stddev")
        row.update(
            run_id=str(extra.get("run_id") or run_id),
            config_id=str(bench.get("fullname") or bench.get("name")),
            status="ok",
            timestamp=stamp,
            host=str(machine.get("node") or ""),
            rounds=stats.get("rounds"),
            latency_mean_s=mean,
            latency_std_s=std,
            latency_cv=(std / mean) if mean and std is not None else None,
            latency_p50_s=stats.get("median"),
            latencies_s=[float(x) for x in latencies],
            env={**env, **(row.get("env") or {})},
            extra={"benchmark": bench.get("name"), "group": bench.get("group")},
        )
        row.setdefault("workload", "single")
        row["noisy"] = row["latency_cv"] > 0.10 if row["latency_cv"] is not None else None
        if row.get("rtf") is None and row.get("audio_s") and stats.get("median"):
            row["rtf"] = stats["median"] / row["audio_s"]
        rows.append(ResultRow.from_dict(row).to_dict())
    return rows


def read_file(path: Path) -> list[dict[str, Any]]:
    """Rows of one results file, whichever of the two formats it is."""
    if path.suffix == ".json":
        if not _is_benchmark_json(path):
            raise ValueError(f"{path} is JSON but not a pytest-benchmark file (no `benchmarks` key).")
        return read_pytest_benchmark(path)
    return read_jsonl(path)


def load_results(paths: Iterable[Path]) -> pd.DataFrame:
    """All rows of `paths` (files or folders) as one DataFrame with every `ResultRow` column."""
    records = []
    for path in find_result_files(paths):
        for row in read_file(path):
            row["source"] = str(path)
            row["base_dir"] = str(path.parent)
            records.append(row)
    frame = pd.DataFrame.from_records(records, columns=ROW_FIELDS + ["source", "base_dir"])
    if frame.empty:
        return frame.assign(machine=pd.Series(dtype=str))
    frame = _dedupe(frame)
    hosts = frame["host"].fillna("").astype(str)
    hardware = frame["hardware"].fillna("").astype(str).replace("", "unknown")
    frame["hardware"] = hardware
    frame["machine"] = hosts.where(hosts != "", "unknown host") + " / " + hardware
    named = frame["contender"].fillna("").astype(str)
    derived = frame["engine"].astype(str) + ":" + frame["tier"].astype(str) + "@" + hardware
    frame["contender"] = named.where(named != "", derived)
    return frame.reset_index(drop=True)


def _dedupe(frame: pd.DataFrame) -> pd.DataFrame:
    """A resumed run can store a config twice (failed, then ok): keep the last, preferring ok rows."""
    keys = pd.DataFrame({c: frame[c].astype(str) for c in ("run_id", "host", "config_id", "cached")})
    keyed = (keys["config_id"] != "").to_numpy()
    ranked = keys.assign(_ok=(frame["status"] == "ok").astype(int).to_numpy(), _n=range(len(frame)))
    kept = ranked[keyed].sort_values(["_ok", "_n"]).drop_duplicates(["run_id", "host", "config_id", "cached"], keep="last")
    rows = sorted(kept["_n"].tolist() + ranked.loc[~keyed, "_n"].tolist())
    return frame.iloc[rows]


def tier_sort_key(tier: str) -> tuple[int, str]:
    """Baseline, optimized, advanced first, then ablations and peers alphabetically."""
    return (TIER_ORDER.index(tier), "") if tier in TIER_ORDER else (len(TIER_ORDER), tier)


def text_sort_key(text: str) -> tuple[int, str]:
    """short, medium, long, then files alphabetically, then the pooled "all"."""
    order = ("short", "medium", "long")
    return (order.index(text), "") if text in order else (len(order) + (text == POOLED), text)
