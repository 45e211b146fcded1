"""Edge cases of the numpy/OpenCV pipeline pieces (geometry, NMS, detector input, metrics,
drawing): degenerate input gets a ValueError naming the argument, or a result that is still right."""
import numpy as np
import pytest

from tracker.detector import HandDetector, letterbox
from tracker.detector_codec import nms
from tracker.draw import draw_skeleton, tile_grid
from tracker.geometry import Roi, crop_matrix, roi_from_keypoints, warp_crop
from tracker.metrics import nme_palm


def _image(h=100, w=120):
    return np.random.default_rng(0).integers(0, 255, (h, w, 3), np.uint8)


@pytest.mark.parametrize("roi", [Roi(50, 50, np.inf), Roi(50, 50, np.nan), Roi(np.nan, 50, 1000),
                                 Roi(50, np.inf, 10), Roi(50, 50, 1000, np.nan)])
def test_a_roi_with_non_finite_values_is_a_value_error_naming_it(roi):
    # an infinite side divided by zero inside warp_crop; a NaN centre or angle failed converting
    # NaN to int (large crops) or gave a black crop (small ones)
    with pytest.raises(ValueError, match="roi"):
        crop_matrix(roi, 64)
    with pytest.raises(ValueError, match="roi"):
        warp_crop(_image(), roi, 64)


@pytest.mark.parametrize("scale", [0.0, -1.0, np.nan, np.inf])
def test_roi_from_keypoints_refuses_a_bad_scale(scale):
    k = np.random.default_rng(1).uniform(0, 100, (17, 2))
    with pytest.raises(ValueError, match="scale"):
        roi_from_keypoints(k, scale=scale)


def test_roi_from_keypoints_refuses_a_non_finite_angle():
    k = np.random.default_rng(1).uniform(0, 100, (17, 2))
    with pytest.raises(ValueError, match="angle"):
        roi_from_keypoints(k, angle=np.nan)


def test_a_nan_box_does_not_suppress_the_other_boxes():
    boxes = np.array([[np.nan] * 4, [0, 0, 10, 10], [50, 50, 60, 60], [1, 1, 10, 10]], np.float32)
    keep = nms(boxes, np.array([0.9, 0.8, 0.7, 0.6]), 0.4)
    # the NaN box overlaps nothing; the last box is the second one's duplicate
    assert keep.tolist() == [0, 1, 2]


@pytest.fixture(scope="module")
def detector():
    return HandDetector(threads=1)


@pytest.mark.parametrize("n", [-1, 2.5, True])
def test_detector_refuses_a_bad_max_detections(detector, n):
    # -1 sliced [:-1] and returned hundreds of low boxes; 2.5 failed slicing deep in the decoder
    with pytest.raises(ValueError, match="max_detections"):
        detector(_image(48, 64), score_threshold=0.0, max_detections=n)


@pytest.mark.parametrize("frame", [np.zeros((0, 64, 3), np.uint8), np.zeros((48, 0, 3), np.uint8),
                                   np.zeros((48, 64), np.uint8), np.zeros((48, 64, 4), np.uint8),
                                   np.zeros((48, 64, 3), np.float32)])
def test_detector_refuses_frames_it_cannot_read(detector, frame):
    # empty: ZeroDivisionError in letterbox; gray/BGRA: a numpy broadcast error; float: silently
    # cast to uint8 (a 0-1 image came out black)
    with pytest.raises(ValueError, match="frame"):
        detector(frame)


def test_letterbox_refuses_an_empty_frame():
    with pytest.raises(ValueError, match="frame"):
        letterbox(np.zeros((0, 5, 3), np.uint8), 256, 192)


def test_detector_reads_odd_shapes_and_views(detector):
    rng = np.random.default_rng(2)
    for shape in [(1, 640, 3), (640, 1, 3), (1, 1, 3), (8, 8, 3), (3, 2000, 3), (33, 17, 3)]:
        f = rng.integers(0, 255, shape, np.uint8)
        for d in detector(f, score_threshold=0.0, turns=(0, 1, 2, 3)):
            assert np.isfinite(d.box).all() and np.isfinite(d.wrist).all() and np.isfinite(d.score)
    f = rng.integers(0, 255, (96, 128, 3), np.uint8)
    ref = detector(np.ascontiguousarray(f[:, ::-1]), score_threshold=0.0)
    got = detector(f[:, ::-1], score_threshold=0.0)
    assert [d.box.tolist() for d in got] == [d.box.tolist() for d in ref]


def test_nme_counts_a_nan_prediction_of_a_found_hand_as_infinitely_wrong():
    rng = np.random.default_rng(3)
    gt = rng.uniform(0, 100, (2, 17, 2))
    vis = np.ones((2, 17))
    pred = gt + rng.normal(0, 3, gt.shape)
    pred[0, 3] = np.nan  # a found hand's keypoint came out NaN: not silently left out
    assert nme_palm(pred, gt, vis) == np.inf
    assert nme_palm(pred, gt, vis, found=[False, True]) == pytest.approx(nme_palm(pred[1:], gt[1:], vis[1:]))
    vis[0, 3] = 0  # ... but an invisible one is left out
    assert np.isfinite(nme_palm(pred, gt, vis))


@pytest.mark.parametrize("cols", [0, -2, 2.0])
def test_tile_grid_refuses_a_bad_column_count(cols):
    t = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="cols"):
        tile_grid([t, t, t], cols)


def test_a_keypoint_beyond_int32_range_is_not_drawn_at_a_wrong_position():
    k = np.full((17, 2), 25.0)
    k[:, 0] += np.arange(17)
    ref = k.copy()
    ref[0] = np.nan
    far = k.copy()
    far[0] = (2.0 ** 32 + 5, 25)  # cast to int32 its x became -2**31: its bones went off leftwards
    a = draw_skeleton(np.zeros((50, 60, 3), np.uint8), far)
    b = draw_skeleton(np.zeros((50, 60, 3), np.uint8), ref)
    # a point that far out of the picture is left out, as a NaN one is
    assert (a == b).all()
