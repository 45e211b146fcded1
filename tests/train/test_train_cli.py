"""Training CLIs on a tiny generated COCO set: resume from the checkpoint, torchrun (DDP),
clear errors for a bad data path."""
import json
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from train.train_landmarks import TrainConfig, train


def tiny_coco(root, n=12, size=96):
    """n photos with a drawn 21-point hand each, as a COCO keypoints train/val pair."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(n):
        img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        c = rng.uniform(35, 60, 2)
        ang = np.linspace(0, 2 * np.pi, 21, endpoint=False)
        kp = np.stack([c[0] + 20 * np.cos(ang), c[1] + 20 * np.sin(ang)], 1)
        for p in kp.astype(int):
            cv2.circle(img, tuple(int(v) for v in p), 2, (255, 255, 255), -1)
        name = f"images/{i}.png"
        cv2.imwrite(str(root / name), img)
        images.append({"id": i, "file_name": name, "width": size, "height": size})
        anns.append({"id": i, "image_id": i, "keypoints": np.c_[kp, np.ones(21)].ravel().tolist(),
                     "handedness": "right" if i % 2 else "left", "handedness_score": 1.0})
    for split in ("train", "val"):
        (root / f"{split}.json").write_text(json.dumps({"images": images, "annotations": anns, "categories": []}))
    return root


def test_resumes_from_last_checkpoint(tmp_path):
    data = tiny_coco(tmp_path / "data")
    cfg = dict(data=str(data), out=str(tmp_path / "run"), input_size=64, batch_size=4, workers=0,
               threads=1, eval_hands=6, minutes=5, warmup_steps=2)
    train(TrainConfig(**cfg, max_steps=3))
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["state"]["step"] == 3
    assert ck["codec"]["input_size"] == [64, 64] and ck["model_config"]["input_size"] == 64
    train(TrainConfig(**cfg, max_steps=5))
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["state"]["step"] == 5  # continued, not restarted
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["step"] for h in hist][0] == 0 and hist[-1]["step"] == 5
    for f in ("curve.png", "val_grid.png", "train.log"):
        assert (tmp_path / "run" / f).stat().st_size > 0


@pytest.mark.parametrize("content, message", [
    (b"not a checkpoint", r"the checkpoint to resume \(in --out\) .*last.pt is not a training checkpoint"),
    ({"model": {}, "model_config": {}}, "cannot resume .*last.pt: it has no training-loop state"),
])
def test_a_last_checkpoint_that_cannot_be_resumed_is_one_clear_error(tmp_path, content, message):
    """--out holding a last.pt that is no run of this loop: one error naming it, the file kept."""
    data = tiny_coco(tmp_path / "data", n=4)
    (tmp_path / "run").mkdir()
    last = tmp_path / "run" / "last.pt"
    if isinstance(content, bytes):
        last.write_bytes(content)
    else:
        torch.save(content, last)
    before = last.read_bytes()
    with pytest.raises(ValueError, match=message):
        train(TrainConfig(data=str(data), out=str(tmp_path / "run"), input_size=64, batch_size=4, workers=0,
                          threads=1, eval_hands=2, minutes=5, max_steps=1))
    assert last.read_bytes() == before


@pytest.mark.parametrize("module", ["train.train_landmarks", "train.train_detector"])
def test_bad_data_path_is_one_clear_error(tmp_path, module):
    r = subprocess.run([sys.executable, "-m", module, "--data", str(tmp_path / "nope"),
                        "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "data path not found" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_unknown_augment_preset_is_one_clear_error_before_loading_data(tmp_path, capsys):
    from train.train_landmarks import main
    # the data path does not exist either: the option is checked first, in well under a second
    with pytest.raises(SystemExit) as e:
        main(["--augment", "strong", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")])
    assert e.value.code == 2       # a usage error, as argparse's own refusals
    assert "--augment 'strong': unknown, expected one of" in capsys.readouterr().err.splitlines()[-1]
    assert not (tmp_path / "run" / "last.pt").exists()


def test_runs_under_torchrun_ddp(tmp_path):
    data = tiny_coco(tmp_path / "data")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "train.train_landmarks", "--data", str(data),
                        "--out", str(tmp_path / "run"), "--input-size", "64", "--batch-size", "4",
                        "--workers", "0", "--threads", "1", "--eval-hands", "6", "--max-steps", "2",
                        "--warmup-steps", "1"], capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["state"]["step"] == 2


def test_new_cycle_restarts_the_learning_rate_once(tmp_path):
    from train.common import lr_at, start_cycle
    cfg = TrainConfig(minutes=200, lr=1e-3, warmup_steps=10, new_cycle=True)
    state = {"step": 1000, "minutes": 120.0, "history": []}
    cyc = start_cycle(cfg, state)
    assert cyc == {"step": 1000, "minutes": 120.0, "end": 200}
    assert lr_at(cfg, 1000, 120.0, cyc) == pytest.approx(1e-4)          # warm-up again
    assert lr_at(cfg, 1010, 120.1, cyc) == pytest.approx(1e-3, rel=1e-3)  # new peak
    assert lr_at(cfg, 5000, 160.0, cyc) == pytest.approx(1e-3 * (0.02 + 0.98 * 0.5), rel=1e-6)
    assert lr_at(cfg, 9000, 200.0, cyc) == pytest.approx(2e-5)
    # a later resume of the same run continues that cycle instead of starting another
    state.update(step=3000, minutes=150.0)
    assert start_cycle(cfg, state) is cyc
    # without new_cycle the stored cycle still applies; none stored: the plain schedule
    assert start_cycle(TrainConfig(minutes=200), state) is cyc
    assert start_cycle(TrainConfig(minutes=200), {"step": 5, "minutes": 1.0}) is None
    with pytest.raises(ValueError, match="--minutes 100"):
        start_cycle(TrainConfig(minutes=100, new_cycle=True), {"step": 5, "minutes": 120.0})


def test_init_starts_a_new_run_from_checkpoint_weights(tmp_path):
    data = tiny_coco(tmp_path / "data")
    cfg = dict(data=str(data), input_size=64, batch_size=4, workers=0, threads=1, eval_hands=6,
               minutes=5, warmup_steps=2)
    train(TrainConfig(**cfg, out=str(tmp_path / "a"), max_steps=2))
    src = torch.load(tmp_path / "a" / "last.pt", weights_only=False)
    # lr 0: the new run's weights stay those it was initialised with
    train(TrainConfig(**cfg, out=str(tmp_path / "b"), max_steps=1, lr=0.0, init=str(tmp_path / "a" / "last.pt")))
    ck = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    assert ck["state"]["step"] == 1  # a new run, not a resume
    convs = [k for k in src["model"] if k.endswith("weight") and src["model"][k].ndim == 4]
    assert convs and all(torch.equal(ck["model"][k], src["model"][k]) for k in convs)
    with pytest.raises(ValueError, match="model configuration differs.*width"):
        train(TrainConfig(**{**cfg, "width": 1.5}, out=str(tmp_path / "c"), max_steps=1,
                          init=str(tmp_path / "a" / "last.pt")))
    with pytest.raises(ValueError, match="model configuration differs.*expand"):
        train(TrainConfig(**{**cfg, "expand": 0.75}, out=str(tmp_path / "c"), max_steps=1,
                          init=str(tmp_path / "a" / "last.pt")))
    with pytest.raises(ValueError, match="model configuration differs.*fused"):
        train(TrainConfig(**{**cfg, "fused": True}, out=str(tmp_path / "c"), max_steps=1,
                          init=str(tmp_path / "a" / "last.pt")))
    # a checkpoint written before the model config had ``fused`` holds an unfused net
    old = tmp_path / "old.pt"
    del src["model_config"]["fused"]
    torch.save(src, old)
    with pytest.raises(ValueError, match="model configuration differs.*fused.*False, True"):
        train(TrainConfig(**{**cfg, "fused": True}, out=str(tmp_path / "c"), max_steps=1, init=str(old)))
    with pytest.raises(FileNotFoundError, match="--init checkpoint not found"):
        train(TrainConfig(**cfg, out=str(tmp_path / "d"), max_steps=1, init=str(tmp_path / "nope.pt")))


def test_init_accepts_another_input_size_and_a_larger_expand(tmp_path):
    """Fully convolutional: the same weights at 96 px; expand 1.0 -> 1.5 computes what it did."""
    from train.common import init_weights
    from train.model import LandmarkModelConfig, LandmarkNet
    data = tiny_coco(tmp_path / "data")
    cfg = dict(data=str(data), input_size=64, batch_size=4, workers=0, threads=1, eval_hands=6,
               minutes=5, warmup_steps=2)
    train(TrainConfig(**cfg, out=str(tmp_path / "a"), max_steps=2))
    src = tmp_path / "a" / "last.pt"
    old = LandmarkNet(LandmarkModelConfig(input_size=64))
    old.load_state_dict(torch.load(src, weights_only=False)["model"])
    mc = LandmarkModelConfig(input_size=96, expand=1.5)
    net = LandmarkNet(mc)
    init_weights(net, src, mc.to_dict(), torch.device("cpu"))
    assert sum(p.numel() for p in net.parameters()) > sum(p.numel() for p in old.parameters())
    x = torch.randn(2, 3, 96, 96)
    old.eval(), net.eval()
    with torch.no_grad():
        (h0, c0), (h1, c1) = old(x), net(x)
    torch.testing.assert_close(h1, h0, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(c1, c0, atol=1e-4, rtol=1e-4)
    train(TrainConfig(**{**cfg, "input_size": 96, "expand": 1.5}, out=str(tmp_path / "b"), max_steps=1,
                      init=str(src)))
    assert (tmp_path / "b" / "last.pt").is_file()


def test_make_optimizer_is_fused_adamw_with_the_default_update():
    """The fused kernel (faster on the CPU) must compute AdamW's update, and resume from an
    optimiser state saved by the plain loop (checkpoints of earlier sessions)."""
    from train.common import make_optimizer
    torch.manual_seed(0)
    a = torch.nn.Linear(5, 3)
    b = torch.nn.Linear(5, 3)
    b.load_state_dict(a.state_dict())
    plain = torch.optim.AdamW(a.parameters(), lr=1e-2, weight_decay=1e-4)
    fused = make_optimizer(b, 1e-2, 1e-4)
    assert fused.defaults["fused"] is True and fused.defaults["weight_decay"] == 1e-4
    x = torch.randn(8, 5)
    for _ in range(3):
        for net, opt in ((a, plain), (b, fused)):
            opt.zero_grad()
            net(x).square().sum().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    resumed = make_optimizer(a, 1e-2, 1e-4)
    resumed.load_state_dict(plain.state_dict())
    a(x).square().sum().backward()
    resumed.step()
    assert all(torch.isfinite(p).all() for p in a.parameters())
    # a device without the fused kernel gets the plain AdamW (torch would fail only at the first step)
    assert not make_optimizer(torch.nn.Linear(5, 3, device="meta"), 1e-2, 0.0).defaults["fused"]


@pytest.mark.parametrize("sides, small_px, weight, expected", [
    ([50, 95, 96, 200], 96, 2.0, [2, 2, 1, 1]),
    ([50, 95, 96, 200], 64, 3.0, [3, 1, 1, 1]),
    ([50, 200], 96, 1.0, [1, 1]),
])
def test_sample_weights_favour_hands_under_the_size(sides, small_px, weight, expected):
    from train.data import HandRecord
    from train.train_landmarks import sample_weights
    recs = [HandRecord(image=None, keypoints=np.zeros((17, 2), np.float32), visible=np.ones(17, np.float32),
                       box_side=float(s)) for s in sides]
    np.testing.assert_array_equal(sample_weights(recs, small_px, weight), expected)


def test_make_sampler_draws_small_hands_as_often_as_asked_and_refuses_ddp():
    from train.data import HandRecord
    from train.train_landmarks import make_sampler
    recs = [HandRecord(image=None, keypoints=np.zeros((17, 2), np.float32), visible=np.ones(17, np.float32),
                       box_side=float(s)) for s in (40, 200, 220, 240)]
    assert make_sampler(recs, TrainConfig(), world=1) is None              # weight 1: plain shuffling
    s = make_sampler(recs, TrainConfig(small_hand_weight=3.0), world=1, seed=0)
    assert len(s) == 4
    draws = [i for _ in range(1000) for i in s]
    assert abs(draws.count(0) / len(draws) - 0.5) < 0.03                  # 3 / (3 + 1 + 1 + 1)
    with pytest.raises(ValueError, match="--small-hand-weight 3.0: not supported under torchrun"):
        make_sampler(recs, TrainConfig(small_hand_weight=3.0), world=2)


@pytest.mark.parametrize("args, message", [
    (["--lowres-p", "1.5"], "--lowres-p 1.5: expected a share in [0, 1]"),
    (["--lowres-p", "-0.1"], "--lowres-p -0.1: expected a share in [0, 1]"),
    (["--edge-positive-p", "1.2"], "--edge-positive-p 1.2: expected a share in [0, 1]"),
    (["--edge-positive-p", "-0.5"], "--edge-positive-p -0.5: expected a share in [0, 1]"),
    (["--small-hand-weight", "0"], "--small-hand-weight 0.0: expected > 0"),
    (["--progressive-size", "130"], "--progressive-size 130: expected a multiple of 16 below --input-size 128"),
    (["--progressive-size", "98"], "--progressive-size 98: expected a multiple of 16"),
    (["--progressive-size", "40"], "--progressive-size 40: expected a multiple of 16"),  # was a shape error
    (["--progressive-size", "96", "--progressive-until", "1"], "--progressive-until 1.0: expected a share in (0, 1)"),
])
def test_bad_small_hand_options_are_one_error_before_loading_data(tmp_path, args, message, capsys):
    from train.train_landmarks import main
    with pytest.raises(SystemExit) as e:
        main(args + ["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")])
    assert e.value.code == 2       # a usage error: the usage line, then this one
    assert message in capsys.readouterr().err.splitlines()[-1]


def test_trains_with_lowres_crops_and_small_hand_sampling(tmp_path):
    data = tiny_coco(tmp_path / "data")
    train(TrainConfig(data=str(data), out=str(tmp_path / "run"), input_size=64, batch_size=4, workers=0, threads=1,
                      eval_hands=6, minutes=5, warmup_steps=1, max_steps=2, lowres_p=1.0, small_hand_weight=2.0,
                      small_hand_px=1000.0, edge_positive_p=1.0))
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["state"]["step"] == 2
    assert ck["train_config"]["lowres_p"] == 1.0 and ck["train_config"]["small_hand_weight"] == 2.0
    assert ck["train_config"]["edge_positive_p"] == 1.0
    assert "small-hand sampling: 12 of 12 hands under 1000 px" in (tmp_path / "run" / "train.log").read_text()


def test_progressive_resizing_trains_small_crops_first_then_the_full_size(tmp_path):
    data = tiny_coco(tmp_path / "data")
    metrics = train(TrainConfig(data=str(data), out=str(tmp_path / "run"), input_size=64, batch_size=4, workers=0,
                                threads=1, eval_hands=6, minutes=0.06, warmup_steps=1, eval_every_min=10,
                                progressive_size=32, progressive_until=0.4))
    text = (tmp_path / "run" / "train.log").read_text()
    switches = [(int(a), int(b)) for a, b in re.findall(r"training crops (\d+)x\d+ from step (\d+)", text)]
    assert [s for s, _ in switches] == [32, 64] and switches[0][1] == 0 < switches[1][1]
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["state"]["step"] > switches[1][1]          # trained on at the full size
    assert ck["model_config"]["input_size"] == 64 and ck["codec"]["input_size"] == [64, 64]
    assert ck["train_config"]["progressive_size"] == 32
    assert np.isfinite(metrics["pck10"])


_MALLINFO_PROBE = r"""
import ctypes, sys
import numpy as np
from train.common import keep_freed_memory

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
MB64 = 64 << 20
a = np.ones(MB64, np.uint8)
mapped_default = libc.mallinfo2().hblkhd >= MB64   # glibc's default: a block this large is its own mapping
del a
applied = keep_freed_memory()
a = np.ones(MB64, np.uint8)
info = libc.mallinfo2()
on_heap = info.hblkhd < MB64 and info.arena >= MB64
del a
kept = libc.mallinfo2().fordblks >= MB64          # freed, and still the process's to reuse
print(mapped_default, applied, on_heap, kept)
"""


def test_keep_freed_memory_serves_large_blocks_from_a_heap_it_keeps():
    """Large blocks come from glibc's heap and stay there after free once it is called (the page
    faults it saves made a CPU training step of the shipped net 1.43x slower). A fresh process, so
    that glibc's default behaviour is what it is compared with."""
    import ctypes
    try:
        has_mallinfo2 = hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        has_mallinfo2 = False
    if not has_mallinfo2:
        pytest.skip("needs glibc >= 2.33 (mallinfo2)")
    out = subprocess.run([sys.executable, "-c", _MALLINFO_PROBE], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert out.stdout.split() == ["True"] * 4, out.stdout + out.stderr


@pytest.mark.parametrize("freeze", [False, True])
def test_freeze_bn_stats_keeps_the_statistics_of_init_while_the_weights_train(tmp_path, freeze):
    data = tiny_coco(tmp_path / "data")
    cfg = dict(data=str(data), input_size=64, batch_size=4, workers=0, threads=1, eval_hands=6,
               minutes=5, warmup_steps=1)
    train(TrainConfig(**cfg, out=str(tmp_path / "a"), max_steps=2))
    src = torch.load(tmp_path / "a" / "last.pt", weights_only=False)["model"]
    train(TrainConfig(**cfg, out=str(tmp_path / "b"), max_steps=3, init=str(tmp_path / "a" / "last.pt"),
                      freeze_bn_stats=freeze))
    ck = torch.load(tmp_path / "b" / "last.pt", weights_only=False)
    stats = [k for k in src if k.endswith(("running_mean", "running_var"))]
    convs = [k for k in src if k.endswith("weight") and src[k].ndim == 4]
    assert len(stats) > 20 and convs
    assert all(torch.equal(ck["model"][k], src[k]) for k in stats) == freeze
    assert not all(torch.equal(ck["model"][k], src[k]) for k in convs)       # trained either way
    assert ck["train_config"]["freeze_bn_stats"] is freeze


def test_freeze_bn_statistics_on_the_detector_net():
    from train.common import freeze_bn_statistics
    from train.model import DetectorModelConfig, DetectorNet
    net = DetectorNet(DetectorModelConfig(96, 64)).train()
    before = {k: v.clone() for k, v in net.state_dict().items() if k.endswith("running_mean")}
    assert freeze_bn_statistics(net) == sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) > 0
    net(torch.randn(2, 3, 64, 96))
    assert all(torch.equal(net.state_dict()[k], v) for k, v in before.items())
