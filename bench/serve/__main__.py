"""`python -m bench.serve`: one engine x tier under a LoadGen scenario, in this process.

    python -m bench.serve --engine tts_core --tier advanced --model tiny --scenario server [--out DIR]

The adapter is built from `configs/engine/<engine>.yaml` as the sweep builds it; the scenario
from `configs/scenario/<scenario>.yaml`, with `--set field=value` overrides. Rows go to `DIR/rows.json`,
LoadGen's logs under DIR, and a table of the rows is printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from bench.serve.config import SCENARIOS, ScenarioConfig
from bench.serve.run import run_scenario
from bench.texts import SentenceGenerator

SCENARIO_CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "scenario"
COLUMNS = ("scenario", "status", "valid", "target_qps", "achieved_qps", "ttfa_p50_s", "ttfa_p99_s", "latency_p99_s",
           "mean_batch_size", "queries", "duration_s", "reason")


def queries(n: int, seed: int) -> list[str]:
    """`n` distinct fresh sentences of 3-22 words (seeded), as a service receives them."""
    gen = SentenceGenerator(seed)
    return [gen.sentence(3, 22) for _ in range(n)]


def load_scenario(name: str, overrides: list[str]) -> ScenarioConfig:
    """`configs/scenario/<name>.yaml` merged over the schema, then `field=value` overrides (YAML values)."""
    from omegaconf import OmegaConf

    if name not in SCENARIOS:
        raise ValueError(f"`scenario` = {name!r} is not allowed; expected one of {', '.join(SCENARIOS)}.")
    node = OmegaConf.load(SCENARIO_CONFIGS / f"{name}.yaml")
    node.pop("defaults", None)
    node.pop("_target_", None)  # the sweep's scenario class (bench/scenarios/loadgen.py); here LoadGen runs in process
    known = {f.name for f in fields(ScenarioConfig)}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            raise ValueError(f"`--set {item}` is not allowed; expected FIELD=VALUE with FIELD in {', '.join(sorted(known))}.")
        node[key] = OmegaConf.create(f"v: {value}").v  # YAML typing: 1.5, true, null
    merged = OmegaConf.merge(OmegaConf.structured(ScenarioConfig), node)
    return OmegaConf.to_object(merged)  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    from hydra.utils import instantiate

    from bench.sweep.plan import ENGINE_CONFIGS, peer_engine

    engine_names = sorted(p.stem for p in ENGINE_CONFIGS.glob("*.yaml"))

    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--engine", default="tts_core", help=f"one of {', '.join(engine_names)}")
    parser.add_argument("--tier", default="advanced")
    parser.add_argument("--model", default="joe-medium", help="voice (default: %(default)s; tiny for tests)")
    parser.add_argument("--scenario", default="server", choices=SCENARIOS)
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a scenario field")
    parser.add_argument("--sentences", type=int, default=600, help="distinct query sentences (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="sentence and engine seed (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("reports/serve"), help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        scenario = load_scenario(args.scenario, args.set)
    except ValueError as exc:
        parser.error(str(exc))
    adapter = instantiate(peer_engine(args.engine), _convert_="all")
    adapter.load(model=args.model, device="cpu", tier=args.tier, seed=args.seed)
    out = args.out / f"{args.engine}-{args.tier}-{args.model}"
    try:
        rows = run_scenario(adapter, scenario, queries(args.sentences, args.seed), out)
    finally:
        adapter.close()
    out.mkdir(parents=True, exist_ok=True)
    (out / "rows.json").write_text(json.dumps(rows, indent=1, default=str))
    _print(rows)
    return 0 if all(r["status"] == "ok" for r in rows) else 1


def _print(rows: list[dict[str, Any]]) -> None:
    import pandas as pd

    frame = pd.DataFrame(rows)
    print(frame[[c for c in COLUMNS if c in frame]].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    best = [r for r in rows if r.get("best")]
    if best:
        print(f"highest VALID QPS: {best[0]['target_qps']:.3f} (p99 first audio {best[0]['ttfa_p99_s']:.3f} s), "
              f"search wall {best[0]['search_wall_s']:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
