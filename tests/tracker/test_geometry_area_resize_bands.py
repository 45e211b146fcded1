"""tracker.geometry.area_resize (session 50): an area resize cut into two bands of rows, the second
on a worker thread, gives cv2.resize's pixels bit for bit; where it cuts, when it does not, and
a forked child does not wait on the parent's thread."""
from __future__ import annotations

import multiprocessing as mp
import threading

import cv2
import numpy as np
import pytest

import tracker.geometry as geometry
from tracker.detector import HandDetector, letterbox
from tracker.geometry import BAND_MIN_PIXELS, area_resize, band_row, shrink_area


def _noise(h, w, c=3, seed=0):
    shape = (h, w) if c == 1 else (h, w, c)
    return np.random.default_rng([h, w, c, seed]).integers(0, 256, shape, np.uint8)


@pytest.fixture
def bands(monkeypatch):
    """Counts the bands handed to the worker thread."""
    handed = []
    real = geometry._band_worker

    class Counting:
        def submit(self, fn, image, *a, **k):
            handed.append(image.shape)
            return real().submit(fn, image, *a, **k)

    monkeypatch.setattr(geometry, "_band_worker", lambda: Counting())
    return handed


@pytest.mark.parametrize("src, dst, row", [
    (852, 240, 120),      # portrait clips into the detector's canvas: 3.55 rows each, row 120 starts at 426
    (3000, 240, 120),     # 12.5
    (3024, 240, 120),     # a 12 MP phone photo: 12.6
    (768, 180, 90),       # 1366x768: 4.2667
    (4032, 128, 64),
    (851, 240, None),     # no output row starts on a whole source row in the middle half
    (5, 2, None),
    (4, 2, 1),
    (1000, 3, None),      # rows 1 and 2 start at 333.3 and 666.7
    (7, 1, None),
])
def test_the_band_row_is_the_middle_output_row_that_starts_on_a_whole_source_row(src, dst, row):
    assert band_row(src, dst) == row
    if row is not None:
        assert row * src % dst == 0 and dst <= 4 * row <= 3 * dst


@pytest.mark.parametrize("hw, out, c", [
    ((852, 480), (135, 240), 3),
    ((480, 852), (320, 180), 3),
    ((768, 1366), (320, 180), 3),
    ((3024, 4032), (320, 240), 3),
    ((4032, 3024), (180, 240), 3),
    ((3000, 4000), (160, 120), 3),
    ((852, 480), (135, 240), 1),
    ((852, 480), (135, 240), 4),
])
def test_two_bands_give_the_pixels_of_one_resize_bit_for_bit(hw, out, c, bands):
    img = _noise(*hw, c)
    want = cv2.resize(img, out, interpolation=cv2.INTER_AREA)
    got = area_resize(img, *out, threads=2)
    assert len(bands) == 1                           # it was cut
    assert got.shape == want.shape and got.dtype == np.uint8
    np.testing.assert_array_equal(got, want)


def test_random_sizes_give_the_same_pixels(bands):
    rng = np.random.default_rng(50)
    cut = 0
    for i in range(60):
        h, w = int(rng.integers(500, 1300)), int(rng.integers(500, 1300))
        out = (int(rng.integers(1, w // 2)), int(rng.integers(2, h // 2)))
        img = _noise(h, w, seed=i)
        before = len(bands)
        np.testing.assert_array_equal(area_resize(img, *out, threads=2),
                                      cv2.resize(img, out, interpolation=cv2.INTER_AREA), err_msg=f"{h}x{w} -> {out}")
        cut += len(bands) > before
    assert cut >= 15                                 # the table above alone would not say it is common


@pytest.mark.parametrize("hw, out, threads", [
    ((852, 480), (135, 240), 1),                     # one thread asked for
    ((851, 480), (135, 240), 2),                     # no whole source row to cut at
    ((400, 600), (135, 240), 2),                     # under BAND_MIN_PIXELS
])
def test_it_is_not_cut_with_one_thread_no_cut_row_or_a_small_image(hw, out, threads, bands):
    assert hw[0] * hw[1] >= BAND_MIN_PIXELS or hw == (400, 600)
    img = _noise(*hw)
    np.testing.assert_array_equal(area_resize(img, *out, threads=threads),
                                  cv2.resize(img, out, interpolation=cv2.INTER_AREA))
    assert bands == []


def test_letterbox_and_shrink_area_pass_threads_on_and_give_the_same_canvas(bands):
    frame = _noise(852, 480)
    one, s1 = letterbox(frame, 320, 240)
    assert bands == []                               # the free functions' default: one thread
    two, s2 = letterbox(frame, 320, 240, threads=2)
    assert len(bands) == 1 and s1 == s2
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(shrink_area(frame, 135, 240, threads=2), shrink_area(frame, 135, 240))
    assert len(bands) == 2


@pytest.mark.parametrize("threads, cut", [(1, 0), (2, 2)])
def test_the_detector_cuts_its_letterboxes_with_its_threads(threads, cut, bands):
    """A detector made with threads=1 (a worker process per core, as the README advises) uses no
    second thread; with 2 both passes' canvases of a portrait frame are cut."""
    det = HandDetector(threads=threads)
    det(_noise(852, 480))
    assert len(bands) == cut


def test_a_failing_band_is_raised_after_both_bands_are_done(monkeypatch):
    img = _noise(852, 480)
    seen = []
    real = cv2.resize

    def resize(src, dsize, *a, **k):
        seen.append(threading.current_thread().name)
        if threading.current_thread() is threading.main_thread():
            raise cv2.error("first band refused")
        return real(src, dsize, *a, **k)

    monkeypatch.setattr(geometry.cv2, "resize", resize)
    with pytest.raises(cv2.error, match="first band refused"):
        area_resize(img, 135, 240, threads=2)
    assert sorted(n.startswith("handtrack-resize") for n in seen) == [False, True]


def _child(q):
    img = _noise(852, 480)
    want = cv2.resize(img, (135, 240), interpolation=cv2.INTER_AREA)
    q.put(np.array_equal(area_resize(img, 135, 240, threads=2), want))


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="no fork on this platform")
def test_a_child_forked_after_the_worker_started_cuts_its_own_bands():
    """The README's many-videos recipe forks workers; a parent that tracked before has the
    worker thread, which a forked child does not: the child must start its own, not wait."""
    img = _noise(852, 480)
    area_resize(img, 135, 240, threads=2)            # the parent's worker is running
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    p.join(30)
    alive = p.is_alive()
    if alive:
        p.kill()
    assert not alive, "the forked child hung on the parent's worker thread"
    assert p.exitcode == 0 and q.get(timeout=5) is True
