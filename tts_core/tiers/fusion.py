"""Fused decoder: HiFi-GAN in channels-last layout, with prepacked oneDNN weights and fused epilogues.

Why it pays on a CPU: PyTorch's eager `Conv1d` hands oneDNN a channels-first (NCW) tensor, so every call
reorders the input, the output and the weights into oneDNN's blocked layouts, then runs leaky ReLU and the
residual add as separate passes over memory. The full-rate stages hold few channels (32 at 22 kHz for the
joe voice) over very many samples, so those extra passes cost more than the arithmetic. Here:

- every activation stays in channels-last layout, as a (B, C, 1, T) tensor (a 1-D convolution is a 2-D
  one of height 1), which oneDNN reads without reordering;
- weights are reordered once, at build time, into the layout oneDNN picks ("prepacked");
- each convolution's epilogue is fused into it: the leaky ReLU that only feeds the next layer, the
  residual add of a resblock (written in place where the residual is not needed again), and `tanh`;
- the mean over a stage's resblocks (sum / n) is folded into the next layer's weights:
  next(lrelu(s / n)) == (next.weight / n)(lrelu(s)), since leaky ReLU is positively homogeneous.

It is exact up to float rounding (the fp32 gate applies); with `int8_ranges` the low-rate stages' resblocks run in
static int8 instead (`tts_core.tiers.int8`; the int8 gate applies). Without oneDNN's fused ops (a build without
them, a GPU, a non-fp32 decoder), the same graph runs as channels-last `conv2d` calls with separate
element-wise ops. Padded batches (a mask) run through the wrapped decoder unchanged.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tts_core.tiers.int8 import Key, QConv, quantized_convs, static_int8_available
from tts_core.vits.decoder import bucket_padding

LRELU_SLOPE = 0.1
POST_SLOPE = 0.01  # the leaky ReLU before conv_post uses PyTorch's default slope, as in VITS


def onednn_fusion_available(device: torch.device, dtype: torch.dtype = torch.float32) -> bool:
    """True where oneDNN's fused convolution ops can run: a CPU, a PyTorch built with them, fp32, or bf16 / fp16
    where oneDNN reports support for it on this CPU (whether it pays is the calibration's call)."""
    if not (device.type == "cpu" and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_convolution_pointwise")):
        return False
    if dtype == torch.float32:
        return True
    probe = {torch.bfloat16: "_is_mkldnn_bf16_supported", torch.float16: "_is_mkldnn_fp16_supported"}.get(dtype)
    supported = getattr(torch.ops.mkldnn, probe, None) if probe else None
    return bool(supported is not None and supported())


@dataclass
class _Conv:
    """One convolution as a height-1 2-D convolution. `weight` is (out, in, 1, k) (transposed: (in, out, 1, k)),
    channels-last, or prepacked for oneDNN (`fused`: run through oneDNN's fused ops)."""

    weight: Tensor
    bias: Tensor | None
    padding: list[int]
    stride: list[int]
    dilation: list[int]
    transposed: bool = False
    output_padding: list[int] | None = None
    fused: bool = False


def _as_2d(conv: nn.Conv1d | nn.ConvTranspose1d, scale: float = 1.0) -> _Conv:
    w = conv.weight.detach()
    if scale != 1.0:
        w = w * scale
    bias = None if conv.bias is None else conv.bias.detach().clone()
    return _Conv(
        weight=w.unsqueeze(2).contiguous(memory_format=torch.channels_last),  # (out, in, 1, k)
        bias=bias,
        padding=[0, conv.padding[0]],
        stride=[1, conv.stride[0]],
        dilation=[1, conv.dilation[0]],
        transposed=isinstance(conv, nn.ConvTranspose1d),
        output_padding=[0, conv.output_padding[0]] if isinstance(conv, nn.ConvTranspose1d) else None,
    )


def _prepack(c: _Conv, typical_input: list[int]) -> _Conv:
    """Reorder the weight once into oneDNN's preferred layout for inputs shaped like `typical_input`
    (other lengths still run: oneDNN reorders again only if it picks another layout for them)."""
    if c.transposed:
        w = torch.ops.mkldnn._reorder_convolution_transpose_weight(
            c.weight, c.padding, c.output_padding, c.stride, c.dilation, 1, typical_input
        )
    else:
        w = torch.ops.mkldnn._reorder_convolution_weight(c.weight, c.padding, c.stride, c.dilation, 1, typical_input)
    return _Conv(w, c.bias, c.padding, c.stride, c.dilation, c.transposed, c.output_padding, fused=True)


class FusedDecoder(nn.Module):
    """Wraps a HiFi-GAN `Generator` (built from its weights, which stay untouched) and runs it fused.

    `fused_ops` None = oneDNN's fused ops where `onednn_fusion_available` for a layer's dtype, else
    channels-last `conv2d`. The body runs in the dtype of `conv_pre`, the output convolution in its own (fp32
    after a 16-bit body: see `tts_core.tiers.precision`). Build it on the device it will run on: the reordered
    weights (a copy, about the decoder's size) are plain attributes, which `.to()` does not move."""

    def __init__(self, dec: nn.Module, fused_ops: bool | None = None, bucket_frames: int = 0,
                 int8_ranges: dict[Key, tuple[float, float]] | None = None) -> None:
        super().__init__()
        self.dec = dec
        self.bucket_frames = bucket_frames
        p = dec.conv_pre.weight
        self.dtype = p.dtype  # the body's
        self.post_dtype = dec.conv_post.weight.dtype

        def fuses(dtype: torch.dtype) -> bool:
            return onednn_fusion_available(p.device, dtype) if fused_ops is None else fused_ops

        self.fused_ops = fuses(self.dtype)
        n = dec.num_kernels
        self.resblock_kind = "2" if hasattr(dec.resblocks[0], "convs") else "1"
        scale = 1.0 / n  # the resblock mean, folded into the layer after each stage

        def pack(conv: nn.Module, stage: int, scale: float = 1.0) -> _Conv:
            c = _as_2d(conv, scale)
            if not fuses(conv.weight.dtype):
                return c
            # the layout is chosen for a typical input, a 256-frame chunk at this layer's input rate
            in_len = 256 * math.prod(dec.upsample_rates[: stage - 1 if c.transposed else stage])
            return _prepack(c, [1, conv.in_channels, 1, in_len])

        self.conv_pre = pack(dec.conv_pre, 0)
        self.ups = [pack(up, i + 1, 1.0 if i == 0 else scale) for i, up in enumerate(dec.ups)]
        self.blocks: list[list[list[_Conv]]] = []  # [stage][block][conv], in the order they run
        for i in range(len(dec.ups)):
            stage = []
            for block in dec.resblocks[i * n : (i + 1) * n]:
                if self.resblock_kind == "2":
                    convs = [pack(c, i + 1) for c in block.convs]
                else:
                    convs = [pack(c, i + 1) for pair in zip(block.convs1, block.convs2) for c in pair]
                stage.append(convs)
            self.blocks.append(stage)
        self.conv_post = pack(dec.conv_post, len(dec.ups), scale)
        self.int8: dict[Key, QConv] = {}  # resblock convolutions that run in int8 (see tts_core.tiers.int8)
        if int8_ranges is not None:
            if not (self.fused_ops and self.dtype == torch.float32 and static_int8_available(p.device)):
                raise ValueError("FusedDecoder: static int8 needs an fp32 decoder on a CPU with oneDNN's fused and "
                                 "quantized convolutions (see static_int8_available)")
            self.int8 = quantized_convs(dec, int8_ranges)

    # -- one convolution with an optional fused epilogue -------------------------------------------------
    def _conv(
        self, c: _Conv, x: Tensor, valid: int | None, slope: float | None = None, add: Tensor | None = None,
        inplace: bool = False, tanh: bool = False,
    ) -> Tensor:
        """act(conv(x) + add), act = leaky ReLU(`slope`), tanh or none. With `inplace`, the result is written
        into `add` (which must not be needed again). With `valid`, samples from `valid` on are zeroed."""
        y = self._conv_raw(c, x, slope, add, inplace, tanh)
        if valid is not None:
            y[..., valid:] = 0  # a padded tail: zeros, as the unpadded convolution's own zero padding
        return y

    def _conv_raw(
        self, c: _Conv, x: Tensor, slope: float | None, add: Tensor | None, inplace: bool, tanh: bool
    ) -> Tensor:
        if c.fused:
            attr, scalars = ("leaky_relu", [slope]) if slope is not None else (("tanh", []) if tanh else ("none", []))
            if c.transposed:
                return torch.ops.mkldnn._convolution_transpose_pointwise(
                    x, c.weight, c.bias, c.padding, c.output_padding, c.stride, c.dilation, 1, attr, scalars, ""
                )
            if add is None:
                return torch.ops.mkldnn._convolution_pointwise(
                    x, c.weight, c.bias, c.padding, c.stride, c.dilation, 1, attr, scalars, ""
                )
            # oneDNN fuses an add with no activation after it (or ReLU only): the activation runs in place
            if inplace:
                y = torch.ops.mkldnn._convolution_pointwise_.binary(
                    add, x, c.weight, c.bias, c.padding, c.stride, c.dilation, 1, "add", 1.0, None, [], None
                )
            else:
                y = torch.ops.mkldnn._convolution_pointwise.binary(
                    x, add, c.weight, c.bias, c.padding, c.stride, c.dilation, 1, "add", 1.0, None, [], None
                )
            if slope is not None:
                return F.leaky_relu_(y, slope)
            return torch.tanh_(y) if tanh else y
        if c.transposed:
            y = F.conv_transpose2d(x, c.weight, c.bias, c.stride, c.padding, c.output_padding, 1, c.dilation)
        else:
            y = F.conv2d(x, c.weight, c.bias, c.stride, c.padding, c.dilation, 1)
        if add is not None:
            y = y + add
        if slope is not None:
            y = F.leaky_relu(y, slope)
        elif tanh:
            y = torch.tanh(y)
        return y

    @staticmethod
    def _int8_conv(q: QConv, qx: Tensor, into: Tensor, valid: int | None) -> Tensor:
        """into += q(qx), in place, with the padded tail (from `valid` on) zeroed as `_conv` does."""
        y = q.accumulate(qx, into)
        if valid is not None:
            y[..., valid:] = 0
        return y

    def _stage(self, i: int, x: Tensor, out_slope: float, valid: int | None) -> Tensor:
        """The resblocks of stage i on x (the upsampled input); returns lrelu(sum of resblocks, out_slope).
        The 1/n of the mean is folded into the next layer's weights."""
        acc: Tensor | None = None
        blocks = self.blocks[i]
        x_act = F.leaky_relu(x, LRELU_SLOPE)  # every block starts with it: computed once
        step = 1 if self.resblock_kind == "2" else 2  # ResBlock1 runs its convs in (dilated, plain) pairs
        q_act: tuple[tuple[float, int], Tensor] | None = None  # x_act quantized, shared by the blocks' first convs
        for j, convs in enumerate(blocks):
            y = x
            for k in range(0, len(convs), step):
                h = x_act if y is x else F.leaky_relu(y, LRELU_SLOPE)
                q = self.int8.get((i, j, k))
                if q is not None:  # ResBlock2 only: one conv per step
                    shared = y is x and q_act is not None and q_act[0] == (q.x_scale, q.x_zero)
                    qh = q_act[1] if shared else q.quantize(h)  # type: ignore[index]
                    if y is x:
                        q_act = ((q.x_scale, q.x_zero), qh)
                    final = j == len(blocks) - 1 and k == len(convs) - 1 and acc is not None
                    into = acc.add_(y) if final else (y.clone() if y is x else y)  # type: ignore[union-attr]
                    y = self._int8_conv(q, qh, into, valid)
                    if final:
                        return F.leaky_relu_(y, out_slope)
                    continue
                if step == 2:
                    h = self._conv(convs[k], h, valid, LRELU_SLOPE)
                c = convs[k + step - 1]
                if j == len(blocks) - 1 and k == len(convs) - step and acc is not None:
                    # the stage's final conv also adds the other blocks' sum and applies the next activation
                    return self._conv(c, h, valid, out_slope, add=acc.add_(y), inplace=True)
                y = self._conv(c, h, valid, add=y, inplace=y is not x)
            acc = y if acc is None else acc.add_(y)
        assert acc is not None
        return F.leaky_relu(acc, out_slope)  # only reached with a single resblock per stage

    def forward(self, z: Tensor, y_mask: Tensor | None = None) -> Tensor:
        """z: (B, C, F); returns audio (B, 1, F*hop). With a mask, the wrapped decoder runs instead.

        With `bucket_frames`, F is padded up to a multiple of it and every convolution's output is zeroed
        beyond the real length (what the unpadded convolutions see as zero padding), so the audio is the
        same while oneDNN sees few distinct shapes: it builds (JIT-compiles) its kernels once per shape."""
        if y_mask is not None:
            return self.dec(z, y_mask)
        frames = z.shape[-1]
        pad = bucket_padding(frames, self.bucket_frames)
        valid = frames if pad else None  # length of the real signal at the current layer's rate
        if pad:
            z = F.pad(z, (0, pad))  # (B, C, F')
        x = z.to(self.dtype).unsqueeze(2).contiguous(memory_format=torch.channels_last)  # (B, C, 1, F')
        x = self._conv(self.conv_pre, x, valid, LRELU_SLOPE)  # only ever used through this activation
        last = len(self.ups) - 1
        for i, (up, rate) in enumerate(zip(self.ups, self.dec.upsample_rates)):
            valid = None if valid is None else valid * rate
            x = self._conv(up, x, valid)  # (B, C/2, 1, F'*rate)
            x = self._stage(i, x, POST_SLOPE if i == last else LRELU_SLOPE, valid)
        y = self._conv(self.conv_post, x.to(self.post_dtype), None, tanh=True)  # (B, 1, 1, S')
        return y[..., : frames * self.dec.hop].squeeze(2).contiguous()  # (B, 1, S)


def apply_fusion(model: nn.Module, bucket_frames: int = 0,
                 int8_ranges: dict[Key, tuple[float, float]] | None = None) -> nn.Module:
    """Fuse `model` in place (pass a `with_own_modules` copy): its decoder becomes a `FusedDecoder`, and the
    kernel-1 convolutions of the text encoder, duration predictor and flow become matrix products, in
    module copies that share the weights, so the original modules are untouched. `bucket_frames`: see
    `FusedDecoder`; `int8_ranges` (from `tts_core.tiers.int8.activation_ranges`): run the decoder's low-rate
    resblocks in static int8. Returns `model`."""
    for name in ("enc_p", "dp", "flow"):
        module = getattr(model, name)
        shared = {id(t): t for t in (*module.parameters(), *module.buffers())}
        own = copy.deepcopy(module, memo=shared)  # new module objects, the same weight tensors
        pointwise_convs(own)
        setattr(model, name, own)
    model.dec = FusedDecoder(model.dec, bucket_frames=bucket_frames, int8_ranges=int8_ranges)
    return model

class PointwiseConv1d(nn.Module):
    """A kernel-1 `nn.Conv1d` as one matrix product: (C_out, C_in) @ (B, C_in, T) + bias. The same numbers
    as the convolution, without its per-call weight reorder and im2col (about 2x faster at text lengths)."""

    def __init__(self, conv: nn.Conv1d) -> None:
        super().__init__()
        if conv.kernel_size[0] != 1 or conv.groups != 1 or conv.stride[0] != 1:
            raise ValueError("PointwiseConv1d: needs kernel 1, stride 1, no groups")
        self.weight = nn.Parameter(conv.weight.detach()[:, :, 0].contiguous(), requires_grad=False)  # (C_out, C_in)
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach()[:, None].clone(), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        y = torch.matmul(self.weight, x)  # (B, C_out, T)
        return y if self.bias is None else y.add_(self.bias)


def pointwise_convs(module: nn.Module) -> int:
    """Replace every kernel-1 `nn.Conv1d` under `module` by a `PointwiseConv1d` (in place). Returns how many."""
    n = 0
    for name, child in module.named_children():
        if isinstance(child, nn.Conv1d) and child.kernel_size[0] == 1 and child.groups == 1 and child.stride[0] == 1:
            setattr(module, name, PointwiseConv1d(child))
            n += 1
        else:
            n += pointwise_convs(child)
    return n
