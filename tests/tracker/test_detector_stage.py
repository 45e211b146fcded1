"""Audit of the detector's runtime stage (tracker/detector.py, tracker/detector_codec.py): the
letterbox's mapping on frames of odd sizes, argument checks of ``HandDetector.__call__``, NMS on
hand-made boxes, merging of passes and turns, limits and determinism on the shipped model."""
import numpy as np
import pytest

from tests.tracker.test_geometry_pixel_conventions import bare_detector, blob_frame, centroid
from tracker.detector import LARGE_HAND_SCALE, SMALL_HAND_SCALE, HandDetector


# Frames whose short side scales to a whole number of canvas pixels, and frames whose short side
# does not (the letterbox rounds the picture's size, then resizes the frame to that size).
EXACT_SIZES = [(1920, 1080), (1280, 720), (640, 480), (480, 640)]
ODD_SIZES = [(1920, 1084), (1921, 1083), (5000, 2817)]


def _canvas_point_error(frame_wh, fy, size_scale=1.0):
    """Where a blob at a frame point lands in the detector's canvas, minus where the canvas's scale
    s says it should ((p + 0.5) x s - 0.5, pixel centres on integers): canvas px."""
    w, h = frame_wh
    p = np.array([0.47 * w + 0.3, fy * h + 0.2])
    d = bare_detector()
    frame = blob_frame(w, h, p, sigma=2.5 / (min(320 / w, 240 / h) * min(size_scale, 1.0)))
    first = d._canvas(frame, 1.0)
    canvas, s = first if size_scale == 1.0 else d._canvas(frame, size_scale, first=first)
    return centroid(canvas) - ((p + 0.5) * s - 0.5)


@pytest.mark.parametrize("frame_wh", EXACT_SIZES)
@pytest.mark.parametrize("size_scale", [1.0, LARGE_HAND_SCALE, SMALL_HAND_SCALE])
def test_canvases_scale_both_axes_by_their_scale(frame_wh, size_scale):
    np.testing.assert_allclose(_canvas_point_error(frame_wh, 0.85, size_scale), 0, atol=0.05)


@pytest.mark.xfail(strict=True, reason="letterbox stretches the short axis by round(h s) / (h s); reported, "
                                       "not fixed (the fix changes canvases a pinned large-hand test compares)")
@pytest.mark.parametrize("frame_wh", ODD_SIZES)
def test_letterbox_scales_the_short_axis_of_odd_frames_by_its_scale(frame_wh):
    """letterbox promises canvas px = frame px x scale on both axes; resized to the rounded size,
    the short axis is off by up to half a canvas pixel at the far edge: 0.5 / s frame px, 3 px at
    the bottom of a 1920x1084 frame (besides the known uniform offset). cv2.resize with fx=fy=s
    (OpenCV then rounds the size the same way) scales both axes by s exactly."""
    np.testing.assert_allclose(_canvas_point_error(frame_wh, 0.85), 0, atol=0.05)


@pytest.fixture(scope="module")
def detector():
    return HandDetector(threads=1)


def _noise(h=96, w=128, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), np.uint8)


@pytest.mark.parametrize("thr", [np.nan, np.inf, -0.1, 1.5, "0.5", "x", True])
def test_detector_refuses_a_bad_score_threshold(detector, thr):
    # NaN and 1.5 found nothing and -0.1 every cell of a flat heatmap, silently; "0.5" was read
    # as a number; "x" failed float() with a message that named no argument
    with pytest.raises(ValueError, match="score_threshold"):
        detector(_noise(), score_threshold=thr)


def test_detector_takes_numpy_and_edge_thresholds(detector):
    frame = _noise()
    ref = detector(frame, score_threshold=0.3)
    for thr in (np.float32(0.3), np.float64(0.3)):
        got = detector(frame, score_threshold=thr)
        assert [d.box.tolist() for d in got] == [d.box.tolist() for d in ref]
    assert len(detector(frame, score_threshold=0)) >= len(ref)
    assert all(d.score >= 1.0 for d in detector(frame, score_threshold=1))


@pytest.mark.parametrize("turns", [(1.5,), ("1",), (True,), 0, "02", (None,)])
def test_detector_refuses_bad_turns(detector, turns):
    # 1.5 was truncated to one quarter turn, "02" read as (0, 2); 0 and None failed with a
    # TypeError, "a" with int()'s message: none named the argument
    with pytest.raises(ValueError, match="turns"):
        detector(_noise(), turns=turns)


def test_detector_takes_negative_and_numpy_turns(detector):
    frame = _noise()
    a = detector(frame, score_threshold=0.0, turns=(-1,))
    b = detector(frame, score_threshold=0.0, turns=(np.int64(3),))
    assert [d.box.tolist() for d in a] == [d.box.tolist() for d in b] and all(d.turn == 3 for d in a)


def test_nms_on_hand_made_boxes():
    from tracker.detector_codec import nms
    # identical boxes: one kept, the first of equal scores
    assert nms(np.array([[0, 0, 10, 10]] * 3, np.float32), np.array([0.5, 0.5, 0.5]), 0.4).tolist() == [0]
    # a box nested in one 4x its area overlaps it by 0.25: both kept, best first
    assert nms(np.array([[0, 0, 20, 20], [5, 5, 15, 15]], np.float32), np.array([0.3, 0.9]), 0.4).tolist() == [1, 0]
    # a NaN score sorts last and suppresses nothing; it is still kept when it overlaps nothing kept
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    assert nms(boxes, np.array([np.nan, 0.2, 0.1]), 0.4).tolist() == [1, 2]
    assert nms(np.zeros((0, 4)), np.zeros(0)).tolist() == []


@pytest.mark.parametrize("kw", [{}, {"turns": (0, 1, 2, 3)}, {"score_threshold": 0.0, "turns": (0, 2)}])
def test_detections_are_deterministic_and_limited(detector, kw):
    frame = _noise(240, 320, seed=4)
    for n in (0, 1, 3):
        a = detector(frame, max_detections=n, **kw)
        b = detector(frame.copy(), max_detections=n, **kw)
        assert len(a) <= n
        assert [(d.box.tolist(), d.score, d.wrist.tolist(), d.turn, d.pass_scale) for d in a] == \
               [(d.box.tolist(), d.score, d.wrist.tolist(), d.turn, d.pass_scale) for d in b]
        assert [d.score for d in a] == sorted((d.score for d in a), reverse=True)
