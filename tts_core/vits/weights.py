"""Weights: read a Piper ONNX voice into a PyTorch state dict, cache it as safetensors, build the model.

Most ONNX initializers already carry state-dict names. The exceptions, found by the graph node that consumes them:
- weights stored under generated names (`onnx::Conv_8168`, `sid`) -> named from the consumer
  (`/flow/flows.6/enc/in_layers.0/Conv` -> `flow.flows.6.enc.in_layers.0.weight`);
- `dp.flows.0.logs`, which the exporter folded into the constant exp(-logs) -> recovered as -log(value).
Graph constants (shapes, split sizes, `/Constant_...`) are skipped.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor

from tts_core.errors import VoiceError

from .config import VitsConfig
from .model import VitsModel

CONVERTER_VERSION = "1"  # bump when the conversion changes, to invalidate caches

_WEIGHT_INPUT = {"Conv": 1, "ConvTranspose": 1, "Gather": 0}  # op type -> position of its weight input
_FOLDED_EXP_NEG = {"/dp/flows.0/Exp_output_0": "dp.flows.0.logs"}  # initializer holding exp(-param)


def _module_path(node_name: str) -> str | None:
    """'/flow/flows.6/enc/in_layers.0/Conv' -> 'flow.flows.6.enc.in_layers.0'; None for unscoped nodes."""
    parts = node_name.strip("/").split("/")[:-1]
    return ".".join(parts) if parts else None


def onnx_state_dict(onnx_path: str | os.PathLike) -> dict[str, Tensor]:
    """All model weights in a Piper VITS `.onnx` file, under PyTorch state-dict names (float32, CPU).

    Checks that they fill every parameter of the architecture their shapes describe; raises `VoiceError` otherwise.
    """
    import onnx
    from onnx import numpy_helper

    path = Path(onnx_path)
    if not path.is_file():
        raise VoiceError(f"Voice model file not found: {path}; check the voice installation.")
    try:
        graph = onnx.load(str(path)).graph
    except Exception as e:  # onnx raises DecodeError and others on a broken file
        raise VoiceError(f"Cannot read the ONNX voice {path} ({e}); the file may be truncated, download it again.") from e

    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    state: dict[str, Tensor] = {}
    for init in graph.initializer:
        name = init.name
        key: str | None = None
        if name in _FOLDED_EXP_NEG:
            key = _FOLDED_EXP_NEG[name]
        elif name.split(".")[0] in ("enc_p", "dp", "flow", "dec"):
            key = name
        elif not name.startswith("/"):
            # a weight under a generated name: the node that consumes it as its weight names the module
            for node in consumers.get(name, []):
                module = _module_path(node.name)
                if module and list(node.input).index(name) == _WEIGHT_INPUT.get(node.op_type):
                    key = f"{module}.weight"
                    break
        if key is None:
            continue  # a graph constant
        array = numpy_helper.to_array(init).copy()
        tensor = torch.from_numpy(array).float()
        if name in _FOLDED_EXP_NEG:
            tensor = -torch.log(tensor)
        if key in state:
            raise VoiceError(f"Two ONNX initializers map to the weight `{key}`; the voice file has an unexpected layout.")
        state[key] = tensor.contiguous()
    check_state_dict(_meta_model(VitsConfig.from_voice({}, state)), state)
    return state


def file_key(path: str | os.PathLike) -> str:
    """sha256 (hex) of the file's bytes and the converter version: the cache key of its converted weights."""
    h = hashlib.sha256(CONVERTER_VERSION.encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_atomic(state: dict[str, Tensor], target: Path) -> None:
    from safetensors.torch import save_file

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp, metadata={"converter_version": CONVERTER_VERSION})
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_weights(
    onnx_path: str | os.PathLike, cache_dir: Path | None, use_cache: bool = True
) -> tuple[dict[str, Tensor], dict]:
    """State dict of a voice, from the safetensors cache when valid, else converted from the ONNX file.

    Cache files are `cache_dir/<stem>-<key>.safetensors` (key: `file_key`), written atomically and loaded
    memory-mapped; a corrupt one is deleted and rebuilt. Returns (state_dict, info) with info =
    {"source": "onnx" | "cache", "seconds": wall time of the load (s), "cache_path": str | None, "key": str}.
    """
    from safetensors.torch import load_file

    start = time.perf_counter()
    path = Path(onnx_path)
    if not path.is_file():
        raise VoiceError(f"Voice model file not found: {path}; check the voice installation.")
    key = file_key(path)
    cache_path = Path(cache_dir) / f"{path.stem}-{key}.safetensors" if (use_cache and cache_dir is not None) else None

    if cache_path is not None and cache_path.is_file():
        try:
            state = load_file(str(cache_path))
            info = {"source": "cache", "seconds": time.perf_counter() - start, "cache_path": str(cache_path), "key": key}
            return state, info
        except Exception:  # truncated or foreign file: drop it and convert again
            cache_path.unlink(missing_ok=True)

    state = onnx_state_dict(path)
    if cache_path is not None:
        _write_atomic(state, cache_path)
    seconds = time.perf_counter() - start
    info = {"source": "onnx", "seconds": seconds, "cache_path": str(cache_path) if cache_path else None, "key": key}
    return state, info


def _meta_model(config: VitsConfig) -> VitsModel:
    with torch.device("meta"):  # shapes only: no memory, no random init of parameters overwritten anyway
        return VitsModel(config)


def check_state_dict(model: VitsModel, state_dict: Mapping[str, Tensor]) -> None:
    """Raise `VoiceError` naming the first missing, misshapen or unused tensor of `state_dict` for `model`."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    if missing:
        raise VoiceError(
            f"The voice weights lack {len(missing)} tensors, first `{missing[0]}`; "
            "the file is not a compatible Piper VITS voice."
        )
    for name, tensor in expected.items():
        if tuple(state_dict[name].shape) != tuple(tensor.shape):
            raise VoiceError(
                f"Weight `{name}` has shape {tuple(state_dict[name].shape)}, the model expects {tuple(tensor.shape)}; "
                "the voice does not match this config."
            )
    unexpected = sorted(set(state_dict) - set(expected))
    if unexpected:
        raise VoiceError(
            f"The voice weights hold {len(unexpected)} tensors the model does not use, first `{unexpected[0]}`; "
            "the voice does not match this config."
        )


def build_model(config: VitsConfig, state_dict: Mapping[str, Tensor]) -> VitsModel:
    """A `VitsModel` in eval mode whose parameters are the tensors of `state_dict` (checked, strict, no copy)."""
    model = _meta_model(config)
    check_state_dict(model, state_dict)
    model.load_state_dict(state_dict, strict=True, assign=True)
    return model.eval()
