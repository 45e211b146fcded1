"""bench.accuracy on hand-made photos and a scripted method (known PCK, found rate, sides)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from bench import accuracy
from bench.methods import FrameOutput
from bench.temporal import PredHand


def _hand(cx, cy, s=60.0):
    g = np.stack(np.meshgrid(np.linspace(-0.5, 0.5, 5), np.linspace(-0.5, 0.5, 4)), -1).reshape(-1, 2)[:17]
    return (g * s + (cx, cy)).astype(np.float32)


class Scripted:
    """Returns the given hands on successive calls."""

    def __init__(self, answers):
        self.answers = list(answers)

    def __call__(self, frame, timestamp_ms=None):
        return FrameOutput({"smoothed": self.answers.pop(0)}, 1.0)


def test_accuracy_known_values(tmp_path):
    p = tmp_path / "img.png"
    cv2.imwrite(str(p), np.zeros((224, 224, 3), np.uint8))
    a, b, c = _hand(60, 60), _hand(160, 150), _hand(100, 100)
    vis = np.ones(17, np.float32)
    images = [accuracy.GtImage(p, [a, b], [vis, vis], [0, 1], [0.95, 0.5]),
              accuracy.GtImage(p, [c], [vis], [1], [0.99])]
    off = c.copy()
    off[:4] += (0, 9.0)  # 4 of 17 points 0.15 x box size off: wrong at 0.05 and 0.1, right at 0.2
    method = Scripted([
        # photo 1: hand b exact but called "left" (wrong), hand a missed, one false positive far away
        [PredHand(b, "left"), PredHand(_hand(400, 400), "right")],
        # photo 2: hand c with 4 points off, right side
        [PredHand(off, "right")],
    ])
    run = accuracy.run(method, images, "smoothed")
    assert run.found.tolist() == [False, True, True]
    s = accuracy.summarize(run)
    n = 3 * 17
    assert s["found_rate"] == pytest.approx(2 / 3)
    assert s["pck@0.05"] == pytest.approx((17 + 13) / n)
    assert s["pck@0.1"] == pytest.approx((17 + 13) / n)
    assert s["pck@0.2"] == pytest.approx(34 / n)
    assert s["handedness_acc"] == pytest.approx(1 / 2)
    assert s["handedness_acc_conf"] == pytest.approx(1.0)  # b's label score 0.5 is not counted
    assert s["false_pos_per_image"] == pytest.approx(0.5)
    assert s["pck_curve"][0.2] == pytest.approx(s["pck@0.2"])
    assert np.isfinite(s["nme_palm"]) and s["nme_palm"] > 0


def test_select_images_groups_and_is_deterministic():
    from train.data import HandRecord
    recs = [HandRecord(f"im{i // 2}.png", _hand(50, 50), np.ones(17), 1, 1.0, i // 2) for i in range(20)]
    imgs = accuracy.select_images(recs, 4, seed=3)
    assert len(imgs) == 4 and all(len(i.keypoints) == 2 for i in imgs)
    assert [i.path for i in imgs] == [i.path for i in accuracy.select_images(recs, 4, seed=3)]
    assert len(accuracy.select_images(recs, None)) == 10


@pytest.mark.parametrize("pairs, expected", [
    ([], []),
    # the nearest pair first; the pairs sharing one of its hands are left out
    ([(0.5, 0, 0), (0.1, 0, 1), (0.2, 1, 1), (0.3, 1, 0)], [(0.1, 0, 1), (0.3, 1, 0)]),
    # a hand with no free partner stays unmatched
    ([(0.1, 0, 0), (0.2, 1, 0)], [(0.1, 0, 0)]),
    # extra fields travel with their pair
    ([(0.4, 2, 5, "x"), (0.2, 1, 5, "y")], [(0.2, 1, 5, "y")]),
])
def test_greedy_pairs(pairs, expected):
    from bench.matching import greedy_pairs
    assert greedy_pairs(pairs) == expected
