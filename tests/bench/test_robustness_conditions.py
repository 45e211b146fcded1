"""Audit (session 36) of ``python -m bench robustness``: conditions named twice, and the matching
(bench.matching) and clean-run agreement the figures rest on, on hand-made hands."""
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from bench import robustness
from bench.accuracy import GtImage
from bench.matching import assign, cost_matrix, greedy_pairs
from bench.methods import FrameOutput
from bench.temporal import PredHand

KP = np.stack([10 + 4 * np.arange(17), 10 + 2 * np.arange(17)], 1).astype(np.float32)   # (17, 2) px


class Counting:
    """A fake method that reports the labelled hand and counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, frame, timestamp_ms=None):
        self.calls += 1
        return FrameOutput({"v": [PredHand(KP.copy(), "right")]}, 1.0)


def test_a_condition_named_twice_runs_once(tmp_path):
    """``--conditions clean,noise,clean`` ran every photo through clean twice (the second result
    overwriting the first), as ``--video-conditions`` did each clip: each condition once, in order."""
    assert robustness.check_conditions(["clean", "noise", "clean"]) == ["clean", "noise"]
    path = tmp_path / "p.png"
    cv2.imwrite(str(path), np.zeros((64, 96, 3), np.uint8))
    images = [GtImage(path, [KP.copy()], [np.ones(17, np.float32)], [1], [1.0])]
    m = Counting()
    res = robustness.run({"m": (m, "v")}, images, ["clean", "noise", "clean"])
    assert list(res) == ["clean", "noise"] and m.calls == 2
    assert res["clean"]["m"]["found_rate"] == 1.0 and res["clean"]["m"]["false_pos_per_image"] == 0.0


def test_assignment_minimises_the_total_cost_not_greedy():
    """Prediction 0 is closest to hand 0, but taking that pair leaves prediction 1 a worse one:
    the least total is 0 -> 1, 1 -> 0 (0.35 against 0.5)."""
    assert assign(np.array([[0.1, 0.2], [0.15, 0.4]])) == [(0, 1), (1, 0)]


def test_assignment_keeps_as_many_hands_as_it_can_and_the_limit_is_strict():
    inf = np.inf
    # one pair alone (0.1) is cheaper, but two found hands beat one
    assert assign(np.array([[0.1, 0.4], [0.3, inf]])) == [(0, 1), (1, 0)]
    assert assign(np.array([[0.5, 0.49]])) == [(0, 1)]          # cost 0.5 is not below 0.5
    assert assign(np.array([[0.1], [0.05], [0.2]])) == [(1, 0)]  # one hand, one prediction
    assert assign(np.zeros((0, 2))) == [] and assign(np.zeros((2, 0))) == []


def test_cost_is_the_mean_visible_distance_over_the_labelled_hand_size():
    g = np.stack([np.arange(17) * 10.0, np.zeros(17)], 1)      # 160 px wide
    p = g + [16.0, 0.0]
    assert cost_matrix([p], [g])[0, 0] == pytest.approx(0.1)
    vis = (np.arange(17) < 5).astype(np.float32)               # 5 points seen: 40 px wide
    assert cost_matrix([p], [g], [vis])[0, 0] == pytest.approx(0.4)
    assert cost_matrix([p], [g], gt_size=[320.0])[0, 0] == pytest.approx(0.05)
    assert np.isinf(cost_matrix([np.full((17, 2), np.nan)], [g])[0, 0])


def test_greedy_pairs_are_one_to_one_nearest_first():
    pairs = [(0.3, 0, 0), (0.1, 1, 0), (0.2, 0, 1), (0.05, 1, 1)]
    assert greedy_pairs(pairs) == [(0.05, 1, 1), (0.3, 0, 0)]


def _hand(x, y, s=100.0):
    k = np.stack([x + np.linspace(0, s, 17), y + np.linspace(0, s, 17)], 1)
    return SimpleNamespace(keypoints=k)


def test_agreement_counts_kept_extra_and_moved_per_hand_frame():
    clean = [[_hand(0, 0), _hand(500, 0)], [_hand(0, 0)], []]
    other = [[_hand(10, 0)], [_hand(0, 0), _hand(900, 900)], [_hand(3, 3)]]
    r = robustness.agreement(clean, other)
    assert (r["clean_hands"], r["kept"], r["extra"], r["frames"]) == (3, 2, 2, 3)
    assert r["moved"] == pytest.approx([0.1, 0.0])
    # one hand between two clean ones stands for only one of them
    r = robustness.agreement([[_hand(0, 0), _hand(60, 0)]], [[_hand(30, 0)]])
    assert (r["kept"], r["extra"]) == (1, 0)
    tot = robustness.combine_agreement({"a": {"v": robustness.agreement([[]], [[]])}})["v"]
    assert np.isnan(tot["kept"]) and tot["extra_per_frame"] == 0.0   # no clean hand: no share
