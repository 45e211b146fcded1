"""Audit of the landmark evaluation (train.evaluate landmarks): bad options fail at once with one
error naming the flag, the JSON says what was evaluated, the worst-hands grid draws labelled points only."""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from train.data import RIGHT, HandRecord
from train.evaluate import evaluate_landmarks

from .test_evaluate import OracleModel as Oracle


class JitterEcho:
    """Answers each crop's centre as every keypoint: the figures follow the jitter drawn."""

    meta = {"model_version": "echo"}
    model_path = Path("echo.onnx")

    def __call__(self, img, rois):
        kp = np.tile(np.float32([rois[0].cx, rois[0].cy]), (17, 1))
        return [SimpleNamespace(keypoints=kp, right_prob=rois[0].size % 1.0, presence=rois[0].size % 1.0),
                SimpleNamespace(keypoints=kp, right_prob=0.5, presence=rois[1].size % 1.0)]


def _records(n, seed=0):
    rng = np.random.default_rng(seed)
    ang = np.linspace(0, 2 * np.pi, 17, endpoint=False)
    ring = np.stack([np.cos(ang), np.sin(ang)], 1)
    recs, cache, truth = [], {}, {}
    for i in range(n):
        path = Path(f"img{i}.webp")
        cache[path] = np.full((200, 200, 3), i, np.uint8)
        truth[i] = (rng.uniform(60, 140, 2) + rng.uniform(15, 40) * ring).astype(np.float32)
        recs.append(HandRecord(path, truth[i], np.ones(17, np.float32), RIGHT, 0.95, i))
    return recs, cache, truth


def test_figures_repeat_for_a_seed_whatever_the_batch():
    """The jittered crops depend on the seed only: batch 1, 7 and 64 give the same figures, and
    the seed is written with them (another seed draws other crops)."""
    recs, cache, _ = _records(20)
    runs = {b: evaluate_landmarks(JitterEcho(), recs, cache, batch=b) for b in (1, 7, 64)}
    assert runs[1] == runs[7] == runs[64]
    assert runs[1]["seed"] == 0
    other = evaluate_landmarks(JitterEcho(), recs, cache, seed=1)
    assert other["seed"] == 1 and other["nme_palm"] != runs[1]["nme_palm"]


@pytest.mark.parametrize("batch", [0, -3])
def test_batch_below_one_is_one_clear_error(batch):
    """Not 'range() arg 3 must not be zero' nor 'need at least one array to stack'."""
    recs, cache, truth = _records(3)
    with pytest.raises(ValueError, match=rf"batch must be an integer >= 1, got {batch}"):
        evaluate_landmarks(Oracle(truth), recs, cache, batch=batch)


@pytest.mark.parametrize("argv, message", [
    (["--threads", "0"], "--threads must be >= 1, got 0"),
    (["--threads", "two"], "--threads must be an integer"),
    (["--worst-grid", "worst.txt"], "--worst-grid worst.txt"),
])
def test_bad_landmark_options_fail_before_any_work(argv, message, capsys, monkeypatch):
    """Told at parse time (exit 2, the flag named), not after the images are decoded and every
    hand evaluated (an unknown --worst-grid type lost the whole run's figures)."""
    import train.evaluate as ev
    monkeypatch.setattr(ev, "eval_records", lambda *a, **k: pytest.fail("read the data before checking the options"))
    with pytest.raises(SystemExit) as e:
        ev.main(["landmarks", *argv])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_a_missing_model_is_said_before_the_data_is_read(tmp_path, monkeypatch):
    """A mistyped --model is one error at once, not after decoding every val image."""
    import train.evaluate as ev
    monkeypatch.setattr(ev, "eval_records", lambda *a, **k: pytest.fail("read the data before opening the model"))
    with pytest.raises(SystemExit, match=r"error: model file not found: .*missing\.onnx"):
        ev.main(["landmarks", "--model", str(tmp_path / "missing.onnx")])


def test_landmark_json_says_what_was_evaluated(tmp_path, monkeypatch):
    """A figure can be made again from its JSON: the model file, the data, the split, the
    --limit and the seed of the jitter are written beside the counts."""
    import train.evaluate as ev
    recs, cache, truth = _records(8)
    seen = {}

    def fake_records(data, split, val_fraction):
        seen.update(data=data, split=split)
        return recs

    monkeypatch.setattr(ev, "eval_records", fake_records)
    monkeypatch.setattr(ev, "ImageCache", lambda r: cache)
    monkeypatch.setattr(ev, "LandmarkModel", lambda path, threads, flip_test: Oracle(truth))
    out = tmp_path / "e.json"
    ev.main(["landmarks", "--data", "some/hands", "--split", "test", "--limit", "5", "--out", str(out)])
    res = json.loads(out.read_text())
    assert seen == {"data": "some/hands", "split": "test"}
    assert (res["model"], res["data"], res["split"], res["limit"], res["seed"]) == (
        "oracle.onnx", "some/hands", "test", 5, 0)
    assert res["hands"] == 5 and res["pck@0.1"] == pytest.approx(1.0)


def test_worst_grid_leaves_out_unlabelled_points(tmp_path):
    """hands21 writes a point outside the photo as (0, 0) with visibility 0: the grid must not draw
    ground-truth bones from the hand to the photo's corner."""
    import cv2
    ang = np.linspace(0, 2 * np.pi, 17, endpoint=False)
    kp = (140 + 30 * np.stack([np.cos(ang), np.sin(ang)], 1)).astype(np.float32)   # x, y in 110-170
    kp[10:] = 0.0
    vis = np.ones(17, np.float32)
    vis[10:] = 0
    cache = {Path("a.webp"): np.zeros((200, 200, 3), np.uint8)}
    recs = [HandRecord(Path("a.webp"), kp, vis, RIGHT, 0.95, 0)]
    grid = tmp_path / "worst.png"
    evaluate_landmarks(Oracle({}), recs, cache, worst_grid=grid)   # a far-off prediction: drawn off the tile
    img = cv2.imread(str(grid)).astype(int)
    b, g, r = img[..., 0], img[..., 1], img[..., 2]
    green = (g > 150) & (b < 100) & (r < 100)
    hand = np.round(kp[:10].min(0) * 320 / 200).astype(int)   # the labelled points' top-left corner in the tile
    assert green[hand[1]:, hand[0]:].any()                     # the labelled part is drawn
    assert not green[20:hand[1] - 4, 20:hand[0] - 4].any()     # nothing between it and the corner


def test_detector_json_says_what_was_evaluated(tmp_path, monkeypatch):
    """The detector's JSON, as the landmarks', names the model file, data, split, --limit and the
    scenes' seed (it gave the model version alone)."""
    import train.evaluate as ev
    monkeypatch.setattr(ev, "eval_records", lambda data, split, val_fraction: [])
    monkeypatch.setattr(ev, "ImageCache", lambda r: {})
    monkeypatch.setattr(ev, "HandDetector", lambda *a, **k: SimpleNamespace(
        model_path=Path("det.onnx"), width=64, height=48, large_hands=True))
    monkeypatch.setattr(ev, "evaluate_detector", lambda det, recs, cache, n, **kw: {"seed": 7, "recall": 1.0})
    out = tmp_path / "d.json"
    ev.main(["detector", "--data", "my_hands.csv", "--split", "val", "--limit", "3", "--out", str(out)])
    res = json.loads(out.read_text())
    assert (res["model"], res["data"], res["split"], res["limit"], res["val_fraction"], res["seed"]) == (
        "det.onnx", "my_hands.csv", "val", 3, 0.1, 7)
