"""streaming: the flow and decoder in chunks with receptive-field margins (exact), so the first audio comes after
the first chunk rather than the whole sentence."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tts_core.stream_plan import StreamPlan
from tts_core.tiers.kinds import FIRST_AUDIO
from tts_core.tiers.switches.base import Switch, count, flag, optional_count


class Streaming(Switch):
    name = "streaming"
    settings = (
        flag("streaming", "flow + decoder in chunks with receptive-field margins", auto=True),
        count("first_chunk_frames", StreamPlan.first_chunk_frames, "first chunk, small for fast first audio (16 frames = 186 ms; grown to "
                                         "fill the decoder's frame bucket with its margin)", 1),
        count("chunk_frames", StreamPlan.chunk_frames, "largest later chunk (each at most 4x the audio before it)", 1),
        optional_count("decoder_margin", "frames each side", 0, "the model's receptive field + 1"),
        optional_count("flow_margin", "frames each side", 0, "the model's receptive field + 1"),
    )
    acts_on = ("stream",)
    shows_in = "ttfa"
    calibrated = True
    calibration_order = 20  # before the candidates a spent budget may skip: first audio matters most
    budgeted = False
    measured_by = FIRST_AUDIO

    def stream_plan(self, tier: Any, plan: StreamPlan) -> StreamPlan:
        return replace(plan, chunked=bool(tier.streaming), first_chunk_frames=tier.first_chunk_frames,
                       chunk_frames=tier.chunk_frames, flow_margin=tier.flow_margin, decoder_margin=tier.decoder_margin)


SWITCH = Streaming()
