"""PyTorch port of Piper's VITS voices: config, model stages, weight loading from the ONNX voice."""

from .config import VitsConfig
from .model import VitsModel
from .tiny import build_tiny_model
from .weights import build_model, load_weights, onnx_state_dict

__all__ = ["VitsConfig", "VitsModel", "onnx_state_dict", "load_weights", "build_model", "build_tiny_model"]
