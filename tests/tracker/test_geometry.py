import numpy as np
import pytest

from tracker.geometry import Roi, crop_matrix, hand_angle, invert_affine, roi_from_keypoints, transform_points
from tracker.keypoints import HandKeypoint, from_21, palm_size


def test_upright_hand_has_zero_angle_and_rotations_are_recovered():
    k = np.zeros((17, 2), np.float32)
    k[HandKeypoint.WRIST] = (100, 200)
    k[HandKeypoint.MIDDLE_MCP] = (100, 150)  # straight up in the image
    assert hand_angle(k) == pytest.approx(0.0)
    k[HandKeypoint.MIDDLE_MCP] = (150, 200)  # pointing right
    a = hand_angle(k)
    m = crop_matrix(Roi(100, 200, 100, a), 100)
    d = transform_points(k[[HandKeypoint.WRIST, HandKeypoint.MIDDLE_MCP]], m)
    v = d[1] - d[0]
    assert v[1] < 0 and abs(v[0]) < 1e-4  # points up in the crop


def test_crop_matrix_inverse_round_trip():
    roi = Roi(320.5, 240.25, 173.0, 1.1)
    m = crop_matrix(roi, 128)
    pts = np.random.default_rng(0).uniform(0, 600, (50, 2))
    back = transform_points(transform_points(pts, m), invert_affine(m))
    np.testing.assert_allclose(back, pts, atol=1e-3)
    c = transform_points(np.array([[roi.cx, roi.cy]]), m)
    np.testing.assert_allclose(c, [[64, 64]], atol=1e-4)


def test_roi_contains_all_points_with_margin():
    rng = np.random.default_rng(2)
    k = rng.uniform(100, 200, (17, 2)).astype(np.float32)
    roi = roi_from_keypoints(k, scale=1.5)
    p = transform_points(k, crop_matrix(roi, 100))
    assert p.min() >= 100 * (1 - 1 / 1.5) / 2 - 1e-3
    assert p.max() <= 100 - 100 * (1 - 1 / 1.5) / 2 + 1e-3
    with pytest.raises(ValueError):
        roi_from_keypoints(k, visible=np.zeros(17))
    with pytest.raises(ValueError):
        crop_matrix(Roi(0, 0, 0, 0), 10)


def test_from_21_palm_is_mean_and_palm_size():
    k21 = np.arange(42, dtype=np.float32).reshape(21, 2)
    k17, v17 = from_21(k21)
    np.testing.assert_allclose(k17[1], k21[[0, 5, 9, 13, 17]].mean(0))
    np.testing.assert_allclose(k17[7], k21[8])  # index tip
    assert v17.sum() == 17
    vis = np.ones(21)
    vis[9] = 0
    _, v = from_21(k21, vis)
    assert v[HandKeypoint.PALM] == 0 and v[HandKeypoint.MIDDLE_MCP] == 0
    tri = np.zeros((17, 2), np.float32)
    tri[HandKeypoint.INDEX_MCP] = (3, 4)
    tri[HandKeypoint.PINKY_MCP] = (0, 10)
    assert palm_size(tri) == pytest.approx(10)
