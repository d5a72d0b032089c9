"""`sweep.compare=interleaved`: baseline (A) and candidate (B) loaded in one child, rounds alternating
A B A B ..., so drift in the machine (thermal, other load) hits both alike. Memory is not measured
here (two engines share the process); the candidate's fidelity is checked against A's noise-free output."""

from __future__ import annotations

import time
from typing import Any

from bench.env import collect_env
from bench.measure import fidelity
from bench.measure.session import (
    clear, compute_and_fidelity, finish, latency_fields, new_engine, run_round, save_sample, stage_fields, sync,
)
from bench.schema import ResultRow
from bench.spec import MeasureSpec
from bench.stats import bootstrap_speedup

MEMORY_NOTE = "not measured: two engines share the process in interleaved mode"


def measure_interleaved(spec: MeasureSpec, device: str) -> list[ResultRow]:
    env = collect_env()
    m = spec.measure
    base_spec = spec.with_tier(fidelity.BASELINE_TIER)
    engines, loads = {}, {}
    for role, s in (("a", base_spec), ("b", spec)):
        engine = new_engine(s)
        sync(device)
        t0 = time.perf_counter()
        info = engine.load(model=s.model, device=device, tier=s.tier, seed=m["seed"])
        sync(device)
        engines[role], loads[role] = engine, (time.perf_counter() - t0, info)

    def one(role: str):
        clear(engines[role])
        return run_round(engines[role], spec.workload, spec.text, device)

    first = {role: one(role) for role in ("a", "b")}
    rounds: dict[str, list] = {"a": [], "b": []}
    spent = 0.0
    while len(rounds["b"]) < m["max_rounds"] and (len(rounds["b"]) < m["min_rounds"] or spent < m["min_duration_s"]):
        for role in ("a", "b"):
            result = one(role)
            rounds[role].append(result)
            spent += result.latency_s if role == "b" else 0.0

    reference = engines["a"].synthesize(spec.text, **fidelity.ZERO_NOISE).samples if m["fidelity"] else None
    rows = []
    for role, s in (("a", base_spec), ("b", spec)):
        engine = engines[role]
        desc = engine.describe()
        threads = int(desc.get("threads") or 0)
        fields: dict[str, Any] = dict(load_s=loads[role][0], first_call_s=first[role].latency_s, device=desc.get("device", device),
                                      threads=threads, sample_wav=save_sample(s, rounds[role][0].audio))
        fields.update(latency_fields(rounds[role], len(spec.text)))
        fields.update(stage_fields(engine, spec.text, m["stage_rounds"]))
        fields.update(compute_and_fidelity(s, engine, desc, device, fields["latency_p50_s"], fields["audio_s"], threads,
                                           reference=reference))
        if role == "b":
            s_up = bootstrap_speedup([r.latency_s for r in rounds["a"]], [r.latency_s for r in rounds["b"]])
            fields.update(speedup=s_up.ratio, speedup_ci_low=s_up.ci_low, speedup_ci_high=s_up.ci_high,
                          baseline_config_id=base_spec.config_id())
        extra = dict(load_info=loads[role][1], engine=desc, memory=MEMORY_NOTE, spec=s.axes())
        rows.append(finish(s, False, fields, extra, env))
    for engine in engines.values():
        engine.close()
    return rows
