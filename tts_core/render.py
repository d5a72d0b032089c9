"""Model execution: phoneme-id sequences -> waveforms, in padded batches or as a chunked stream.

This is the `ids -> model -> audio` end of the pipeline. It knows nothing of text, caches or tiers
beyond the few numbers it is handed.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tts_core.stream_plan import StreamPlan
from tts_core.streaming import chunk_bounds, receptive_frames, stream_latents
from tts_core.synthesis import SynthesisConfig
from tts_core.tiers.precision import compute_dtype
from tts_core.vits.decoder import bucket_padding


def sentence_generator(seed: int | None, ids: Sequence[int], device: torch.device) -> torch.Generator | None:
    """A generator seeded from the call's seed and the sentence's ids, so a sentence's audio does not
    depend on which sentences came before it (batching, streaming and caching all agree)."""
    if seed is None:
        return None
    gen = torch.Generator(device=device)
    gen.manual_seed((hash((seed, tuple(ids))) & 0x7FFF_FFFF_FFFF) or 1)
    return gen


def vocoder_batched(device: torch.device, batch_vocoder: bool | None = None) -> bool:
    """Whether a renderer runs the flow and decoder of a batch batched with masks (`batch_vocoder` None: on CUDA;
    a CPU runs them one item at a time, unmasked, see `Renderer.render`)."""
    return device.type == "cuda" if batch_vocoder is None else batch_vocoder


class Renderer:
    """Runs a VITS model's stages. `timings`, when a dict, accumulates seconds per stage.

    `token_bucket` / `frame_bucket` (0 = off) pad the encoder's token axis and the flow's frame axis up to
    a multiple, with masks, so those stages see few distinct shapes (oneDNN builds and caches a kernel
    per input shape: unbounded shapes mean unbounded memory). Exact: padded tails are masked, and the
    noise of each sentence is drawn over its own length. `batch_vocoder` None = batched masked flow and
    decoder on CUDA, one item at a time on a CPU (see `render`). `decode_window` (frames, 0 = off): an item
    longer than this is decoded in windows of it, each widened by the decoder's receptive field and cropped
    (exact, as streaming is), so the decoder's memory and the shapes it sees stay bounded however long the
    sentence."""

    def __init__(self, model: nn.Module, device: torch.device, grad: bool = False, pool: Any = None,
                 token_bucket: int = 0, frame_bucket: int = 0, batch_vocoder: bool | None = None,
                 decode_window: int = 0) -> None:
        self.model = model
        self.decode_window = decode_window
        self.pool = pool  # a BufferPool for the padded id tensors, or None
        self.batch_vocoder = vocoder_batched(device, batch_vocoder)
        self.token_bucket = token_bucket
        self.frame_bucket = frame_bucket
        self.device = device
        self.grad = grad  # baseline runs with autograd on, as commonly written
        self.hop = int(model.config.hop_length)
        flow_rf, dec_rf = receptive_frames(model.config)
        self.default_margins = (flow_rf + 1, dec_rf + 1)  # (flow, decoder) frames
        self.timings: dict[str, float] | None = None

    def _context(self):
        return nullcontext() if self.grad else torch.inference_mode()

    def _tick(self, stage: str, t0: float) -> float:
        if self.timings is not None:
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            now = time.perf_counter()
            self.timings[stage] = self.timings.get(stage, 0.0) + now - t0
            return now
        return t0

    def _pad(self, batch: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = torch.tensor([len(s) for s in batch], dtype=torch.long)
        longest = int(lengths.max())
        shape = (len(batch), longest + bucket_padding(longest, self.token_bucket))
        if self.pool is not None:
            ids = self.pool.acquire(shape, torch.long, "cpu").zero_()  # (B, T)
        else:
            ids = torch.zeros(shape, dtype=torch.long)  # (B, T)
        for b, seq in enumerate(batch):
            ids[b, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        if self.pool is not None and self.device.type != "cpu":
            moved = ids.to(self.device)
            self.pool.release(ids)
            return moved, lengths.to(self.device)
        return ids.to(self.device), lengths.to(self.device)

    def _prior(self, batch: Sequence[Sequence[int]], scales: SynthesisConfig, gens: list[torch.Generator | None]):
        """Encoder, durations and prior sample: z_p (B, C, F), y_mask (B, 1, F), y_lengths (B,)."""
        t0 = time.perf_counter() if self.timings is not None else 0.0
        ids, lengths = self._pad(batch)
        m = self.model
        x, m_p, logs_p, x_mask = m.encode(ids, lengths)
        # one generator per item draws each item's noise over its own length, padding or not
        gen = gens if len(gens) > 1 or ids.shape[1] > int(lengths.max()) else gens[0]
        w_ceil = m.predict_durations(x, x_mask, scales.noise_w, scales.length_scale, generator=gen)
        m_p, logs_p, y_mask, y_lengths = m.expand(m_p, logs_p, w_ceil, x_mask)
        z_p = m.sample_prior(m_p, logs_p, scales.noise_scale, generator=gen, y_mask=y_mask)
        if self.pool is not None and self.device.type == "cpu":
            self.pool.release(ids)  # the encoder is done with it
        self._tick("encoder", t0)
        dtype = compute_dtype(m)
        return z_p.to(dtype), y_mask.to(dtype), y_lengths

    def render(
        self, batch: Sequence[Sequence[int]], scales: SynthesisConfig, gens: list[torch.Generator | None]
    ) -> list[np.ndarray]:
        """One padded batch -> one float32 waveform per item, each trimmed to its own length.

        The encoder and durations always run batched. On a GPU the flow and decoder run batched too, with
        masks; on a CPU, where they are memory-bound and a batch buys no parallelism, each item runs alone
        over its own length: no work on padding, no masks, and the decoder's tiling applies."""
        with self._context():
            z_p, y_mask, y_lengths = self._prior(batch, scales, gens)
            if len(batch) == 1 or self.batch_vocoder:
                return self._vocode(z_p, y_mask, y_lengths, masked=len(batch) > 1)
            return [
                self._vocode(z_p[b : b + 1, :, :n], y_mask[b : b + 1, :, :n], y_lengths[b : b + 1], masked=False)[0]
                for b, n in enumerate(y_lengths.tolist())
            ]

    def _vocode(self, z_p: torch.Tensor, y_mask: torch.Tensor, y_lengths: torch.Tensor, masked: bool) -> list[np.ndarray]:
        """Flow and decoder: z_p (B, C, F) -> trimmed waveforms."""
        t0 = time.perf_counter() if self.timings is not None else 0.0
        z = self.flow(z_p, y_mask)
        t0 = self._tick("flow", t0)
        audio = self.model.decode(z * y_mask, y_mask) if masked else self._decode(z * y_mask)  # (B, 1, F*hop)
        self._tick("decoder", t0)
        audio = audio.float().detach().cpu()
        return [audio[b, 0, : int(n) * self.hop].numpy().copy() for b, n in enumerate(y_lengths.tolist())]

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (1, C, F) -> audio (1, 1, F*hop): whole, or in `decode_window`-frame windows with margins."""
        n, window, margin = z.shape[-1], self.decode_window, self.default_margins[1]
        if not window or n <= window + margin:
            return self.model.decode(z)
        parts = []
        for start, end in chunk_bounds(n, window, window, margin, self.frame_bucket):  # windows fill their buckets
            lo, hi = max(0, start - margin), min(n, end + margin)
            audio = self.model.decode(z[..., lo:hi])  # (1, 1, (hi-lo)*hop)
            parts.append(audio[..., (start - lo) * self.hop : (end - lo) * self.hop])
        return torch.cat(parts, dim=-1)

    def flow(self, z_p: torch.Tensor, y_mask: torch.Tensor) -> torch.Tensor:
        """The reverse flow, z_p (B, C, F) -> z (B, C, F), over F padded up to a multiple of `frame_bucket`
        (zeros, masked: the flow masks every layer, so the real frames come out the same)."""
        frames = z_p.shape[-1]
        pad = bucket_padding(frames, self.frame_bucket)
        if not pad:
            return self.model.flow_reverse(z_p, y_mask)
        z = self.model.flow_reverse(F.pad(z_p, (0, pad)), F.pad(y_mask, (0, pad)))  # (B, C, F')
        return z[..., :frames]

    def stream(
        self,
        ids: Sequence[int],
        scales: SynthesisConfig,
        gen: torch.Generator | None,
        plan: StreamPlan,
    ) -> Iterator[np.ndarray]:
        """One sentence -> float32 chunks whose concatenation equals `render([ids])[0]`, cut as `plan` says (`scales`
        resolved: no None). A margin of None is the model's receptive field plus one frame."""
        plan = plan.with_margins(*self.default_margins)
        with self._context():
            z_p, _, _ = self._prior([ids], scales, [gen])
        m = self.model

        def flow(window: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            with self._context():
                return self.flow(window, mask)

        def decode(window: torch.Tensor) -> torch.Tensor:
            with self._context():
                return m.decode(window)

        for chunk in stream_latents(z_p, flow, decode, self.hop, plan, self.frame_bucket):
            yield chunk.float().detach().cpu().numpy().copy()
