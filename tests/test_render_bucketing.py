"""Encoder and flow shape bucketing, and the decoder's windows: padding the token and frame axes (masked), or
decoding in windows with margins, must give the same samples, noise included, as exact lengths; and it must
bound the shapes those stages see."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tts_core.render import Renderer, sentence_generator
from tts_core.stream_plan import StreamPlan
from tts_core.synthesis import SynthesisConfig
from tts_core.vits import build_tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")  # see the root conftest

CPU = torch.device("cpu")
NOISY = SynthesisConfig(0.667, 1.0, 0.8)


def _sequences(lengths: tuple[int, ...]) -> list[list[int]]:
    g = torch.Generator().manual_seed(3)
    return [torch.randint(3, 40, (n,), generator=g).tolist() for n in lengths]


def _render(renderer: Renderer, batch: list[list[int]]) -> list[np.ndarray]:
    gens = [sentence_generator(7, ids, CPU) for ids in batch]
    return renderer.render(batch, NOISY, gens)


def _assert_same(ref: list[np.ndarray], out: list[np.ndarray]) -> None:
    assert [len(a) for a in out] == [len(a) for a in ref]
    for r, o in zip(ref, out):
        assert float(np.abs(r - o).max()) <= 1e-4


@pytest.mark.parametrize("lengths", [(9,), (23,), (31, 12, 17)])
@pytest.mark.parametrize("buckets", [(16, 0), (0, 32), (16, 32), (7, 5)])
def test_bucketed_encoder_and_flow_give_the_exact_samples(lengths, buckets):
    model = build_tiny_model()
    batch = _sequences(lengths)
    ref = _render(Renderer(model, CPU), batch)
    out = _render(Renderer(model, CPU, token_bucket=buckets[0], frame_bucket=buckets[1]), batch)
    _assert_same(ref, out)


def test_bucketed_batched_masked_vocoder_gives_the_exact_samples():
    model = build_tiny_model()
    batch = _sequences((31, 12, 17))
    ref = _render(Renderer(model, CPU), batch)
    out = _render(Renderer(model, CPU, token_bucket=16, frame_bucket=32, batch_vocoder=True), batch)
    _assert_same(ref, out)


def test_bucketed_stream_equals_whole():
    model = build_tiny_model()
    ids = _sequences((37,))[0]
    whole = _render(Renderer(model, CPU), [ids])[0]
    r = Renderer(model, CPU, token_bucket=16, frame_bucket=32)
    plan = StreamPlan(chunked=True, first_chunk_frames=8, chunk_frames=64)
    chunks = list(r.stream(ids, NOISY, sentence_generator(7, ids, CPU), plan))
    assert len(chunks) > 1
    _assert_same([whole], [np.concatenate(chunks)])


def test_bucketing_bounds_the_shapes_the_flow_sees():
    model = build_tiny_model()
    seen: set[tuple[int, ...]] = set()
    hook = model.flow.register_forward_pre_hook(lambda _m, args: seen.add(tuple(args[0].shape)))
    r = Renderer(model, CPU, token_bucket=16, frame_bucket=32)
    for n in range(5, 40, 3):
        r.render(_sequences((n,)), SynthesisConfig(0.0, 1.0, 0.0), [None])
    hook.remove()
    assert seen and all(shape[-1] % 32 == 0 for shape in seen)


@pytest.mark.parametrize("window", [1, 4, 16])
def test_windowed_decoder_gives_the_exact_samples_and_bounds_its_input(window):
    model = build_tiny_model()
    batch = _sequences((31, 12, 17))
    ref = _render(Renderer(model, CPU), batch)
    windowed = Renderer(model, CPU, frame_bucket=8, decode_window=window)
    seen: list[int] = []
    decode = model.decode
    model.decode = lambda z, *mask: seen.append(z.shape[-1]) or decode(z, *mask)  # type: ignore[method-assign]
    try:
        out = _render(windowed, batch)
    finally:
        del model.decode
    _assert_same(ref, out)
    margin = windowed.default_margins[1]
    # windows, never a whole long sentence: each with its margins, grown by less than a bucket to fill one
    assert len(seen) > len(batch) and max(seen) < window + 2 * margin + windowed.frame_bucket
