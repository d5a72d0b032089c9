"""Static INT8 arithmetic in the fused decoder's low-rate stages, through oneDNN's quantized convolutions.

In every upsampling stage but the last (full-rate) one, each resblock convolution runs in int8: its input (a leaky
ReLU of the residual stream) is quantized to uint8 with one scale and zero point per convolution, measured once on
the voice's own decoder inputs (`activation_ranges`); its weight is symmetric int8 per output channel; oneDNN
accumulates in int32, dequantizes and adds the residual in the same call, so the residual stream stays fp32.
Everything else (the text encoder, durations, flow, upsampling layers, the last stage, `conv_post`) stays fp32.

Why not the last stage (real voice, noise zeroed, against the fp32 decoder, 2-core AMD EPYC with AVX-512 VNNI, torch
2.13): simulated by quantizing each conv's input and weight in the eager decoder (3 sentences), every resblock in
int8 fails the int8 gate (MCD 1.7-2.6 dB, spectral correlation 0.92-0.95, silence floor 5-33 dB above the reference:
hiss in the pauses, where one per-tensor scale set by speech leaves quiet samples a level or two), the two low-rate
stages only pass it (MCD 0.21 dB); as built here, engine against engine on 3 fresh texts, they gave MCD 0.21-0.23
dB, correlation 0.9985, floor +0.2 to +4.3 dB. The last stage holds a third of the decoder's FLOPs and the int8 part
about half of them. The calibration's paired rounds (whole renders, against the fused fp32 model, same CPU) gave
1.18x natively and 1.14x with oneDNN capped to AVX-512 VNNI (no BF16, as on an Intel Xeon of that kind), each
winning 5 of 8 rounds, too few to be kept; capped to AVX2 (no VNNI: an int8 product takes three instructions there)
1.05x (5 of 8) in one calibration and 1.13x (kept) in another. Natively BF16 (1.48x) is the better choice anyway. It
is opt-in (`advanced+int8_static`, or "int8" in a tier's `precision_candidates`): it passes the int8 gate, but
Whisper misheard 2 more words of the built-in texts than on the baseline's audio (see README), where BF16 changed
none.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor, nn

from tts_core.render import Renderer, sentence_generator
from tts_core.synthesis import SynthesisConfig

LOW_QUANTILE, HIGH_QUANTILE = 1e-4, 1 - 1e-4  # a range holds all but these tails: one outlier sets no scale
SAMPLES_PER_OBSERVATION = 1 << 18  # values read per observed tensor (a strided subsample: quantile's input limit)
# Range measurement renders these sentences with the voice's own noise, seeded, so every engine (and the calibration
# that judged it) quantizes with the same scales.
RANGE_TEXT = (
    "Quantization ranges come from the voice itself, speaking a few ordinary sentences. "
    "Some are short. Others run on a little longer, with a pause, and a question at the end?"
)
RANGE_SEED = 1234
# quantize_per_tensor's deprecation notice (see QConv.quantize), filtered once here: a per-call catch_warnings would
# touch the process-wide filter list from every thread that synthesizes
warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor.*deprecated", category=UserWarning)
Key = tuple[int, int, int]  # (stage, resblock in the stage, convolution in the resblock)


def static_int8_available(device: torch.device) -> bool:
    """True where oneDNN's quantized convolutions run: a CPU and a PyTorch built with them."""
    return (device.type == "cpu" and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.onednn, "qconv_prepack") and hasattr(torch.ops.onednn, "qconv2d_pointwise"))


def int8_convs(dec: nn.Module) -> dict[Key, nn.Conv1d]:
    """The decoder's convolutions that run in int8: every resblock convolution of every stage but the last.
    Empty for ResBlock1 decoders (Piper's "high" voices), whose pairs are not handled here."""
    if not hasattr(dec.resblocks[0], "convs"):
        return {}
    n = dec.num_kernels
    return {(i, j, k): conv for i in range(len(dec.ups) - 1)
            for j, block in enumerate(dec.resblocks[i * n : (i + 1) * n]) for k, conv in enumerate(block.convs)}


def activation_ranges(model: nn.Module, ids: Sequence[Sequence[int]]) -> dict[Key, tuple[float, float]]:
    """(low, high) of each int8 convolution's input while the model renders `ids` as the engine does (`Renderer`,
    the voice's noise scales, each sentence's noise seeded from `RANGE_SEED`), all but the `LOW_QUANTILE` /
    `HIGH_QUANTILE` tails; low <= 0 <= high. Runs the model's own fp32 decoder (pass it before fusion)."""
    convs = int8_convs(model.dec)
    ranges: dict[Key, tuple[float, float]] = {}

    def observe(key: Key):
        def hook(_module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
            x = inputs[0].detach().float().flatten()
            x = x[:: max(1, x.numel() // SAMPLES_PER_OBSERVATION)]
            lo, hi = (float(v) for v in torch.quantile(x, torch.tensor([LOW_QUANTILE, HIGH_QUANTILE])))
            old_lo, old_hi = ranges.get(key, (0.0, 0.0))
            ranges[key] = (min(old_lo, lo), max(old_hi, hi))
        return hook

    device = next(model.parameters()).device
    c = model.config
    renderer = Renderer(model, device)
    scales = SynthesisConfig(c.noise_scale, c.length_scale, c.noise_w)
    hooks = [conv.register_forward_pre_hook(observe(key)) for key, conv in convs.items()]
    try:
        for seq in ids:
            renderer.render([seq], scales, [sentence_generator(RANGE_SEED, seq, device)])
    finally:
        for h in hooks:
            h.remove()
    return ranges


@dataclass
class QConv:
    """One resblock convolution in int8, as a height-1 2-D convolution: `weight` prepacked for oneDNN (int8, per
    output channel `w_scales`), the input's uint8 `x_scale` / `x_zero`, fp32 `bias`."""

    weight: Tensor
    w_scales: Tensor  # (C_out,) fp32
    w_zeros: Tensor  # (C_out,) int64, all zero (symmetric)
    bias: Tensor | None
    padding: list[int]
    dilation: list[int]
    x_scale: float
    x_zero: int

    @classmethod
    def build(cls, conv: nn.Conv1d, low: float, high: float, typical_len: int) -> "QConv":
        """From an fp32 `conv` and its input range; the weight layout is chosen for inputs of `typical_len`."""
        low, high = min(low, 0.0), max(high, 0.0)
        x_scale = max(high - low, 1e-8) / 255.0
        x_zero = int(min(255, max(0, round(-low / x_scale))))
        w = conv.weight.detach().float().unsqueeze(2)  # (out, in, 1, k)
        w_scales = w.abs().amax(dim=(1, 2, 3)).clamp_min(1e-12) / 127.0  # (out,)
        q = torch.clamp(torch.round(w / w_scales.view(-1, 1, 1, 1)), -127, 127).to(torch.int8)
        padding, dilation = [0, conv.padding[0]], [1, conv.dilation[0]]
        packed = torch.ops.onednn.qconv_prepack(q, w_scales, x_scale, x_zero, [1, 1], padding, dilation, 1,
                                                [1, conv.in_channels, 1, typical_len])
        bias = None if conv.bias is None else conv.bias.detach().float().clone()
        return cls(packed, w_scales, torch.zeros(len(w_scales), dtype=torch.int64), bias, padding, dilation,
                   x_scale, x_zero)

    def quantize(self, x: Tensor) -> Tensor:
        """fp32 (B, C, 1, T) channels-last -> uint8 of the same shape and layout, with this conv's input scale.

        `quantize_per_tensor` + `int_repr` (deprecated quantized tensors) is the fastest way here: 1.4 ms for 3.3 M
        values against 4.7 ms for round/clamp/cast, which stands in where it is gone.
        """
        if hasattr(torch, "quantize_per_tensor"):
            return torch.quantize_per_tensor(x, self.x_scale, self.x_zero, torch.quint8).int_repr()
        return torch.clamp(torch.round(x / self.x_scale) + self.x_zero, 0, 255).to(torch.uint8)

    def accumulate(self, qx: Tensor, into: Tensor) -> Tensor:
        """into += conv(dequantized qx), in place (oneDNN's sum post-op); returns `into` (B, C_out, 1, T) fp32."""
        torch.ops.onednn.qconv2d_pointwise.binary(
            qx, self.x_scale, self.x_zero, self.weight, self.w_scales, self.w_zeros, into, self.bias, [1, 1],
            self.padding, self.dilation, 1, 1.0, 0, torch.float32, 1.0, 0, "sum", 1.0, None, [], None)
        return into


def quantized_convs(dec: nn.Module, ranges: dict[Key, tuple[float, float]]) -> dict[Key, QConv]:
    """A `QConv` for each of `int8_convs(dec)`, from `ranges` (`activation_ranges`). Raises ValueError when a
    range is missing (ranges measured on another voice)."""
    convs = int8_convs(dec)
    missing = sorted(set(convs) - set(ranges))
    if missing:
        raise ValueError(f"int8: no activation range for decoder convolutions {missing}; measure them on this voice "
                         "with activation_ranges(model, ids)")
    out = {}
    for (i, j, k), conv in convs.items():
        typical_len = 256 * math.prod(dec.upsample_rates[: i + 1])  # a 256-frame chunk at this stage's rate
        out[(i, j, k)] = QConv.build(conv, *ranges[(i, j, k)], typical_len)
    return out
