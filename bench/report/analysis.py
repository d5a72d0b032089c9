"""Figures the report states: speedups with bootstrap CIs, cost fits, ablation effects and verdicts.

Everything here is derived from the rows; nothing is hard-coded about which optimization wins.
A speedup is reference latency / candidate latency (above 1 = faster), compared text by text on the
same machine, model and workload, and combined over texts with a geometric mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.report.load import TIER_ORDER, text_sort_key, tier_sort_key

N_BOOT = 2000
MATCH = ["model", "text", "workload", "cached"]  # rows compare only when these agree
NOISY_CV = 0.10


def median_latency(row: pd.Series) -> float | None:
    """Median steady-state latency of a row in seconds (p50, else raw rounds, else mean)."""
    for value in (row.get("latency_p50_s"),):
        if value is not None and not pd.isna(value):
            return float(value)
    lats = row.get("latencies_s")
    if isinstance(lats, list) and lats:
        return float(np.median(lats))
    mean = row.get("latency_mean_s")
    return None if mean is None or pd.isna(mean) else float(mean)


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["status"] == "ok"] if not df.empty else df


def primary(df: pd.DataFrame) -> pd.DataFrame:
    """Uncached one-shot rows of engines that have a baseline tier: the ones headlines and speedups compare.

    Engines other than tts_core (test adapters) are kept apart by suffixing their name to `machine`.
    """
    df = ok_rows(df)
    if df.empty:
        return df
    single = df["workload"].fillna("").isin(["single", ""])
    uncached = df["cached"].map(lambda c: c is not True)
    tiered = set(df.loc[df["tier"] == "baseline", "engine"])
    rows = df[df["engine"].isin(tiered) & single & uncached]
    other = rows["engine"] != "tts_core"
    if other.any():
        rows = rows.assign(machine=rows["machine"].where(~other, rows["machine"] + " · " + rows["engine"].astype(str)))
    return rows


@dataclass
class Speedup:
    """Reference latency / candidate latency, geometric mean over matched texts, with a 95% CI."""

    point: float
    lo: float | None
    hi: float | None
    texts: list[str] = field(default_factory=list)

    def fmt(self) -> str:
        ci = f" [{self.lo:.2f}–{self.hi:.2f}]" if self.lo is not None and self.hi is not None else ""
        return f"{self.point:.2f}x{ci}"


def _boot_log_ratio(ref: pd.Series, cand: pd.Series, rng: np.random.Generator) -> np.ndarray | None:
    """Bootstrap log(median ref / median cand) over each row's rounds; None without raw rounds."""
    a, b = ref.get("latencies_s"), cand.get("latencies_s")
    if not (isinstance(a, list) and isinstance(b, list) and len(a) >= 2 and len(b) >= 2):
        return None
    a, b = np.asarray(a, float), np.asarray(b, float)
    ma = np.median(a[rng.integers(0, a.size, (N_BOOT, a.size))], axis=1)
    mb = np.median(b[rng.integers(0, b.size, (N_BOOT, b.size))], axis=1)
    return np.log(ma / mb)


def speedup(rows: pd.DataFrame, ref_tier: str, cand_tier: str, seed: int = 0) -> Speedup | None:
    """Speedup of `cand_tier` over `ref_tier` within `rows` (one machine); None when nothing matches."""
    ref = rows[rows["tier"] == ref_tier]
    cand = rows[rows["tier"] == cand_tier]
    if ref.empty or cand.empty:
        return None
    rng = np.random.default_rng(seed)
    points, boots, texts = [], [], []
    key = lambda r: tuple(str(r.get(k)) for k in MATCH)  # noqa: E731
    ref_by_key = {key(r): r for _, r in ref.iterrows()}
    for _, c in cand.iterrows():
        r = ref_by_key.get(key(c))
        lr, lc = (median_latency(r), median_latency(c)) if r is not None else (None, None)
        if not lr or not lc:
            continue
        points.append(np.log(lr / lc))
        boots.append(_boot_log_ratio(r, c, rng))
        texts.append(str(c["text"]))
    if not points:
        return None
    point = float(np.exp(np.mean(points)))
    if any(b is None for b in boots):
        return Speedup(point, None, None, texts)
    combined = np.exp(np.mean(np.vstack(boots), axis=0))
    return Speedup(point, float(np.percentile(combined, 2.5)), float(np.percentile(combined, 97.5)), texts)


def fidelity_summary(rows: pd.DataFrame) -> tuple[str, bool | None]:
    """('ok' | 'FAILS (...)' | 'not measured', passed) over the fidelity gates of `rows`."""
    verdicts = [v for v in rows["fid_pass"] if v is not None and not pd.isna(v)] if not rows.empty else []
    if not verdicts:
        return "not measured", None
    failed = rows[rows["fid_pass"].map(lambda v: v is False or v == 0)]
    if failed.empty:
        return "ok", True
    worst = failed.iloc[0]
    bits = [f"{len(failed)} of {len(verdicts)} fail"]
    if worst.get("fid_gate"):
        bits.append(f"{worst['fid_gate']} gate")
    for col, label, unit in (("fid_snr_db", "SNR", " dB"), ("fid_mcd_db", "MCD", " dB"), ("fid_spec_corr", "spec corr", "")):
        v = worst.get(col)
        if v is not None and not pd.isna(v):
            bits.append(f"{label} {v:.3g}{unit}")
    return "FAILS (" + ", ".join(bits) + ")", False


def _peak(rows: pd.DataFrame, col: str = "peak_rss_mb") -> float | None:
    vals = pd.to_numeric(rows[col], errors="coerce").dropna() if not rows.empty else pd.Series(dtype=float)
    return float(vals.max()) if not vals.empty else None


def _total_rtf(rows: pd.DataFrame) -> float | None:
    """Σ median latency / Σ audio seconds over the tier's texts: wall seconds per audio second."""
    lat = rows.apply(median_latency, axis=1) if not rows.empty else pd.Series(dtype=float)
    audio = pd.to_numeric(rows["audio_s"], errors="coerce")
    good = lat.notna() & audio.notna() & (audio > 0)
    return float(lat[good].sum() / audio[good].sum()) if good.any() else None


def headline(df: pd.DataFrame) -> pd.DataFrame:
    """One line per machine and main tier: speedup [95% CI], RTF, throughput, memory, fidelity."""
    out = []
    prim = primary(df)
    for machine, rows in prim.groupby("machine", sort=True):
        base_peak = _peak(rows[rows["tier"] == "baseline"])
        for tier in [t for t in TIER_ORDER if t in set(rows["tier"])]:
            tr = rows[rows["tier"] == tier]
            sp = speedup(rows, "baseline", tier) if tier != "baseline" else Speedup(1.0, None, None)
            rtf = _total_rtf(tr)
            peak = _peak(tr)
            fid, _ = fidelity_summary(tr) if tier != "baseline" else ("reference", None)
            out.append({
                "machine": machine, "tier": tier,
                "speedup vs baseline [95% CI]": sp.fmt() if sp else "n/a (no baseline)",
                "RTF (all texts)": _fmt(rtf, "{:.3f}"),
                "throughput (audio s / s)": _fmt(1 / rtf if rtf else None, "{:.1f}"),
                "peak RSS (MB)": _fmt(peak, "{:.0f}"),
                "memory vs baseline": _fmt(1 - peak / base_peak if peak and base_peak and tier != "baseline" else None, "{:+.0%}", neg=True),
                "CUDA peak (MB)": _fmt(_peak(tr, "cuda_max_allocated_mb"), "{:.0f}"),
                "fidelity": fid,
                "texts": ", ".join(sorted(set(map(str, tr["text"])), key=text_sort_key)),
            })
    return pd.DataFrame(out)


def _fmt(value: float | None, spec: str, neg: bool = False) -> str:
    if value is None or pd.isna(value):
        return "–"
    if neg and abs(value) < 0.005:
        return "±0%"
    return spec.format(-value if neg else value)


@dataclass
class Effect:
    """What one optimization (a tier, or a switch of an ablation) does on one machine."""

    machine: str
    name: str  # what is judged: "optimized", "int8", "streaming"
    compared: str  # "optimized vs baseline", "advanced vs advanced-streaming"
    speedup: Speedup
    memory_change: float | None  # fraction, negative = uses less
    fidelity: str
    fidelity_ok: bool | None

    def call(self) -> tuple[str, str]:
        """(phrase, kind): kind is pays, loses, neutral or broken (faster but fails its fidelity gate)."""
        s = self.speedup
        if s.lo is not None and s.hi is not None:
            pays, loses = s.lo > 1.0 and s.point >= 1.02, s.hi < 1.0 and s.point <= 0.98
        else:
            pays, loses = s.point >= 1.05, s.point <= 0.95
        if pays and self.fidelity_ok is False:
            return "is faster but breaks fidelity", "broken"
        if pays:
            return "pays", "pays"
        return ("does not pay", "loses") if loses else ("makes no clear difference", "neutral")

    def verdict(self) -> str:
        """One plain sentence, e.g. "int8 does not pay on cpu-all: 0.71x [0.69–0.74] (...), fidelity ok"."""
        phrase, _ = self.call()
        mem = ""
        if self.memory_change is not None and abs(self.memory_change) >= 0.02:
            mem = f", peak memory {self.memory_change:+.0%}"
        return f"{self.name} {phrase} on {self.machine}: {self.speedup.fmt()} ({self.compared}){mem}, fidelity {self.fidelity}"


def effects(df: pd.DataFrame) -> list[Effect]:
    """Every tier against baseline, `baseline+X` against baseline, and X inside `advanced-X` vs advanced."""
    out: list[Effect] = []
    prim = primary(df)
    for machine, rows in prim.groupby("machine", sort=True):
        tiers = sorted(set(rows["tier"]), key=tier_sort_key)
        for tier in tiers:
            if tier == "baseline":
                continue
            if tier in TIER_ORDER:
                ref, cand, name, with_x = "baseline", tier, tier, tier
            elif "+" in tier:
                ref, _, name = tier.partition("+")
                cand, with_x = tier, tier
            elif "-" in tier and tier.split("-", 1)[0] in tiers:
                # advanced-X is advanced without X: X's effect is (advanced-X) / advanced
                cand, _, name = tier.partition("-")
                ref, with_x = tier, cand
            else:
                continue
            sp = speedup(rows, ref, cand)
            if sp is None:
                continue
            peak_ref, peak_cand = _peak(rows[rows["tier"] == ref]), _peak(rows[rows["tier"] == cand])
            mem = peak_cand / peak_ref - 1 if peak_ref and peak_cand else None
            fid, fid_ok = fidelity_summary(rows[rows["tier"] == with_x])
            out.append(Effect(str(machine), name, f"{cand} vs {ref}", sp, mem, fid, fid_ok))
    return out


def cost_fits(df: pd.DataFrame) -> pd.DataFrame:
    """Per machine and tier: latency = fixed + per_audio_s x audio seconds, and the same for peak RSS."""
    out = []
    for (machine, tier), rows in primary(df).groupby(["machine", "tier"], sort=True):
        x, y = [], []
        for _, r in rows.iterrows():
            audio = r.get("audio_s")
            lats = r["latencies_s"] if isinstance(r["latencies_s"], list) and r["latencies_s"] else [median_latency(r)]
            if audio and not pd.isna(audio):
                x += [float(audio)] * len([v for v in lats if v is not None])
                y += [float(v) for v in lats if v is not None]
        if len(set(x)) < 2:
            continue
        slope, intercept = np.polyfit(x, y, 1)
        pred = np.polyval([slope, intercept], x)
        ss_tot = float(np.sum((np.asarray(y) - np.mean(y)) ** 2)) or 1.0
        mem = rows[["audio_s", "peak_rss_mb"]].apply(pd.to_numeric, errors="coerce").dropna()
        mslope = mint = None
        if mem["audio_s"].nunique() >= 2:
            mslope, mint = np.polyfit(mem["audio_s"], mem["peak_rss_mb"], 1)
        out.append({
            "machine": machine, "tier": tier, "fixed cost (s)": round(float(intercept), 4),
            "cost per audio second (s)": round(float(slope), 4),
            "R²": round(1 - float(np.sum((np.asarray(y) - pred) ** 2)) / ss_tot, 3),
            "fixed memory (MB)": None if mint is None else round(float(mint), 1),
            "memory per audio second (MB)": None if mslope is None else round(float(mslope), 2),
            "points": len(x),
        })
    frame = pd.DataFrame(out)
    if not frame.empty:
        frame = frame.sort_values(["machine", "tier"], key=lambda s: s.map(tier_sort_key) if s.name == "tier" else s)
    return frame.reset_index(drop=True)
