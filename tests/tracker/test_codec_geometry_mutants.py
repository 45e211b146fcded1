"""Session 43 mutation audit of tracker/codec.py, tracker/detector_codec.py and tracker/geometry.py.

Each test here was written for a hand-made bug ("mutant") that the rest of the suite let through
(docs/model_history.md, Session 43); each states the module's documented contract with values
derived from first principles, not copied from the code's output:

- HeatmapCodec.encode: the target is the normalised Gaussian of std ``sigma`` cells centred at
  ``(p + 0.5) / stride - 0.5`` (an isotropic round trip cannot see a wrong width).
- HeatmapCodec.decode scores: the in-map mass of the 3x3 cells around the peak over the 3x3 mass
  of an exact, cell-centred target (corner and edge peaks have 4 and 6 cells, not 9 clipped ones).
- DARK refinement: exact for any Gaussian, also a rotated anisotropic one (isotropic targets have
  a zero cross derivative and equal curvatures, so no round trip of encode's targets can see a
  wrong sign or a swapped curvature); a non-concave expansion moves nothing.
- CenterCodec.decode: peaks are 3x3 local maxima, NMS sees enough candidates, ``max_detections``
  caps the result.
- warp_crop's area averaging keeps the detail the crop can show, and pads with the border value.
- roi_from_keypoints: an invisible keypoint's position changes nothing.
"""
import math

import numpy as np
import pytest

from tracker.codec import HeatmapCodec
from tracker.detector_codec import CenterCodec
from tracker.geometry import Roi, roi_from_keypoints, warp_crop
from tracker.keypoints import HandKeypoint


# == HeatmapCodec.encode ==========================================================================
@pytest.mark.parametrize("input_size, heatmap_size, sigma", [
    ((128, 128), (32, 32), 1.5),
    ((128, 96), (32, 24), 1.0),
    ((160, 160), (40, 40), 2.0),
    ((126, 126), (60, 60), 2.5),     # a stride that is not a whole number
])
def test_encoded_target_is_the_gaussian_of_std_sigma_cells(input_size, heatmap_size, sigma):
    """encode's map for a point p is exp(-|cell - mu|^2 / (2 sigma^2)) normalised to sum 1, with
    mu = (p + 0.5) / stride - 0.5 cells, on both axes. A target of the wrong width still decodes
    to the right point (DARK is exact for any width), so only the map itself shows it."""
    c = HeatmapCodec(input_size, heatmap_size, sigma)
    rng = np.random.default_rng(43)
    pts = rng.uniform(8, np.array(input_size) - 9, (6, 2)).astype(np.float32)
    heat, w = c.encode(pts)
    assert np.all(w == 1)
    stride = np.array(input_size, np.float64) / np.array(heatmap_size, np.float64)
    ys, xs = np.mgrid[0:heatmap_size[1], 0:heatmap_size[0]].astype(np.float64)
    for p, hm in zip(pts.astype(np.float64), heat):
        mu = (p + 0.5) / stride - 0.5
        want = np.exp(-((xs - mu[0]) ** 2 + (ys - mu[1]) ** 2) / (2 * sigma ** 2))
        want /= want.sum()
        np.testing.assert_allclose(hm, want, rtol=0, atol=1e-6 * want.max())


# == HeatmapCodec.decode: scores ==================================================================
def _ideal_3x3_mass(heatmap_size, sigma) -> float:
    """3x3 mass of an exact target centred on a cell in the middle of the map, by hand: the
    Gaussian is separable, so it is the product over both axes of (sum of the 3 cells around the
    centre) / (sum over the map's cells)."""
    m = 1.0
    for n in heatmap_size:
        g = np.exp(-((np.arange(n) - n // 2) ** 2) / (2 * sigma ** 2))
        m *= g[n // 2 - 1:n // 2 + 2].sum() / g.sum()
    return m


@pytest.mark.parametrize("input_size, heatmap_size, sigma", [
    ((128, 128), (32, 32), 1.5),
    ((128, 96), (32, 24), 1.5),
    ((96, 128), (24, 32), 2.0),
    ((160, 120), (40, 30), 1.0),
    ((100, 100), (25, 25), 1.5),    # odd sizes: the reference target on a cell centre (session 43)
    ((128, 108), (32, 27), 1.5),
])
@pytest.mark.parametrize("where, cells", [
    ("flat", 4),            # no peak: argmax is the first cell, the top-left corner
    ("corner", 4), ("edge", 6), ("inside", 9),
])
def test_score_is_the_in_map_3x3_mass_over_an_exact_targets(input_size, heatmap_size, sigma, where, cells):
    """decode's score is the probability mass of the 3x3 cells around the peak (cells outside the
    map count 0) divided by the 3x3 mass of an exact target centred on a cell. On a near-flat map
    of mass u per cell that is ``cells * u / ideal``: 4 cells at a corner, 6 on an edge, 9 inside."""
    c = HeatmapCodec(input_size, heatmap_size, sigma)
    w, h = heatmap_size
    u = 1.0 / (w * h)
    hm = np.full((1, h, w), u, np.float64)
    peak = {"flat": None, "corner": (h - 1, w - 1), "edge": (h // 3, 0), "inside": (h // 2 + 1, w // 3)}[where]
    if peak is not None:
        hm[0][peak] *= 1.001
    _, scores = c.decode((hm / hm.sum()).astype(np.float32))
    want = cells * u / _ideal_3x3_mass(heatmap_size, sigma)
    assert want < 0.5      # far from the clip at 1
    assert scores[0] == pytest.approx(want, rel=2e-3)


def test_an_exact_cell_centred_target_scores_1_and_a_half_mass_one_scores_half():
    """The reference of the score is an exact target on a cell centre: that target scores 1, and
    the same target holding half the map's mass (the rest spread thinly) scores ~0.5."""
    c = HeatmapCodec((160, 120), (40, 30), 1.5)
    heat, _ = c.encode(c.heatmap_to_input(np.array([[17.0, 11.0]], np.float32)))
    _, s = c.decode(heat)
    assert s[0] == pytest.approx(1.0, abs=1e-5)
    half = 0.5 * heat[0] + 0.5 / heat[0].size
    _, s = c.decode(half[None])
    assert s[0] == pytest.approx(0.5 + 0.5 * 9 / heat[0].size / _ideal_3x3_mass((40, 30), 1.5), rel=1e-3)


# == HeatmapCodec.decode: DARK ====================================================================
@pytest.mark.parametrize("s1, s2, theta_deg", [
    (1.0, 2.5, 30.0), (2.5, 1.0, 30.0), (1.2, 2.0, -50.0), (1.0, 1.8, 115.0), (2.2, 1.3, 75.0),
])
@pytest.mark.parametrize("mu", [(12.3, 9.8), (20.7, 14.45), (8.6, 17.2)])
def test_dark_is_exact_for_a_rotated_anisotropic_gaussian(s1, s2, theta_deg, mu):
    """The module calls the DARK step exact for a Gaussian: the log of any Gaussian is a quadratic,
    its 3x3 finite differences are exact and one Newton step lands on the centre. A net predicts
    elongated, tilted blobs (a finger seen along its length), whose log has a cross term and unequal
    curvatures: they decode to their centre too, to 0.01 cells."""
    c = HeatmapCodec((128, 96), (32, 24), 1.5)
    t = math.radians(theta_deg)
    r = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    prec = r @ np.diag([1 / s1 ** 2, 1 / s2 ** 2]) @ r.T          # inverse covariance
    ys, xs = np.mgrid[0:24, 0:32].astype(np.float64)
    d = np.stack([xs - mu[0], ys - mu[1]], -1)
    logp = -0.5 * np.einsum("...i,ij,...j->...", d, prec, d)
    p = np.exp(logp - logp.max())
    kps, _ = c.decode((p / p.sum()).astype(np.float32)[None])
    want = c.heatmap_to_input(np.array(mu, np.float32))
    np.testing.assert_allclose(kps[0], want, atol=0.01 * 4)


@pytest.mark.parametrize("corner", [(0, 0), (31, 0), (0, 23), (31, 23)])
def test_a_convex_peak_in_a_corner_gets_no_dark_offset(corner):
    """The DARK step refines a peak from a concave expansion of its log; "No usable expansion (a
    peak whose log is not concave) leaves the interior cell". A map whose log is a bowl (mass
    piled into a corner, far from the bowl's minimum) must not be moved towards that minimum: it
    decodes within one cell of its arg-max on each axis (the interior cell next to the corner)."""
    c = HeatmapCodec((128, 96), (32, 24), 1.5)
    ys, xs = np.mgrid[0:24, 0:32].astype(np.float64)
    # the bowl's minimum inside the map, nearer the opposite corner, so the arg-max is `corner`
    vx = 20.0 if corner[0] == 0 else 11.0
    vy = 16.0 if corner[1] == 0 else 7.0
    logp = 0.02 * ((xs - vx) ** 2 + (ys - vy) ** 2)
    p = np.exp(logp - logp.max())
    assert np.unravel_index(p.argmax(), p.shape) == (corner[1], corner[0])
    kps, _ = c.decode((p / p.sum()).astype(np.float32)[None])
    cell = c.input_to_heatmap(kps[0])
    assert np.all(np.abs(cell - np.array(corner)) <= 1.0 + 1e-4), cell


# == CenterCodec.decode ===========================================================================
def _detector_maps(peaks, codec: CenterCodec, side_px: float = 4.0):
    """heatmap (1, h, w) with ``peaks`` {(i, j): (score, box centre px)} and the regression maps of
    square boxes of ``side_px`` around those centres (no cues)."""
    w, h = codec.grid
    heat = np.zeros((1, h, w), np.float32)
    reg = np.zeros((8, h, w), np.float32)
    for (i, j), (score, (cx, cy)) in peaks.items():
        heat[0, j, i] = score
        reg[0, j, i] = cx / codec.stride - (i + 0.5)
        reg[1, j, i] = cy / codec.stride - (j + 0.5)
        reg[2:4, j, i] = math.log(side_px / codec.stride)
    return heat, reg


def test_peaks_two_cells_apart_are_both_detected():
    """A peak is a cell at least as high as its 3x3 neighbours (CenterNet's max-pool NMS): two small
    hands whose centres are two cells (8 px) apart give two detections; one cell apart, the lower
    peak is no peak. A wider window drops the far hand of two next to each other."""
    c = CenterCodec((256, 192), 4)
    for di, dj in [(2, 0), (0, 2), (2, 2), (-2, 1)]:
        a, b = (20, 20), (20 + di, 20 + dj)
        heat, reg = _detector_maps({a: (0.9, (82.0, 82.0)), b: (0.7, (82.0 + 4 * di, 82.0 + 4 * dj))}, c)
        d = c.decode(heat, reg, threshold=0.5)
        assert d.scores.tolist() == pytest.approx([0.9, 0.7]), (di, dj)
        np.testing.assert_allclose(d.boxes[1], [80 + 4 * di, 80 + 4 * dj, 84 + 4 * di, 84 + 4 * dj], atol=1e-4)
    heat, reg = _detector_maps({(20, 20): (0.9, (82.0, 82.0)), (21, 20): (0.7, (86.0, 82.0))}, c)
    assert c.decode(heat, reg, threshold=0.5).scores.tolist() == pytest.approx([0.9])


@pytest.mark.parametrize("max_detections, want", [(1, [0.9]), (2, [0.9, 0.8]), (3, [0.9, 0.8, 0.7]),
                                                  (10, [0.9, 0.8, 0.7])])
def test_max_detections_counts_hands_after_nms(max_detections, want):
    """decode returns the ``max_detections`` best boxes left after NMS. Two peaks three cells apart
    that both point at the same hand (the stronger duplicate suppressed) must not use up the
    budget: with max 2 the second hand is still found; and never more than asked."""
    c = CenterCodec((256, 192), 4)
    heat, reg = _detector_maps({(10, 10): (0.9, (42.0, 42.0)),      # hand A
                                (13, 10): (0.85, (43.0, 42.0)),     # hand A again (IoU 0.9)
                                (30, 30): (0.8, (122.0, 122.0)),    # hand B
                                (50, 40): (0.7, (202.0, 162.0))},   # hand C
                               c, side_px=20.0)
    d = c.decode(heat, reg, threshold=0.5, max_detections=max_detections, iou_threshold=0.4)
    assert d.scores.tolist() == pytest.approx(want)
    assert len(d.boxes) == len(d.wrist) == len(d.middle_mcp) == len(want)


# == warp_crop ====================================================================================
@pytest.mark.parametrize("k", [0.39, 0.3, 0.2, 0.15, 0.11])
def test_antialiased_crop_keeps_detail_the_crop_can_show(k):
    """The area averaging halves the region only "until the warp itself shrinks by a factor in
    (0.5, 1]": averaging more blurs detail the crop could have shown. A sine grating of period 5
    crop px (well above the 2 px Nyquist limit) keeps >= 75% of its amplitude in the antialiased
    crop: an ideal 1-crop-px box filter keeps sinc(1/5) = 94%, one halving too many ~50-60%."""
    out, period = 160, 5.0
    h, w = 1080, 1920
    amp = 120.0
    row = 127.5 + amp * np.sin(2 * np.pi * np.arange(w) / (period / k))
    img = np.repeat(np.repeat(np.round(row)[None, :, None], h, 0), 3, 2).astype(np.uint8)
    roi = Roi(960.3, 540.0, out / k, 0.0)
    u = np.arange(20, out - 20)

    def amplitude(crop):
        r = crop[20:-20, 20:-20, 0].astype(np.float64).mean(0)
        r -= r.mean()
        return 2 * np.hypot((r * np.sin(2 * np.pi * u / period)).mean(), (r * np.cos(2 * np.pi * u / period)).mean())

    assert amplitude(warp_crop(img, roi, out, antialias=False)[0]) > 0.95 * amp   # the grating is there
    assert amplitude(warp_crop(img, roi, out)[0]) >= 0.75 * amp


@pytest.mark.parametrize("frame, roi", [
    ((641, 479), Roi(320.0, 240.0, 1000.0, 0.3)),      # past every edge; 641 and 479 no multiple of 4
    ((1283, 721), Roi(1100.0, 600.0, 900.0, -0.7)),    # past the right and bottom edges
    ((1923, 1081), Roi(960.0, 540.0, 2500.0, 1.2)),
])
def test_antialiased_crop_of_a_uniform_frame_with_that_border_is_uniform(frame, roi):
    """Pixels outside the frame are filled with ``border_value``. A frame of one colour cropped with
    that colour as border is that colour everywhere, whatever the crop: also where the averaged
    region is padded to whole blocks past the frame's edge (a padding of another colour would show
    as a darker seam along the edge)."""
    colour = (200, 60, 30)
    w, h = frame
    img = np.empty((h, w, 3), np.uint8)
    img[:] = colour
    assert 160 / roi.size < 0.4                        # the averaged path
    crop, _ = warp_crop(img, roi, 160, border_value=colour)
    assert np.abs(crop.astype(int) - colour).max() <= 1


# == roi_from_keypoints ==========================================================================
def _hand() -> np.ndarray:
    """A plausible right hand, 17 points, tilted ~35 degrees (wrist low, fingers up-right)."""
    rng = np.random.default_rng(7)
    up = np.array([math.sin(0.6), -math.cos(0.6)])
    side = np.array([math.cos(0.6), math.sin(0.6)])
    k = np.zeros((17, 2))
    k[HandKeypoint.WRIST] = (300, 400)
    along = [0, 40, 30, 55, 80, 90, 120, 155, 95, 130, 165, 90, 122, 152, 80, 105, 130]
    across = [0, 0, -45, -60, -70, -30, -32, -34, 0, 0, 0, 14, 15, 16, 33, 36, 38]
    for i in range(1, 17):
        k[i] = k[HandKeypoint.WRIST] + along[i] * up + across[i] * side
    return k + rng.normal(0, 1.0, k.shape)


@pytest.mark.parametrize("hidden", range(17))
def test_an_invisible_keypoint_does_not_move_the_crop(hidden):
    """roi_from_keypoints uses visible points only: where an invisible point lies (a label left at
    (0, 0), a guess far outside the frame, NaN) changes neither the crop's box nor its angle. A
    hidden wrist or middle MCP leaves the angle at 0 (the hand axis is unknown)."""
    k = _hand()
    vis = np.ones(17, bool)
    vis[hidden] = False
    rois = []
    for junk in [(0.0, 0.0), (5000.0, -300.0), (np.nan, np.nan)]:
        kk = k.copy()
        kk[hidden] = junk
        rois.append(roi_from_keypoints(kk, vis))
    for r in rois[1:]:
        np.testing.assert_allclose([r.cx, r.cy, r.size, r.angle], [rois[0].cx, rois[0].cy, rois[0].size, rois[0].angle],
                                   atol=1e-9)
    if hidden in (HandKeypoint.WRIST, HandKeypoint.MIDDLE_MCP):
        assert rois[0].angle == 0.0
    else:
        assert rois[0].angle == pytest.approx(0.6, abs=0.05)
