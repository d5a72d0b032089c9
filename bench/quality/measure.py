"""Measure heard quality of one voice and tier on the built-in texts and on sentences written for this check.

    python -m bench.quality.measure [--tier baseline] [--voice joe-medium] [--seed 0] [--cache DIR]

Prints one line per text (WER, CER, DNSMOS SIG/BAK/OVRL, seconds spent), the means, and the cost line.
With no --cache every text is scored afresh, so the seconds are the uncached cost.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.quality import QualityConfig, QualityScorer, available

# Written for this check; none of them appears in the built-in texts or the tests.
UNSEEN = (
    "Marta folded the map twice and tucked it under the seat of her bicycle.",
    "The bakery on Fifth Street opens at 6 a.m. and sells out of rye bread by noon.",
    "Our flight to Lisbon was delayed by 45 minutes because of fog over the runway.",
    "He measured 2.5 cups of flour, then realized the recipe wanted grams.",
    "A gray heron stood perfectly still in the shallow end of the pond.",
    "Dr. Okafor asked every student to bring a pencil, a ruler and a calculator.",
    "The museum's new wing holds 312 paintings from the early nineteenth century.",
    "Please turn off the lights in the garage before you lock the side door.",
    "Rain drummed on the tin roof while the kettle began to whistle.",
    "The committee voted 7 to 4 to repaint the library in a pale shade of green.",
    "She found an old postcard from 1987 wedged between two cookbooks.",
    "If the battery drops below twenty percent, the screen dims automatically.",
)


def _line(name: str, f) -> str:
    return (f"{name:<10} wer {100 * f.wer:5.1f}%  cer {100 * f.cer:5.1f}%  sig {f.dnsmos_sig:.2f}  "
            f"bak {f.dnsmos_bak:.2f}  ovrl {f.dnsmos_ovrl:.2f}  audio {f.audio_s:5.1f} s  spent {f.quality_s:5.1f} s"
            + ("" if f.wer == 0 else f"\n{'':<10} said : {f.reference}\n{'':<10} heard: {f.heard}"))


def main(argv: list[str] | None = None) -> int:
    """Run the measurement; 0 on success, 2 when the quality extra is missing."""
    parser = argparse.ArgumentParser(prog="python -m bench.quality.measure", description=__doc__.split("\n")[0])
    parser.add_argument("--voice", default="joe-medium")
    parser.add_argument("--tier", default="baseline")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=None, help="score cache folder (default: none)")
    args = parser.parse_args(argv)
    if (reason := available()) is not None:
        print(reason)
        return 2
    from bench.texts import BUILTIN_TEXTS, read_text, text_path
    from tts_core import Engine
    scorer = QualityScorer(QualityConfig(cache_dir=args.cache))
    groups = {"built-in": [(n, read_text(text_path(n))) for n in BUILTIN_TEXTS],
              "unseen": [(f"unseen-{i + 1:02d}", s) for i, s in enumerate(UNSEEN)]}
    t0 = time.perf_counter()
    with Engine.load(voice=args.voice, tier=args.tier, seed=args.seed) as engine:
        engine.clear_cache()  # synthesis is not timed here, but keep the audio fresh all the same
        for group, items in groups.items():
            scored = []
            for name, text in items:
                audio = engine.synthesize(text)
                f = scorer.score(audio.samples, audio.sample_rate, text)
                scored.append(f)
                print(_line(name, f), flush=True)
            words = [len(f.reference.split()) for f in scored]
            pooled = sum(f.wer * w for f, w in zip(scored, words)) / sum(words)
            print(f"== {group}: {len(scored)} texts, WER pooled by words {100 * pooled:.1f}%, "
                  f"mean OVRL {np.mean([f.dnsmos_ovrl for f in scored]):.2f} / SIG "
                  f"{np.mean([f.dnsmos_sig for f in scored]):.2f} / BAK {np.mean([f.dnsmos_bak for f in scored]):.2f}, "
                  f"{sum(f.audio_s for f in scored):.1f} s of audio", flush=True)
    print(scorer.cost.line(), f"(whole run {time.perf_counter() - t0:.0f} s, synthesis included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
