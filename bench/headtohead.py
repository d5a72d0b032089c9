"""Head-to-head throughput on text nobody has seen yet: `python -m bench.headtohead`.

The sweep measures each configuration in its own process and repeats one text, which is right for
memory and latency percentiles but (a) puts minutes of machine drift between the configurations it
compares and (b) lets every round after the first reuse whatever the first built for that text's
shapes (oneDNN JIT-compiles a kernel per input shape). This command answers the other question, "which
engine speaks a new text faster, here and now": all contenders are loaded in one process, and each
round gives every contender a paragraph of its own from a corpus of unique sentences (a Latin square,
so no sentence is spoken twice in the process), in an order that reverses every round.

    python -m bench.headtohead
    python -m bench.headtohead --contenders tts_core:baseline,tts_core:advanced,piper-onnxruntime:default

It prints throughput (audio seconds per wall second) per contender and each one's ratio to the first,
with a bootstrap 95% interval over rounds; `--out FILE.json` also saves every round.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.measure.session import clear
from bench.stats import bootstrap_speedup

log = logging.getLogger("bench")

ENGINE_CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "engine"  # the sweep's engine group
WARMUP_TEXT = "A warm-up sentence that none of the paragraphs contains."

_ADJ = ("silver", "narrow", "gentle", "bright", "brave", "old", "young", "distant", "curious", "patient", "quiet",
        "heavy", "quick", "careful", "golden", "hidden")
_NOUN = ("window", "engineer", "letter", "forest", "harbor", "river", "garden", "village", "machine", "library",
         "teacher", "bridge", "painter", "lantern", "orchard", "sailor")
_VERB = ("crosses", "repairs", "measures", "follows", "remembers", "watches", "carries", "describes", "finds", "paints")
_PLACE = ("the market", "the lake", "the north gate", "the station", "the hill", "the old mill", "the bridge",
          "the square", "the harbor wall", "the school")


def corpus(paragraphs: int, chars: int, seed: int = 0) -> list[str]:
    """`paragraphs` paragraphs of about `chars` characters, built from unique sentences (seeded)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out = []
    for _ in range(paragraphs):
        sentences: list[str] = []
        while sum(len(s) + 1 for s in sentences) < chars:
            s = (f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)} {rng.choice(_VERB)} the {rng.choice(_ADJ)} "
                 f"{rng.choice(_NOUN)} near {rng.choice(_PLACE)} at {rng.randint(1, 12)} o'clock.")
            if s not in seen:
                seen.add(s)
                sentences.append(s)
        out.append(" ".join(sentences))
    return out


def engine_names() -> list[str]:
    """The engines of the sweep's `engine` config group."""
    return sorted(p.stem for p in ENGINE_CONFIGS.glob("*.yaml"))


def _adapter(engine: str) -> Any:
    """The adapter `configs/engine/<engine>.yaml` names, built as the sweep builds it."""
    if engine not in engine_names():
        raise SystemExit(f"error: unknown engine {engine!r}; expected one of {', '.join(engine_names())}")
    from hydra.utils import get_class, instantiate
    from omegaconf import OmegaConf

    node = OmegaConf.load(ENGINE_CONFIGS / f"{engine}.yaml")
    node.pop("defaults", None)
    available = getattr(get_class(node["_target_"]), "available", None)
    reason = available() if callable(available) else None
    if reason:
        raise SystemExit(f"error: {engine}: {reason}")
    return instantiate(node, _convert_="all")


def _parse_contenders(spec: str) -> list[tuple[str, str]]:
    out = []
    for item in spec.split(","):
        engine, sep, tier = item.strip().partition(":")
        if not sep or not engine or not tier:
            raise SystemExit(f"error: contender {item!r} is not ENGINE:TIER (e.g. tts_core:advanced)")
        out.append((engine, tier))
    if len(out) < 2:
        raise SystemExit("error: --contenders needs at least two ENGINE:TIER entries, comma-separated")
    return out


def head_to_head(contenders: list[tuple[str, str]], model: str, rounds: int, paragraphs: list[str]) -> dict[str, Any]:
    """Load every contender, then run `rounds` rounds (see the module doc). Returns the rounds and a summary."""
    if len(paragraphs) < rounds * len(contenders):
        raise ValueError(f"need {rounds * len(contenders)} paragraphs for {rounds} rounds x {len(contenders)} "
                         f"contenders, got {len(paragraphs)}")
    names = [f"{e}:{t}" for e, t in contenders]
    engines = {}
    for name, (engine, tier) in zip(names, contenders):
        log.info("loading %s", name)
        adapter = _adapter(engine)
        adapter.load(model=model, device="cpu", tier=tier, seed=0)
        adapter.synthesize(WARMUP_TEXT)
        engines[name] = adapter
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            text = paragraphs[names.index(name) * rounds + r]
            adapter = engines[name]
            clear(adapter)
            t0 = time.perf_counter()
            audio = adapter.synthesize(text)
            wall = time.perf_counter() - t0
            runs[name].append({"wall_s": wall, "audio_s": audio.duration, "chars": len(text)})
            log.info("round %d %s: %.1f s of audio in %.2f s", r + 1, name, audio.duration, wall)
    for adapter in engines.values():
        adapter.close()
    summary = {}
    first = names[0]
    for name in names:
        rtf = [x["wall_s"] / x["audio_s"] for x in runs[name]]
        row = {"throughput": 1 / statistics.median(rtf), "rtf": statistics.median(rtf)}
        if name != first:
            s = bootstrap_speedup([x["wall_s"] / x["audio_s"] for x in runs[first]], rtf)
            row.update(ratio=s.ratio, ratio_ci_low=s.ci_low, ratio_ci_high=s.ci_high)
        summary[name] = row
    return {"model": model, "rounds": rounds, "runs": runs, "summary": summary}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.headtohead",
        description="Throughput of several engines/tiers on unseen text, interleaved in one process.",
    )
    parser.add_argument("--contenders", default="tts_core:baseline,tts_core:advanced",
                        help="comma-separated ENGINE:TIER, the first is the reference (default: %(default)s); "
                             f"engines: {', '.join(engine_names())}")
    parser.add_argument("--model", default="joe-medium", help="voice (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="paragraphs per contender (default: %(default)s)")
    parser.add_argument("--chars", type=int, default=2000, help="characters per paragraph (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="also write the rounds and summary as JSON here")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.chars < 50:
        parser.error("--rounds must be >= 1 and --chars >= 50")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    contenders = _parse_contenders(args.contenders)
    try:
        result = head_to_head(contenders, args.model, args.rounds, corpus(args.rounds * len(contenders), args.chars))
    except ValueError as exc:  # an unknown tier or a voice an engine does not have
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, row in result["summary"].items():
        ratio = (f"  {row['ratio']:.2f}x [{row['ratio_ci_low']:.2f}, {row['ratio_ci_high']:.2f}] vs "
                 f"{next(iter(result['summary']))}" if "ratio" in row else "  (reference)")
        print(f"{name:32s} {row['throughput']:6.2f} audio-s/s  RTF {row['rtf']:.4f}{ratio}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
