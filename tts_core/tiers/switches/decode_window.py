"""decode_window: sentences longer than a window decoded in windows with receptive-field margins (exact):
the decoder's memory and the shapes it meets stay bounded at any length."""

from __future__ import annotations

from typing import Any

from tts_core.tiers.switches.base import Switch, count


class DecodeWindow(Switch):
    name = "decode_window"
    settings = (count("decode_window_frames", 0, "decode longer sentences in windows of this many frames, with "
                                                 "margins (exact; 0 = whole)", 0, " (0 = whole)"),)
    ablations = {"decode_window": {"decode_window_frames": 256}}
    acts_on = ("renderer",)

    def renderer_options(self, tier: Any) -> dict[str, Any]:
        return {"decode_window": tier.decode_window_frames}


SWITCH = DecodeWindow()
