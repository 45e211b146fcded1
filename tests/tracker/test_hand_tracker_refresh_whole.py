"""A tracked hand whose fit collapsed onto one finger is measured again in a detector's crop
(``HandTracker._refresh_suspects``); a less sure fit there replaces it when it is the whole hand
the detector saw (:data:`tracker.hand_tracker.REFRESH_WHOLE_SCORE`, session 76).

Session 76's case: a hand entering the frame close to the camera was first fitted on its edge, a
line along one finger, and the track followed that finger for 25 frames while the detector, every
frame, boxed the whole hand at 0.7: its crop's fit was the open hand (spread 0.73-0.93) at mean
keypoint confidence 0.32-0.39 against the line's 0.46-0.65, less sure by more than
``REFRESH_COLLAPSED_DROP`` allows. That limit is for a detector box over part of the hand (a raised
finger), whose fit is no longer than the line; the rule keeps refusing those.
"""
from __future__ import annotations

import numpy as np
import pytest

from tracker import HandTracker
from tracker import hand_tracker as ht
from tracker.hand_tracker import COLLAPSED_SPREAD, REFRESH_COLLAPSED_DROP, REFRESH_WHOLE_IOU, REFRESH_WHOLE_SCORE
from tracker.keypoints import HandKeypoint as K, spread_ratio
from tracker.landmarks import LandmarkResult

from .test_association_second_hand import line_keypoints
from .tracker_fakes import FakeDetector, FakeLandmarks, Scene, SceneHand, blank, hand_keypoints

W, H = 640, 480
HAND = hand_keypoints(300, 260, palm=50)          # keypoint box 269-348 x 190-292 (longer side 102 px)
MIDDLE = float(HAND[K.MIDDLE_MCP, 0])
LINE_SCORE = 0.6


def _box(k: np.ndarray) -> tuple[float, float, float, float]:
    return float(k[:, 0].min()), float(k[:, 1].min()), float(k[:, 0].max()), float(k[:, 1].max())


class _CollapsedTrack(FakeLandmarks):
    """Once ``collapse`` is set: the track's crop (the frame's first landmark call) gets the line
    ``line`` at mean keypoint confidence 0.6, a detection's crop (the calls after it, once the
    detector has run) ``det_fit`` at ``det_score``. By crop the two cannot be told apart: the
    track holds the crop it was started in (``crop_hold``), the detection's crop of the same box."""

    def __init__(self, scene, line, det_fit, det_score):
        super().__init__(scene)
        self.collapse, self.detected = False, False
        self.line, self.det_fit, self.det_score = line, det_fit, det_score

    def __call__(self, frame_bgr, rois):
        out = super().__call__(frame_bgr, rois)
        if not self.collapse:
            return out
        k, sc = (self.det_fit, self.det_score) if self.detected else (self.line, LINE_SCORE)
        return [LandmarkResult(k.astype(np.float32), np.full(17, sc, np.float32), 0.97, 0.95, roi) for roi in rois]


def _run(line, det_fit, det_score, hand_det_score=None, false_boxes=()):
    """Three frames of the hand tracked as it is, then one where its track's crop gives ``line``:
    the hand reported on that frame (raw keypoints), and how many detector runs that frame made."""
    scene = Scene()
    det = FakeDetector(scene)
    lm = _CollapsedTrack(scene, line, det_fit, det_score)

    class Recording:
        def __call__(self, frame, score_threshold=None, max_detections=4):
            lm.detected = lm.collapse
            return det(frame, score_threshold, max_detections)

    t = HandTracker(detector=Recording(), landmark_model=lm, max_hands=1, smoothing=False)
    scene.hands = [SceneHand(HAND.copy(), True)]
    for i in range(3):
        assert len(t.process(blank(W, H), timestamp_ms=33.0 * i).hands) == 1
    scene.hands = [SceneHand(HAND.copy(), True, det_score=hand_det_score)]
    scene.false_boxes = list(false_boxes)
    lm.collapse, calls = True, det.calls
    hands = t.process(blank(W, H), timestamp_ms=99.0).hands
    assert len(hands) == 1
    return hands[0].raw_keypoints, det.calls - calls


# a line along the middle finger, MCP to tip (50 px): a fit that followed one finger
FINGER = line_keypoints(MIDDLE, float(HAND[K.MIDDLE_TIP, 1]), float(HAND[K.MIDDLE_MCP, 1]))
# a line from the fingertip down past the wrist (170 px): longer than the whole hand's fit
LONG = line_keypoints(MIDDLE, float(HAND[K.MIDDLE_TIP, 1]), float(HAND[K.WRIST, 1]) + 70.0)
# a small open hand (longer side 41 px) on the finger: what a detector box over one finger gives
PART = hand_keypoints(MIDDLE, float(HAND[K.MIDDLE_PIP, 1]) + 8.0, palm=20)
PART_BOX = (*_box(PART)[:2], *_box(PART)[2:], 0.9)


def _shift_for_iou(iou: float) -> float:
    """The move along x (pixels) that puts HAND's keypoint box at ``iou`` with itself: two boxes
    of width w and one height, dx apart, have IoU (w - dx) / (w + dx)."""
    w = _box(HAND)[2] - _box(HAND)[0]
    return w * (1.0 - iou) / (1.0 + iou)


# the whole hand's fit at IoU 0.55 and 0.45 with the detection's box: on either side of session
# 76's REFRESH_WHOLE_IOU (0.5), fixed here so that a changed setting shows
JUST_ON = HAND + np.float32([_shift_for_iou(0.55), 0.0])
JUST_OFF = HAND + np.float32([_shift_for_iou(0.45), 0.0])
# the whole hand's fit 60 px to the right: its box's IoU with the detection's is under REFRESH_WHOLE_IOU
OFF = HAND + np.float32([60.0, 0.0])


def test_the_fixtures_are_what_the_cases_say():
    assert spread_ratio(FINGER) < COLLAPSED_SPREAD and spread_ratio(LONG) < COLLAPSED_SPREAD
    assert spread_ratio(HAND) > COLLAPSED_SPREAD + 0.3 and spread_ratio(PART) > COLLAPSED_SPREAD + 0.3
    side = lambda k: max(_box(k)[2] - _box(k)[0], _box(k)[3] - _box(k)[1])  # noqa: E731
    assert side(PART) < side(FINGER) < side(HAND) < side(LONG)
    # the less sure fits below are refused by the older limit alone
    assert LINE_SCORE - 0.35 > REFRESH_COLLAPSED_DROP
    assert 0.45 < REFRESH_WHOLE_IOU < 0.55


@pytest.mark.parametrize("case, line, det_fit, det_score, hand_det_score, false_boxes, replaced", [
    # the detector boxes the whole hand, its crop's fit is that hand, less sure than the line
    ("whole hand, less sure", FINGER, HAND, 0.35, None, (), True),
    ("whole hand at the floor", FINGER, HAND, REFRESH_WHOLE_SCORE, None, (), True),
    ("whole hand under the floor", FINGER, HAND, REFRESH_WHOLE_SCORE - 0.05, None, (), False),
    # the fit is open but shorter than the collapsed one: no more of the hand than the line held
    ("a fit shorter than the line", LONG, HAND, 0.35, None, (), False),
    # the detector saw only a finger (the hand itself not detected): the fit of its crop is a part
    ("a box over one finger", FINGER, PART, 0.35, 0.0, (PART_BOX,), False),
    # the fit lies off the detection's box (IoU under REFRESH_WHOLE_IOU)
    ("a fit off the detection", FINGER, OFF, 0.35, None, (), False),
    # moved along x so that its box's IoU with the detection's (the hand's box) is just over or
    # just under REFRESH_WHOLE_IOU
    ("a fit just on the detection", FINGER, JUST_ON, 0.35, None, (), True),
    ("a fit just off the detection", FINGER, JUST_OFF, 0.35, None, (), False),
    # off the detection, so the older limit alone decides: less sure than the line by 0.08 or by
    # 0.12, on either side of REFRESH_COLLAPSED_DROP (0.1; 0.05 passed every test before, session 78)
    ("off the detection, 0.08 less sure", FINGER, OFF, LINE_SCORE - 0.08, None, (), True),
    ("off the detection, 0.12 less sure", FINGER, OFF, LINE_SCORE - 0.12, None, (), False),
])
def test_a_collapsed_track_takes_the_whole_hand_only(case, line, det_fit, det_score, hand_det_score, false_boxes,
                                                    replaced):
    k, runs = _run(line, det_fit, det_score, hand_det_score, false_boxes)
    assert runs == 1, case                   # the collapsed hand was measured again in a detection's crop
    if replaced:
        np.testing.assert_allclose(k, det_fit, atol=1e-4, err_msg=case)
    else:
        assert spread_ratio(k) < COLLAPSED_SPREAD, case


def test_the_rule_can_be_turned_off(monkeypatch):
    """``REFRESH_WHOLE_SCORE = None``: the older limit alone, the whole hand at 0.35 refused."""
    monkeypatch.setattr(ht, "REFRESH_WHOLE_SCORE", None)
    k, _ = _run(FINGER, HAND, 0.35)
    assert spread_ratio(k) < COLLAPSED_SPREAD
