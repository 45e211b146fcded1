"""Session 44 mutation audit of train/model.py: the landmark and detector networks, their blocks,
the export wrappers, ``config_kind`` / ``build_net`` and ``widen_state_dict``.

Contracts checked, each against a reference that does not come from the code's current output:

* ``conv_bn``, ``InvertedResidual`` and ``FusedIR`` compute what a hand-built ``torch.nn.functional``
  version of the block computes (conv with padding k // 2 and the given stride and groups, no conv
  bias, BatchNorm, ReLU but not after the projection; the residual only at stride 1 with equal
  widths; the fused block's stride on its 3x3 convolution), in eval and in training mode;
* a whole ``LandmarkNet`` (plain, fused, light, widened, the shipped width) and ``DetectorNet`` compute
  what the architecture its comments describe computes: stem /2, the /4, /8, /16 stages, nearest x2
  upsampling with the stride-8 and stride-4 laterals, the two refinement blocks, the 1x1 head, and
  the presence/handedness head on the mean-pooled stride-16 features;
* the shipped checkpoints (assets/checkpoints) load into ``build_net`` of their own ``model_config``,
  and ``landmarks_last.pt`` / ``detector_last.pt`` under the export wrappers compute what the shipped
  ``landmarks.onnx`` / ``detector.onnx`` compute;
* the export wrappers: a spatial softmax per keypoint, ``presence`` = sigmoid of logit 0 and
  ``handedness`` = sigmoid of logit 1 in the shipped file's output order; the detector's sigmoid
  centre map and raw regression maps;
* ``width`` is a channel multiplier (exact where the product is a multiple of 8), ``decoder_channels``
  reaches the detector, the detector's focal-loss prior sits on its centre channel;
* ``config_kind`` keys on ``input_width`` only, ``build_net`` builds the matching net;
* ``widen_state_dict`` refuses an unknown tensor and a tensor of another rank as ValueError naming it;
* the configs' defaults are the training CLIs' defaults and those older checkpoints rely on.

Each test kills hand-made mutants the rest of the suite let through (docs/model_history.md, Session 44).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from tests.nets import randomize_bn  # noqa: E402
from train.model import (DetectorExportWrapper, DetectorModelConfig, DetectorNet, FusedIR,  # noqa: E402
                         InvertedResidual, LandmarkExportWrapper, LandmarkModelConfig, LandmarkNet, build_net,
                         config_kind, conv_bn, widen_state_dict)

REPO = Path(__file__).resolve().parents[2]
CHECKPOINTS = REPO / "assets" / "checkpoints"


@pytest.fixture(autouse=True)
def _seeded():
    torch.manual_seed(0)
    torch.set_num_threads(1)   # small nets: threads only contend on a busy machine (conftest restores)


# --- hand-built references of the blocks ----------------------------------------------------------

def _ref_conv_bn(x, seq, cin, cout, k, s=1, groups=1, act=True, train=False):
    """Conv2d (k x k, stride s, padding k // 2, no bias) -> BatchNorm -> ReLU (when ``act``), with
    ``seq``'s weights; in training mode BatchNorm normalises with the batch's statistics."""
    assert isinstance(seq[0], nn.Conv2d) and isinstance(seq[1], nn.BatchNorm2d), seq
    conv, bn = seq[0], seq[1]
    assert conv.bias is None
    assert tuple(conv.weight.shape) == (cout, cin // groups, k, k)
    y = F.conv2d(x, conv.weight, None, s, k // 2, 1, groups)
    if train:
        y = F.batch_norm(y, None, None, bn.weight, bn.bias, True, 0.0, bn.eps)
    else:
        y = F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    return torch.clamp_min(y, 0.0) if act else y


def _ref_ir(x, blk, cin, cout, stride, expand, k, mult=1.0, train=False):
    """MobileNetV2's inverted residual: (1x1 expand to cin * expand * mult) -> k x k depthwise with
    the stride -> 1x1 projection without activation; + x only at stride 1 with cin == cout."""
    assert isinstance(blk, InvertedResidual)
    layers = list(blk.block)
    hid = cin if expand == 1 else round(cin * expand * mult)
    y = x
    if expand != 1:
        y = _ref_conv_bn(y, layers.pop(0), cin, hid, 1, train=train)
    y = _ref_conv_bn(y, layers.pop(0), hid, hid, k, stride, groups=hid, train=train)
    y = _ref_conv_bn(y, layers.pop(0), hid, cout, 1, act=False, train=train)
    assert not layers
    return x + y if stride == 1 and cin == cout else y


def _ref_fused(x, blk, cin, cout, stride, expand=4, mult=1.0, train=False):
    """Fused-MBConv: a full 3x3 convolution to cin * expand * mult with the stride, then the 1x1
    projection without activation; + x only at stride 1 with cin == cout."""
    assert isinstance(blk, FusedIR)
    a, b = blk.block
    hid = round(cin * expand * mult)
    y = _ref_conv_bn(x, a, cin, hid, 3, stride, train=train)
    y = _ref_conv_bn(y, b, hid, cout, 1, act=False, train=train)
    return x + y if stride == 1 and cin == cout else y


def _up2(t):
    """Nearest-neighbour upsampling by 2, without F.interpolate."""
    return t.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


def _stage_widths(width):
    """The five stage widths 16, 24, 40, 80, 96 times ``width``, each to a multiple of 8 (MobileNet's
    rule: the nearest one, at least 8)."""
    return [max(8, int(round(v * width / 8)) * 8) for v in (16, 24, 40, 80, 96)]


def _ref_net(net, x, train=False):
    """What the architecture described in train/model.py computes, block by block: (heat, logits)
    for a LandmarkNet, (centre, regress) for a DetectorNet."""
    cfg = net.cfg
    c0, c1, c2, c3, c4 = _stage_widths(cfg.width)
    m, big = cfg.expand, (3 if cfg.light else 5)
    kk = lambda k: min(k, big)  # noqa: E731  light: no 5x5 kernel
    y = _ref_conv_bn(x, net.stem[0], 3, c0, 3, 2, train=train)                              # /2
    if cfg.fused:
        y = _ref_conv_bn(y, net.stem[1], c0, c0, 3, train=train)
        x4 = _ref_fused(y, net.s4[0], c0, c1, 2, 4, m, train=train)
    else:
        y = _ref_ir(y, net.stem[1], c0, c0, 1, 1, kk(3), m, train=train)
        x4 = _ref_ir(y, net.s4[0], c0, c1, 2, 4, kk(3), m, train=train)
    x4 = _ref_ir(x4, net.s4[1], c1, c1, 1, 3, kk(3), m, train=train)                          # /4
    if cfg.fused:
        x8 = _ref_fused(x4, net.s8[0], c1, c2, 2, 4, m, train=train)
    else:
        x8 = _ref_ir(x4, net.s8[0], c1, c2, 2, 4, kk(5), m, train=train)
    x8 = _ref_ir(x8, net.s8[1], c2, c2, 1, 3, kk(5), m, train=train)                          # /8
    x16 = _ref_ir(x8, net.s16[0], c2, c3, 2, 4, kk(5), m, train=train)
    x16 = _ref_ir(x16, net.s16[1], c3, c3, 1, 3, kk(5), m, train=train)
    x16 = _ref_ir(x16, net.s16[2], c3, c4, 1, 3, kk(5), m, train=train)
    x16 = _ref_ir(x16, net.s16[3], c4, c4, 1, 3, kk(5), m, train=train)                       # /16
    d = cfg.decoder_channels
    y = _up2(_ref_conv_bn(x16, net.lat16, c4, d, 1, train=train)) + _ref_conv_bn(x8, net.lat8, c2, d, 1, train=train)
    y = _ref_ir(y, net.ref8, d, d, 1, 2, kk(5), m, train=train)
    y = _up2(y) + _ref_conv_bn(x4, net.lat4, c1, d, 1, train=train)
    y = _ref_ir(y, net.ref4, d, d, 1, 1 if cfg.light else 2, kk(5), m, train=train)
    assert tuple(net.head.weight.shape) == (cfg.num_keypoints, d, 1, 1)
    heat = F.conv2d(y, net.head.weight, net.head.bias)
    if isinstance(net, DetectorNet):
        return heat[:, :1], heat[:, 1:]
    lin1, lin2 = net.cls[0], net.cls[-1]
    assert isinstance(lin1, nn.Linear) and isinstance(lin2, nn.Linear) and lin2.out_features == 2
    pooled = x16.mean(dim=(2, 3))
    logits = F.linear(torch.clamp_min(F.linear(pooled, lin1.weight, lin1.bias), 0.0), lin2.weight, lin2.bias)
    return heat, logits


def _close(a, b, tol=1e-4):
    assert a.shape == b.shape, (a.shape, b.shape)
    err = (a - b).abs().max().item()
    assert err <= tol * (1.0 + b.abs().max().item()), err


# --- conv_bn and the blocks -----------------------------------------------------------------------

@pytest.mark.parametrize("k,s,groups,act", [(3, 1, 1, True), (5, 2, 2, True), (1, 1, 1, False), (3, 2, 4, False)])
def test_conv_bn_is_conv_batchnorm_relu(k, s, groups, act):
    """conv_bn: a k x k convolution (stride s, padding k // 2, ``groups``, no bias), BatchNorm, then
    ReLU unless ``act=False``; large inputs show a clipping activation (ReLU6) too."""
    seq = randomize_bn(conv_bn(4, 8, k, s, groups=groups, act=act)).eval()
    x = 10 * torch.randn(2, 4, 9, 9)
    with torch.no_grad():
        got, want = seq(x), _ref_conv_bn(x, seq, 4, 8, k, s, groups, act)
    _close(got, want)
    assert want.abs().max() > 6          # the test reaches where ReLU6 would clip
    assert (got < 0).any() != act        # no activation: negative outputs stay


@pytest.mark.parametrize("cin,cout,stride,expand,k,mult", [
    (8, 8, 1, 4, 5, 1.0),     # the residual case
    (8, 8, 2, 4, 3, 1.0),     # equal widths at stride 2: no residual (the shapes differ)
    (8, 16, 1, 3, 5, 1.5),    # other widths at stride 1: no residual; widened hidden layer
    (8, 8, 1, 1, 3, 2.0),     # no expansion: the hidden width is cin whatever the multiplier
])
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_inverted_residual_matches_a_hand_built_block(cin, cout, stride, expand, k, mult, train):
    blk = randomize_bn(InvertedResidual(cin, cout, stride, expand, k, mult=mult)).train(train)
    x = torch.randn(2, cin, 12, 12)
    with torch.no_grad():
        got, want = blk(x), _ref_ir(x, blk, cin, cout, stride, expand, k, mult, train=train)
    assert got.shape == (2, cout, 12 // stride, 12 // stride)
    _close(got, want)


@pytest.mark.parametrize("cin,cout,stride,mult", [(8, 8, 1, 1.0), (8, 16, 2, 1.0), (8, 8, 2, 1.5), (8, 8, 1, 2.0)])
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_fused_ir_matches_a_hand_built_block(cin, cout, stride, mult, train):
    """In training mode the BatchNorm after the 3x3 convolution normalises the strided map: with the
    stride moved to the projection it would see the full-resolution one (same output in eval mode)."""
    blk = randomize_bn(FusedIR(cin, cout, stride, 4, mult)).train(train)
    x = torch.randn(2, cin, 12, 12)
    with torch.no_grad():
        got, want = blk(x), _ref_fused(x, blk, cin, cout, stride, 4, mult, train=train)
    assert got.shape == (2, cout, 12 // stride, 12 // stride)
    _close(got, want)


# --- whole nets -----------------------------------------------------------------------------------

LANDMARK_CONFIGS = {
    "default": dict(input_size=64),
    "shipped-width": dict(input_size=64, width=1.25, expand=2.0),
    "fused-widened": dict(input_size=64, fused=True, expand=1.5),
    "fused-light": dict(input_size=64, fused=True, light=True),
    "light": dict(input_size=64, light=True, decoder_channels=32),
}


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
@pytest.mark.parametrize("name", list(LANDMARK_CONFIGS))
def test_landmark_net_computes_the_documented_architecture(name, train):
    net = randomize_bn(LandmarkNet(LandmarkModelConfig(**LANDMARK_CONFIGS[name]))).train(train)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        heat, logits = net(x)
        ref_heat, ref_logits = _ref_net(net, x, train=train)
    assert heat.shape == (2, 17, 16, 16) and logits.shape == (2, 2)
    _close(heat, ref_heat)
    _close(logits, ref_logits)


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_detector_net_computes_the_documented_architecture(train):
    """The landmark backbone with a 9-channel head at stride 4: centre logits (B, 1, h, w) first, the
    8 regression maps (B, 8, h, w) after them."""
    net = randomize_bn(DetectorNet(DetectorModelConfig(96, 64, expand=1.5))).train(train)
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        heat, reg = net(x)
        ref_heat, ref_reg = _ref_net(net, x, train=train)
    assert heat.shape == (2, 1, 16, 24) and reg.shape == (2, 8, 16, 24)
    _close(heat, ref_heat)
    _close(reg, ref_reg)


def test_width_is_a_channel_multiplier():
    """Where 16, 24, 40, 80, 96 times ``width`` is a multiple of 8 the stage has exactly that many
    channels: width 0.5 halves the 16-channel stem to 8, width 2 doubles every stage."""
    def widths(net):
        return [net.stem[0][0].out_channels, net.s4[-1].block[-1][0].out_channels,
                net.s8[-1].block[-1][0].out_channels, net.s16[0].block[-1][0].out_channels,
                net.s16[-1].block[-1][0].out_channels]
    half = widths(LandmarkNet(LandmarkModelConfig(input_size=64, width=0.5)))
    assert (half[0], half[3], half[4]) == (8, 40, 48)
    assert widths(LandmarkNet(LandmarkModelConfig(input_size=64, width=2.0))) == [32, 48, 80, 160, 192]
    assert widths(LandmarkNet(LandmarkModelConfig(input_size=64))) == [16, 24, 40, 80, 96]


def test_detector_config_reaches_the_net():
    """``decoder_channels`` and ``width`` of a DetectorModelConfig build the net they name."""
    net = DetectorNet(DetectorModelConfig(64, 48, width=0.5, decoder_channels=32))
    assert net.head.in_channels == 32 and net.head.out_channels == 9
    assert net.stem[0][0].out_channels == 8
    assert not hasattr(net, "cls")


def test_the_detector_starts_with_few_centres():
    """Focal-loss prior: a fresh detector scores every cell well below 0.5 as a centre (bias -4:
    sigmoid 0.018), on its centre channel, not on a regression map."""
    net = DetectorNet(DetectorModelConfig(64, 64)).eval()
    with torch.no_grad():
        heat, reg = net(torch.randn(1, 3, 64, 64))
    assert torch.sigmoid(heat).max() < 0.05 and reg.shape == (1, 8, 16, 16)


def test_detector_net_refuses_a_frame_height_no_net_can_run():
    """As LandmarkModelConfig's input size: the encoder halves the frame four times and the decoder
    adds the stride-16 features back, so a side that is not a multiple of 16 is refused when the net
    is made, not at its first forward pass."""
    with pytest.raises(ValueError, match="100"):
        DetectorNet(DetectorModelConfig(input_width=64, input_height=100))


def test_detector_net_refuses_a_frame_width_no_net_can_run():
    """The width too (session 44: only the height was checked; a bad width built a net that failed
    at its first forward pass, and export_detector with a tensor-size RuntimeError)."""
    with pytest.raises(ValueError, match="input_width.*100"):
        DetectorNet(DetectorModelConfig(input_width=100, input_height=64))


# --- the shipped checkpoints and models -----------------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    return {p.name: torch.load(p, map_location="cpu", weights_only=False) for p in sorted(CHECKPOINTS.glob("*.pt"))}


def test_every_shipped_checkpoint_loads_into_the_net_its_config_names(shipped):
    """build_net(model_config) is what --init, widen and train-step build from a checkpoint; the
    older ones carry no ``fused`` / ``light`` and rely on the defaults."""
    assert len(shipped) >= 2
    for name, ck in shipped.items():
        net = build_net(ck["model_config"])
        assert isinstance(net, DetectorNet) == name.startswith("detector"), name
        net.load_state_dict(ck["model"])      # strict: every tensor, every shape


@pytest.mark.parametrize("ckpt,onnx_file,shape", [
    ("landmarks_last.pt", "landmarks.onnx", (1, 3, 160, 160)),
    ("detector_last.pt", "detector.onnx", (1, 3, 240, 320)),
])
def test_the_shipped_checkpoint_computes_what_the_shipped_model_does(shipped, ckpt, onnx_file, shape):
    """The shipped ONNX files were exported from these checkpoints: the net that fine-tuning starts
    from (--init) must still compute them, output for output."""
    ck = shipped[ckpt]
    net = build_net(ck["model_config"])
    net.load_state_dict(ck["model"])
    wrap = (DetectorExportWrapper if isinstance(net, DetectorNet) else LandmarkExportWrapper)(net.eval()).eval()
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    with torch.no_grad():
        got = [o.numpy() for o in wrap(torch.from_numpy(x))]
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(REPO / "assets" / onnx_file), so, providers=["CPUExecutionProvider"])
    want = sess.run(None, {"image": x})
    assert len(got) == len(want)
    for o, a, b in zip(sess.get_outputs(), got, want):
        assert a.shape == b.shape, o.name
        assert np.abs(a - b).max() <= 1e-3 * np.abs(b).max() + 1e-6, o.name


# --- the export wrappers --------------------------------------------------------------------------

class _Fixed(nn.Module):
    def __init__(self, *outs):
        super().__init__()
        self.outs = outs

    def forward(self, image):
        return self.outs


def test_landmark_export_wrapper_gives_softmax_maps_then_presence_then_handedness():
    """landmarks.onnx's outputs, in order: heatmaps (a softmax over each keypoint's cells), presence
    = sigmoid(logit 0) (the logit the presence loss trains), handedness = sigmoid(logit 1)."""
    sess = ort.InferenceSession(str(REPO / "assets" / "landmarks.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["heatmaps", "presence", "handedness"]
    heat = torch.randn(2, 3, 4, 5) * 3
    logits = torch.tensor([[2.0, -1.0], [-3.0, 0.5]])
    prob, presence, handedness = LandmarkExportWrapper(_Fixed(heat, logits))(torch.zeros(2, 3, 16, 16))
    e = np.exp(heat.numpy().astype(np.float64))
    want = e / e.sum(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(prob.numpy(), want, rtol=1e-5, atol=1e-7)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    np.testing.assert_allclose(presence.numpy(), sig(np.array([[2.0], [-3.0]])), rtol=1e-6)
    np.testing.assert_allclose(handedness.numpy(), sig(np.array([[-1.0], [0.5]])), rtol=1e-6)


def test_detector_export_wrapper_gives_sigmoid_centres_and_raw_regressions():
    heat = torch.tensor([[[[-4.0, 0.0], [2.0, 1.0]]]])
    reg = torch.randn(1, 8, 2, 2) * 5
    c, r = DetectorExportWrapper(_Fixed(heat, reg))(torch.zeros(1, 3, 8, 8))
    np.testing.assert_allclose(c.numpy(), 1 / (1 + np.exp(-heat.numpy())), rtol=1e-6)
    assert torch.equal(r, reg)


# --- config_kind and build_net --------------------------------------------------------------------

@pytest.mark.parametrize("mc,kind", [
    ({}, "landmarks"), ({"width": 0.5}, "landmarks"), (LandmarkModelConfig().to_dict(), "landmarks"),
    ({"input_width": 320}, "detector"), (DetectorModelConfig().to_dict(), "detector"),
])
def test_config_kind_is_detector_exactly_when_there_is_an_input_width(mc, kind):
    assert config_kind(mc) == kind
    net = build_net(mc)
    assert type(net) is (DetectorNet if kind == "detector" else LandmarkNet)


# --- widen_state_dict's refusals ------------------------------------------------------------------

def test_widen_refuses_a_tensor_the_wider_net_lacks():
    net = LandmarkNet(LandmarkModelConfig(input_size=64, expand=1.5))
    old = {**LandmarkNet(LandmarkModelConfig(input_size=64)).state_dict(), "extra.weight": torch.zeros(3)}
    with pytest.raises(ValueError, match=r"extra\.weight"):
        widen_state_dict(old, net)


def test_widen_refuses_a_tensor_of_another_rank():
    net = LandmarkNet(LandmarkModelConfig(input_size=64, expand=1.5))
    old = LandmarkNet(LandmarkModelConfig(input_size=64)).state_dict()
    old["head.bias"] = old["head.bias"][:, None]           # (17, 1) where the net has (17,)
    with pytest.raises(ValueError, match=r"head\.bias"):
        widen_state_dict(old, net)


# --- defaults -------------------------------------------------------------------------------------

def _default(cls, name):
    return next(f.default for f in dataclasses.fields(cls) if f.name == name)


def test_config_defaults_are_the_training_clis_and_the_older_checkpoints(shipped):
    """A config built without a field gets what the training options build: the input sizes of
    train_landmarks / train_detector, the ``expand`` / ``fused`` that older checkpoints without
    them were trained with (common.CONFIG_DEFAULTS), and the one decoder width every net was
    trained with (the CLIs have no option for it)."""
    from train import train_detector, train_landmarks
    from train.common import CONFIG_DEFAULTS

    lm, det = LandmarkModelConfig(), DetectorModelConfig()
    assert lm.input_size == _default(train_landmarks.TrainConfig, "input_size")
    assert (det.input_width, det.input_height) == (_default(train_detector.DetTrainConfig, "input_width"),
                                                  _default(train_detector.DetTrainConfig, "input_height"))
    for k, v in CONFIG_DEFAULTS.items():
        assert getattr(lm, k) == v, k
    for k in ("width", "expand"):
        assert getattr(lm, k) == getattr(det, k) == _default(train_landmarks.TrainConfig, k), k
    for k in ("fused", "light"):
        assert getattr(lm, k) == _default(train_landmarks.TrainConfig, k), k
    assert lm.num_keypoints == 17
    assert {ck["model_config"]["decoder_channels"] for ck in shipped.values()} == {lm.decoder_channels,
                                                                                     det.decoder_channels}
