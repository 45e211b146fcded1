"""The weight average (``--ema``) of both training loops: the update rule, resuming it, the
checkpoint it writes, its validation kept out of the budget, and bad values."""
import json
import subprocess
import sys

import pytest
import torch

import train.common as train_common
import train.train_landmarks as tl
from train.common import LoopClock, LoopConfig, WeightEMA, check_ema_decay, init_weights
from train.train_detector import DetTrainConfig
from train.train_detector import train as train_detector
from train.train_landmarks import TrainConfig, train

from .test_train_cli import tiny_coco


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))


@pytest.mark.parametrize("decay, updates, expected", [
    (0.999, 0, 2 / 11),        # the first update follows the net closely: (1 + n) / (10 + n), n = 1
    (0.999, 8, 10 / 19),
    (0.999, 10_000, 0.999),    # then the decay asked for
    (0.5, 3, 5 / 14),          # the warm-up's value while it is the smaller
    (0.5, 20, 0.5),
])
def test_decay_warms_up_to_the_one_asked_for(decay, updates, expected):
    ema = WeightEMA(_net(), decay)
    ema.updates = updates
    assert ema.current_decay() == pytest.approx(expected)


def test_update_moves_floats_toward_the_net_and_copies_integer_buffers():
    net = _net()
    ema = WeightEMA(net, 0.9)
    start = {k: v.clone() for k, v in ema.net.state_dict().items()}
    with torch.no_grad():
        for p in net.parameters():
            p.add_(1.0)
        net[1].running_mean.add_(2.0)
        net[1].num_batches_tracked += 7
    d = ema.current_decay()
    ema.update(net)
    now, target = ema.net.state_dict(), net.state_dict()
    for k, v in now.items():
        if v.dtype.is_floating_point:
            torch.testing.assert_close(v, d * start[k] + (1 - d) * target[k])
            if not torch.equal(start[k], target[k]):
                assert not torch.equal(v, target[k])   # an average, not a copy
        else:
            assert torch.equal(v, target[k])
    assert ema.updates == 1
    assert not any(p.requires_grad for p in ema.net.parameters())


def test_many_updates_of_a_still_net_converge_on_it():
    net = _net()
    ema = WeightEMA(net, 0.9)
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(-3.0)
    for _ in range(200):
        ema.update(net)
    for a, b in zip(ema.net.parameters(), net.parameters()):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("decay", [1.0, 1.5, -0.5])
def test_bad_decay_is_one_error_naming_the_option(decay):
    with pytest.raises(ValueError, match=r"--ema .*expected a decay in \(0, 1\)"):
        check_ema_decay(decay)
    with pytest.raises(ValueError, match="--ema"):
        WeightEMA(_net(), decay)


class FakeClock:
    """Stands in for the ``time`` module of the training code: seconds pass when told, and
    ``step`` seconds at each reading."""

    def __init__(self, step: float = 0.0):
        self.now, self.step = 1000.0, step

    def time(self):
        self.now += self.step
        return self.now


def test_loop_clock_leaves_excluded_seconds_out_of_the_budget(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(train_common, "time", fake)
    opt = torch.optim.SGD(_net().parameters(), lr=0.1)
    state = {"step": 0, "minutes": 0.0, "history": [], "epoch": 0}
    clock = LoopClock(LoopConfig(), state)
    fake.now += 120                      # two minutes pass
    clock.exclude(60)                    # one of them was spent validating the average
    clock.tick(opt)
    assert state["minutes"] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_coco(tmp_path_factory.mktemp("ema") / "data")


def test_landmark_run_validates_saves_and_resumes_the_average(data, tmp_path):
    cfg = dict(data=str(data), out=str(tmp_path / "run"), input_size=64, batch_size=4, workers=0,
               threads=1, eval_hands=6, minutes=5, warmup_steps=2, ema=0.9)
    train(TrainConfig(**cfg, max_steps=3))
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["ema"]["updates"] == 3 and ck["ema"]["decay"] == 0.9
    train(TrainConfig(**cfg, max_steps=5))
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert ck["ema"]["updates"] == 5      # continued from the saved average, not restarted
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    assert {"ema_pck05", "ema_pck10", "ema_side_acc"} <= set(hist[-1])
    assert "weight average: PCK@0.05" in (tmp_path / "run" / "train.log").read_text()
    avg = torch.load(tmp_path / "run" / "final_ema.pt", weights_only=False)
    final = torch.load(tmp_path / "run" / "final.pt", weights_only=False)
    assert avg["model_config"] == final["model_config"] and avg["codec"] == final["codec"]
    assert "optimizer" not in avg
    for k, v in avg["model"].items():
        torch.testing.assert_close(v, ck["ema"]["model"][k])
    differs = [k for k, v in avg["model"].items() if v.dtype.is_floating_point and not torch.equal(v, final["model"][k])]
    assert differs                        # the average, not the last weights
    # a checkpoint of its own: a new run starts from it as from final.pt
    from train.model import LandmarkModelConfig, LandmarkNet
    mcfg = LandmarkModelConfig(**avg["model_config"])
    net = LandmarkNet(mcfg)
    init_weights(net, tmp_path / "run" / "final_ema.pt", mcfg.to_dict(), torch.device("cpu"))
    torch.testing.assert_close(net.state_dict()[differs[0]], avg["model"][differs[0]])


def test_landmark_run_without_ema_writes_no_average(data, tmp_path):
    train(TrainConfig(data=str(data), out=str(tmp_path / "run"), input_size=64, batch_size=4, workers=0,
                      threads=1, eval_hands=6, minutes=5, warmup_steps=2, max_steps=2))
    assert not (tmp_path / "run" / "final_ema.pt").exists()
    assert "ema" not in torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert not any(k.startswith("ema_") for k in json.loads((tmp_path / "run" / "history.json").read_text())[-1])


def test_detector_run_validates_and_saves_the_average(data, tmp_path):
    cfg = DetTrainConfig(data=str(data), out=str(tmp_path / "run"), input_width=64, input_height=48,
                         batch_size=4, workers=0, threads=1, eval_scenes=4, epoch_scenes=8, minutes=5,
                         warmup_steps=2, max_steps=3, ema=0.9)
    train_detector(cfg)
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    assert {"ema_ap50", "ema_recall", "ema_fp_per_frame"} <= set(hist[-1])
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["ema"]["updates"] == 3
    avg = torch.load(tmp_path / "run" / "final_ema.pt", weights_only=False)
    assert avg["model_config"]["input_width"] == 64


def test_validating_the_average_does_not_shorten_the_run(data, tmp_path, monkeypatch):
    """Validations of the average in the middle of a run are left out of its training minutes."""
    fake = FakeClock(step=0.01)
    monkeypatch.setattr(train_common, "time", fake)
    monkeypatch.setattr(tl, "time", fake)
    real = tl.evaluate_crops

    def slow_for_the_average(net, *a, **kw):
        if not next(net.parameters()).requires_grad:   # WeightEMA's copy: takes a minute
            fake.now += 60
        return real(net, *a, **kw)

    monkeypatch.setattr(tl, "evaluate_crops", slow_for_the_average)
    train(TrainConfig(data=str(data), out=str(tmp_path / "run"), input_size=64, batch_size=4, workers=0,
                      threads=1, eval_hands=6, minutes=5, warmup_steps=2, max_steps=3, ema=0.9,
                      eval_every_min=1e-6))
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["step"] for h in hist] == [0, 1, 2, 3]   # validated after steps 1-3 mid-run, step 3 not again at the end
    assert ck["state"]["minutes"] < 0.1                     # not the 2 minutes those took


@pytest.mark.parametrize("module", ["train.train_landmarks", "train.train_detector"])
def test_cli_refuses_a_bad_decay_before_loading_data(module, tmp_path):
    r = subprocess.run([sys.executable, "-m", module, "--data", str(tmp_path / "nope"), "--out",
                        str(tmp_path / "run"), "--ema", "1.5"], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "--ema 1.5" in r.stderr and "Traceback" not in r.stderr
