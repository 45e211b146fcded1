"""A hand found in a detector crop is measured again in the crop of its own keypoints
(``HandTrackerOptions.refine_score``): unsure first crops by default, every new hand with 1."""
from __future__ import annotations

import numpy as np
import pytest

from tracker import HandTracker
from tracker.landmarks import LandmarkResult

from .tracker_fakes import FakeDetection, FakeDetector, FakeLandmarks, Scene, SceneHand, blank, hand_keypoints


class LooseDetector(FakeDetector):
    """Boxes ``grow`` times the hand's extent, centred ``shift`` hand extents to the right."""

    def __init__(self, scene: Scene, grow: float = 1.0, shift: float = 0.0) -> None:
        super().__init__(scene)
        self.grow, self.shift = grow, shift

    def __call__(self, frame_bgr, score_threshold=None, max_detections=4):
        out = []
        for d in super().__call__(frame_bgr, score_threshold, max_detections):
            c, half = (d.box[:2] + d.box[2:]) / 2, (d.box[2:] - d.box[:2]) / 2
            ext = float(max(d.box[2:] - d.box[:2]))
            c = c + np.array([self.shift * ext, 0.0], np.float32)
            out.append(FakeDetection(np.concatenate([c - half * self.grow, c + half * self.grow]).astype(np.float32),
                                     d.score, d.wrist, d.middle_mcp))
        return out


class FramingLandmarks(FakeLandmarks):
    """Sure of a hand (keypoint confidence ``framed_score``, the true side at 0.95) only in a crop framed like
    the tracker frames keypoints (side within 25% of 1.6x the hand's extent, centre within 15% of
    the side); in a looser crop unsure (``loose_score``, 0.4) and wrong about the side (0.2 for a
    right hand), as the real model was on huytung_2hand's first frames. ``lost_when_unsure``: the
    unsure answer's keypoints are moved by two hand extents, so that their own crop holds no hand."""

    def __init__(self, scene: Scene, lost_when_unsure: bool = False, framed_score: float = 0.9,
                 loose_score: float = 0.4) -> None:
        super().__init__(scene)
        self.lost_when_unsure, self.loose_score = lost_when_unsure, loose_score
        scene.keypoint_score = framed_score

    def __call__(self, frame_bgr, rois):
        out = []
        for r in super().__call__(frame_bgr, rois):
            if r.presence < 0.5:
                out.append(r)
                continue
            k = np.asarray(r.keypoints, np.float32)
            ext = float(np.max(k.max(0) - k.min(0)))
            centre = (k.max(0) + k.min(0)) / 2
            framed = abs(r.roi.size / (1.6 * ext) - 1) < 0.25 and \
                float(np.hypot(*(centre - (r.roi.cx, r.roi.cy)))) < 0.15 * r.roi.size
            if framed:
                out.append(r)
                continue
            right = r.right_prob > 0.5
            if self.lost_when_unsure:
                k = k + np.array([2 * ext, 0.0], np.float32)
            out.append(LandmarkResult(k, np.full(17, self.loose_score, np.float32), 0.97, 0.2 if right else 0.8,
                                      r.roi))
        return out


def tracker(grow: float = 1.6, shift: float = 0.25, lost_when_unsure: bool = False, framed_score: float = 0.9,
            loose_score: float = 0.4, **options):
    scene = Scene()
    det, lm = LooseDetector(scene, grow, shift), FramingLandmarks(scene, lost_when_unsure, framed_score, loose_score)
    scene.hands = [SceneHand(hand_keypoints(160, 120, palm=30), right=True)]
    # side_wait 0: the tests read the first frame's measurement, whose unsure keypoints (0.4)
    # would leave its side unsettled and the hand unshown on that frame
    options.setdefault("side_wait", 0)
    return HandTracker(detector=det, landmark_model=lm, smoothing=False, **options), lm


@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("refine_score, side, score, crops", [
    (0.6, "right", 0.9, 2),     # the default refines an unsure first crop: sure, right side
    (0.0, "left", 0.4, 1),      # refinement off: the loose crop's wrong guess is reported
])
def test_unsure_detector_crop_is_measured_again_in_its_keypoints_crop(static, refine_score, side, score, crops):
    t, lm = tracker(static_image_mode=static, refine_score=refine_score)
    hands = t.process(blank(), timestamp_ms=0).hands
    assert lm.crops == crops
    assert [h.side for h in hands] == [side]
    assert np.mean(hands[0].scores) == pytest.approx(score)
    assert np.allclose(hands[0].keypoints, hand_keypoints(160, 120, palm=30), atol=1e-3)


@pytest.mark.parametrize("static, refine_score, crops", [
    (False, 0.6, 1),      # the default: a sure first crop is not measured again
    (True, 0.6, 1),
    (True, 1.0, 2),       # 1: every new hand
    (False, 1.0, 2),
    (True, 0.0, 1),
])
def test_which_hands_are_refined(static, refine_score, crops):
    t, lm = tracker(grow=1.0, shift=0.0, static_image_mode=static, refine_score=refine_score)
    hands = t.process(blank(), timestamp_ms=0).hands
    assert lm.crops == crops
    assert [h.side for h in hands] == ["right"] and np.mean(hands[0].scores) == pytest.approx(0.9)


@pytest.mark.parametrize("static", [False, True])
def test_a_refined_measurement_that_fails_the_checks_keeps_the_first(static):
    # The unsure answer's keypoints point away from the hand: their crop is empty (presence 0.02),
    # so the first measurement stays rather than the hand being dropped.
    t, lm = tracker(lost_when_unsure=True, static_image_mode=static)
    hands = t.process(blank(), timestamp_ms=0).hands
    assert lm.crops == 2
    assert len(hands) == 1 and np.mean(hands[0].scores) == pytest.approx(0.4)


@pytest.mark.parametrize("framed_score, side, score", [
    (0.37, "right", 0.37),   # a little less sure than the first (0.4): still replaces it
    (0.34, "left", 0.4),     # less sure by more than REFINE_TOLERANCE (0.05): the first stays
])
def test_a_clearly_less_sure_refined_measurement_keeps_the_first(framed_score, side, score):
    t, lm = tracker(framed_score=framed_score)
    hands = t.process(blank(), timestamp_ms=0).hands
    assert lm.crops == 2
    assert [h.side for h in hands] == [side] and np.mean(hands[0].scores) == pytest.approx(score)


def test_tracked_hands_are_not_refined():
    # refine_score 1 would refine any new hand; a tracked one's own crop is never measured twice
    t, lm = tracker(refine_score=1.0)
    t.process(blank(), timestamp_ms=0)
    assert lm.crops == 2
    t.process(blank(), timestamp_ms=33)   # the track's own crop, sure: nothing more
    assert lm.crops == 3
    assert t.associator.tracks[0].hits == 2 and t.associator.tracks[0].side == "right"


@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("refine_score", [0.0, 0.6])
@pytest.mark.parametrize("loose_score, framed_score, found, crops", [
    (0.5, 0.9, True, 2),     # short of the low-detection bar (0.6) by 0.1: the second look clears it
    (0.5, 0.55, False, 2),   # the second look still short: no hand
    (0.4, 0.9, False, 1),    # short by more than LOW_DETECTION_SECOND_LOOK (0.15): no second look
    (0.7, 0.9, True, 1),     # over the bar at once (and over the refine threshold): one crop
])
def test_a_low_detection_just_short_of_its_bar_gets_a_second_look(static, refine_score, loose_score, framed_score,
                                                                   found, crops):
    """A detection under the threshold (0.35 < 0.5) is a hand when the landmark model is sure of it
    (``low_detection_keypoint_score``); one whose loose first crop gives keypoints a little under
    that bar is measured again in its keypoints' crop, refinement on or off, and is a hand when
    that look clears the bar. Video mode reports it from the next frame, as any low detection."""
    t, lm = tracker(loose_score=loose_score, framed_score=framed_score, static_image_mode=static,
                    min_detection_confidence=0.5, refine_score=refine_score)
    t.detector.score = 0.35
    hands = t.process(blank(), timestamp_ms=0).hands
    assert lm.crops == crops
    if not static:
        assert hands == []                                  # tentative on its first frame
        hands = t.process(blank(), timestamp_ms=33).hands
    assert len(hands) == int(found)
    if found:
        assert np.allclose(hands[0].keypoints, hand_keypoints(160, 120, palm=30), atol=1e-3)
    if found and crops == 2:
        assert [h.side for h in hands] == ["right"]         # the framed look's side (the loose one's is wrong)
