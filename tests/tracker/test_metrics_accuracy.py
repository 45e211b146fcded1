import numpy as np
import pytest

from tracker.metrics import auc, average_precision, box_size, match_detections, nme_palm, pck, roc_auc


def _hand():
    k = np.zeros((1, 17, 2))
    k[0, :, 0] = np.linspace(0, 100, 17)
    k[0, :, 1] = np.linspace(0, 50, 17)
    return k


def test_known_pck():
    gt = _hand()
    vis = np.ones((1, 17))
    assert box_size(gt, vis)[0] == pytest.approx(100)
    pred = gt.copy()
    pred[0, :4, 0] += 7      # 7 px: wrong at 0.05 (5 px), right at 0.1
    pred[0, 4:6, 0] += 30    # wrong everywhere below 0.3
    p = pck(pred, gt, vis)
    assert p[0.05] == pytest.approx(11 / 17)
    assert p[0.1] == pytest.approx(15 / 17)
    assert p[0.2] == pytest.approx(15 / 17)


def test_not_found_hand_counts_wrong_and_invisible_is_ignored():
    gt = np.concatenate([_hand(), _hand()])
    vis = np.ones((2, 17))
    vis[0, 0] = 0
    p = pck(gt, gt, vis, found=np.array([True, False]))
    assert p[0.1] == pytest.approx(16 / 33)
    assert auc(gt, gt, vis) == pytest.approx(20 / 21)  # t=0 counts nothing


def test_nme_palm_known():
    gt = np.zeros((1, 17, 2))
    gt[0, 5] = (30, 40)   # index_mcp 50 px from the wrist -> palm size 50
    pred = gt + np.array([3.0, 4.0])  # 5 px error everywhere
    assert nme_palm(pred, gt, np.ones((1, 17))) == pytest.approx(0.1)


def test_roc_auc_and_ap():
    assert roc_auc([0.9, 0.8, 0.1, 0.2], [1, 1, 0, 0]) == 1.0
    assert roc_auc([0.5, 0.5], [1, 0]) == 0.5
    gt = np.array([[0, 0, 10, 10], [20, 20, 30, 30]])
    per = [match_detections(np.array([[0, 0, 10, 10], [50, 50, 60, 60], [20, 20, 30, 31]]),
                            np.array([0.9, 0.8, 0.7]), gt)]
    # ranks: TP, FP, TP -> precision 1 at recall .5, 2/3 at recall 1
    assert average_precision(per) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_palm_size_and_nme_use_visible_points_only():
    from tracker.keypoints import palm_size
    gt = np.zeros((2, 17, 2))
    gt[:, 0] = (100, 100)       # wrist
    gt[:, 5] = (130, 140)       # index_mcp: 50 px from the wrist
    gt[:, 14] = (0, 0)          # pinky_mcp outside the image, stored as (0, 0)
    vis = np.ones((2, 17))
    vis[:, 14] = 0
    assert palm_size(gt[0]) > 140           # without visibility the (0, 0) point inflates it
    assert palm_size(gt[0], vis[0]) == pytest.approx(50)
    vis[1, [0, 5]] = 0                      # second hand: no visible pair -> unknown palm size
    assert np.isnan(palm_size(gt[1], vis[1]))
    pred = gt + np.array([3.0, 4.0])
    assert nme_palm(pred, gt, vis) == pytest.approx(0.1)  # the second hand is left out


def test_pck_with_explicit_norm():
    gt = _hand()
    pred = gt.copy()
    pred[0, :, 0] += 7
    vis = np.ones((1, 17))
    assert pck(pred, gt, vis)[0.05] == 0.0
    assert pck(pred, gt, vis, norm=np.array([200.0]))[0.05] == 1.0
