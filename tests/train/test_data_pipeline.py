"""Data pipeline of the training loops (audit): the decoded-image cache says how much memory it
holds (and warns before it takes most of the machine's), the loader workers share that cache
instead of each unpickling a copy, and the loops log how much of the step time went to waiting
for batches, with the batches themselves unchanged."""
import logging
import re
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import train.data as data_mod
import train.train_detector as td
import train.train_landmarks as tl
from train.common import DataWait, loader_options
from train.data import ImageCache, load_records

from .test_train_cli import tiny_coco


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_coco(tmp_path_factory.mktemp("pipeline") / "data", n=16)


def test_cache_logs_the_memory_its_images_take(data, caplog):
    recs = load_records(data, "train")
    with caplog.at_level(logging.INFO, logger="train.data"):
        cache = ImageCache(recs)
    expected = sum(a.nbytes for a in cache.images.values())
    assert cache.nbytes == expected == 16 * 96 * 96 * 3
    assert any(re.search(rf"16 images decoded: {expected / 2 ** 20:.1f} MB in memory", r.getMessage())
               for r in caplog.records)


def test_cache_warns_once_when_the_images_pass_half_the_memory(data, caplog, monkeypatch):
    recs = load_records(data, "train")
    monkeypatch.setattr(data_mod, "physical_memory", lambda: 10 * 96 * 96 * 3)  # half: 5 images
    with caplog.at_level(logging.INFO, logger="train.data"):
        ImageCache(recs)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "more than half" in warnings[0] and "--limit" in warnings[0]


def _spy(monkeypatch, module):
    made = []

    class Spy(DataLoader):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            made.append(self)

    monkeypatch.setattr(module, "DataLoader", Spy)
    return made


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork is the Linux start method")
@pytest.mark.parametrize("kind", ["landmarks", "detector"])
def test_loader_workers_are_forked_so_they_share_the_decoded_images(data, tmp_path, monkeypatch, kind):
    """Under spawn or forkserver (macOS, Windows, and Linux from Python 3.14) the DataLoader pickles
    the dataset, decoded-image cache included, into every worker: on 3,000 hands21 hands (430 MB
    decoded) each of 2 workers held 596 MB of its own, the parent peaked at 1.5 GB while pickling,
    and the first 30 batches took 14 s instead of 0.9 s. Forked workers share the cache (18 MB each)."""
    if kind == "landmarks":
        made = _spy(monkeypatch, tl)
        tl.train(tl.TrainConfig(data=str(data), out=str(tmp_path / "run"), input_size=48, batch_size=4,
                                workers=1, threads=1, eval_hands=2, max_steps=2, warmup_steps=1))
    else:
        made = _spy(monkeypatch, td)
        td.train(td.DetTrainConfig(data=str(data), out=str(tmp_path / "run"), input_width=64, input_height=48,
                                   batch_size=2, workers=1, threads=1, eval_scenes=2, epoch_scenes=4,
                                   max_steps=2, warmup_steps=1))
    assert made and all(dl.num_workers == 1 for dl in made)
    assert all(dl.multiprocessing_context is not None
               and dl.multiprocessing_context.get_start_method() == "fork" for dl in made)


def test_loader_options_without_workers_start_no_process():
    opts = loader_options(0, torch.device("cpu"))
    assert opts["num_workers"] == 0 and opts["worker_init_fn"] is None and not opts["persistent_workers"]
    assert "multiprocessing_context" not in opts and opts["pin_memory"] is False


class _Slow(Dataset):
    def __init__(self, seed=0):
        self.seed, self.rng = seed, np.random.default_rng(seed)

    def __len__(self):
        return 12

    def __getitem__(self, i):
        import time
        time.sleep(0.01)
        return torch.tensor([i, self.rng.random()])


@pytest.mark.parametrize("workers", [0, 1])
def test_data_wait_yields_the_loaders_batches_and_logs_the_wait(workers, caplog):
    def loader():
        return DataLoader(_Slow(), batch_size=2, shuffle=True, generator=torch.Generator().manual_seed(3),
                          **loader_options(workers, torch.device("cpu")))
    plain = [b for b in loader()]
    with caplog.at_level(logging.INFO, logger="train"):
        timed = [b for b in DataWait(loader(), every=4)]
    assert len(timed) == len(plain) == 6
    for a, b in zip(timed, plain):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    lines = [r.getMessage() for r in caplog.records if "waiting for data" in r.getMessage()]
    assert len(lines) == 2  # after 4 batches, and the rest of the pass
    shares = [int(re.search(r"(\d+)% of", m).group(1)) for m in lines]
    if workers == 0:  # the sleep is in the loop's own process: most of the time was the wait
        assert all(s >= 50 for s in shares), lines
    assert re.search(r"over the last 4 steps", lines[0]) and re.search(r"over the last 2 steps", lines[1])


@pytest.mark.parametrize("kind", ["landmarks", "detector"])
def test_training_log_says_how_long_the_steps_waited_for_data(data, tmp_path, kind):
    """Nothing said whether the data or the net held the steps back (--workers is the remedy for one)."""
    out = tmp_path / "run"
    if kind == "landmarks":   # 16 hands, batches of 4: the first pass ends after 4 steps
        tl.train(tl.TrainConfig(data=str(data), out=str(out), input_size=48, batch_size=4, workers=0, threads=1,
                                eval_hands=2, max_steps=6, warmup_steps=1))
    else:
        td.train(td.DetTrainConfig(data=str(data), out=str(out), input_width=64, input_height=48, batch_size=2,
                                   workers=0, threads=1, eval_scenes=2, epoch_scenes=4, max_steps=3,
                                   warmup_steps=1))   # 4 scenes, batches of 2: 2 steps a pass
    text = (out / "train.log").read_text()
    steps = 4 if kind == "landmarks" else 2
    assert re.search(rf"waiting for data: \d+% of the time over the last {steps} steps \([0-9.]+ s per step, "
                     r"--workers 0\)", text), text
