"""streaming: the flow and decoder in chunks with receptive-field margins (exact), so the first audio comes after
the first chunk rather than the whole sentence."""

from __future__ import annotations

from tts_core.tiers.switches.base import Switch, count, flag, optional_count


class Streaming(Switch):
    name = "streaming"
    settings = (
        flag("streaming", "flow + decoder in chunks with receptive-field margins", auto=True),
        count("first_chunk_frames", 16, "first chunk, small for fast first audio (16 frames = 186 ms; grown to "
                                         "fill the decoder's frame bucket with its margin)", 1),
        count("chunk_frames", 256, "largest later chunk (each at most 4x the audio before it)", 1),
        optional_count("decoder_margin", "frames each side", 0, "the model's receptive field + 1"),
        optional_count("flow_margin", "frames each side", 0, "the model's receptive field + 1"),
    )
    acts_on = ("stream",)
    shows_in = "ttfa"
    calibrated = True
    calibration_order = 20  # before the candidates a spent budget may skip: first audio matters most
    budgeted = False
    measured_by = "first_audio"


SWITCH = Streaming()
