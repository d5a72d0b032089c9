"""Drive a sweep: for each configuration, resume it from the store or measure it in a fresh child,
attach its speedup over the baseline, append its rows (store first, then the run's file), log it.

Every row is fsynced as soon as its configuration finishes, so a sweep killed at any point keeps
all it measured; the next run of the same sweep resumes from the store (`sweep.fresh=true` re-measures).
"""

from __future__ import annotations

import logging
from typing import Iterable

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from bench.config import BASELINE_TIER, BenchConfig
from bench.isolate import Limits, run_isolated
from bench.plan import RunPaths, build_plan
from bench.schema import ResultRow
from bench.spec import MeasureSpec
from bench.stats import bootstrap_speedup
from bench.store import ResultStore, append_rows

log = logging.getLogger("bench.sweep")


def headline(row: ResultRow) -> str:
    """One line of the figures that matter for `row`."""
    what = f"tier={row.tier} text={row.text} hw={row.hardware} workload={row.workload}" + (" cached" if row.cached else "")
    if row.status == "skipped":
        return f"SKIP {what}: {row.reason}"
    parts = []
    if row.latency_p50_s is not None:
        parts.append(f"p50 {row.latency_p50_s * 1e3:.0f} ms (cv {row.latency_cv:.0%}{', noisy' if row.noisy else ''})")
    if row.rtf is not None:
        parts.append(f"RTF {row.rtf:.3f}")
    if row.speedup is not None:
        parts.append(f"speedup {row.speedup:.2f}x [{row.speedup_ci_low:.2f}, {row.speedup_ci_high:.2f}]")
    if row.ttfa_s is not None:
        parts.append(f"TTFA {row.ttfa_s * 1e3:.0f} ms, {row.underruns} underruns")
    if row.load_s is not None:
        parts.append(f"load {row.load_s:.2f} s")
    if row.peak_rss_mb is not None:
        parts.append(f"peak RSS {row.peak_rss_mb:.0f} MB")
    if row.fid_pass is not None:
        snr = f", SNR {row.fid_snr_db:.0f} dB" if row.fid_snr_db is not None else ""
        parts.append(f"fidelity {row.fid_gate} {'pass' if row.fid_pass else 'FAIL'}{snr}")
    tag = "OK  " if row.status == "ok" else "FAIL"
    tail = f" -- {row.error}" if row.error else ""
    return f"{tag} {what}: {', '.join(parts)}{tail}"


def find_baseline(spec: MeasureSpec, cached: bool, run_rows: Iterable[ResultRow], store: ResultStore) -> ResultRow | None:
    """The ok baseline row for `spec`'s configuration: measured in this run, else stored for this host and code."""
    base_id = spec.with_tier(BASELINE_TIER).config_id(cached)
    for row in reversed(list(run_rows)):
        if row.config_id == base_id and row.status == "ok":
            return row
    return store.find(spec.host, base_id, spec.code_version, statuses=("ok",))


def attach_speedup(row: ResultRow, baseline: ResultRow | None) -> None:
    """Speedup of `row` over `baseline` (ratio of medians, 95% bootstrap interval), when both have latencies."""
    if row.speedup is not None or baseline is None or not row.latencies_s or not baseline.latencies_s:
        return
    s = bootstrap_speedup(baseline.latencies_s, row.latencies_s)
    row.speedup, row.speedup_ci_low, row.speedup_ci_high = s.ratio, s.ci_low, s.ci_high
    row.baseline_config_id = baseline.config_id


def resumable(spec: MeasureSpec, store: ResultStore) -> list[ResultRow] | None:
    """The stored finished rows of `spec` on this host and code, if every one of them is there."""
    rows = [store.find(spec.host, rid, spec.code_version) for rid in spec.row_ids()]
    return rows if all(rows) else None  # type: ignore[return-value]


def run_sweep(cfg: BenchConfig, paths: RunPaths) -> list[ResultRow]:
    """Measure (or resume) every configuration of `cfg`; returns the rows of this run in order."""
    specs = build_plan(cfg, paths)
    store = ResultStore(paths.store_file)
    limits = Limits(time_s=cfg.sweep.time_limit_s, memory_mb=cfg.sweep.memory_limit_mb)
    log.info("sweep %s: %d configurations -> %s", paths.run_id, len(specs), paths.results_file)
    run_rows: list[ResultRow] = []
    with logging_redirect_tqdm(), tqdm(total=len(specs), desc="sweep", unit="config", dynamic_ncols=True) as bar:
        for spec in specs:
            bar.set_postfix_str(f"{spec.tier}/{spec.text_label}", refresh=True)
            stored = None if cfg.sweep.fresh else resumable(spec, store)
            if stored is not None:
                rows = stored
                for row in rows:
                    row.extra["resumed"] = True
                log.info("resumed %s (measured in run %s)", spec.describe(), rows[0].run_id)
            else:
                log.info("measuring %s", spec.describe())
                rows = run_isolated(spec, limits)
                for row in rows:
                    if row.status == "ok" and row.tier != BASELINE_TIER:
                        attach_speedup(row, find_baseline(spec, bool(row.cached), run_rows, store))
                store.append(rows)
            append_rows(paths.results_file, rows)
            run_rows.extend(rows)
            for row in rows:
                log.info("%s", headline(row))
            bar.update(1)
    return run_rows
