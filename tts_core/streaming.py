"""Chunked flow + decoder: audio of one sentence as a stream of exact chunks.

The reverse flow and the HiFi-GAN decoder are convolutional with finite receptive fields (about +-32
and +-11 latent frames). Running them on a window that extends `margin` frames past each side of a
chunk, then cropping, gives the same samples as one-shot decoding up to float noise. The first chunk
is small so the first audio arrives fast; each later chunk may be four times the audio before it, up to
`chunk_frames`, so the margins' extra work stays small; with the decoder's frame bucket, each chunk is grown to
fill its bucket, so no decoder window is padded with zeros but the last. With `fewer_chunks` (a latency-first
plan), a sentence whose rest fits one chunk streams in two, and a last chunk shorter than the margins it would
recompute joins the one before it (see `chunk_bounds`).
"""

from __future__ import annotations

from typing import Callable, Iterator

import math

import torch

from tts_core.stream_plan import StreamPlan

Stage = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def receptive_frames(config: object) -> tuple[int, int]:
    """(flow, decoder) receptive-field radius in latent frames, from a VitsConfig, rounded up.

    Flow: each coupling layer's WaveNet widens it by (kernel-1)/2 * dilation**i per layer. Decoder:
    conv_pre (kernel 7), then per upsampling stage the transposed conv and the widest ResBlock's
    dilated convs at that stage's resolution (in samples, divided by the upsampling so far), conv_post.
    """
    c = config
    per_coupling = sum((c.flow_kernel_size - 1) // 2 * c.flow_dilation_rate**i for i in range(c.flow_n_layers))
    flow = per_coupling * c.flow_n_flows
    dec, rate = 3.0, 1  # conv_pre
    for u, k in zip(c.upsample_rates, c.upsample_kernel_sizes):
        rate *= u
        dec += k / 2 / rate
        widest = max(sum((ks - 1) / 2 * d for d in ds) for ks, ds in zip(c.resblock_kernel_sizes, c.resblock_dilation_sizes))
        dec += widest / rate
    dec += 3 / rate  # conv_post
    return flow, math.ceil(dec)


GROWTH = 4  # a chunk may hold this many times the audio before it: playback has at least that audio (less the
# time the chunks after the first took) left when the chunk's work starts, so it arrives in time while r * GROWTH
# < 1 - r at real-time factor r (r < 0.2); fewer chunks mean fewer margins recomputed


def _fill(size: int, margins: int, align: int) -> int:
    """`size` grown so that size + margins (the decoder's window) is a multiple of `align`: the frames a bucketed
    decoder would pad with zeros become audio of this chunk."""
    return size if align <= 1 else -(-(size + margins) // align) * align - margins


def chunk_bounds(
    n_frames: int, first: int, largest: int, margin: int = 0, align: int = 0, fewer_chunks: bool = False
) -> list[tuple[int, int]]:
    """[(start, end)) frame ranges covering n_frames: `first`, then each at most GROWTH times the frames before it,
    and at most `largest`; with `align`, each grown so that it and its `margin` frames each side (one side for the
    first) fill a multiple of `align` frames.

    `fewer_chunks`: each chunk after the first costs a decoder call and 2 x `margin` recomputed frames, which a
    sentence of a few seconds pays two or three times over. So the rest after the first chunk is one chunk when it
    holds at most `largest` frames (GROWTH does not bound it: it must decode within the first chunk's audio, which
    holds where the decoder runs at least `largest` / `first` times faster than real time), and a last chunk of at
    most 2 x `margin` frames joins the chunk before it."""
    bounds, start, size = [], 0, _fill(first, margin, align)
    while start < n_frames:
        end = min(n_frames, start + size)
        bounds.append((start, end))
        start, size = end, _fill(min(largest, end * GROWTH), 2 * margin, align)
    if fewer_chunks and len(bounds) > 2:
        if n_frames - bounds[0][1] <= largest:
            return [bounds[0], (bounds[0][1], n_frames)]
        if bounds[-1][1] - bounds[-1][0] <= 2 * margin:
            bounds[-2:] = [(bounds[-2][0], n_frames)]
    return bounds


def stream_latents(
    z_p: torch.Tensor,  # (1, C, F) prior sample of one sentence
    flow: Stage,  # (z_p window, mask window) -> z window
    decode: Callable[[torch.Tensor], torch.Tensor],  # z window (1, C, W) -> audio (1, 1, W*hop)
    hop: int,
    plan: StreamPlan,  # its margins set (`StreamPlan.with_margins`)
    align: int = 0,
) -> Iterator[torch.Tensor]:
    """Yield audio chunks (1-D tensors of samples) whose concatenation equals one-shot decoding, cut as `plan`
    says. `align`: the decoder's frame bucket (chunks fill it, see `chunk_bounds`); with `plan.fewer_chunks`, the
    latency-first plan of `chunk_bounds`, and a sentence that streams in two chunks gets its flow in one run."""
    n_frames = z_p.shape[-1]
    largest, fewer_chunks = plan.chunk_frames, plan.fewer_chunks
    flow_margin, decoder_margin = plan.flow_margin, plan.decoder_margin
    if flow_margin is None or decoder_margin is None:
        raise ValueError("stream_latents: `plan` has a margin of None; set both with `StreamPlan.with_margins`.")
    bounds = chunk_bounds(n_frames, plan.first_chunk_frames, largest, decoder_margin, align, fewer_chunks)
    # z is produced by the flow lazily: enough for the first chunk, then for the rest at once. A sentence of at most
    # `largest` frames gets its flow in one run: the second run's margin would reach back over most of the first
    # (with a first decoder window no wider than the flow's margin, over all of it: the first run buys time to first
    # audio only, at the cost of a flow call).
    split_flow = n_frames > largest and not (fewer_chunks and len(bounds) <= 2)
    z = torch.empty_like(z_p)
    z_ready = 0

    def ensure_z(upto: int) -> None:
        nonlocal z_ready
        if upto <= z_ready:
            return
        lo, hi = max(0, z_ready - flow_margin), min(n_frames, upto + flow_margin)
        window = z_p[..., lo:hi]
        mask = torch.ones(1, 1, hi - lo, dtype=z_p.dtype, device=z_p.device)
        out = flow(window, mask)  # (1, C, hi-lo)
        z[..., z_ready:upto] = out[..., z_ready - lo : upto - lo]
        z_ready = upto

    for i, (start, end) in enumerate(bounds):
        lo, hi = max(0, start - decoder_margin), min(n_frames, end + decoder_margin)
        ensure_z(hi if i == 0 and split_flow else n_frames)
        audio = decode(z[..., lo:hi])  # (1, 1, (hi-lo)*hop)
        yield audio[0, 0, (start - lo) * hop : (end - lo) * hop]
