"""The texts a GPU check speaks: three lengths, a 128-character input for the published GPU anchors, and many
sentences of varied length for the batch curve and the many-shapes test."""

from __future__ import annotations

SHORT = "The check begins now."
MEDIUM = (
    "A graphics card runs the text encoder, the flow and the vocoder of this voice. "
    "Each stage is timed on its own, and the audio is compared with a reference made on a processor."
)
LONG = (
    "Long passages show how the decoder scales when the number of frames grows into the thousands. "
    "The rounds rotate their order, so that no tier always runs first, or always runs last, in a round. "
    "Every ratio is taken within a round, between two engines that spoke the same words moments apart. "
    "The geometric mean of those ratios, and an interval drawn by resampling the rounds, are reported. "
    "When the interval is wide, the machine was busy, and the figure should be measured again."
)

# One sentence of exactly 128 characters: the input size of NVIDIA's FastPitch + HiFi-GAN inference table
# (see `anchors.py`), so our whole pipeline is timed on an input of the same size.
ANCHOR = ("The quiet harbour town woke slowly, as fishing boats returned with their catch and the bakery opened "
          "its doors to the first sun.")
assert len(ANCHOR) == 128

_SUBJECTS = ("The old lighthouse keeper", "A small red fox", "Our neighbour's daughter", "The orchestra",
             "A quiet engineer", "The morning train", "Seven hungry students", "The river")
_VERBS = ("watched", "carried", "painted", "remembered", "followed", "described", "counted", "found")
_OBJECTS = ("the storm over the bay", "a basket of apples", "the map of the city", "every star in the sky",
            "a letter from home", "the last song of the evening", "the path through the hills", "a bright kite")
_TAILS = ("", " before dawn", " without a single word to anyone", ", and then everyone went home to sleep",
          " while the rain kept falling on the roofs of the village", " again")


def many_sentences(n: int = 64) -> list[str]:
    """`n` distinct sentences whose lengths vary from a few words to a long clause (deterministic)."""
    out = []
    for i in range(n):
        s = _SUBJECTS[i % 8]
        v = _VERBS[(i // 8 + i) % 8]
        o = _OBJECTS[(3 * i + 1) % 8]
        tail = _TAILS[(i * 5) % len(_TAILS)]
        out.append(f"{s} {v} {o}{tail}.")
    return out


CHECK_TEXTS = {"short": SHORT, "medium": MEDIUM, "long": LONG}  # each has CPU reference audio in the bundle
