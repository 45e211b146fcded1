"""Audit (session 36) of the detector stage on frames of unusual shapes and content: the canvas
sizes of the small-hand and large-hand passes, portrait letterboxes mapped back, turned looks on
portrait frames, and tiny, extreme and large frames on the shipped model."""
import math
from fractions import Fraction

import cv2
import numpy as np
import pytest

from tests.conftest import HANDS21, require_shared
from tracker.detector import LARGE_HAND_SCALE, SMALL_HAND_SCALE, HandDetector


@pytest.fixture(scope="module")
def detector():
    return HandDetector(threads=1)


@pytest.fixture(scope="module")
def all_passes():
    return HandDetector(threads=1, small_hands=True)


def _exact_canvas_wh(w, h, model_wh, size_scale):
    """The pass's canvas (width, height) by exact arithmetic: the frame at ``size_scale`` x the
    first pass's scale, each side rounded up to a multiple of 32."""
    s = min(Fraction(model_wh[0], w), Fraction(model_wh[1], h)) * Fraction(size_scale)
    return math.ceil(w * s / 32) * 32, math.ceil(h * s / 32) * 32


# Frames whose scaled side is exactly a multiple of 32, where the float product came out a hair
# above it and ceil() added a whole 32 px step: 533x399's large-hand canvas was 192x128 (the
# picture at 0.534 instead of half the first pass's scale, read from the frame instead of cut from
# the first canvas), 1500x1125's small-hand canvas 640x512 (32 black rows run through the net).
@pytest.mark.parametrize("frame_wh, size_scale", [
    ((533, 399), LARGE_HAND_SCALE), ((533, 399), SMALL_HAND_SCALE), ((147, 110), LARGE_HAND_SCALE),
    ((1500, 1125), SMALL_HAND_SCALE), ((1201, 901), SMALL_HAND_SCALE), ((176, 314), SMALL_HAND_SCALE),
])
def test_pass_canvases_are_not_a_stride_larger_on_exact_multiples(detector, frame_wh, size_scale):
    w, h = frame_wh
    frame = np.zeros((h, w, 3), np.uint8)
    first = detector._canvas(frame, 1.0)
    canvas, s = detector._canvas(frame, size_scale, first=first)
    assert canvas.shape[1::-1] == _exact_canvas_wh(w, h, (detector.width, detector.height), size_scale)
    if size_scale == LARGE_HAND_SCALE and first[1] < 1:
        # at exactly half the first canvas's picture: cut from it, at exactly half its scale
        assert s == first[1] * 0.5


def _hand_photo():
    require_shared(HANDS21)
    im = cv2.imread(str(HANDS21 / "images" / "val" / "IMG_00000002.webp"))
    assert im is not None
    return cv2.resize(im, None, fx=1.5, fy=1.5)


@pytest.mark.parametrize("place", [(50, 100), (100, 300), (0, 640 - 336)])
def test_a_portrait_frame_maps_back_as_the_same_picture_in_a_landscape_frame(detector, place):
    """A 480x640 portrait frame and the same frame padded with black to 853x640 are letterboxed
    at the same scale (0.375) into the same canvas pixels: the hand's box, wrist and middle MCP
    agree to well under a pixel (an x/y or w/h mix-up on portrait frames moves them by tens)."""
    im = _hand_photo()
    ox, oy = place
    portrait = np.zeros((640, 480, 3), np.uint8)
    portrait[oy:oy + im.shape[0], ox:ox + im.shape[1]] = im
    landscape = np.zeros((640, 853, 3), np.uint8)
    landscape[:, :480] = portrait
    p, q = detector(portrait), detector(landscape)
    assert len(p) == len(q) == 1
    np.testing.assert_allclose(p[0].box, q[0].box, atol=0.75)
    np.testing.assert_allclose(p[0].wrist, q[0].wrist, atol=0.75)
    np.testing.assert_allclose(p[0].middle_mcp, q[0].middle_mcp, atol=0.75)
    # and where the photo was drawn: the box holds the hand's labelled box (within a few px)
    b = p[0].box
    assert ox - 5 <= b[0] < b[2] <= ox + im.shape[1] + 5 and oy - 5 <= b[1] < b[3] <= oy + im.shape[0] + 5


@pytest.mark.parametrize("frame_hw", [(640, 480), (1280, 720), (641, 479)])
@pytest.mark.parametrize("turn", [1, 2, 3])
def test_turned_looks_at_portrait_frames_map_back_to_the_frame(detector, frame_hw, turn):
    """A turned look at a portrait frame gives the box the detector finds in the turned frame
    itself, mapped back by the turn (pixel centres on integers, as cv2.rotate moves them)."""
    im = _hand_photo()
    h, w = frame_hw
    frame = np.full((h, w, 3), 30, np.uint8)
    frame[h - 400:h - 400 + im.shape[0], 40:40 + im.shape[1]] = im
    code = {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_COUNTERCLOCKWISE}[turn]
    looked, direct = detector(frame, turns=(turn,)), detector(cv2.rotate(frame, code))
    assert len(looked) == len(direct) == 1 and looked[0].turn == turn
    x0, y0, x1, y1 = direct[0].box
    back = {1: [y0, h - 1 - x1, y1, h - 1 - x0], 2: [w - 1 - x1, h - 1 - y1, w - 1 - x0, h - 1 - y0],
            3: [w - 1 - y1, x0, w - 1 - y0, x1]}[turn]
    np.testing.assert_allclose(looked[0].box, back, atol=1e-3)


@pytest.mark.parametrize("frame_hw", [(1, 1), (2, 2), (15, 15), (17, 31), (100, 2000), (2000, 100),
                                      (1, 5000), (5000, 1), (479, 641), (2160, 3840)])
@pytest.mark.parametrize("content", ["black", "white", "noise"])
def test_any_frame_shape_gives_finite_boxes_without_an_exception(all_passes, frame_hw, content):
    d = all_passes
    h, w = frame_hw
    frame = {"black": lambda: np.zeros((h, w, 3), np.uint8), "white": lambda: np.full((h, w, 3), 255, np.uint8),
             "noise": lambda: np.random.default_rng(h * 7 + w).integers(0, 256, (h, w, 3), np.uint8)}[content]()
    for det in d(frame, score_threshold=0.05, max_detections=8, turns=(0, 1, 2, 3)):
        assert np.isfinite(det.box).all() and np.isfinite(det.wrist).all() and np.isfinite(det.middle_mcp).all()
        assert det.box[2] > det.box[0] and det.box[3] > det.box[1]
        assert 0 <= det.score <= 1
