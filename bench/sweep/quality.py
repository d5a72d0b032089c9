"""Heard quality of the paired rounds: which rounds keep their audio (`RoundAudio`, the rounds' `round_args`) and,
once every worker is closed, the ASR + DNSMOS pass over that audio (`quality_pass`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bench.measure.rounds import RoundsResult
from bench.measure.rows import ALL
from bench.results.store import read_records
from bench.sweep.config import BenchConfig
from bench.sweep.plan import Group, RunPaths, fidelity_reference, safe_name

log = logging.getLogger("bench.sweep")


class RoundAudio:
    """The rounds' `round_args`: the rounds the heard-quality pass scores (`bench.quality.selection`: the first
    `measure.quality_texts_per_class` of each class, then more until 200 words) write each contender's audio
    to <out_dir>/audio/<contender>/r<NNN>.wav after its clock stopped. Rounds of a resumed group count where
    every contender's audio is still on disk; a round set aside gives its place back (`forget`). No arguments
    when the pass is off."""

    def __init__(self, cfg: BenchConfig, group: Group, paths: RunPaths, rounds_file: Path) -> None:
        from bench.quality.selection import AudioSelection

        self.out_dir = paths.out_dir
        self.selection = AudioSelection(list(group.classes), cfg.measure.quality_texts_per_class) if (
            cfg.measure.quality) else None
        for rd in read_records(rounds_file) if rounds_file.exists() and self.selection else []:
            if rd.get("kind") == "round" and not rd.get("set_aside"):
                files = [(res or {}).get("audio_file") for res in rd["results"].values()]
                self.selection.prime(rd["r"], rd["text_class"], rd["text"], bool(files) and all(
                    f and Path(f).is_file() for f in files))

    def __call__(self, r: int, text_class: str, text: str, name: str) -> dict[str, Any]:
        if self.selection is None or not self.selection.keep(r, text_class, text):
            return {}
        return {"audio_path": str(self.out_dir / "audio" / safe_name(name) / f"r{r:03d}.wav")}

    def forget(self, r: int, text_class: str, text: str) -> None:
        """Round r was set aside: its audio leaves the quality pass's selection and the disk."""
        if self.selection is not None:
            self.selection.forget(r, text_class, text)
            for wav in self.out_dir.glob(f"audio/*/r{r:03d}.wav"):
                wav.unlink(missing_ok=True)


def quality_pass(group: Group, result: RoundsResult, paths: RunPaths, per_class: int = 0) -> None:
    """Heard quality (ASR round trip, DNSMOS) of the audio the timed rounds stored, each contender on the same
    texts as its reference (our tiers: the engine's fp32 baseline on the same hardware; peers: our baseline),
    paired by round, with intervals over the texts and the gate on them (`bench.quality.paired`). Runs after
    every worker closed; scores are cached by audio hash. Sets each contender's `quality`: text class -> fields.
    A set short of `per_class` texts per class or of the words planned (the rounds stopped first, or a resumed
    group lost audio) is scored all the same, with a warning."""
    from bench.quality import QualityConfig, open_scorer
    from bench.quality.paired import contender_fields, score_texts, stored_texts, write_transcripts
    from bench.quality.selection import MIN_WORDS, words

    scorer = open_scorer(QualityConfig(cache_dir=str(paths.cache_dir / "quality")), note=log.warning)
    if scorer is None:
        return
    stored = {c.name: stored_texts(result.rounds, c.name) for c in group.contenders}
    log.info("quality pass (ASR + DNSMOS) over the rounds' stored audio: %s",
             ", ".join(f"{name} {len(texts)} texts" for name, texts in stored.items()))
    scored = {name: score_texts(scorer, texts) for name, texts in stored.items() if texts}
    for texts in scored.values():
        write_transcripts(texts)
    cost = scorer.cost.figures()
    for c in group.contenders:
        if c.name not in scored:
            continue
        ref = c.reference if c.peer else fidelity_reference(c, group)
        fields = contender_fields(scored[c.name], scored.get(ref or "", {}) if ref and ref != c.name else None, ALL)
        note = {}
        if c.peer and c.describe.get("comparable_quality") is False:  # espeak-ng: a formant voice
            note["extra_quality_note"] = "peer of another voice: its deltas against our baseline inform, gate nothing"
        c.quality = {k: dict(v, extra_quality_reference=ref if ref != c.name else None, extra_quality_cost=cost, **note)
                     for k, v in fields.items()}
        pooled = fields.get(ALL, {})
        counts = [sum(1 for t in stored[c.name] if t.text_class == k) for k in group.classes]
        if min(counts) < per_class or sum(words(t.text) for t in stored[c.name]) < MIN_WORDS:
            log.warning("quality %s: fewer texts than planned (%s per class, %d words; planned %d per class and "
                        "%d words): the rounds stopped first, or a resumed group lost their audio", c.name,
                        "/".join(map(str, counts)), sum(words(t.text) for t in stored[c.name]), per_class, MIN_WORDS)
        log.info("quality %s: %d texts, %d words, WER %.1f%%, OVRL %.2f%s", c.name, pooled.get("quality_texts", 0),
                 pooled.get("quality_words", 0), 100 * pooled.get("wer", 0.0), pooled.get("dnsmos_ovrl", 0.0),
                 f", vs {ref}: {pooled.get('quality_verdict')}" if pooled.get("quality_verdict") else "")
    log.info("%s", scorer.cost.line())

