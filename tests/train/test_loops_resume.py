"""Reproducibility and resumption of the training loops (audit): the same command with the same
--seed trains the same weights with loader workers too, a resumed run does not train on the hands
it already saw in the same order again (under torchrun too), a resume takes the --weight-decay
given now, a run grown by train.widen resumes its weight average, and running a finished run's
command again adds no second validation at its last step."""
import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import train.train_landmarks as tl
from train.common import worker_init
from train.train_detector import DetTrainConfig
from train.train_detector import train as train_detector

from .test_train_cli import tiny_coco


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_coco(tmp_path_factory.mktemp("resume") / "data", n=24)


def _lm(data, out, **kw):
    kw = {"input_size": 48, "batch_size": 4, "workers": 0, "threads": 1, "eval_hands": 2, "minutes": 5,
          "warmup_steps": 2, **kw}
    return tl.TrainConfig(data=str(data), out=str(out), **kw)


def _weights(path):
    return torch.load(path, weights_only=False)["model"]


class _Draws(Dataset):
    """What a training dataset's random generator gives per item, and which worker drew it."""

    def __init__(self, seed):
        self.seed, self.rng = seed, np.random.default_rng(seed)

    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = torch.utils.data.get_worker_info()
        return torch.tensor([self.rng.random(), info.id if info else -1])


def _draws(seed, workers=2, epochs=2):
    loader = DataLoader(_Draws(seed), batch_size=2, num_workers=workers, worker_init_fn=worker_init,
                        persistent_workers=True)
    return [torch.cat(list(loader)) for _ in range(epochs)]


def test_loader_workers_draw_distinct_streams_that_the_seed_repeats():
    """worker_init mixed the clock into each worker's seed: --workers 1 (the default) trained other
    crops at every run of the same command, so no run could be repeated."""
    first, again = _draws(0), _draws(0)
    for a, b in zip(first, again):
        torch.testing.assert_close(a, b)                     # the same seed: the same draws
    by_worker = [first[0][first[0][:, 1] == w, 0] for w in (0, 1)]
    assert not set(by_worker[0].tolist()) & set(by_worker[1].tolist())   # each worker its own stream
    assert not set(first[0][:, 0].tolist()) & set(first[1][:, 0].tolist())   # and new ones each epoch
    assert not torch.equal(_draws(1)[0], first[0])           # another seed, other draws


@pytest.mark.parametrize("trainer", ["landmarks", "detector"])
def test_the_same_command_with_a_loader_worker_trains_the_same_weights(data, tmp_path, trainer):
    # a budget of minutes so long that the wall clock leaves the learning rate alone: the schedule
    # follows the minutes trained (docs/training.md), which no two runs spend alike
    for run in ("a", "b"):
        if trainer == "landmarks":
            tl.train(_lm(data, tmp_path / run, workers=1, max_steps=3, minutes=1e6))
        else:
            train_detector(DetTrainConfig(data=str(data), out=str(tmp_path / run), input_width=64, input_height=48,
                                          batch_size=2, workers=1, threads=1, eval_scenes=2, epoch_scenes=4,
                                          minutes=1e6, warmup_steps=2, max_steps=3))
    a, b = _weights(tmp_path / "a" / "final.pt"), _weights(tmp_path / "b" / "final.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_resumed_run_does_not_replay_the_hands_it_already_trained_on(data, tmp_path, monkeypatch):
    """The torch generator that shuffles the hands restarts from --seed at every start, so each
    resume drew the first epoch's order again from its beginning: a run stopped and resumed
    within its first epoch trained on the same hands again (a pre-empted job, every time), and
    hands at the end of that order never came."""
    drawn, get = [], tl.CropDataset.__getitem__

    def record(self, i):
        drawn.append(i)
        return get(self, i)
    monkeypatch.setattr(tl.CropDataset, "__getitem__", record)
    segments = []
    for steps in (2, 4, 6):        # 24 hands, 4 a step: all three stops within the first epoch
        drawn.clear()
        tl.train(_lm(data, tmp_path / "run", max_steps=steps))
        segments.append(list(drawn))
    assert len(set(segments[0] + segments[1] + segments[2])) > 12, segments
    # a fresh run draws as before: the first segment is the start of an uninterrupted run's order
    drawn.clear()
    tl.train(_lm(data, tmp_path / "fresh", max_steps=6))
    assert drawn[:8] == segments[0]


def test_a_resume_takes_the_weight_decay_given_now(data, tmp_path):
    """The log named ``--weight-decay 0.0001 -> 0.05`` as changed, but loading the optimiser's
    state brought back the checkpoint's weight decay, which the rest of the run kept."""
    tl.train(_lm(data, tmp_path / "run", max_steps=2))
    tl.train(_lm(data, tmp_path / "run", max_steps=3, weight_decay=0.05))
    assert "--weight-decay 0.0001 -> 0.05" in (tmp_path / "run" / "train.log").read_text()
    ck = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert [g["weight_decay"] for g in ck["optimizer"]["param_groups"]] == [0.05]


@pytest.mark.parametrize("trainer", ["landmarks", "detector"])
def test_the_command_of_a_finished_run_adds_no_second_validation_at_its_step(data, tmp_path, trainer):
    for _ in range(2):
        if trainer == "landmarks":
            tl.train(_lm(data, tmp_path / "run", max_steps=2))
        else:
            train_detector(DetTrainConfig(data=str(data), out=str(tmp_path / "run"), input_width=64, input_height=48,
                                          batch_size=2, workers=0, threads=1, eval_scenes=2, epoch_scenes=4,
                                          max_steps=2))
    hist = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["step"] for h in hist] == [0, 2]


def test_a_widened_run_resumes_its_weight_average(data, tmp_path):
    """train.widen grows the weights of last.pt and keeps its weight average as it was: resuming
    the widened run with --ema (docs/training.md: "--new-cycle true ... goes on from there")
    failed in load_state_dict with a traceback of size mismatches."""
    from train.widen import widen_checkpoint
    tl.train(_lm(data, tmp_path / "run", max_steps=2, ema=0.9))
    narrow = torch.load(tmp_path / "run" / "last.pt", weights_only=False)["ema"]
    widen_checkpoint(tmp_path / "run" / "last.pt", tmp_path / "wide" / "last.pt", 1.5)
    tl.train(_lm(data, tmp_path / "wide", max_steps=3, ema=0.9, expand=1.5))
    ck = torch.load(tmp_path / "wide" / "last.pt", weights_only=False)
    assert ck["ema"]["updates"] == 3                 # the average went on, not restarted
    grown = [k for k, v in narrow["model"].items() if v.shape != ck["model"][k].shape]
    assert grown and all(ck["ema"]["model"][k].shape == ck["model"][k].shape for k in grown)


def test_a_resumed_ddp_run_shuffles_with_a_seed_of_its_own(monkeypatch):
    """Under torchrun the DistributedSampler's order follows its seed and the epoch, both the same
    at each resume: a run resumed within an epoch trained on the same hands again. A fresh run
    seeds it with --seed (0 by default: the order it always had)."""
    from functools import partial
    from torch.utils.data import DistributedSampler
    monkeypatch.setattr(torch.utils.data, "DistributedSampler", partial(DistributedSampler, num_replicas=2, rank=0))
    recs = list(range(40))
    fresh = list(tl.make_sampler(recs, tl.TrainConfig(), world=2))
    assert fresh == list(DistributedSampler(recs, num_replicas=2, rank=0, shuffle=True))
    assert list(tl.make_sampler(recs, tl.TrainConfig(), world=2, ddp_seed=57)) != fresh


@pytest.mark.parametrize("seed", [0, 5])
def test_a_fresh_ddp_run_shuffles_by_its_seed(data, tmp_path, monkeypatch, seed):
    """A fresh torchrun run's DistributedSampler was seeded 0 whatever --seed said: two runs meant
    to differ by their seed drew their hands in one order."""
    seen = []

    def grab(records, cfg, world, seed=0, ddp_seed=0):
        seen.append(ddp_seed)
        raise KeyboardInterrupt      # the loader is all this test needs
    monkeypatch.setattr(tl, "make_sampler", grab)
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        tl.train(_lm(data, tmp_path / "run", max_steps=2, seed=seed))
    assert seen == [seed]
