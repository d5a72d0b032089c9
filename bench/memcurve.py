"""Memory over a long run: `python -m bench.memcurve --tier advanced --n 1000`.

One process, one engine, `--n` syntheses of distinct seeded texts (no text is spoken twice, the audio
cache is cleared before each call, so every call renders), the process's RSS read after each. A flat
curve means the engine's memory is bounded by what it holds, not by how many shapes it has seen
(oneDNN builds a kernel per input shape; the heap fragments). The figures it prints:

- `early_max_mb`: the highest RSS of syntheses 50-150 (1-based, after warm-up effects settle);
- `late_max_mb`: the highest RSS of syntheses 500-1000 (or from n/2 to n when `--n` is smaller);
- `ratio` = late / early: 1.0 is flat; the target is at most 1.1.

`--stream-chars A,B` also streams a text of A and one of B characters (fresh sentences) and reports each
stream's peak RSS (sampled after every chunk) and their ratio.

    python -m bench.memcurve --tier advanced --n 1000 --out memcurve.json
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import psutil

from bench.texts import SentenceGenerator

EARLY = (50, 150)  # 1-based, inclusive
LATE = (500, 1000)


def distinct_texts(n: int, seed: int = 0) -> list[str]:
    """`n` distinct texts of 1 or 2 unique sentences each (seeded); no sentence appears twice."""
    rng = random.Random(seed)
    gen = SentenceGenerator(seed)
    texts = [" ".join(gen.sentence(3, 20) for _ in range(rng.randint(1, 2))) for _ in range(n)]
    assert len(set(texts)) == n
    return texts


def windows(n: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(early, late) 1-based inclusive index ranges for a run of n syntheses."""
    if n >= LATE[1]:
        return EARLY, LATE
    if n < 4:
        raise ValueError(f"`--n` = {n}: needs at least 4 syntheses")
    early = (max(1, min(EARLY[0], n // 8)), max(2, min(EARLY[1], n // 4)))
    return early, (n // 2 + 1, n)


def rss_mb() -> float:
    """This process's resident set size, in MiB."""
    return psutil.Process().memory_info().rss / 2**20


def curve(engine: Any, texts: list[str]) -> list[float]:
    """RSS (MiB) after each synthesis of `texts`, the audio cache cleared before each and the engine's pending
    housekeeping run after each, as a service runs it between requests."""
    out = []
    for i, text in enumerate(texts):
        engine.clear_cache()
        engine.synthesize(text)
        if engine.pending_housekeeping:  # as a service does between requests (the engine never does it inside one)
            engine.housekeep()
        out.append(rss_mb())
        if (i + 1) % 100 == 0:
            logging.getLogger("bench").info("%d syntheses, RSS %.0f MiB", i + 1, out[-1])
    return out


def stream_peak(engine: Any, chars: int, seed: int) -> float:
    """Peak RSS (MiB, sampled after each chunk) while streaming a fresh text of about `chars` characters."""
    text = SentenceGenerator(seed + 1).paragraph(chars)
    engine.clear_cache()
    peak = rss_mb()
    chunks: Iterator[Any] = engine.stream(text)
    for _ in chunks:
        peak = max(peak, rss_mb())
    return peak


def summarize(rss: list[float]) -> dict[str, Any]:
    """The early and late maxima of an RSS curve and their ratio."""
    (e0, e1), (l0, l1) = windows(len(rss))
    early, late = max(rss[e0 - 1 : e1]), max(rss[l0 - 1 : l1])
    return {"early_window": [e0, e1], "late_window": [l0, l1], "early_max_mb": early, "late_max_mb": late,
            "ratio": late / early}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.memcurve",
        description="RSS after each of N syntheses of distinct texts in one process (flat memory check).",
    )
    parser.add_argument("--tier", default="advanced", help="tts_core tier or ablation (default: %(default)s)")
    parser.add_argument("--model", default="joe-medium", help="voice (default: %(default)s)")
    parser.add_argument("--n", type=int, default=1000, help="syntheses, each of a new text (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the texts (default: %(default)s)")
    parser.add_argument("--stream-chars", default="",
                        help="comma-separated sizes, e.g. 200,20000: stream a fresh text of each and report peaks")
    parser.add_argument("--out", type=Path, help="write the curve and the figures as JSON here")
    args = parser.parse_args(argv)
    if args.n < 4:
        parser.error("--n must be >= 4")
    try:
        sizes = [int(s) for s in args.stream_chars.split(",") if s.strip()]
    except ValueError:
        parser.error("--stream-chars must be comma-separated integers, e.g. 200,20000")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from tts_core import Engine

    engine = Engine.load(voice=args.model, device="cpu", tier=args.tier, seed=0)
    t0 = time.perf_counter()
    rss = curve(engine, distinct_texts(args.n, args.seed))
    result: dict[str, Any] = {"tier": args.tier, "model": args.model, "n": args.n, "seed": args.seed,
                              "seconds": time.perf_counter() - t0, **summarize(rss)}
    print(f"{args.tier}: RSS max {result['early_max_mb']:.0f} MiB over syntheses {result['early_window']}, "
          f"{result['late_max_mb']:.0f} MiB over {result['late_window']}: ratio {result['ratio']:.3f}")
    if sizes:
        peaks = {str(c): stream_peak(engine, c, args.seed + 1 + i) for i, c in enumerate(sizes)}
        result["stream_peak_mb"] = peaks
        result["stream_ratio"] = peaks[str(sizes[-1])] / peaks[str(sizes[0])]
        print(f"stream peaks {', '.join(f'{c} chars: {p:.0f} MiB' for c, p in peaks.items())}: "
              f"ratio {result['stream_ratio']:.3f}")
    engine.close()
    result["rss_mb"] = rss
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
