"""tracker.geometry.shrink_area: area averaging by halvings first (the detector's letterbox)."""
import cv2
import numpy as np
import pytest

from tracker.detector import letterbox
from tracker.geometry import shrink_area


def _noise(h, w):
    return np.random.default_rng(h * 7 + w).integers(0, 256, (h, w, 3), np.uint8)


# (image h, w), (out w, h), largest difference from a direct INTER_AREA resize (noise pictures), halvings
CASES = [
    ((480, 640), (320, 240), 0, 1),        # one halving is OpenCV's own 2x path: identical
    ((720, 1280), (320, 180), 1, 2),       # 4 = 2 x 2: uint8 rounding of the halves only
    ((720, 1280), (160, 90), 1, 3),
    ((1080, 1920), (320, 180), 1, 1),      # 6 = 2 x 3: one halving, then a 3x area resize
    ((2160, 3840), (320, 180), 1, 2),      # 12 = 2 x 2 x 3
    ((852, 480), (180, 320), 0, 0),        # factors that are not even whole numbers: direct
    ((768, 1366), (320, 180), 0, 0),
    ((480, 640), (400, 300), 0, 0),
    ((1080, 1920), (640, 360), 0, 0),      # 3: odd
    ((481, 641), (320, 240), 0, 0),        # odd sides
    ((720, 1280), (320, 240), 0, 0),       # 4 and 3: only one side even
]


@pytest.mark.parametrize("hw,out,max_diff,halvings", CASES)
def test_close_to_a_direct_area_resize_with_the_halvings_it_should_take(hw, out, max_diff, halvings, monkeypatch):
    img = _noise(*hw)
    want = cv2.resize(img, out, interpolation=cv2.INTER_AREA)
    sizes = []
    real = cv2.resize

    def spy(src, dsize, *a, **k):
        sizes.append((src.shape[1] / dsize[0], src.shape[0] / dsize[1]))
        return real(src, dsize, *a, **k)

    monkeypatch.setattr(cv2, "resize", spy)
    got = shrink_area(img, *out)
    monkeypatch.undo()
    assert got.shape == (out[1], out[0], 3) and got.dtype == np.uint8
    diff = np.abs(got.astype(int) - want)
    assert diff.max() <= max_diff
    assert sizes[:halvings] == [(2.0, 2.0)] * halvings
    # then at most one resize, by the factors left; none of them is 2 on both sides
    assert len(sizes) - halvings <= 1 and all(f != (2.0, 2.0) for f in sizes[halvings:])


def test_an_image_of_the_target_size_is_returned_as_it_is():
    img = _noise(90, 160)
    assert shrink_area(img, 160, 90) is img


@pytest.mark.parametrize("hw,out", [((3840, 2160), (180, 320)), ((1080, 1920), (320, 180)), ((720, 1280), (320, 180))])
def test_pixel_centres_map_as_in_one_resize(hw, out):
    """A blob's centroid lands where (p + 0.5) * scale - 0.5 puts it, as with a direct resize:
    the halvings keep the geometry the letterbox's scale describes."""
    h, w = hw
    s = np.array([out[0] / w, out[1] / h])       # each axis its own scale, as cv2.resize has it
    rng = np.random.default_rng(1)
    for _ in range(5):
        p = rng.uniform(0.2, 0.8, 2) * (w, h)
        y, x = np.mgrid[0:h, 0:w]
        g = np.exp(-((x - p[0]) ** 2 + (y - p[1]) ** 2) / (2 * 12.0 ** 2))
        img = np.repeat((250 * g).astype(np.uint8)[..., None], 3, axis=2)
        small = shrink_area(img, *out)[..., 0].astype(float)
        yy, xx = np.mgrid[0:out[1], 0:out[0]]
        c = np.array([(small * xx).sum(), (small * yy).sum()]) / small.sum()
        np.testing.assert_allclose(c, (p + 0.5) * s - 0.5, atol=0.05)


def test_letterbox_shrinks_by_area_with_halvings_and_enlarges_bilinearly():
    frame = _noise(720, 1280)
    canvas, s = letterbox(frame, 320, 240)
    assert s == 0.25
    assert np.array_equal(canvas[:180], shrink_area(frame, 320, 180)) and not canvas[180:].any()
    small = _noise(120, 160)
    canvas, s = letterbox(small, 320, 240)
    assert s == 2.0 and np.array_equal(canvas, cv2.resize(small, (320, 240), interpolation=cv2.INTER_LINEAR))
