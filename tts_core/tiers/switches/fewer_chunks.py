"""fewer_chunks: a latency-first chunk plan for streaming. A sentence whose rest after the first chunk fits
`chunk_frames` streams in two chunks with its flow in one run, and a last chunk within the decoder's margins joins
the one before it (`tts_core.streaming.chunk_bounds`). Exact in fp32 (the same samples as the usual plan); a BF16
decoder rounds the other windows differently, within the half gate.

The second chunk no longer grows at most 4x the audio before it, so it must decode while the first chunk plays: the
calibration keeps it only where a `chunk_frames` window (with its margins) decodes in at most `MAX_HEADROOM` of the
first chunk's audio (`measured_by`, `tts_core.tiers.kinds.DecoderHeadroom`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tts_core.stream_plan import StreamPlan
from tts_core.tiers.kinds import DecoderHeadroom
from tts_core.tiers.switches.base import Switch, flag

MAX_HEADROOM = 0.5  # the second chunk's decode may take at most half of the first chunk's audio


class FewerChunks(Switch):
    name = "fewer_chunks"
    settings = (flag("fewer_chunks", "latency-first chunk plan: the rest after the first chunk in one chunk when it "
                                     "fits `chunk_frames`, no last chunk within the margins (exact)", auto=True),)
    requires = {"streaming": True}
    acts_on = ("stream",)
    calibrated = True
    calibration_order = 35  # after streaming, which it refines, and the precisions: the headroom is the decoder's
    # that will run (in two default sweeps on a 2-core AMD EPYC with AVX-512 BF16, the fused fp32 decoder took 0.49
    # and 0.54 of the first chunk's audio, either side of the limit; the fused BF16 one it runs there, 0.22)
    measured_by = DecoderHeadroom(MAX_HEADROOM)

    def stream_plan(self, tier: Any, plan: StreamPlan) -> StreamPlan:
        return replace(plan, fewer_chunks=bool(tier.fewer_chunks))

    def skip(self, tier: Any, device: Any) -> str | None:
        return None if tier.streaming is True else "streaming is off, so there is no chunk plan to change"


SWITCH = FewerChunks()
