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


# -- crops that shrink the image a lot: area-averaged first (geometry.warp_crop) -----------------
def _blob_image(w, h, centre, radius):
    import cv2
    img = np.zeros((h, w, 3), np.uint8)
    cv2.circle(img, (int(round(centre[0] * 16)), int(round(centre[1] * 16))), int(radius * 16), (255, 255, 255), -1,
               lineType=cv2.LINE_AA, shift=4)
    return img


def _centroid(crop):
    g = crop[..., 0].astype(np.float64)
    ys, xs = np.mgrid[:g.shape[0], :g.shape[1]]
    return np.array([(g * xs).sum(), (g * ys).sum()]) / g.sum()


@pytest.mark.parametrize("frame, roi", [
    ((1920, 1080), Roi(960.0, 540.0, 1000.0, 0.3)),       # shrinks 6x: 2 halvings, then the warp
    ((1920, 1080), Roi(900.0, 500.0, 1700.0, -1.1)),      # 10x, rotated, partly outside the frame
    ((1280, 720), Roi(80.0, 650.0, 500.0, 2.5)),          # 3x, mostly outside (bottom-left corner)
    ((640, 480), Roi(320.0, 240.0, 330.0, 0.0)),          # 2x: under the bar, plain warp
])
def test_antialiased_crop_keeps_points_on_their_pixels(frame, roi):
    """A disk drawn in the frame lands in the crop where the crop's matrix puts its centre, with
    or without the area averaging, within a fraction of a crop pixel."""
    from tracker.geometry import warp_crop
    w, h = frame
    centre = np.array([roi.cx + 0.13 * roi.size, roi.cy - 0.07 * roi.size])
    centre = np.clip(centre, 40, [w - 40, h - 40])
    img = _blob_image(w, h, centre, roi.size * 0.06)
    for aa in (True, False):
        crop, m = warp_crop(img, roi, 160, antialias=aa)
        np.testing.assert_allclose(m, crop_matrix(roi, 160))
        np.testing.assert_allclose(_centroid(crop), transform_points(centre, m), atol=0.25)


def test_antialiased_crop_does_not_alias_fine_texture():
    """A 1-pixel checkerboard shrunk 5.6x is an even grey; sampled without averaging it is not."""
    from tracker.geometry import ANTIALIAS_BELOW, warp_crop
    ys, xs = np.mgrid[:1080, :1920]
    img = np.repeat((((xs + ys) % 2) * 255).astype(np.uint8)[..., None], 3, axis=2)
    roi = Roi(960.0, 540.0, 900.0, 0.2)                # inside the frame
    assert 160 / roi.size < ANTIALIAS_BELOW
    plain = warp_crop(img, roi, 160, antialias=False)[0][10:-10, 10:-10, 0].astype(float)
    smooth = warp_crop(img, roi, 160)[0][10:-10, 10:-10, 0].astype(float)
    assert abs(smooth.mean() - 127.5) < 3 and smooth.std() < 3
    assert plain.std() > 30


def test_crops_that_shrink_little_are_unchanged():
    from tracker.geometry import warp_crop
    img = np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)
    for size in (100.0, 250.0, 160 / 0.41):
        roi = Roi(300.0, 200.0, size, 0.4)
        np.testing.assert_array_equal(warp_crop(img, roi, 160)[0], warp_crop(img, roi, 160, antialias=False)[0])


@pytest.mark.parametrize("roi, min_size, toward_up, want", [
    # upright crop (fingers toward -y): grown toward the top, the bottom edge (y = 125) kept
    (Roi(100.0, 100.0, 50.0, 0.0), 100.0, 1.0, Roi(100.0, 75.0, 100.0, 0.0)),
    # evenly about the centre
    (Roi(100.0, 100.0, 50.0, 0.0), 100.0, 0.0, Roi(100.0, 100.0, 100.0, 0.0)),
    (Roi(100.0, 100.0, 50.0, 0.0), 100.0, 0.5, Roi(100.0, 87.5, 100.0, 0.0)),
    # fingers pointing right in the image (angle +90 degrees): grown toward +x
    (Roi(100.0, 100.0, 50.0, np.pi / 2), 100.0, 1.0, Roi(125.0, 100.0, 100.0, np.pi / 2)),
    # pointing down (180 degrees): toward +y
    (Roi(100.0, 100.0, 50.0, np.pi), 80.0, 1.0, Roi(100.0, 115.0, 80.0, np.pi)),
    # already as large, or larger: unchanged
    (Roi(100.0, 100.0, 50.0, 0.3), 50.0, 1.0, Roi(100.0, 100.0, 50.0, 0.3)),
    (Roi(100.0, 100.0, 50.0, 0.3), 0.0, 1.0, Roi(100.0, 100.0, 50.0, 0.3)),
])
def test_grow_roi(roi, min_size, toward_up, want):
    from tracker.geometry import grow_roi
    got = grow_roi(roi, min_size, toward_up)
    np.testing.assert_allclose([got.cx, got.cy, got.size, got.angle], [want.cx, want.cy, want.size, want.angle],
                               atol=1e-9)


@pytest.mark.parametrize("angle", [0.0, 0.7, -2.0, np.pi])
def test_grow_roi_keeps_the_bottom_edge_and_holds_the_old_crop(angle):
    """Grown fully toward the top, the crop's bottom edge stays on its line with the same middle
    (it only widens), and every point of the old crop lies in the new one (the hand the old crop
    held is still in view)."""
    from tracker.geometry import grow_roi
    roi = Roi(200.0, 150.0, 60.0, angle)
    big = grow_roi(roi, 150.0)
    old, new = roi.corners(), big.corners()
    np.testing.assert_allclose(new[2:].mean(0), old[2:].mean(0), atol=1e-6)   # bottom-right, bottom-left
    inside = transform_points(old.astype(np.float64), crop_matrix(big, 1.0))
    assert np.all(inside > -1e-5) and np.all(inside < 1 + 1e-5)      # float32 corners


@pytest.mark.parametrize("min_size, toward_up, message", [
    (float("nan"), 1.0, "min_size must be a finite number"),
    (float("inf"), 1.0, "min_size must be a finite number"),
    (100.0, 1.5, "toward_up must be in \\[0, 1\\], got 1.5"),
    (100.0, -0.1, "toward_up must be in \\[0, 1\\], got -0.1"),
    (100.0, float("nan"), "toward_up must be in \\[0, 1\\]"),
])
def test_grow_roi_rejects_bad_arguments(min_size, toward_up, message):
    from tracker.geometry import grow_roi
    with pytest.raises(ValueError, match=message):
        grow_roi(Roi(0.0, 0.0, 10.0), min_size, toward_up)
