"""`Engine`: the public face of tts_core. Text in, audio out, as a stream or whole.

    engine = Engine.load(voice="joe-medium", device="cpu", tier="optimized")
    for chunk in engine.stream("Hello there. How are you?"):
        play(chunk.samples)

The pipeline reads as its stages: normalize -> phonemize -> ids (the text front-end) -> model -> audio
(the renderer). `stream` is the primitive; `synthesize` concatenates it; `synthesize_batch` groups the
sentences of many texts into length-bucketed batches.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from os import PathLike
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
import torch

from tts_core.audio import Audio
from tts_core.constants import DEFAULT_MAX_TEXT_CHARS, ENV_MAX_TEXT_CHARS, env_float
from tts_core.errors import TextError
from tts_core.flags import flag_scope
from tts_core.render import sentence_generator
from tts_core.setup import EngineParts, build_parts
from tts_core.synthesis import SynthesisConfig
from tts_core.voices import LoadedVoice
from tts_core.text import Sentence
from tts_core.tiers import TierConfig
from tts_core.tiers.build import load_plan, make_renderer, stream_plan

log = logging.getLogger("tts_core")

WARMUP_TEXTS = ("Warming up the voice.", "A second, somewhat longer sentence warms up larger shapes too.")
_REGISTRY: dict[tuple[str, str, str, int | None], "Engine"] = {}
_REGISTRY_LOCK = threading.Lock()
_LOAD_LOCKS: dict[tuple[str, str, str, int | None], threading.Lock] = {}


class Engine:
    """A loaded voice on a device under a tier. Build it with `Engine.load`; thread-safe (calls are serialized)."""

    def __init__(self, parts: EngineParts, seed: int | None) -> None:
        self._parts = parts
        self.voice = parts.voice
        self.tier: TierConfig = parts.tier
        self.device = str(parts.device)
        self.sample_rate: int = parts.voice.sample_rate
        self.seed = seed
        self.load_info: dict[str, Any] = dict(parts.load_info)
        self._renderer = make_renderer(parts.model, parts.device, parts.tier, pool=parts.pool)
        self._plan = stream_plan(parts.tier)
        self._lock = threading.RLock()
        self._closed = False
        self._n_calls = 0
        self._busy_s = 0.0
        self._audio_s = 0.0

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        voice: str = "joe-medium",
        device: str = "cpu",
        tier: str | TierConfig = "baseline",
        seed: int | None = 0,
    ) -> "Engine":
        """Load `voice` ("joe-medium" or "tiny") on `device` ("cpu", "cuda", "cuda:N", "auto") under `tier`
        (a name such as "baseline", "optimized", "advanced", an ablation such as "baseline+compile", or a
        `TierConfig`). `seed` makes sampling reproducible (same text, same seed, same samples); None draws
        fresh noise each call. Raises `VoiceError` / `ConfigError` for a bad name, device or tier."""
        from tts_core.tiers import resolve_tier

        tier_cfg = resolve_tier(tier)
        if not load_plan(tier_cfg).reuse_loaded:
            return cls._build(voice, device, tier_cfg, seed)
        key = (voice, device, tier_cfg.name, seed)
        with _REGISTRY_LOCK:
            load_lock = _LOAD_LOCKS.setdefault(key, threading.Lock())
        with load_lock:  # concurrent loads of one key build one engine
            with _REGISTRY_LOCK:
                cached = _REGISTRY.get(key)
            if cached is not None and not cached._closed:
                cached.load_info = dict(cached.load_info, source="registry", seconds=0.0)
                log.info("engine %s/%s/%s reused from the in-process registry", voice, device, tier_cfg.name)
                return cached
            engine = cls._build(voice, device, tier_cfg, seed)
            with _REGISTRY_LOCK:
                _REGISTRY[key] = engine
            return engine

    @classmethod
    def from_voice(
        cls, voice: LoadedVoice, device: str = "cpu", tier: str | TierConfig = "baseline", seed: int | None = 0,
        frontend: Any = None, calibration_budget_s: float | None = None,
    ) -> "Engine":
        """Like `load`, for a voice already in memory (weights carried elsewhere, no registry). `frontend`,
        when given, replaces the espeak front-end: anything whose `sentences(text)` yields `Sentence`s.
        `calibration_budget_s`: seconds the calibration of "auto" switches may spend measuring (None: its own
        bound, `tts_core.calibrate.measure.BUDGET_S`)."""
        from tts_core.tiers import resolve_tier

        return cls._build(voice, device, resolve_tier(tier), seed, frontend, calibration_budget_s)

    @classmethod
    def _build(
        cls, voice: str | LoadedVoice, device: str, tier_cfg: TierConfig, seed: int | None, frontend: Any = None,
        calibration_budget_s: float | None = None,
    ) -> "Engine":
        t0 = time.perf_counter()
        parts = build_parts(voice, device, tier_cfg, seed, frontend, worker_factory=worker_engine,
                            calibration_budget_s=calibration_budget_s)
        engine = cls(parts, seed)
        engine._warmup(load_plan(tier_cfg).warmup_runs)
        parts.housekeeper.mark_rss_floor()
        engine.load_info["total_seconds"] = time.perf_counter() - t0
        log.info(
            "loaded voice %s on %s, tier %s, in %.2f s (weights from %s)",
            engine.voice.name, engine.device, tier_cfg.name, engine.load_info["total_seconds"], parts.load_info.get("source"),
        )
        return engine

    def _warmup(self, runs: int) -> None:
        if runs <= 0:
            return
        t0 = time.perf_counter()
        with flag_scope(self.tier, self._parts.device):
            for _ in range(runs):
                for text in WARMUP_TEXTS:
                    self._render_batch([s.ids for s in self._parts.frontend.sentences(text)], self._settings())
        self.load_info["warmup_seconds"] = time.perf_counter() - t0

    # ---- text -> ids --------------------------------------------------------------------------
    def _check_text(self, text: str) -> str:
        if not isinstance(text, str):
            raise TextError(f"text must be a str, got {type(text).__name__}; decode bytes with .decode('utf-8').")
        limit = int(env_float(ENV_MAX_TEXT_CHARS, DEFAULT_MAX_TEXT_CHARS))
        if len(text) > limit:
            raise TextError(
                f"text has {len(text):,} characters, more than the {limit:,} accepted in one call; "
                f"stream it from a file (Engine.stream_file / --file) or raise {ENV_MAX_TEXT_CHARS}."
            )
        return text

    def sentences(self, text: str) -> Iterator[Sentence]:
        """Lazily normalize, split and phonemize `text`; raises `TextError` if nothing is speakable."""
        return self._parts.frontend.sentences(self._check_text(text))

    def text_to_ids(self, text: str) -> list[list[int]]:
        """Phoneme ids, one list per sentence, in Piper's layout (BOS, phoneme + pad ..., EOS)."""
        return [s.ids for s in self.sentences(text)]

    # ---- ids -> audio -------------------------------------------------------------------------
    def _settings(self, config: SynthesisConfig | None = None, **scales: float | None) -> SynthesisConfig:
        """`config` with the keyword settings on top, every None replaced by the voice's default."""
        v = self.voice
        return SynthesisConfig.of(config, **scales).resolved(SynthesisConfig(v.noise_scale, v.length_scale, v.noise_w))

    def _cache_key(self, ids: Sequence[int], scales: SynthesisConfig) -> str | None:
        cache = self._parts.cache
        deterministic = self.seed is not None or (scales.noise_scale == 0 and scales.noise_w == 0)
        if cache is None or not deterministic:
            return None
        return cache.key(
            self.voice.name, self.voice.weights_key, " ".join(map(str, ids)), vars(scales), self.seed, self.tier.precision
        )

    def _render_batch(self, batch: list[list[int]], scales: SynthesisConfig) -> list[np.ndarray]:
        """Audio for each id sequence: cache hits first, the rest rendered in length-bucketed batches."""
        cache = self._parts.cache
        keys = [self._cache_key(ids, scales) for ids in batch]  # None where caching is off
        out: list[np.ndarray | None] = [cache.get(k) if k else None for k in keys]
        todo = [i for i, a in enumerate(out) if a is None]
        if todo:
            self._parts.housekeeper.check_memory(sum(len(batch[i]) for i in todo))
            dev = self._parts.device

            def run(indices: list[int]) -> list[np.ndarray]:
                gens = [sentence_generator(self.seed, batch[i], dev) for i in indices]
                return self._renderer.render([batch[i] for i in indices], scales, gens)

            for i, audio in zip(todo, self._parts.batcher.run(run, todo, [len(batch[i]) for i in todo])):
                out[i] = audio
                if keys[i]:
                    cache.put(keys[i], audio, self.sample_rate)
        return out  # type: ignore[return-value]

    def ids_to_audio(self, ids: list[int], config: SynthesisConfig | None = None, **scales: float | None) -> Audio:
        """Audio for one id sequence, with `config`'s settings (None: the voice's defaults; the settings may also
        be given by keyword: `noise_scale=0, noise_w=0` is deterministic)."""
        if not ids or any((not isinstance(i, int)) or i < 0 for i in ids):
            raise ValueError("ids must be a non-empty list of non-negative ints (see Engine.text_to_ids).")
        n_vocab = int(self._parts.model.config.n_vocab)
        if max(ids) >= n_vocab:
            raise ValueError(f"id {max(ids)} is outside this voice's range 0..{n_vocab - 1}.")
        with self._call():
            samples = self._render_batch([list(ids)], self._settings(config, **scales))[0]
        return self._account(Audio(samples, self.sample_rate))

    # ---- text -> audio ------------------------------------------------------------------------
    def stream(self, text: str | Iterable[str], config: SynthesisConfig | None = None,
               **scales: float | None) -> Iterator[Audio]:
        """Audio chunks as soon as each is ready: one per sentence; when the tier streams, the first
        sentence comes in sub-sentence chunks (fast first audio). Text is read lazily, so memory stays
        bounded for any length. `config` (or its settings by keyword): as `ids_to_audio`."""
        settings = self._settings(config, **scales)
        source = self.sentences(text) if isinstance(text, str) else self._parts.frontend.sentences(text)
        return self._stream(source, settings, chunked=self._plan.chunked)

    def stream_file(self, path: str | PathLike[str], config: SynthesisConfig | None = None,
                    **scales: float | None) -> Iterator[Audio]:
        """Like `stream`, reading a UTF-8 text file lazily. Raises `InputFileError` for a bad file."""
        return self._stream(self._parts.frontend.sentences_from_file(Path(path)), self._settings(config, **scales),
                            chunked=self._plan.chunked)

    def _stream(self, sentences: Iterator[Sentence], scales: SynthesisConfig, chunked: bool) -> Iterator[Audio]:
        """Sentences -> audio. When the tier batches, groups grow 1, 2, 4 ... up to the batcher's largest batch, so
        the first sentence comes out as soon as it is ready and later ones are batched for throughput."""
        largest = self._parts.batcher.limit
        group, pending = 1, []

        def flush() -> Iterator[Audio]:
            with self._call():
                audios = self._render_batch([s.ids for s in pending], scales)
            for s, samples in zip(pending, audios):
                yield self._account(Audio(samples, self.sample_rate, s.text))
            self._parts.housekeeper.note_audio(sum(len(a) for a in audios) / self.sample_rate)
            pending.clear()

        for sentence in sentences:
            if chunked:
                # Only the first sentence is cut into chunks: that is where the wait is. Later sentences
                # render whole, in about RTF x their length, long before the audio ahead of them ends.
                yield from self._stream_sentence(sentence, scales)
                chunked = False
                continue
            pending.append(sentence)
            if len(pending) >= group:
                yield from flush()
                group = min(largest, group * 2)
        if pending:
            yield from flush()

    def _stream_sentence(self, sentence: Sentence, scales: SynthesisConfig) -> Iterator[Audio]:
        """Sub-sentence chunks of one sentence, as the stream plan cuts them; a cache hit comes out whole, a miss
        is cached whole."""
        cache, key = self._parts.cache, self._cache_key(sentence.ids, scales)
        hit = cache.get(key) if key else None
        if hit is not None:
            yield self._account(Audio(hit, self.sample_rate, sentence.text))
            return
        parts = []
        gen = sentence_generator(self.seed, sentence.ids, self._parts.device)
        chunks = self._renderer.stream(sentence.ids, scales, gen, self._plan)
        while True:
            with self._call():
                samples = next(chunks, None)
            if samples is None:
                break
            parts.append(samples)
            yield self._account(Audio(samples, self.sample_rate, sentence.text))
        if key and parts:
            cache.put(key, np.concatenate(parts), self.sample_rate)
        self._parts.housekeeper.note_audio(sum(len(p) for p in parts) / self.sample_rate)

    def synthesize(self, text: str, config: SynthesisConfig | None = None, **scales: float | None) -> Audio:
        """The whole utterance: the sentence stream, concatenated (batched when the tier batches). `config` (or its
        settings by keyword): as `ids_to_audio`."""
        chunks = self._stream(self.sentences(text), self._settings(config, **scales), chunked=False)
        return Audio.concat(chunks, self.sample_rate)

    def synthesize_batch(self, texts: Sequence[str], config: SynthesisConfig | None = None,
                         **scales: float | None) -> list[Audio]:
        """One `Audio` per text; the sentences of all texts are batched together by length."""
        texts = list(texts)
        params = SynthesisConfig.of(config, **scales)
        if self._parts.worker_pool is not None and len(texts) > 1:
            return self._parts.worker_pool.map("_synthesize_item", [(t, params) for t in texts])
        params = self._settings(params)
        owners, ids = [], []
        for t, text in enumerate(texts):
            for s in self.sentences(text):
                owners.append(t)
                ids.append(s.ids)
        with self._call():
            audios = self._render_batch(ids, params)
        per_text: list[list[np.ndarray]] = [[] for _ in texts]
        for t, a in zip(owners, audios):
            per_text[t].append(a)
        self._parts.housekeeper.note_audio(sum(len(a) for a in audios) / self.sample_rate)
        return [self._account(Audio(np.concatenate(p), self.sample_rate, texts[t])) for t, p in enumerate(per_text)]

    def _synthesize_item(self, item: tuple[str, SynthesisConfig]) -> Audio:
        """`synthesize(text, config)` for a worker process (items travel as one picklable tuple)."""
        text, config = item
        return self.synthesize(text, config)

    # ---- measurement hooks --------------------------------------------------------------------
    def profile_stages(self, text: str, config: SynthesisConfig | None = None,
                       **scales: float | None) -> dict[str, float]:
        """Seconds spent per stage for one synthesis of `text`: frontend (normalize + phonemize),
        encoder (text encoder + durations + prior), flow, decoder; and `audio_s`, the seconds of audio that
        synthesis made (so a stage's seconds per audio second come from the same run). Synchronizes CUDA at
        each boundary. Bypasses the audio cache."""
        params = self._settings(config, **scales)
        t0 = time.perf_counter()
        sentences = list(self.sentences(text))
        timings = {"frontend": time.perf_counter() - t0}
        samples = 0
        with self._call():
            self._renderer.timings = timings
            try:
                for s in sentences:
                    audio = self._renderer.render([s.ids], params,
                                                  [sentence_generator(self.seed, s.ids, self._parts.device)])
                    samples += sum(len(a) for a in audio)
            finally:
                self._renderer.timings = None
        return {**{k: timings.get(k, 0.0) for k in ("frontend", "encoder", "flow", "decoder")},
                "audio_s": samples / self.sample_rate}

    @property
    def model(self) -> torch.nn.Module:
        """The underlying `VitsModel` (for FLOP counting and inspection)."""
        return self._parts.model

    # ---- bookkeeping --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _call(self) -> Iterator[None]:
        """Serialize a call: take the lock, refuse if the engine was closed meanwhile, and run under this
        tier's threads and CUDA flags (restored afterwards, so engines in one process do not leak flags)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this Engine is closed; load a new one with Engine.load(...).")
            t0 = time.perf_counter()
            try:
                with flag_scope(self.tier, self._parts.device):
                    yield
            finally:
                self._busy_s += time.perf_counter() - t0
                self._n_calls += 1

    def _account(self, audio: Audio) -> Audio:
        with self._lock:
            self._audio_s += audio.duration
        return audio

    def stats(self) -> dict[str, Any]:
        """Counters since load: calls, audio seconds, busy seconds, cache and pool statistics, device, tier,
        and the calibration choices of "auto" switches."""
        parts = self._parts
        return {
            "voice": self.voice.name,
            "device": self.device,
            "tier": self.tier.name,
            "calls": self._n_calls,
            "audio_s": self._audio_s,
            "busy_s": self._busy_s,
            "mean_call_s": self._busy_s / self._n_calls if self._n_calls else None,
            "rtf": self._busy_s / self._audio_s if self._audio_s else None,
            "audio_cache": parts.cache.stats() if parts.cache is not None else None,
            "memory_pool": parts.pool.stats() if parts.pool is not None else None,
            "batching": parts.batcher.stats(),
            "calibration": parts.calibration,
            "not_applicable": [note.to_dict() for note in parts.not_applicable],
            "housekeeping": parts.housekeeper.stats(),
            "load": self.load_info,
        }

    @property
    def pending_housekeeping(self) -> bool:
        """True when the tier housekeeps and enough audio (30 s) was made since the last run."""
        return self._parts.housekeeper.pending

    def housekeep(self, force: bool = False) -> dict[str, Any] | None:
        """Release memory (gc, heap trim, CUDA cache) if housekeeping is pending, or always when `force`.

        Calls never do this themselves, so no measured call pays for it: a harness calls `housekeep()`
        between rounds, a server between requests. Returns the run's record (`at_s` seconds since load,
        `seconds` it took, RSS/CUDA MB before and after) or None when nothing was pending; every run is
        counted in `stats()["housekeeping"]`."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this Engine is closed; load a new one with Engine.load(...).")
            return self._parts.housekeeper.run(force)

    def clear_cache(self) -> None:
        """Empty the audio cache (memory and disk) and the buffer pool."""
        if self._parts.cache is not None:
            self._parts.cache.clear()
        if self._parts.pool is not None:
            self._parts.pool.clear()

    def close(self) -> None:
        """Release the model, worker processes and caches; later calls raise. Safe to call twice."""
        if self._closed:
            return
        with self._lock:
            self._closed = True
            with _REGISTRY_LOCK:
                for k, v in list(_REGISTRY.items()):
                    if v is self:
                        del _REGISTRY[k]
            self._parts.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Engine(voice={self.voice.name!r}, device={self.device!r}, tier={self.tier.name!r})"


def worker_engine(**kwargs: Any) -> Engine:
    """The engine each worker process of a tier with `workers` > 1 holds: `Engine.load(**kwargs)` there
    (picklable: a module-level function, handed to `build_parts`)."""
    return Engine.load(**kwargs)
