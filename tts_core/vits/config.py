"""`VitsConfig`: every hyper-parameter of a Piper VITS voice, in one frozen dataclass."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor

from tts_core.errors import ConfigError, VoiceError, bad_field

# Dilations are not recoverable from weight shapes; these are the ones Piper trains with, per resblock type.
_PIPER_DILATIONS = {"1": ((1, 3, 5), (1, 3, 5), (1, 3, 5)), "2": ((1, 2), (2, 6), (3, 12))}


@dataclass(frozen=True)
class VitsConfig:
    """Architecture and inference defaults of a single-speaker VITS voice (defaults: Piper "medium")."""

    # text encoder (enc_p)
    n_vocab: int = 256
    inter_channels: int = 192  # latent channels of the prior / flow / decoder input
    hidden_channels: int = 192
    filter_channels: int = 768
    n_heads: int = 2
    n_layers: int = 6
    kernel_size: int = 3
    window_size: int = 4  # relative-position window of the attention
    # stochastic duration predictor (dp); its filter channels equal hidden_channels, as in VITS
    dp_kernel_size: int = 3
    dp_n_flows: int = 4
    dp_n_layers: int = 3  # DDSConv layers
    dp_num_bins: int = 10  # rational-quadratic spline bins
    dp_tail_bound: float = 5.0
    # flow (residual coupling block, mean only)
    flow_n_flows: int = 4
    flow_kernel_size: int = 5
    flow_dilation_rate: int = 1
    flow_n_layers: int = 4  # WaveNet layers per coupling layer
    # decoder (HiFi-GAN generator)
    resblock: str = "2"
    resblock_kernel_sizes: tuple[int, ...] = (3, 5, 7)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 2), (2, 6), (3, 12))
    upsample_rates: tuple[int, ...] = (8, 8, 4)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 8)
    upsample_initial_channel: int = 256
    # audio and inference defaults
    sample_rate: int = 22050  # Hz
    noise_scale: float = 0.667
    length_scale: float = 1.0
    noise_w: float = 0.8

    def __post_init__(self) -> None:
        def bad(name: str, allowed: str) -> Exception:
            return bad_field("VitsConfig", name, getattr(self, name), allowed)

        positive = (
            "n_vocab inter_channels hidden_channels filter_channels n_heads n_layers kernel_size "
            "dp_kernel_size dp_n_flows dp_n_layers dp_num_bins flow_n_flows flow_kernel_size "
            "flow_dilation_rate flow_n_layers upsample_initial_channel sample_rate"
        ).split()
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise bad(name, "a positive integer")
        if self.window_size < 0:
            raise bad("window_size", "an integer >= 0")
        if self.hidden_channels % self.n_heads:
            raise bad("n_heads", f"a divisor of hidden_channels={self.hidden_channels}")
        if self.inter_channels % 2:
            raise bad("inter_channels", "an even number (the flow splits it in halves)")
        if self.flow_kernel_size % 2 == 0:
            raise bad("flow_kernel_size", "an odd number")
        if self.dp_tail_bound <= 0:
            raise bad("dp_tail_bound", "a positive number")
        if self.resblock not in _PIPER_DILATIONS:
            raise bad("resblock", 'one of "1", "2"')
        n_kernels = len(self.resblock_kernel_sizes)
        if n_kernels == 0 or len(self.resblock_dilation_sizes) != n_kernels:
            raise bad("resblock_dilation_sizes", f"one dilation tuple per kernel size ({n_kernels})")
        n_dil = 3 if self.resblock == "1" else 2
        if any(len(d) != n_dil for d in self.resblock_dilation_sizes):
            raise bad("resblock_dilation_sizes", f"tuples of {n_dil} dilations for resblock {self.resblock!r}")
        n_up = len(self.upsample_rates)
        if n_up == 0 or len(self.upsample_kernel_sizes) != n_up:
            raise bad("upsample_kernel_sizes", f"one kernel per upsample rate ({n_up})")
        if any(u <= 0 or k < u or (k - u) % 2 for u, k in zip(self.upsample_rates, self.upsample_kernel_sizes)):
            raise bad("upsample_kernel_sizes", "kernels k >= rate u > 0 with k - u even")
        if self.upsample_initial_channel % (2**n_up):
            raise bad("upsample_initial_channel", f"a multiple of 2**{n_up}")
        for name in ("noise_scale", "noise_w"):
            if getattr(self, name) < 0:
                raise bad(name, "a number >= 0")
        if self.length_scale <= 0:
            raise bad("length_scale", "a number > 0")

    @property
    def hop_length(self) -> int:
        """Audio samples per latent frame: the product of the upsample rates."""
        return math.prod(self.upsample_rates)

    @classmethod
    def tiny(cls) -> "VitsConfig":
        """Same architecture, a few thousand times cheaper: for fast tests (hop 64)."""
        return cls(
            inter_channels=16, hidden_channels=32, filter_channels=64, n_layers=2,
            flow_n_flows=2, flow_n_layers=2,
            upsample_rates=(4, 4, 4), upsample_kernel_sizes=(8, 8, 8), upsample_initial_channel=32,
        )

    @classmethod
    def from_voice(cls, voice: Mapping[str, Any], state_dict: Mapping[str, Tensor]) -> "VitsConfig":
        """Derive the config from a Piper voice JSON (sample rate, inference defaults) and the weight shapes."""
        if int(voice.get("num_speakers", 1)) > 1:
            raise VoiceError(
                f"Multi-speaker voices are not supported (num_speakers={voice['num_speakers']}); "
                "use a single-speaker voice."
            )
        sd = state_dict
        try:

            def count(pattern: str) -> int:
                rx = re.compile(pattern)
                return len({m.group(1) for k in sd if (m := rx.match(k))})

            hidden = sd["enc_p.emb.weight"].shape[1]
            rel = sd["enc_p.encoder.attn_layers.0.emb_rel_k"].shape  # (1, 2w+1, hidden/heads)
            ffn = sd["enc_p.encoder.ffn_layers.0.conv_1.weight"].shape  # (filter, hidden, k)
            n_ups = count(r"dec\.ups\.(\d+)\.weight")
            n_kernels = count(r"dec\.resblocks\.(\d+)\.") // n_ups
            resblock = "1" if "dec.resblocks.0.convs1.0.weight" in sd else "2"
            conv_key = "convs1" if resblock == "1" else "convs"
            up_kernels = tuple(sd[f"dec.ups.{i}.weight"].shape[2] for i in range(n_ups))
            inference = voice.get("inference", {})
            return cls(
                n_vocab=sd["enc_p.emb.weight"].shape[0],
                inter_channels=sd["enc_p.proj.weight"].shape[0] // 2,
                hidden_channels=hidden,
                filter_channels=ffn[0],
                n_heads=hidden // rel[2],
                n_layers=count(r"enc_p\.encoder\.attn_layers\.(\d+)\."),
                kernel_size=ffn[2],
                window_size=(rel[1] - 1) // 2,
                dp_kernel_size=sd["dp.convs.convs_sep.0.weight"].shape[2],
                # ConvFlows sit at odd indices 1..2n-1 (after the ElementwiseAffine at 0)
                dp_n_flows=(max(int(m.group(1)) for k in sd if (m := re.match(r"dp\.flows\.(\d+)\.", k))) + 1) // 2,
                dp_n_layers=count(r"dp\.convs\.convs_sep\.(\d+)\."),
                dp_num_bins=(sd["dp.flows.3.proj.weight"].shape[0] + 1) // 3,
                flow_n_flows=count(r"flow\.flows\.(\d+)\."),
                flow_kernel_size=sd["flow.flows.0.enc.in_layers.0.weight"].shape[2],
                flow_n_layers=count(r"flow\.flows\.0\.enc\.in_layers\.(\d+)\."),
                resblock=resblock,
                resblock_kernel_sizes=tuple(
                    sd[f"dec.resblocks.{j}.{conv_key}.0.weight"].shape[2] for j in range(n_kernels)
                ),
                resblock_dilation_sizes=_PIPER_DILATIONS[resblock][:n_kernels],
                # HiFi-GAN convention (every Piper quality): kernel = 2 x stride
                upsample_rates=tuple(k // 2 for k in up_kernels),
                upsample_kernel_sizes=up_kernels,
                upsample_initial_channel=sd["dec.conv_pre.weight"].shape[0],
                sample_rate=int(voice.get("audio", {}).get("sample_rate", 22050)),
                noise_scale=float(inference.get("noise_scale", cls.noise_scale)),
                length_scale=float(inference.get("length_scale", cls.length_scale)),
                noise_w=float(inference.get("noise_w", cls.noise_w)),
            )
        except ConfigError:
            raise
        except (KeyError, IndexError, ZeroDivisionError, ValueError) as e:
            raise VoiceError(
                f"The voice weights do not look like a Piper VITS voice ({type(e).__name__}: {e}); check the .onnx file."
            ) from e
