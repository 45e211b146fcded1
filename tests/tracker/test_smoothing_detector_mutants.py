"""Session 47 mutation audit of tracker/smoothing.py and tracker/detector.py's numpy helpers:
tests that kill hand-made mutants the existing smoothing and detector tests let through.

Each expectation is the documented contract (smoothing.py's module docstring and
``KalmanKeypointFilter``'s parameters and methods; detector.py's docstrings of ``Detection.roi``,
``merge_large_hands``, ``nms_detections``, ``HandDetector``'s ``small_hands`` and ``_canvas``),
with values worked out by hand, not copied from the current output.

36 mutants made, one at a time. The smoothing ones were run against test_smoothing.py,
test_smoothing_time.py and test_smoothing_association_mutants.py; the detector ones against
test_detector_small_hands.py, test_detector_turns.py, test_detector_large_hands.py,
test_detector_stage.py, test_detector_odd_frames.py, test_geometry_pixel_conventions.py
and test_geometry_edges.py (with ../shared). 23 were caught there and 13 survived. Of these,
the whole of tests/tracker catches three (S4: test_hand_tracker_long_runs.py, S5:
test_hand_tracker_state_on_error.py, D12: test_geometry_codec_fuzz.py); the other ten survive tests/tracker
plus tests/test_examples.py (one run with all 13 applied, whose failures all came from S4, S5 and
D12, then each of the ten alone against the files that run failed in). All 13 are killed here.

Caught by the existing tests:

- S1  a point scored exactly ``min_score`` left out (``>`` for ``>=``)
- S2  the all-finite fallback with 3 sure points too (``<= 3`` for ``< 3``)
- S8  measurement noise multiplied by the score instead of divided
- S9  a point left out coasting on its own velocity, not the updated points' mean
- S10 re-anchoring one frame early (``>=`` for ``>``)
- S11 unsure measurements that jump about counted towards the re-anchoring run
- S12 re-anchoring however near the measurement is (``> 0`` for ``> palm``)
- S18 an unsure start point put at the sure points' mean instead of its measurement
- S19 ``peek`` changing the state
- D1  ``letterbox``'s scale the larger of the two ratios
- D3  ``merge_pass``'s side window ``(lo, hi]`` instead of ``[lo, hi)``
- D4  ``merge_pass`` on the box's shorter side
- D5  a large-hand box dropped around one sure first-pass hand (``< 1`` for ``< 2``)
- D6  a first-pass hand scored exactly 0.3 not sure (``>`` for ``>=``)
- D8  ``nms_detections`` not capped at ``max_detections``
- D10 ``unturn_detection``'s box its mapped corners as they come, not min / max
- D11 ``unturn_detection`` leaving the wrist in the turned frame's pixels
- D14 ``upright_canvas`` ignored
- D16 the canvas side's ``- 1e-6`` dropped (a stride too large on exact multiples)
- D20 the large-hand pass at the caller's threshold, below the calibrated one
- D21 a turned look's detections not marked with their ``turn``
- D23 the pass windows measured against the frame's shorter side
- D24 the other passes' detections not marked with their ``pass_scale``

Killed here (S4, S5 and D12 also by the tests named above):

- S4  no ``max_dt`` clamp on dt (a long gap extrapolated in full)
- S5  the clock not moved on by frames without a timestamp
- S6  the hand size averaged 0.2 old / 0.8 new instead of 0.8 / 0.2
- S7  a hand size of (0, 1] px taken (``> 0`` for ``> 1``)
- S13 ``reset`` keeping the clock
- S17 ``strength=0``: a point left out of the update set to its measurement anyway
- S23 a non-finite score counted as 1 instead of 0
- D7  ``_centres_inside`` comparing the centres' y with the box's x0
- D9  ``nms_detections`` ignoring its ``iou_threshold`` (always 0.5)
- D12 ``Detection.roi`` centred on (x0 + y1, y0 + x1) / 2
- D13 ``Detection.roi`` ignoring ``scale`` (always 1.6)
- D17 ``_canvas`` cutting a pass's canvas from the first one at a scale that differs (a portrait
  frame whose picture's width was rounded)
- D19 the small-hand pass run on frames no larger than the model's input

None left.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from tracker.detector import (LARGE_HAND_SCALE, SMALL_HAND_SCALE, Detection, HandDetector, letterbox,
                              merge_large_hands, merge_pass, nms_detections)
from tracker.smoothing import make_filter
from .tracker_fakes import hand_keypoints

DT = 1 / 30


def _det(x0, y0, x1, y1, score, wrist=(0.0, 0.0), mcp=(0.0, 0.0)) -> Detection:
    return Detection(np.array([x0, y0, x1, y1], np.float32), score, np.array(wrist, np.float32),
                     np.array(mcp, np.float32))


def _moving(n: int = 10, vx: float = 6.0):
    """A filter fed ``n`` frames (timestamps i / 30) of a hand moving ``vx`` px per frame."""
    f = make_filter("kalman")
    base = hand_keypoints(200, 200).astype(np.float64)
    for i in range(n):
        f.update(base + (vx * i, 0.0), t_s=i * DT)
    return f, base


# -- smoothing ---------------------------------------------------------------------------------

def test_a_long_gap_is_clamped_to_max_dt():
    """S4: dt is clamped to ``[1e-3, max_dt]``: 10 s after the last frame the prediction is the
    one at ``max_dt`` (0.5 s), not ten seconds of extrapolated motion."""
    f, _ = _moving()
    t_last = 9 * DT
    at_max = f.peek(t_last + 0.5)
    assert np.array_equal(f.peek(t_last + 10.0), at_max)
    assert not np.allclose(f.peek(t_last + 0.25), at_max)     # the hand does move in 0.5 s


def test_frames_without_timestamps_move_the_clock_on():
    """S5: without a timestamp the filter's clock moves on by ``default_dt``: after a frame with
    no time, a prediction at the next frame's time is one frame ahead, as one with no time is."""
    f, base = _moving()
    f.update(base + (60.0, 0.0))                  # no t_s: the clock goes to 10 / 30
    assert np.allclose(f.peek(11 * DT), f.peek(None), atol=1e-4)
    assert not np.allclose(f.peek(12 * DT), f.peek(None), atol=1e-2)


def test_the_hand_size_is_averaged_0_8_old_0_2_new():
    """S6: ``palm`` is averaged with the earlier ones, 0.8 old and 0.2 new."""
    f = make_filter("kalman")
    k = hand_keypoints(200, 200)
    f.update(k, palm=100.0, t_s=0.0)
    assert f.palm == pytest.approx(100.0)
    f.update(k, palm=200.0, t_s=DT)
    assert f.palm == pytest.approx(120.0)


@pytest.mark.parametrize("bad", [1.0, 0.5, 0.0, -5.0, math.nan, math.inf])
def test_a_hand_size_not_finite_or_at_most_one_pixel_keeps_the_last(bad):
    """S7: a ``palm`` not finite or <= 1 px keeps the last."""
    f = make_filter("kalman")
    k = hand_keypoints(200, 200)
    f.update(k, palm=100.0, t_s=0.0)
    f.update(k, palm=bad, t_s=DT)
    assert f.palm == pytest.approx(100.0)


def test_reset_forgets_the_clock():
    """S13: after ``reset`` the next update starts a new track; its clock is unknown until a
    timestamp comes, so a first frame without one and a second at any time step ``default_dt``,
    as on a new filter."""
    used, fresh = _moving(vx=0.0)[0], make_filter("kalman")
    used.reset()
    base = hand_keypoints(300, 100).astype(np.float64)
    for f in (used, fresh):
        f.update(base)                              # no t_s
        f.update(base + (8.0, 0.0), t_s=100.0)
    assert np.array_equal(used.peek(None), fresh.peek(None))


def test_strength_zero_keeps_the_last_value_of_a_point_left_out():
    """S17: ``strength=0``: output = input, but a point left out of the update (score under
    ``min_score``, 16 others sure) keeps its last value."""
    f = make_filter("kalman", strength=0.0)
    k = hand_keypoints(200, 200).astype(np.float64)
    f.update(k, t_s=0.0)
    scores = np.ones(17)
    scores[7] = 0.1
    out = f.update(k + 20.0, scores, t_s=DT)
    keep = np.arange(17) != 7
    assert np.allclose(out[keep], k[keep] + 20.0, atol=1e-4)
    assert np.allclose(out[7], k[7], atol=1e-4)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_score_counts_as_zero(bad):
    """S23: ``scores``: non-finite ones count as 0 (the point is left out, as with score 0)."""
    outs = []
    for s7 in (bad, 0.0):
        f, base = _moving(vx=0.0)
        scores = np.ones(17)
        scores[7] = s7
        z = base.copy()
        z[7] += (25.0, 0.0)
        outs.append(f.update(z, scores, t_s=10 * DT))
    assert np.array_equal(outs[0], outs[1])
    assert np.linalg.norm(outs[0][7] - hand_keypoints(200, 200)[7]) < 1.0   # left out: stays


# -- detector helpers --------------------------------------------------------------------------

def test_a_large_box_holding_two_sure_centres_counts_them_by_x_and_y():
    """D7: a large-hand box around the centres of two sure first-pass hands is not added; here
    the centres' y (100) lies inside the box's [0, 400] but below its x0 (300)."""
    first = [_det(350, 50, 450, 150, 0.6), _det(500, 50, 600, 150, 0.6)]
    coarse = [_det(300, 0, 640, 400, 0.9)]
    out = merge_large_hands(first, coarse, 640.0, 4)
    assert [float(d.box[0]) for d in out] == [350.0, 500.0]


@pytest.mark.parametrize("thr,kept", [(0.2, 1), (0.5, 2)])
def test_nms_detections_and_merge_pass_use_their_iou_threshold(thr, kept):
    """D9: two boxes with IoU 1/3 are one hand at ``iou_threshold`` 0.2, two at 0.5."""
    dets = [_det(0, 0, 100, 100, 0.9), _det(50, 0, 150, 100, 0.8)]
    assert len(nms_detections(dets, 4, iou_threshold=thr)) == kept
    assert len(merge_pass(dets[:1], dets[1:], 640.0, 4, iou_threshold=thr)) == kept


@pytest.mark.parametrize("scale", [1.6, 1.0, 2.5])
def test_roi_is_centred_on_the_box_with_scale_times_its_longest_side(scale):
    """D12, D13: the crop is centred on the box; its side is ``scale`` x the box's longest side;
    at the hand's angle."""
    d = _det(10, 20, 50, 100, 0.9, wrist=(30, 90), mcp=(30, 40))
    roi = d.roi() if scale == 1.6 else d.roi(scale)
    assert (roi.cx, roi.cy) == pytest.approx((30.0, 60.0))
    assert roi.size == pytest.approx(80.0 * scale)
    assert roi.angle == pytest.approx(d.angle)


@pytest.fixture(scope="module")
def detector():
    return HandDetector(threads=1)


def test_a_pass_canvas_is_cut_from_the_first_only_at_exactly_half_its_scale(detector):
    """D17: a 319x600 portrait frame: the first pass shrinks it by 0.4 to 127.6 x 240 px,
    rounded to a 128 px wide picture; the large-hand canvas is 64x128, half that picture, but the
    frame's scale into it is 64 / 319, not 0.2, so it is made from the frame (``_canvas``)."""
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 256, (600, 319, 3), dtype=np.uint8)
    first = detector._canvas(frame, 1.0)
    # the first canvas is the 128 px wide picture (a multiple of 32) without its margin (session 50)
    assert first[1] == pytest.approx(0.4) and first[0].shape[:2] == (240, 128)
    canvas, s = detector._canvas(frame, LARGE_HAND_SCALE, first=first)
    want, ws = letterbox(frame, 64, 128)
    assert s == pytest.approx(64 / 319, rel=1e-9) and ws == pytest.approx(64 / 319, rel=1e-9)
    assert np.array_equal(canvas, want)


@pytest.mark.parametrize("hw,runs_small", [((240, 320), False), ((120, 160), False), ((480, 640), True)])
def test_the_small_hand_pass_runs_only_on_frames_larger_than_the_input(hw, runs_small, monkeypatch):
    """D19: ``small_hands``: only for frames larger than the model's input (320x240)."""
    d = HandDetector(threads=1, small_hands=True, large_hands=False)
    scales = []
    real = d._run_pass

    def spy(canvas, size_scale, thr, max_detections):
        scales.append(size_scale)
        return real(canvas, size_scale, thr, max_detections)

    monkeypatch.setattr(d, "_run_pass", spy)
    d(np.zeros((*hw, 3), np.uint8))
    assert scales == ([1.0, SMALL_HAND_SCALE] if runs_small else [1.0])
