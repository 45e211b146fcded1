"""Landmark network: a small inverted-residual encoder with a two-step upsampling decoder.

Input (B, 3, S, S) normalised RGB; outputs heatmap logits (B, 17, S/4, S/4) and two logits
(B, 2): hand presence and handedness (1 = right as seen in the crop). Everything is plain
Conv/BN/ReLU so onnxruntime fuses it well on the CPU.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .common import check_input_size


@dataclass
class LandmarkModelConfig:
    input_size: int = 128
    num_keypoints: int = 17
    width: float = 1.0       # channel multiplier
    decoder_channels: int = 48
    expand: float = 1.0      # multiplier on the hidden width of the expanding blocks (see widen_state_dict)
    fused: bool = False      # full 3x3 convolutions in the first, high-resolution blocks (FusedIR)
    light: bool = False      # 3x3 depthwise kernels instead of 5x5, no expansion in the stride-4 decoder block

    def __post_init__(self):
        # one side of a square crop; the encoder halves it four times and the decoder adds the
        # stride-16 features back, so another size failed only at the first forward pass (or deep
        # in the ONNX export) with a tensor-size mismatch
        check_input_size("input_size", self.input_size)

    def to_dict(self) -> dict:
        return asdict(self)


def conv_bn(cin, cout, k=3, s=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride=1, expand=4, k=3, mult=1.0):
        super().__init__()
        hid = cin * expand if expand == 1 else int(round(cin * expand * mult))
        layers = [] if expand == 1 else [conv_bn(cin, hid, 1)]
        layers += [conv_bn(hid, hid, k, stride, groups=hid), conv_bn(hid, cout, 1, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class FusedIR(nn.Module):
    """A fused inverted residual (EfficientNetV2's Fused-MBConv): one full 3x3 convolution to the
    hidden width (with the stride), then the 1x1 projection.

    Why: in training on a CPU the 1x1-expand + depthwise pair at 64x64 and 32x32 is bound by
    memory traffic (its backward pass more so); on the 2-core machine the first /4 block took 79 ms
    of a ~200 ms step at batch 32, its fused form 19 ms, with more parameters, not fewer."""

    def __init__(self, cin, cout, stride=1, expand=4, mult=1.0):
        super().__init__()
        hid = int(round(cin * expand * mult))
        self.block = nn.Sequential(conv_bn(cin, hid, 3, stride), conv_bn(hid, cout, 1, act=False))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class LandmarkNet(nn.Module):
    def __init__(self, cfg: LandmarkModelConfig = LandmarkModelConfig()):
        super().__init__()
        self.cfg = cfg
        c = [max(8, int(round(v * cfg.width / 8)) * 8) for v in (16, 24, 40, 80, 96)]
        # Why `light`: in CPU training a 5x5 depthwise backward costs ~2.5x a 3x3 one (mkldnn, batch
        # 32), and the expanded stride-4 decoder block (96 channels at S/4) was a third of a step.
        big_k = 3 if cfg.light else 5

        def IR(cin, cout, stride, expand, k=3):
            return InvertedResidual(cin, cout, stride, expand, min(k, big_k), mult=cfg.expand)

        if cfg.fused:
            self.stem = nn.Sequential(conv_bn(3, c[0], 3, 2), conv_bn(c[0], c[0], 3))  # /2
            first4, first8 = FusedIR(c[0], c[1], 2, 4, cfg.expand), FusedIR(c[1], c[2], 2, 4, cfg.expand)
        else:
            self.stem = nn.Sequential(conv_bn(3, c[0], 3, 2), IR(c[0], c[0], 1, 1))  # /2
            first4, first8 = IR(c[0], c[1], 2, 4), IR(c[1], c[2], 2, 4, 5)
        self.s4 = nn.Sequential(first4, IR(c[1], c[1], 1, 3))  # /4
        self.s8 = nn.Sequential(first8, IR(c[2], c[2], 1, 3, 5))  # /8
        self.s16 = nn.Sequential(IR(c[2], c[3], 2, 4, 5), IR(c[3], c[3], 1, 3, 5),
                                 IR(c[3], c[4], 1, 3, 5), IR(c[4], c[4], 1, 3, 5))  # /16
        d = cfg.decoder_channels
        self.lat16 = conv_bn(c[4], d, 1)
        self.lat8 = conv_bn(c[2], d, 1)
        self.lat4 = conv_bn(c[1], d, 1)
        self.ref8 = IR(d, d, 1, 2, 5)
        self.ref4 = IR(d, d, 1, 1 if cfg.light else 2, 5)
        self.head = nn.Conv2d(d, cfg.num_keypoints, 1)
        self.cls = nn.Sequential(nn.Linear(c[4], 64), nn.ReLU(inplace=True), nn.Linear(64, 2))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
        nn.init.normal_(self.head.weight, std=0.001)
        nn.init.zeros_(self.head.bias)

    def features(self, x):
        """(decoder output at stride 4 (B, D, S/4, S/4), encoder output at stride 16)."""
        x4 = self.s4(self.stem(x))
        x8 = self.s8(x4)
        x16 = self.s16(x8)
        y = F.interpolate(self.lat16(x16), scale_factor=2.0, mode="nearest") + self.lat8(x8)
        y = self.ref8(y)
        y = F.interpolate(y, scale_factor=2.0, mode="nearest") + self.lat4(x4)
        return self.ref4(y), x16

    def forward(self, x):
        y, x16 = self.features(x)
        return self.head(y), self.cls(x16.mean(dim=(2, 3)))


class LandmarkExportWrapper(nn.Module):
    """What goes into the ONNX file: softmax heatmaps and sigmoid scores (not logits)."""

    def __init__(self, net: LandmarkNet):
        super().__init__()
        self.net = net

    def forward(self, image):
        heat, logits = self.net(image)
        b, k, h, w = heat.shape
        prob = torch.softmax(heat.reshape(b, k, h * w), dim=-1).reshape(b, k, h, w)
        s = torch.sigmoid(logits)
        return prob, s[:, 0:1], s[:, 1:2]


@dataclass
class DetectorModelConfig:
    input_width: int = 256
    input_height: int = 192
    width: float = 1.0
    decoder_channels: int = 48
    expand: float = 1.0

    def __post_init__(self):
        # both sides, as LandmarkModelConfig's: the net was built from input_height alone, so a
        # width that is not a multiple of 16 failed at the first forward pass (or in the export)
        check_input_size("input_width", self.input_width)
        check_input_size("input_height", self.input_height)

    def to_dict(self) -> dict:
        return asdict(self)


class DetectorNet(LandmarkNet):
    """The landmark backbone with a CenterNet head at stride 4: centre logits (B, 1, h, w) and
    the 8 regression maps of ``tracker.detector_codec`` (B, 8, h, w)."""

    def __init__(self, cfg: DetectorModelConfig = DetectorModelConfig()):
        super().__init__(LandmarkModelConfig(input_size=cfg.input_height, num_keypoints=9,
                                             width=cfg.width, decoder_channels=cfg.decoder_channels,
                                             expand=cfg.expand))
        self.det_cfg = cfg
        del self.cls
        nn.init.constant_(self.head.bias[:1], -4.0)  # focal-loss prior: few cells are centres

    def forward(self, x):
        y = self.head(self.features(x)[0])
        return y[:, :1], y[:, 1:]


def config_kind(model_config: dict) -> str:
    """The model a checkpoint's ``model_config`` describes: "detector" when it has an input width
    (the detector's frames are not square), "landmarks" (a square ``input_size``) otherwise."""
    return "detector" if "input_width" in model_config else "landmarks"


def build_net(model_config: dict) -> LandmarkNet:
    """The net a checkpoint's ``model_config`` describes (:func:`config_kind`)."""
    if config_kind(model_config) == "detector":
        return DetectorNet(DetectorModelConfig(**model_config))
    return LandmarkNet(LandmarkModelConfig(**model_config))


class DetectorExportWrapper(nn.Module):
    """ONNX outputs: ``heatmap`` sigmoid centre probabilities, ``regress`` raw maps."""

    def __init__(self, net: DetectorNet):
        super().__init__()
        self.net = net

    def forward(self, image):
        heat, reg = self.net(image)
        return torch.sigmoid(heat), reg


def widen_state_dict(old: dict, net: nn.Module) -> dict:
    """Weights for ``net`` (built with a larger ``expand``) that compute exactly what ``old`` did.

    Each expanding block's hidden channels grow: the old channels keep their weights, the new ones
    keep ``net``'s random initialisation in the expand and depthwise convolutions, and their columns
    of the projection are zero, so the output is unchanged while gradients reach the new channels
    (they start to contribute as soon as training moves those zeros). ``old`` tensors must fit in
    the leading slice of ``net``'s; any other shape difference raises ValueError naming the tensor.
    """
    new = {k: v.clone() for k, v in net.state_dict().items()}
    for k, v in old.items():
        if k not in new:
            raise ValueError(f"widen: {k} is not in the wider network")
        t = new[k]
        if v.dim() != t.dim() or any(a > b for a, b in zip(v.shape, t.shape)):
            raise ValueError(f"widen: {k} has shape {tuple(v.shape)}, cannot fit into {tuple(t.shape)}")
        if v.shape == t.shape:
            new[k] = v.clone()
            continue
        if k.endswith("running_mean") or k.endswith("running_var") or k.endswith(".weight") or k.endswith(".bias"):
            t[tuple(slice(0, n) for n in v.shape)] = v
        else:
            raise ValueError(f"widen: unexpected grown tensor {k}")
        # a projection conv (hidden -> out): the new input channels must contribute nothing
        if t.dim() == 4 and t.shape[0] == v.shape[0] and t.shape[1] > v.shape[1]:
            t[:, v.shape[1]:] = 0
    return new
