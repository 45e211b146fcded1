"""A detector crop with no hand in it is measured once more turned by 180 degrees
(``HandTrackerOptions.turn_retry``, off by default): the detector's orientation cue can point the
wrong way."""
from __future__ import annotations

import numpy as np
import pytest

from tracker import HandTracker
from tracker.landmarks import LandmarkResult

from .tracker_fakes import FakeDetection, FakeDetector, FakeLandmarks, Scene, SceneHand, blank, hand_keypoints


class BackwardsCueDetector(FakeDetector):
    """Boxes the hands right but swaps the wrist and middle-MCP cues (a hand taken for pointing
    down); ``extra`` adds a box with nothing in it."""

    def __init__(self, scene: Scene, extra: bool = False) -> None:
        super().__init__(scene)
        self.extra = extra

    def __call__(self, frame_bgr, score_threshold=None, max_detections=4):
        out = [FakeDetection(d.box, d.score, d.middle_mcp, d.wrist)
               for d in super().__call__(frame_bgr, score_threshold, max_detections)]
        if self.extra:
            out.append(FakeDetection(np.array([250, 20, 300, 70], np.float32), 0.9,
                                     np.array([275, 60], np.float32), np.array([275, 30], np.float32)))
        return out


class UprightOnlyLandmarks(FakeLandmarks):
    """Sees a hand only in a crop turned within 90 degrees of the hand's axis (upright hands: angle
    0), as the real model on an upside-down crop gives presence ~0.05."""

    def __call__(self, frame_bgr, rois):
        out = []
        for r in super().__call__(frame_bgr, rois):
            turned = abs((r.roi.angle + np.pi) % (2 * np.pi) - np.pi) > np.pi / 2
            out.append(LandmarkResult(r.keypoints, r.scores, 0.05, r.right_prob, r.roi) if turned else r)
        return out


def _tracker(extra=False, **options):
    scene = Scene()
    scene.hands = [SceneHand(hand_keypoints(120, 120, palm=30), right=True)]
    det, lm = BackwardsCueDetector(scene, extra), UprightOnlyLandmarks(scene)
    return HandTracker(detector=det, landmark_model=lm, smoothing=False, **options), lm


@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("turn_retry, hands, crops", [(True, 1, 2), (False, 0, 1), (None, 0, 1)])
def test_a_crop_turned_the_wrong_way_is_measured_again_turned_round(static, turn_retry, hands, crops):
    t, lm = _tracker(static_image_mode=static, **({} if turn_retry is None else {"turn_retry": turn_retry}))
    res = t.process(blank(), timestamp_ms=0)
    assert len(res.hands) == hands and lm.crops == crops
    if hands:
        np.testing.assert_allclose(res.hands[0].keypoints[0], hand_keypoints(120, 120, palm=30)[0], atol=1e-3)
        assert res.hands[0].side == "right"


def test_an_empty_detection_stays_empty_for_one_more_crop():
    t, lm = _tracker(extra=True, static_image_mode=True, turn_retry=True)
    res = t.process(blank(), timestamp_ms=0)
    assert len(res.hands) == 1          # the real hand; nothing in the empty box either way
    assert lm.crops == 4                # two detections, each measured twice


def test_tracked_crops_are_not_turned():
    t, lm = _tracker(detector_interval=100, turn_retry=True)
    t.process(blank(), timestamp_ms=0)
    before = lm.crops
    t.landmarks.scene.hands = []         # the hand leaves: its tracked crop finds nothing
    assert t.process(blank(), timestamp_ms=33).hands == []
    assert lm.crops - before == 1        # no turned retry of the tracking crop
