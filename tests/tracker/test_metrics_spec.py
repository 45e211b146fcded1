"""tracker.metrics against ../shared/keypoints.md, case by case: (input, expected) tables."""
import math

import numpy as np
import pytest

from tracker.metrics import AUC_THRESHOLDS, auc, nme_palm, pck, per_keypoint_pck, roc_auc


def _hand(side=100.0, n=1):
    """n hands of 17 points on a line: box 100 x 50 px (longest side ``side``)."""
    k = np.zeros((n, 17, 2))
    k[:, :, 0] = np.linspace(0, side, 17)
    k[:, :, 1] = np.linspace(0, side / 2, 17)
    return k


def _shifted(dx, gt=None):
    gt = _hand() if gt is None else gt
    return gt + np.array([dx, 0.0])


NAN = float("nan")
ALL = np.ones((1, 17))
NONE = np.zeros((1, 17))
ONE = np.eye(17)[3][None]                  # a single visible point: its box has side 0


@pytest.mark.parametrize("pred, vis, kw, t, expected", [
    # "error below t x longest side": an error of exactly t x side is outside
    (_shifted(5.0), ALL, {}, 0.05, 0.0),
    (_shifted(4.999), ALL, {}, 0.05, 1.0),
    (_shifted(10.0), ALL, {}, 0.1, 0.0),
    (_shifted(7.0), ALL, {}, 0.07, 0.0),
    (_shifted(3.0), ALL, {"norm": np.array([30.0])}, 0.1, 0.0),
    (_shifted(20.0), ALL, {}, 0.2, 0.0),
    # a hand not found: wrong at every visible keypoint, whatever its prediction
    (_hand(), ALL, {"found": [False]}, 0.2, 0.0),
    (np.full((1, 17, 2), np.nan), ALL, {"found": [False]}, 0.2, 0.0),
    # a found hand's NaN prediction is wrong at that point, not left out
    (np.where(np.arange(17)[None, :, None] < 5, np.nan, _hand()), ALL, {}, 0.1, 12 / 17),
    # invisible points are not counted
    (np.where(np.arange(17)[None, :, None] < 5, 1e6, _hand()), (np.arange(17) >= 5)[None] * 1.0, {}, 0.1, 1.0),
    # a box of side 0 (one visible point): nothing is below 0, even a perfect prediction
    (_hand(), ONE, {}, 0.2, 0.0),
    (_hand(), ALL, {"norm": np.array([0.0])}, 0.2, 0.0),
    # no visible ground-truth keypoint: nothing to score, undefined (as NME), not 0
    (_hand(), NONE, {}, 0.1, NAN),
    (np.zeros((0, 17, 2)), np.zeros((0, 17)), {}, 0.1, NAN),
])
def test_pck_table(pred, vis, kw, t, expected):
    gt = _hand() if len(pred) else np.zeros((0, 17, 2))
    got = pck(pred, gt, vis, thresholds=(t,), **kw)[t]
    assert got == pytest.approx(expected, nan_ok=True)


def test_an_all_invisible_hand_leaves_the_other_hands_figure_alone():
    gt = _hand(n=2)
    vis = np.ones((2, 17))
    vis[1] = 0
    assert pck(gt, gt, vis)[0.1] == 1.0


@pytest.mark.parametrize("pred, vis, expected", [
    (_hand(), ALL, 20 / 21),                     # t = 0 is in the grid and scores nothing
    (_shifted(3.0), ALL, 17 / 21),               # 3 px of 100: right from t = 0.04 (17 of 21 t)
    (_hand(), NONE, NAN),
    (np.zeros((0, 17, 2)), np.zeros((0, 17)), NAN),
])
def test_auc_table(pred, vis, expected):
    assert len(AUC_THRESHOLDS) == 21 and AUC_THRESHOLDS[0] == 0 and AUC_THRESHOLDS[-1] == pytest.approx(0.2)
    gt = _hand() if len(pred) else np.zeros((0, 17, 2))
    assert auc(pred, gt, vis) == pytest.approx(expected, nan_ok=True)


def test_empty_figures_agree_nan_for_every_share():
    """An empty set gives NaN for every share (PCK, AUC, per keypoint, NME), never a 0 that reads
    as "all wrong"."""
    e, ev = np.zeros((0, 17, 2)), np.zeros((0, 17))
    figures = [*pck(e, e, ev).values(), auc(e, e, ev), nme_palm(e, e, ev), *per_keypoint_pck(e, e, ev)]
    assert all(math.isnan(v) for v in figures)


@pytest.mark.parametrize("scores, labels, expected", [
    ([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0], 1.0),
    ([0.5, 0.7, 0.5, 0.2], [1, 1, 0, 0], 0.875),  # a tie counts one half
    ([0.5, 0.5, 0.5], [1, 0, 0], 0.5),
    ([0.9, 0.8], [1, 1], NAN),                     # one class only: undefined
    ([0.1, 0.2], [0, 0], NAN),
    ([], [], NAN),
    # a NaN score has no rank: undefined, not ranked above every real score
    ([NAN, 0.7, 0.5], [1, 0, 0], NAN),
    ([0.9, NAN, 0.5], [1, 0, 0], NAN),
])
def test_roc_auc_table(scores, labels, expected):
    assert roc_auc(scores, labels) == pytest.approx(expected, nan_ok=True)


# --- detection matching (match_detections' docstring): a detection that matches no labelled hand
# but matches an ignore box (IoU >= the match threshold) or lies mostly inside one is dropped


@pytest.mark.parametrize("det, iou_threshold, kept", [
    # a loose box around a small ignored hand: IoU 289/900 = 0.32, only 32% of the box inside it
    ([0, 0, 30, 30], 0.2, False),     # matches the ignore box at the 0.2 threshold: neither TP nor FP
    ([0, 0, 30, 30], 0.5, True),      # not at 0.5: a false positive
    ([5, 5, 25, 25], 0.2, False),     # IoU 144/545 = 0.26 >= 0.2 (36% inside)
    ([5, 5, 25, 25], 0.5, True),
    ([0, 0, 17, 17], 0.5, False),     # the ignored hand's own box
    ([2, 2, 6, 30], 0.5, False),      # mostly inside it (54%) though IoU 0.18: dropped at any threshold
    ([2, 2, 6, 30], 0.2, False),
])
def test_a_detection_matching_an_ignore_box_at_the_match_iou_is_dropped(det, iou_threshold, kept):
    from tracker.metrics import match_detections
    ign = np.array([[0, 0, 17, 17]], float)
    tp, sc, n = match_detections([det], [0.9], np.zeros((0, 4)), iou_threshold, ign)
    assert n == 0 and len(tp) == (1 if kept else 0) and not tp.any()
