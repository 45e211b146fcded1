"""train.widen: a wider network that starts out computing exactly what the trained one did."""
import pytest
import torch

from tests.nets import randomize_bn
from tests.train.test_train_cli import tiny_coco
from train.model import DetectorModelConfig, DetectorNet, LandmarkModelConfig, LandmarkNet, widen_state_dict
from train.train_landmarks import TrainConfig, train
from train.widen import main as widen_main
from train.widen import widen_checkpoint


@pytest.mark.parametrize("make", [
    lambda e: LandmarkNet(LandmarkModelConfig(input_size=64, expand=e)),
    lambda e: LandmarkNet(LandmarkModelConfig(input_size=64, expand=e, fused=True)),
    lambda e: DetectorNet(DetectorModelConfig(96, 64, expand=e)),
], ids=["landmarks", "landmarks-fused", "detector"])
def test_widened_network_computes_the_same_and_can_learn(make):
    torch.manual_seed(0)
    old, wide = randomize_bn(make(1.0)).eval(), make(1.5).eval()
    n_old = sum(p.numel() for p in old.parameters())
    assert sum(p.numel() for p in wide.parameters()) > 1.3 * n_old
    wide.load_state_dict(widen_state_dict(old.state_dict(), wide))
    x = torch.randn(2, 3, 64, 96 if isinstance(old, DetectorNet) else 64)
    with torch.no_grad():
        for a, b in zip(old(x), wide(x)):
            assert torch.allclose(a, b, atol=1e-5)
    # one training step: the zero projection columns receive gradient and the output moves
    wide.train()
    opt = torch.optim.SGD(wide.parameters(), lr=0.1)
    sum(o.square().mean() for o in wide(x)).backward()
    proj = wide.s16[1].block[2][0].weight
    hid_old = old.s16[1].block[2][0].weight.shape[1]
    assert proj.grad[:, hid_old:].abs().sum() > 0
    opt.step()
    assert proj[:, hid_old:].abs().sum() > 0


def test_widen_rejects_what_does_not_fit():
    small = LandmarkNet(LandmarkModelConfig(input_size=64)).state_dict()
    other = LandmarkNet(LandmarkModelConfig(input_size=64, width=0.5, expand=1.5))
    with pytest.raises(ValueError, match="cannot fit"):
        widen_state_dict(small, other)


def test_widened_checkpoint_resumes_its_run(tmp_path):
    data = tiny_coco(tmp_path / "data")
    cfg = dict(data=str(data), input_size=64, batch_size=4, workers=0, threads=1, eval_hands=6, warmup_steps=2)
    train(TrainConfig(**cfg, out=str(tmp_path / "a"), minutes=5, max_steps=3))
    widen_checkpoint(tmp_path / "a" / "last.pt", tmp_path / "b" / "last.pt", 1.5)
    ck = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert ck["model_config"]["expand"] == 1.5 and "optimizer" not in ck and ck["state"]["step"] == 3
    with pytest.raises(ValueError, match="cannot resume"):  # the options must name the new width
        train(TrainConfig(**cfg, out=str(tmp_path / "b"), minutes=5, max_steps=4))
    train(TrainConfig(**cfg, out=str(tmp_path / "b"), minutes=10, max_steps=5, expand=1.5, new_cycle=True))
    ck = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert ck["state"]["step"] == 5 and ck["state"]["cycle"]["step"] == 3
    assert [h["step"] for h in ck["state"]["history"]][0] == 0  # the curve goes on from the first run
    with pytest.raises(ValueError, match="below"):
        widen_checkpoint(tmp_path / "b" / "last.pt", tmp_path / "c" / "last.pt", 1.0)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        widen_checkpoint(tmp_path / "nope.pt", tmp_path / "c" / "last.pt", 2.0)


def test_fused_net_has_the_same_outputs_and_fused_first_blocks():
    """``fused``: full 3x3 convolutions in the /2, /4 and /8 entry blocks, same output shapes."""
    from train.model import FusedIR, InvertedResidual
    plain, fused = (LandmarkNet(LandmarkModelConfig(input_size=64, fused=f)) for f in (False, True))
    assert isinstance(fused.s4[0], FusedIR) and isinstance(fused.s8[0], FusedIR)
    assert isinstance(plain.s4[0], InvertedResidual) and isinstance(plain.s8[0], InvertedResidual)
    assert fused.s4[0].block[0][0].groups == 1 and fused.s4[0].block[0][0].kernel_size == (3, 3)
    x = torch.randn(2, 3, 64, 64)
    for a, b in zip(plain(x), fused(x)):
        assert a.shape == b.shape


def test_light_net_has_3x3_depthwise_kernels_and_the_same_outputs():
    """``light``: no 5x5 kernel left, the stride-4 decoder block unexpanded, same output shapes;
    the default net keeps its 5x5 kernels (older checkpoints load into it)."""
    from torch import nn
    default, light = (LandmarkNet(LandmarkModelConfig(input_size=64, fused=True, light=v)) for v in (False, True))
    kernels = lambda net: {m.kernel_size for m in net.modules() if isinstance(m, nn.Conv2d)}  # noqa: E731
    assert (5, 5) in kernels(default) and (5, 5) not in kernels(light)
    assert len(light.ref4.block) == 2 and len(default.ref4.block) == 3   # (expand,) depthwise, project
    x = torch.randn(2, 3, 64, 64)
    for a, b in zip(default(x), light(x)):
        assert a.shape == b.shape


def test_widen_refuses_its_own_input_as_output_and_files_that_are_not_checkpoints(tmp_path):
    ck = tmp_path / "last.pt"
    torch.save({"model": LandmarkNet(LandmarkModelConfig(input_size=64)).state_dict(),
                "model_config": LandmarkModelConfig(input_size=64).to_dict()}, ck)
    before = ck.read_bytes()
    with pytest.raises(ValueError, match="dst .*last.pt: would overwrite the input"):
        widen_checkpoint(ck, tmp_path / "." / "last.pt", 2.0)
    assert ck.read_bytes() == before
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07onnx")
    with pytest.raises(ValueError, match="model.onnx is not a training checkpoint"):
        widen_checkpoint(tmp_path / "model.onnx", tmp_path / "wide.pt", 2.0)


def test_widen_keeps_an_existing_checkpoint_unless_told(tmp_path):
    """The documented flow widens into a run folder and trains there: the same widen command run
    again replaced that run's trained last.pt with the untrained widening, without a word."""
    data = tiny_coco(tmp_path / "data", n=6)
    train(TrainConfig(data=str(data), out=str(tmp_path / "a"), input_size=64, batch_size=4, workers=0,
                      threads=1, eval_hands=4, max_steps=1, warmup_steps=1))
    dst = tmp_path / "b" / "last.pt"
    widen_checkpoint(tmp_path / "a" / "last.pt", dst, 1.5)
    dst.write_bytes(b"trained since")                   # stands for the run trained on after widening
    with pytest.raises(ValueError, match=r"dst .*last.pt: already exists.*--overwrite"):
        widen_checkpoint(tmp_path / "a" / "last.pt", dst, 1.5)
    assert dst.read_bytes() == b"trained since"
    with pytest.raises(SystemExit, match="already exists"):
        widen_main([str(tmp_path / "a" / "last.pt"), str(dst), "--expand", "1.5"])
    widen_main([str(tmp_path / "a" / "last.pt"), str(dst), "--expand", "1.5", "--overwrite"])
    assert torch.load(dst, weights_only=False)["model_config"]["expand"] == 1.5
