"""`StreamPlan`: how the engine cuts a sentence into chunks, one object from the tier to the chunk loop.

The stream switches (`tts_core.tiers.switches`, `acts_on` "stream") build it from a tier
(`tts_core.tiers.build.stream_plan`); the engine, the renderer, the chunk loop (`tts_core.streaming`) and the
calibration take it whole. Frames are latent frames (hop samples each). Imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class StreamPlan:
    """How the first sentence of a stream is cut into chunks.

    - `chunked`: the first sentence streams in sub-sentence chunks (False: whole sentences).
    - `first_chunk_frames`: the first chunk, small for fast first audio.
    - `chunk_frames`: the largest later chunk (each at most `tts_core.streaming.GROWTH` times the audio before it).
    - `flow_margin`, `decoder_margin`: frames each side of a chunk's window; None = the model's receptive field + 1.
    - `fewer_chunks`: the latency-first plan of `tts_core.streaming.chunk_bounds`.
    """

    chunked: bool = False
    first_chunk_frames: int = 16
    chunk_frames: int = 256
    flow_margin: int | None = None
    decoder_margin: int | None = None
    fewer_chunks: bool = False

    def with_margins(self, flow: int, decoder: int) -> "StreamPlan":
        """This plan with each margin left as None replaced by the given default (frames)."""
        return replace(self, flow_margin=flow if self.flow_margin is None else self.flow_margin,
                       decoder_margin=decoder if self.decoder_margin is None else self.decoder_margin)
