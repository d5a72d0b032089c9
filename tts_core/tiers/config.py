"""`TierConfig`: every inference optimization as one independent switch.

A tier is a named preset of these fields (see `presets.py`). Each switch can be turned on alone on top
of `baseline` or removed from `advanced`, so its effect can be measured by itself (ablation).
Fields that take "auto" are decided by measurement on the device at hand (`calibrate.py`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from tts_core.errors import bad_field

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
LOWER_PRECISIONS = PRECISIONS[1:]
AUTO = "auto"


@dataclass(frozen=True)
class TierConfig:
    """Switches of one tier. Units: frames are latent frames (hop samples each), memory in MB."""

    name: str = "custom"

    # autograd and threads
    inference_mode: bool = False  # torch.inference_mode(): no autograd graph, less memory and time
    threads: int | None = None  # intra-op threads; None = torch's default (all cores)
    interop_threads: int | None = None  # inter-op threads; None = torch's default

    # CUDA flags (recorded as not applicable on a CPU)
    cudnn_benchmark: bool = False  # autotune conv algorithms per shape; pays when shapes repeat
    tf32: bool = False  # TF32 matmul/conv on Ampere+; exact tier gate still applies (False: PyTorch's defaults)
    deterministic: bool = False  # deterministic CUDA algorithms + cuBLAS workspace (False: PyTorch's defaults)
    cuda_memory_fraction: float | None = None  # cap this process's share of GPU memory

    # start-up
    warmup: int = 0  # synthesis runs before the engine is handed out (first-call cost moved to load)
    weight_cache: bool = False  # converted weights cached on disk (safetensors, memory-mapped)
    engine_registry: bool = False  # reuse a loaded engine in this process for the same voice/device/tier

    # work reuse
    audio_cache: bool = False  # LRU in memory + content-addressed disk cache of sentence audio
    batch_sentences: bool = False  # length-bucketed batches with masks (CPU: encoder + durations only)
    max_batch: int = 8  # upper bound of sentences per batch
    batch_tokens: int = 1024  # upper bound of a batch's padded phoneme ids (sentences x the longest): a batch of
    # eight 40-word sentences raised RSS by about 100 MB during a long stream
    batch_optimizer: bool = False  # pick the largest batch that fits the memory budget; back off on OOM
    memory_pool: bool | str = False  # reuse large buffers; "auto" = keep only if it measures faster

    # numerics and graphs
    precision: str = "fp32"  # fp32, fp16, bf16, int8 (duration predictor always fp32), or "auto"; int8 with
    # fusion: static int8 arithmetic in the fused decoder's low-rate resblocks (tiers.int8); without: int8 weights
    precision_candidates: tuple[str, ...] = LOWER_PRECISIONS  # what "auto" measures against fp32
    compile: bool | str = False  # torch.compile the flow and decoder; "auto" = keep only if it pays
    banded_attention: bool = False  # text encoder: relative-position terms over the +-window band only (exact)
    fusion: bool | str = False  # decoder in channels-last layout, prepacked oneDNN weights, fused epilogues (exact)
    bucket_frames: int = 0  # flow and decoder: pad frame counts to a multiple of this, so shapes repeat (0 = off)
    bucket_tokens: int = 0  # text encoder and durations: pad token counts to a multiple of this (0 = off)
    decoder_tiling: bool | str = False  # run the full-rate decoder stage in cache-sized time tiles (exact)
    tile_samples: int = 16384  # tile length in output samples
    decode_window_frames: int = 0  # decode longer sentences in windows of this many frames, with margins (exact;
    # bounded memory and shapes at any length; 0 = whole)

    # streaming
    streaming: bool | str = False  # flow + decoder in chunks with receptive-field margins
    first_chunk_frames: int = 16  # first chunk, small for fast first audio (16 frames = 186 ms; grown to fill the
    # decoder's frame bucket with its margin: 20 frames with 32-frame buckets, which cost the decoder what 8 would)
    chunk_frames: int = 256  # largest later chunk (each at most 4x the audio before it)
    decoder_margin: int | None = None  # frames each side; None = the model's receptive field + 1
    flow_margin: int | None = None  # frames each side; None = the model's receptive field + 1
    fewer_chunks: bool = False  # latency-first chunk plan: the rest after the first chunk in one chunk when it fits
    # `chunk_frames`, no last chunk within the margins, the flow in one run for a two-chunk sentence (exact)

    # processes and housekeeping
    workers: int = 1  # processes for synthesize_batch, each with cores/workers threads
    housekeeping: bool = False  # gc + CUDA cache release after large jobs, memory monitor
    memory_limit_mb: float | None = None  # refuse (or chunk) jobs that would exceed this RSS

    def __post_init__(self) -> None:
        owner = f"TierConfig({self.name})"
        if self.threads is not None and self.threads < 1:
            raise bad_field(owner, "threads", self.threads, "a positive integer or None (torch default)")
        if self.interop_threads is not None and self.interop_threads < 1:
            raise bad_field(owner, "interop_threads", self.interop_threads, "a positive integer or None")
        if self.cuda_memory_fraction is not None and not 0 < self.cuda_memory_fraction <= 1:
            raise bad_field(owner, "cuda_memory_fraction", self.cuda_memory_fraction, "a number in (0, 1] or None")
        if self.warmup < 0:
            raise bad_field(owner, "warmup", self.warmup, "an integer >= 0")
        if self.max_batch < 1:
            raise bad_field(owner, "max_batch", self.max_batch, "an integer >= 1")
        if self.batch_tokens < 1:
            raise bad_field(owner, "batch_tokens", self.batch_tokens, "an integer >= 1")
        if self.precision not in PRECISIONS + (AUTO,):
            raise bad_field(owner, "precision", self.precision, f"one of {', '.join(PRECISIONS + (AUTO,))}")
        object.__setattr__(self, "precision_candidates", tuple(self.precision_candidates))  # JSON gives a list
        for candidate in self.precision_candidates:
            if candidate not in LOWER_PRECISIONS:
                raise bad_field(owner, "precision_candidates", candidate, f"some of {', '.join(LOWER_PRECISIONS)}")
        for name in ("bucket_frames", "bucket_tokens"):
            if getattr(self, name) < 0:
                raise bad_field(owner, name, getattr(self, name), "an integer >= 0 (0 = exact lengths)")
        if self.decode_window_frames < 0:
            raise bad_field(owner, "decode_window_frames", self.decode_window_frames, "an integer >= 0 (0 = whole)")
        if self.tile_samples < 1024:
            raise bad_field(owner, "tile_samples", self.tile_samples, "an integer >= 1024")
        for name in ("memory_pool", "compile", "fusion", "decoder_tiling", "streaming"):
            value = getattr(self, name)
            if not isinstance(value, bool) and value != AUTO:
                raise bad_field(owner, name, value, "true, false or 'auto'")
        if self.fusion is True and self.decoder_tiling is True:
            raise bad_field(owner, "decoder_tiling", True, "false (or 'auto') when `fusion` is true: the fused "
                            "decoder replaces the modules tiling wraps")
        if not isinstance(self.fewer_chunks, bool):
            raise bad_field(owner, "fewer_chunks", self.fewer_chunks, "true or false")
        for name in ("first_chunk_frames", "chunk_frames"):
            if getattr(self, name) < 1:
                raise bad_field(owner, name, getattr(self, name), "an integer >= 1")
        for name in ("decoder_margin", "flow_margin"):
            if getattr(self, name) is not None and getattr(self, name) < 0:
                raise bad_field(owner, name, getattr(self, name), "an integer >= 0, or None (from the model)")
        if self.workers < 1:
            raise bad_field(owner, "workers", self.workers, "an integer >= 1")
        if self.memory_limit_mb is not None and self.memory_limit_mb <= 0:
            raise bad_field(owner, "memory_limit_mb", self.memory_limit_mb, "a positive number of MB or None")

    @property
    def auto_fields(self) -> list[str]:
        """Switches left to calibration."""
        return [f.name for f in fields(self) if getattr(self, f.name) == AUTO]

    def with_(self, **changes: Any) -> "TierConfig":
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TierConfig":
        """Build from a mapping (YAML, JSON); an unknown key is an error naming it."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise bad_field("TierConfig", unknown[0], data[unknown[0]], f"a known field: {', '.join(sorted(known))}")
        return cls(**data)
