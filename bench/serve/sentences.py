"""A small seeded generator of unique short sentences, the query samples of the CLI (the harness swaps in its own)."""

from __future__ import annotations

import random

_ADJ = ("silver", "narrow", "gentle", "bright", "brave", "old", "young", "distant", "curious", "patient", "quiet",
        "heavy", "quick", "careful", "golden", "hidden", "small", "proud")
_NOUN = ("window", "engineer", "letter", "forest", "harbor", "river", "garden", "village", "machine", "library",
         "teacher", "bridge", "painter", "lantern", "orchard", "sailor", "doctor", "kitten")
_VERB = ("crosses", "repairs", "measures", "follows", "remembers", "watches", "carries", "describes", "finds",
         "paints", "opens", "counts")
_TAIL = ("before noon", "after the rain", "near the station", "by the lake", "at dawn", "in the square",
         "on the hill", "behind the mill")


def sentences(n: int, seed: int = 0) -> list[str]:
    """`n` distinct sentences of about eight words (two to three seconds of speech), seeded."""
    if n < 1:
        raise ValueError(f"`n` = {n!r} is not allowed; expected an integer >= 1.")
    capacity = len(_ADJ) ** 2 * len(_NOUN) ** 2 * len(_VERB) * len(_TAIL)
    if n > capacity:
        raise ValueError(f"`n` = {n} is not allowed; expected at most {capacity} distinct sentences.")
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < n:
        s = (f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)} {rng.choice(_VERB)} the {rng.choice(_ADJ)} "
             f"{rng.choice(_NOUN)} {rng.choice(_TAIL)}.")
        seen.setdefault(s)
    return list(seen)
