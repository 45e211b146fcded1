"""Audit: crops that shrink the frame a lot (geometry.warp_crop's area-averaged path) keep the
frame's right and bottom edges where the frame ends, as they keep its top and left edges.

The averaged path reduces the frame by d x d block means before warping. The frame's last partial
block on the right / bottom (w % d columns, h % d rows) used to be left to the border, so those
edges landed up to d - 1 frame pixels inward, and a view of the frame turned by 180 degrees (the
detector's turned looks) cut a different crop of the same place.
"""
import numpy as np
import pytest

from tracker.geometry import ANTIALIAS_BELOW, Roi, quarter_turn, transform_points, warp_crop

OUT = 160


def _white(w, h):
    return np.full((h, w, 3), 255, np.uint8)


@pytest.mark.parametrize("d", [4, 8, 16])
@pytest.mark.parametrize("w, h", [(603, 401), (641, 479), (640, 485)])
def test_crop_larger_than_frame_shows_the_whole_frame(d, w, h):
    """A white frame on a black border, cut by a crop d times its size with each crop pixel on one
    d x d block's centre: the crop holds exactly the frame's width, height and area (a partial
    last block is as grey as the frame's share of it)."""
    out = 256
    size = out * d
    assert out / size < ANTIALIAS_BELOW
    # crop pixel 0 on a block centre ((d - 1) / 2 past a block start), left of / above the frame
    c0 = (d - 1) / 2 - d * ((size - max(w, h)) // (2 * d))
    roi = Roi(c0 + size / 2, c0 + size / 2, float(size), 0.0)
    corners = roi.corners()
    assert corners.min() < 0 and corners[:, 0].max() > w and corners[:, 1].max() > h
    crop, _ = warp_crop(_white(w, h), roi, out)
    g = crop[..., 0].astype(np.float64) / 255.0
    # frame pixels of white along the middle crop row / column, and in all
    assert abs(g[out // 2].sum() * d - w) < 0.5, (g[out // 2].sum() * d, w)
    assert abs(g[:, out // 2].sum() * d - h) < 0.5, (g[:, out // 2].sum() * d, h)
    assert abs(g.sum() * d * d - w * h) < 0.5 * (w + h), (g.sum() * d * d, w * h)


@pytest.mark.parametrize("w, h", [(641, 479), (642, 478), (643, 477)])
@pytest.mark.parametrize("size, at", [(900.0, (0.5, 0.5)), (1500.0, (0.5, 0.5)),   # over the frame
                                      (450.0, (0.9, 0.85)), (700.0, (0.95, 0.9)),   # over a corner
                                      (700.0, (0.1, 0.2))])
def test_crop_of_frame_turned_180_matches(w, h, size, at):
    """The same ROI cut from the frame and from the frame turned 180 degrees (centre moved, angle
    + pi) covers the same place the same way up: the two crops agree, edges included. A crop
    over a corner is cut exactly alike; one wider than the frame keeps the softer look of a
    padded partial block against a block boundary (< 3/8 of the step). A partial block lost
    to the border put the edge up to 3/4 crop pixel inward (> 120 grey levels)."""
    img = _white(w, h)
    roi = Roi(at[0] * w + 7.3, at[1] * h - 3.1, size, 0.0)
    assert OUT / size < ANTIALIAS_BELOW
    turned, m = quarter_turn(img, 2)
    c = transform_points(np.array([roi.cx, roi.cy]), m)
    a = warp_crop(img, roi, OUT)[0].astype(int)
    b = warp_crop(turned, Roi(float(c[0]), float(c[1]), size, np.pi), OUT)[0].astype(int)
    over_all = roi.corners().min() < 0 and roi.corners()[:, 0].max() > w
    assert np.abs(a - b).max() < (96 if over_all else 1)
