"""The `fewer_chunks` switch: a latency-first chunk plan for streaming, exact against the plan it replaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tts_core import ConfigError, TierConfig, resolve_tier
from tts_core.render import Renderer, sentence_generator
from tts_core.stream_plan import StreamPlan
from tts_core.streaming import chunk_bounds
from tts_core.synthesis import SynthesisConfig
from tts_core.vits import build_tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")  # see the root conftest

CPU = torch.device("cpu")
NOISY = SynthesisConfig(0.667, 1.0, 0.8)
MARGIN, ALIGN = 12, 32  # the joe voice's decoder margin and advanced's frame bucket


def _covers(bounds: list[tuple[int, int]], n: int) -> bool:
    return bounds[0][0] == 0 and bounds[-1][1] == n and all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))


@pytest.mark.parametrize("n", [130, 200, 258, 276])
def test_a_sentence_whose_rest_fits_one_chunk_streams_in_two(n):
    before = chunk_bounds(n, 16, 256, MARGIN, ALIGN)
    after = chunk_bounds(n, 16, 256, MARGIN, ALIGN, fewer_chunks=True)
    assert len(before) == 3 and len(after) == 2 and _covers(after, n)
    assert after[0] == before[0]  # the first chunk, hence the time to first audio's decoder work, is unchanged


def test_a_last_chunk_within_the_margins_joins_the_one_before():
    before = chunk_bounds(400, 16, 256, MARGIN, ALIGN)
    assert before[-1][1] - before[-1][0] <= 2 * MARGIN
    after = chunk_bounds(400, 16, 256, MARGIN, ALIGN, fewer_chunks=True)
    assert after == before[:-2] + [(before[-2][0], 400)]


@pytest.mark.parametrize("n", [5, 20, 277, 600, 1000])
def test_other_plans_are_left_alone(n):
    assert chunk_bounds(n, 16, 256, MARGIN, ALIGN, fewer_chunks=True) == chunk_bounds(n, 16, 256, MARGIN, ALIGN)


def test_fewer_chunks_stream_gives_the_samples_of_the_usual_stream_and_of_one_shot():
    model = build_tiny_model()
    ids = torch.randint(3, 40, (37,), generator=torch.Generator().manual_seed(3)).tolist()
    whole = Renderer(model, CPU).render([ids], NOISY, [sentence_generator(7, ids, CPU)])[0]
    r = Renderer(model, CPU, token_bucket=16)
    largest = len(whole) // r.hop - 1  # the usual plan: 4 frames, 16, then the rest (the tiny voice's margins are wide)

    def stream(fewer: bool) -> list[np.ndarray]:
        gen = sentence_generator(7, ids, CPU)
        plan = StreamPlan(chunked=True, first_chunk_frames=4, chunk_frames=largest, fewer_chunks=fewer)
        return list(r.stream(ids, NOISY, gen, plan))

    flow_calls = []
    flow = r.flow
    r.flow = lambda z, mask: flow_calls.append(z.shape[-1]) or flow(z, mask)  # type: ignore[method-assign]
    usual = stream(False)
    usual_calls, flow_calls[:] = len(flow_calls), []
    fewer = stream(True)
    assert len(fewer) == 2 < len(usual)  # the switch changed the plan here
    assert len(flow_calls) == 1 < usual_calls  # and ran the flow once: its first run bought first audio only
    for chunks in (usual, fewer):
        out = np.concatenate(chunks)
        assert len(out) == len(whole) and float(np.abs(out - whole).max()) <= 1e-4


def test_the_switch_turns_streaming_on_and_is_validated():
    added = resolve_tier("baseline+fewer_chunks")
    assert added.fewer_chunks is True and added.streaming is True
    assert resolve_tier("advanced-fewer_chunks").fewer_chunks is False
    with pytest.raises(ConfigError, match="`fewer_chunks`"):
        TierConfig(fewer_chunks="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize("limit, kept", [(1e9, True), (0.0, False)])
def test_the_calibration_keeps_fewer_chunks_only_where_the_decoder_stays_ahead(monkeypatch, tmp_path, limit, kept):
    """Measured as the share of the first chunk's audio a `chunk_frames` window takes to decode; kept at most
    `MAX_HEADROOM` of it, and never without streaming."""
    import tts_core.tiers.switches.fewer_chunks as switch
    from tts_core import Engine
    from tts_core.tiers import BASELINE

    monkeypatch.setenv("TTS_CORE_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TTS_CORE_CALIBRATE_IN_PROCESS", "1")  # the patched limit lives in this process
    monkeypatch.setattr(switch.SWITCH.measured_by, "max_share", limit)
    tier = BASELINE.with_(name=f"fc-{kept}", inference_mode=True, streaming=True, fewer_chunks="auto")
    with Engine.load(voice="tiny", tier=tier) as engine:
        m = engine.stats()["calibration"]["measurements"]["fewer_chunks"]
        assert m["headroom"] > 0 and m["decode_window_s"] > 0 and not m["gate_failures"], m
        assert engine.tier.fewer_chunks is kept
    off = BASELINE.with_(name="fc-off", inference_mode=True, fewer_chunks="auto")
    with Engine.load(voice="tiny", tier=off) as engine:
        m = engine.stats()["calibration"]["measurements"]["fewer_chunks"]
        assert "streaming is off" in m["note"] and engine.tier.fewer_chunks is False
