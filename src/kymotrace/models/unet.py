"""The U-Net core shared by every kymotrace network, and the four modules built on it.

The building block follows the KymoButler paper ('Network architectures'): a padded 3x3
convolution, batch normalisation and a leaky ReLU with slope 0.1 (a *conv block*). Two conv
blocks make one level of a U-Net with ``depth`` (default 4) max-pooling steps, so its inputs must
have sides that are a multiple of ``2**depth`` (16). Channel widths are ``base * 2**level``
(base, 2 base, ..., 16 base at the bottom); the paper used base 64, kymotrace uses a much
narrower net (base 16 has about 1.9 M parameters).

The four modules (see :func:`default_config`):

========== ======================== ============================================================
module     input                    output (logits; inference applies sigmoid / softmax)
========== ======================== ============================================================
classifier 1 x 64 x 64 (resized)    2 class logits, index 0 = unidirectional, 1 = bidirectional
uni        1 x H x W                2 maps: channel 0 = tracks whose position increases with
                                    frame (positive slope), channel 1 = negative slope
bi         1 x H x W                1 trackness map
decision   3 x 48 x 48 (N crops)    1 map: the most likely continuation of the current track;
                                    input channels = kymograph crop, skeleton crop, track crop
========== ======================== ============================================================

A network is described completely by a plain config dict (only str/int/float/None values), so
model files can rebuild it: ``build_model(config)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import InputError, OptionError

__all__ = [
    "MODULES",
    "CLASSES",
    "ConvBlock",
    "Encoder",
    "UNet",
    "Classifier",
    "default_config",
    "validate_config",
    "build_model",
    "context_radius",
    "count_parameters",
]

#: the four network modules of the pipeline
MODULES = ("classifier", "uni", "bi", "decision")
#: classifier output order
CLASSES = ("uni", "bi")
#: (in_channels, out_channels) the pipeline expects of each module
MODULE_IO = {"classifier": (1, 2), "uni": (1, 2), "bi": (1, 1), "decision": (3, 1)}
#: fixed input side (px) of the modules that take fixed-size inputs
MODULE_INPUT_SIZE = {"classifier": 64, "uni": None, "bi": None, "decision": 48}

NEGATIVE_SLOPE = 0.1
_ARCHS = ("unet", "classifier")
_UPSAMPLE = ("transpose", "bilinear")
_DEFAULTS: dict[str, Any] = {
    "arch": "unet",
    "in_channels": 1,
    "out_channels": 1,
    "base": 16,
    "depth": 4,
    "dropout": 0.1,
    "upsample": "transpose",
    "input_size": None,
}


# --------------------------------------------------------------------------- config


def default_config(module: str, **overrides: Any) -> dict:
    """Architecture config of one pipeline module.

    Parameters
    ----------
    module : {"classifier", "uni", "bi", "decision"}
    **overrides
        Any config key: ``base`` (channels at the top level, default 16), ``depth`` (pooling
        steps, default 4), ``dropout`` (probability on the contracting path, default 0.1),
        ``upsample`` ("transpose" or "bilinear"; U-Nets only).

    Returns
    -------
    dict
        A validated config for :func:`build_model`.
    """
    if module not in MODULES:
        raise OptionError(f"unknown module {module!r}: use one of {', '.join(MODULES)}")
    cin, cout = MODULE_IO[module]
    cfg = dict(_DEFAULTS)
    cfg.update(
        arch="classifier" if module == "classifier" else "unet",
        in_channels=cin,
        out_channels=cout,
        input_size=MODULE_INPUT_SIZE[module],
    )
    if module == "classifier":
        del cfg["upsample"]
    cfg.update(overrides)
    return validate_config(cfg)


def validate_config(config: dict) -> dict:
    """Check an architecture config and return a copy with defaults filled in.

    Raises
    ------
    OptionError
        For an unknown key or a value outside what is allowed (the message says what is).
    """
    if not isinstance(config, dict):
        raise OptionError(f"a model config must be a dict, got {type(config).__name__}")
    arch = config.get("arch", "unet")
    if arch not in _ARCHS:
        raise OptionError(f"config 'arch' must be one of {', '.join(_ARCHS)}, got {arch!r}")
    allowed = set(_DEFAULTS) - ({"upsample"} if arch == "classifier" else set())
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise OptionError(f"unknown model config key(s) {unknown}; allowed: {sorted(allowed)}")
    cfg = {k: v for k, v in _DEFAULTS.items() if k in allowed}
    cfg.update(config)

    def _int(key: str, lo: int, hi: int) -> None:
        v = cfg[key]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
            raise OptionError(f"config {key!r} must be an integer in [{lo}, {hi}], got {v!r}")
        cfg[key] = int(v)

    _int("in_channels", 1, 64)
    _int("out_channels", 1, 64)
    _int("base", 1, 256)
    _int("depth", 1, 6)
    d = cfg["dropout"]
    if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 <= d < 1.0:
        raise OptionError(f"config 'dropout' must be a probability in [0, 1), got {d!r}")
    cfg["dropout"] = float(d)
    if arch == "unet" and cfg["upsample"] not in _UPSAMPLE:
        raise OptionError(f"config 'upsample' must be one of {', '.join(_UPSAMPLE)}, got {cfg['upsample']!r}")
    if cfg["input_size"] is not None:
        _int("input_size", 1, 1 << 20)
    return cfg


# --------------------------------------------------------------------------- layers


class ConvBlock(nn.Sequential):
    """Padded 3x3 convolution -> batch normalisation -> leaky ReLU (slope 0.1)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(NEGATIVE_SLOPE, inplace=True),
        )


def _double(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(ConvBlock(in_channels, out_channels), ConvBlock(out_channels, out_channels))


class Encoder(nn.Module):
    """Contracting path: ``depth`` x (two conv blocks, 2x2 max pool, dropout), then two conv
    blocks at the bottom (``base * 2**depth`` channels).

    ``forward(x)`` returns ``(bottom, skips)`` with ``skips[l]`` the level-``l`` features
    (``base * 2**l`` channels at 1/2**l resolution) before pooling.
    """

    def __init__(self, in_channels: int, base: int, depth: int, dropout: float):
        super().__init__()
        widths = [base * 2**level for level in range(depth + 1)]
        self.blocks = nn.ModuleList(
            [_double(in_channels, widths[0])] + [_double(widths[i], widths[i + 1]) for i in range(depth)]
        )
        self.pool = nn.MaxPool2d(2)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.blocks[0](x)
        skips = []
        for block in self.blocks[1:]:
            skips.append(x)
            x = block(self.drop(self.pool(x)))
        return x, skips


class _Up(nn.Module):
    """One expanding level: upsample (2x) to half the channels, concatenate the skip, two conv blocks."""

    def __init__(self, in_channels: int, out_channels: int, mode: str):
        super().__init__()
        if mode == "transpose":
            self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        else:
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                ConvBlock(in_channels, out_channels),
            )
        self.conv = _double(2 * out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class _Described(nn.Module):
    """Common attributes: ``config``, ``in_channels``, ``out_channels``, ``multiple``, ``context``."""

    config: dict

    def _describe(self, config: dict) -> None:
        self.config = dict(config)
        self.in_channels = config["in_channels"]
        self.out_channels = config["out_channels"]
        #: input sides must be a multiple of this (px)
        self.multiple = 2 ** config["depth"]
        #: one-sided receptive-field radius (px): an output pixel depends on no input farther away
        self.context = context_radius(config)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise InputError(
                f"network input must be [N, {self.in_channels}, H, W], got shape {tuple(x.shape)}"
            )


class UNet(_Described):
    """U-Net with padded convolutions; ``forward`` maps [N, C_in, H, W] to logits [N, C_out, H, W].

    H and W must be multiples of ``self.multiple`` (16 for depth 4); see
    :func:`kymotrace.segment.pad_to_multiple`.
    """

    def __init__(self, config: dict):
        super().__init__()
        cfg = validate_config(config)
        if cfg["arch"] != "unet":
            raise OptionError(f"UNet needs arch 'unet', got {cfg['arch']!r}")
        self._describe(cfg)
        base, depth = cfg["base"], cfg["depth"]
        self.encoder = Encoder(cfg["in_channels"], base, depth, cfg["dropout"])
        self.ups = nn.ModuleList(
            [_Up(base * 2 ** (lvl + 1), base * 2**lvl, cfg["upsample"]) for lvl in reversed(range(depth))]
        )
        self.head = nn.Conv2d(base, cfg["out_channels"], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        m = self.multiple
        if x.shape[-2] % m or x.shape[-1] % m:
            raise InputError(
                f"U-Net input sides must be multiples of {m}, got {tuple(x.shape[-2:])}; "
                "pad with kymotrace.segment.pad_to_multiple"
            )
        x, skips = self.encoder(x)
        for up, skip in zip(self.ups, reversed(skips)):
            x = up(x, skip)
        return self.head(x)


class Classifier(_Described):
    """U-Net encoder, global average pool, dropout and a linear layer: [N, C_in, H, W] -> [N, C_out].

    Meant for 64 x 64 inputs (any side >= ``self.multiple`` works).
    """

    def __init__(self, config: dict):
        super().__init__()
        cfg = validate_config(config)
        if cfg["arch"] != "classifier":
            raise OptionError(f"Classifier needs arch 'classifier', got {cfg['arch']!r}")
        self._describe(cfg)
        self.encoder = Encoder(cfg["in_channels"], cfg["base"], cfg["depth"], cfg["dropout"])
        self.drop = nn.Dropout(cfg["dropout"]) if cfg["dropout"] > 0 else nn.Identity()
        self.head = nn.Linear(cfg["base"] * 2 ** cfg["depth"], cfg["out_channels"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        if min(x.shape[-2:]) < self.multiple:
            raise InputError(f"classifier input sides must be at least {self.multiple}, got {tuple(x.shape[-2:])}")
        x, _ = self.encoder(x)
        return self.head(self.drop(x.mean(dim=(-2, -1))))


# --------------------------------------------------------------------------- building


def build_model(config: dict, *, rng: np.random.Generator | None = None, init: bool = True) -> nn.Module:
    """Build a network from its config, with fresh random weights (unless ``init=False``).

    Parameters
    ----------
    config : dict
        From :func:`default_config` (or a model file); ``arch`` "unet" or "classifier".
    rng : numpy.random.Generator, optional
        Source of the initial weights (He-normal for the leaky ReLU, zero biases). Pass a seeded
        generator for reproducible weights; by default a fresh unseeded one. (Building the
        layers still draws torch's default initialisation from torch's global random state,
        which these weights then replace.)
    init : bool
        False skips drawing those weights (the layers keep torch's default initialisation):
        for a network whose weights are loaded straight away, which saves about 25 ms per
        segmenter at start-up.

    Returns
    -------
    torch.nn.Module
        A :class:`UNet` or :class:`Classifier` in training mode, float32, on the CPU.
    """
    cfg = validate_config(config)
    net: nn.Module = UNet(cfg) if cfg["arch"] == "unet" else Classifier(cfg)
    if init:
        init_weights(net, rng if rng is not None else np.random.default_rng())
    return net


def init_weights(net: nn.Module, rng: np.random.Generator) -> None:
    """Re-initialise every conv / linear layer of ``net`` from ``rng`` (in place).

    Convolutions followed by a leaky ReLU get He-normal weights (std = gain / sqrt(fan_in));
    the output layers and the transposed convolutions get gain 1. Biases are zero, batch-norm
    layers are reset to the identity.
    """
    leaky_gain = math.sqrt(2.0 / (1.0 + NEGATIVE_SLOPE**2))
    block_convs = {id(m[0]) for m in net.modules() if isinstance(m, ConvBlock)}
    with torch.no_grad():
        for mod in net.modules():
            if isinstance(mod, ConvBlock):
                conv = mod[0]
                _fill(conv.weight, rng, leaky_gain / math.sqrt(conv.weight[0].numel()))
            elif isinstance(mod, nn.ConvTranspose2d):
                k = mod.kernel_size[0] * mod.kernel_size[1]
                s = mod.stride[0] * mod.stride[1]
                _fill(mod.weight, rng, 1.0 / math.sqrt(mod.in_channels * k / s))
            elif isinstance(mod, (nn.Linear, nn.Conv2d)) and id(mod) not in block_convs:
                _fill(mod.weight, rng, 1.0 / math.sqrt(mod.weight[0].numel()))
            elif isinstance(mod, nn.BatchNorm2d):
                mod.reset_parameters()
            bias = getattr(mod, "bias", None)
            if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and bias is not None:
                bias.zero_()


def _fill(t: torch.Tensor, rng: np.random.Generator, std: float) -> None:
    t.copy_(torch.from_numpy(rng.normal(0.0, std, size=tuple(t.shape)).astype(np.float32)))


def context_radius(config: dict) -> int:
    """One-sided receptive-field radius (px) of a U-Net: an upper bound on how far from an
    output pixel an input pixel can influence it.

    Tiles that keep at least this margin of real image around the part they contribute give
    exactly the untiled result (:func:`kymotrace.segment.predict`). 107 px for depth 4 with
    transposed convolutions, 137 px with bilinear upsampling (both checked against the
    gradient support of random networks in the tests).
    """
    cfg = validate_config(config)
    depth = cfg["depth"]
    strides = 2**depth - 1  # sum of 2**level over the pooled levels
    radius = 2 * strides  # two 3x3 convs per encoder level
    radius += strides  # 2x2 max pools (one-sided at most one pixel of their stride)
    radius += 2 * 2**depth  # bottom level
    if cfg["arch"] == "unet":
        radius += 2 * strides  # two 3x3 convs per decoder level
        if cfg.get("upsample") == "bilinear":
            # the 3x3 conv after each upsampling (stride 2**level) and the interpolation, which
            # together with the pooling reaches one more pixel of stride 2**level
            radius += 2 * strides
    return int(radius)


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in net.parameters() if p.requires_grad))
