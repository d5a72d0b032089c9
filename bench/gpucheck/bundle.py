"""The bundle a GPU check carries: ids, fp16-rounded weights, config, CPU fp32 reference audio, manifest.

Weights are stored in fp16 (31 MB for the joe voice instead of 62.6 MB in fp32) so the bundle stays under
60 MB. The CPU reference is computed from those same rounded weights upcast to fp32, and the GPU loads
them the same way, so the oracle compares like with like: both sides run identical fp32 weights.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from bench.gpucheck.texts import ANCHOR, CHECK_TEXTS, many_sentences

FORMAT_VERSION = 2  # 2: the 128-character anchor text
WEIGHTS_FILE = "weights_fp16.safetensors"
REFERENCE_FILE = "reference_cpu_fp32.npz"
MANIFEST_FILE = "manifest.json"
MAX_BUNDLE_MB = 60.0


class BundleError(ValueError):
    """A bundle folder is missing, incomplete or of another format."""


@dataclass(frozen=True)
class Bundle:
    """A loaded bundle: `texts` maps each text to its sentences' (text, ids); `references` maps
    "<name>/<sentence index>" to CPU fp32 audio (float32, noise zeroed)."""

    root: Path
    manifest: dict[str, Any]
    texts: dict[str, list[tuple[str, list[int]]]]
    references: dict[str, np.ndarray]

    @property
    def sample_rate(self) -> int:
        return int(self.manifest["voice"]["sample_rate"])

    def ids(self, name: str) -> list[list[int]]:
        """Ids per sentence of a check text ("short", "medium", "long") or a many-sentences entry."""
        return [ids for _, ids in self.texts[self.manifest["names"][name]]]

    def many(self) -> list[list[int]]:
        """Ids of the many varied sentences, one sentence each."""
        return [self.texts[t][0][1] for t in self.manifest["many"]]

    def load_voice(self, seed: int = 0):
        """The voice as a `tts_core.voices.LoadedVoice`, weights upcast to fp32 on the CPU."""
        return _voice_from(self.manifest["voice"], _load_weights(self.root / WEIGHTS_FILE))

    def frontend(self) -> "BundleFrontend":
        return BundleFrontend(self.texts)


class BundleFrontend:
    """A front-end that serves the bundle's phonemized texts (no espeak on the GPU machine)."""

    def __init__(self, texts: dict[str, list[tuple[str, list[int]]]]) -> None:
        self.texts = texts

    def sentences(self, text: str | Iterable[str]) -> Iterator[Any]:
        from tts_core.text import Sentence

        for part in [text] if isinstance(text, str) else text:
            if part not in self.texts:
                raise BundleError(f"`text` {part[:40]!r} was not phonemized into this bundle; expected one of "
                                  f"its {len(self.texts)} texts (run `prepare` again to add texts).")
            for sentence, ids in self.texts[part]:
                yield Sentence(sentence, [], list(ids))


def _load_weights(path: Path) -> dict:
    from safetensors.torch import load_file

    return {k: v.float() for k, v in load_file(str(path)).items()}


def _voice_from(meta: dict[str, Any], state: dict):
    from tts_core.vits import VitsConfig, build_model
    from tts_core.voices import LoadedVoice

    fields = {f.name: f for f in dataclasses.fields(VitsConfig)}
    cfg = {k: (tuple(tuple(x) if isinstance(x, list) else x for x in v) if isinstance(v, list) else v)
           for k, v in meta["config"].items() if k in fields}
    config = VitsConfig(**cfg)
    return LoadedVoice(
        name=meta["name"], model=build_model(config, state), phoneme_id_map={}, espeak_voice="",
        sample_rate=int(meta["sample_rate"]), noise_scale=config.noise_scale, length_scale=config.length_scale,
        noise_w=config.noise_w, weights_key=meta["weights_key"], load_info={"source": "bundle"},
    )


def _all_texts() -> dict[str, str]:
    """Every text the run speaks, by name: the check texts, the anchor text, the many sentences, and the engine's own
    warmup and calibration texts (so tiers that warm up or calibrate find their ids)."""
    from tts_core.engine import WARMUP_TEXTS
    from tts_core.calibrate import measure as calibrate
    from tts_core.tiers import int8

    texts = dict(CHECK_TEXTS)
    texts["anchor"] = ANCHOR
    texts.update({f"many{i:02d}": s for i, s in enumerate(many_sentences())})
    texts.update({f"warmup{i}": t for i, t in enumerate(WARMUP_TEXTS)})
    texts.update({"calibration": calibrate.TEXT, "calibration_probe": calibrate.PROBE})
    texts.update({f"calibration_round{i}": t for i, t in enumerate(calibrate.ROUND_TEXTS)})
    texts.update({f"calibration_fresh{i}": t for i, t in enumerate(calibrate.FRESH_TEXTS)})
    texts["int8_ranges"] = int8.RANGE_TEXT  # static int8's input ranges (calibration and engine load)
    return texts


def prepare(out_dir: str | Path, voice: str = "joe-medium") -> dict[str, Any]:
    """Write a bundle for `voice` into `out_dir`; returns the manifest (with `bundle_mb`).

    Needs the voice and espeak-ng (this machine's front-end). Raises `BundleError` above MAX_BUNDLE_MB."""
    import torch
    from safetensors.torch import save_file

    from tts_core import Engine
    from tts_core.vits import VitsConfig  # noqa: F401  (the config type written below)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with Engine.load(voice=voice, device="cpu", tier="baseline") as cpu:
        named = _all_texts()
        texts = {t: [(s.text, s.ids) for s in cpu.sentences(t)] for t in named.values()}
        state = {k: v.detach().to(torch.float16).contiguous() for k, v in cpu.model.state_dict().items()}
        meta = {"name": voice, "sample_rate": cpu.sample_rate, "weights_key": f"{cpu.voice.weights_key}-fp16",
                "config": dataclasses.asdict(cpu.model.config)}
    save_file(state, str(out / WEIGHTS_FILE))
    rounded = _voice_from(meta, {k: v.float() for k, v in state.items()})
    refs: dict[str, np.ndarray] = {}
    with Engine.from_voice(rounded, "cpu", "baseline", frontend=BundleFrontend(texts)) as ref:
        for name in CHECK_TEXTS:
            for i, (_, ids) in enumerate(texts[named[name]]):
                refs[f"{name}/{i}"] = ref.ids_to_audio(ids, noise_scale=0.0, noise_w=0.0).samples
    np.savez_compressed(out / REFERENCE_FILE, **refs)
    manifest = {
        "format": FORMAT_VERSION, "voice": meta, "names": named, "many": [named[f"many{i:02d}"] for i in range(64)],
        "texts": texts, "reference": {"file": REFERENCE_FILE, "noise_scale": 0.0, "noise_w": 0.0,
                                      "weights": "fp16-rounded, upcast to fp32", "device": "cpu"},
        "weights": {"file": WEIGHTS_FILE, "dtype": "float16", "params": int(sum(v.numel() for v in state.values()))},
        "torch": torch.__version__, "prepare_seconds": round(time.perf_counter() - t0, 2),
    }
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1))
    size_mb = sum(p.stat().st_size for p in out.iterdir() if p.is_file()) / 2**20
    if size_mb > MAX_BUNDLE_MB:
        raise BundleError(f"bundle {out} is {size_mb:.1f} MB, more than {MAX_BUNDLE_MB:g} MB a run may carry.")
    return dict(manifest, bundle_mb=round(size_mb, 2))


def load(root: str | Path) -> Bundle:
    """Read a bundle written by `prepare`; raises `BundleError` naming what is missing."""
    root = Path(root)
    for name in (MANIFEST_FILE, WEIGHTS_FILE, REFERENCE_FILE):
        if not (root / name).is_file():
            raise BundleError(f"bundle `{root}` lacks {name}; run `python -m bench.gpucheck prepare {root}` first.")
    manifest = json.loads((root / MANIFEST_FILE).read_text())
    if manifest.get("format") != FORMAT_VERSION:
        raise BundleError(f"bundle `format` = {manifest.get('format')!r}; expected {FORMAT_VERSION} (prepare again).")
    texts = {t: [(s, list(ids)) for s, ids in v] for t, v in manifest["texts"].items()}
    with np.load(root / REFERENCE_FILE) as refs:
        references = {k: refs[k] for k in refs.files}
    return Bundle(root, manifest, texts, references)
