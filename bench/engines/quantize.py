"""An onnxruntime dynamic INT8 copy of an ONNX voice, made once and cached on disk.

`onnxruntime.quantization.quantize_dynamic` stores weights as int8 and quantizes activations on the
fly. It is often described as touching only MatMul/Gather-style ops; on this voice it also turns every
`Conv` it may touch into `ConvInteger` behind a `DynamicQuantizeLinear` (60 of the 129 Conv here: flow
and decoder). The attention `MatMul`s multiply two activations and stay fp32, and so do the three
`ConvTranspose` upsamplers. The text encoder (`/enc_p/`, embedding `Gather` included) and duration
predictor (`/dp/`) are kept fp32: durations go through `ceil`, and any drift there changes the frame
count, after which no waveform comparison holds (quantizing everything did change it here).
Reports from other projects found dynamic INT8 makes VITS slower, not faster; so did we (docs/engines.md).
"""

from __future__ import annotations

import collections
import hashlib
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

KEEP_FP32_PREFIXES = ("/enc_p/", "/dp/")  # ONNX node-name prefixes left in fp32 (see module docstring)
_HASH_CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of the file at `path`."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_HASH_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def int8_path(source: Path, cache_root: Path) -> Path:
    """Where the INT8 copy of `source` lives: `<cache_root>/<stem>.int8-<first 16 hex of its SHA-256>.onnx`."""
    return cache_root / f"{source.stem}.int8-{file_sha256(source)[:16]}.onnx"


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """quantize_dynamic logs a warning per tensor it cannot infer a type for (hundreds here) on the root logger."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def op_counts(path: Path) -> dict[str, int]:
    """Node count per op type of the ONNX graph at `path` (only the ops that tell what was quantized)."""
    import onnx

    counts = collections.Counter(node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node)
    watched = ("Conv", "ConvInteger", "ConvTranspose", "MatMul", "MatMulInteger", "DynamicQuantizeLinear", "DequantizeLinear")
    return {op: counts.get(op, 0) for op in watched}


def make_int8_copy(source: Path, target: Path) -> dict[str, Any]:
    """Write the dynamic INT8 copy of `source` to `target` (atomically); returns facts about it."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep = [n.name for n in onnx.load(str(source)).graph.node if n.name.startswith(KEEP_FP32_PREFIXES)]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.stem}.{os.getpid()}.tmp.onnx")
    t0 = time.perf_counter()
    try:
        with _quiet_quantizer():
            quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8, nodes_to_exclude=keep)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return {"seconds": time.perf_counter() - t0, "nodes_kept_fp32": len(keep)}


def int8_copy(source: Path, cache_root: Path) -> tuple[Path, dict[str, Any]]:
    """The cached INT8 copy of `source` under `cache_root`, made on first use. Returns (path, facts):
    `source` is "cache" or "quantized", plus the size in MB and what the quantizer changed."""
    source = Path(source)
    target = int8_path(source, cache_root)
    info: dict[str, Any] = {"path": str(target), "keep_fp32": list(KEEP_FP32_PREFIXES)}
    if target.exists():
        info["source"] = "cache"
    else:
        info.update(make_int8_copy(source, target), source="quantized")
    info["size_mb"] = target.stat().st_size / 1e6
    info["ops"] = op_counts(target)
    return target, info
