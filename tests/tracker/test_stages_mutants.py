"""Session 43 mutation audit of the runtime pipeline (tracker/landmarks.py, tracker/detector.py and
the decision logic of tracker/hand_tracker.py): tests that kill hand-made mutants the rest of the
suite let through (docs/model_history.md, Session 43, sums up the mutants and what catches them).

Each test states a documented contract with values worked out by hand, not the current output:
the landmark crop's area averaging (LandmarkModel.antialias), the size rule of the detector's
extra passes (a box's longer side, either orientation), and, on the fake models of
tracker_fakes.py, the tracker's presence threshold (inclusive), min_hand_size (of the shorter
side), reported handedness and box, static mode's choice and labelling of hands, the empty
result, and the detector's schedule (back-off, every frame while a lost hand is remembered).
One test pins a tuned constant rather than a documented rule (the back-off starting after two
empty runs); its docstring says so.
"""
from __future__ import annotations

import numpy as np
import pytest

from tracker.detector import LARGE_HAND_SIDE, Detection, merge_large_hands, merge_pass
from tracker.geometry import Roi

from .tracker_fakes import Scene, SceneHand, blank, fake_tracker, hand_keypoints


def _det(x0, y0, x1, y1, score=0.9) -> Detection:
    return Detection(np.array([x0, y0, x1, y1], np.float32), score,
                     np.array([(x0 + x1) / 2, y1], np.float32), np.array([(x0 + x1) / 2, y0], np.float32))


# == landmark stage =============================================================================
@pytest.fixture(scope="module")
def landmarks():
    from tracker.landmarks import LandmarkModel
    return LandmarkModel(threads=1)


def test_a_crop_that_shrinks_the_frame_a_lot_area_averages_fine_texture(landmarks):
    """``LandmarkModel.antialias`` (on): a crop shrinking the frame more than 1 / ANTIALIAS_BELOW
    is area-averaged. A one-pixel black/white checkerboard seen through a 1000 px crop (6.25 frame
    px per crop px) is then flat grey, 127.5 up to rounding; bilinear taps alone land on white or
    black cells by the phase of each sample and alias it into a pattern of std ~ 40 grey levels."""
    yy, xx = np.mgrid[0:1400, 0:1400]
    frame = np.repeat((((xx + yy) % 2) * 255).astype(np.uint8)[..., None], 3, 2)
    batch, _ = landmarks.preprocess(frame, [Roi(700.3, 690.7, 1000.0, 0.3)])
    # back to grey levels: x = (pixel - mean) / std per RGB channel
    px = batch[0] * np.asarray(landmarks.std_rgb, np.float32)[:, None, None] \
        + np.asarray(landmarks.mean_rgb, np.float32)[:, None, None]
    assert abs(float(px.mean()) - 127.5) < 3
    assert float(px.std()) < 5, float(px.std())


# == detector: the extra passes' size rule ======================================================
FRAME_SIDE = 640.0      # LARGE_HAND_SIDE 0.4 -> a box whose longer side is 256 px or more is large


@pytest.mark.parametrize("w, h, kept", [
    (300, 300, True),
    (60, 300, True),        # a tall narrow hand (fingers up, seen edge-on): its longer side is its height
    (300, 60, True),
    (60, 256, True),        # at the limit
    (256, 60, True),
    (60, 255, False),       # just under it
    (255, 60, False),
    (200, 200, False),
])
def test_large_hand_pass_keeps_boxes_by_their_longer_side(w, h, kept):
    """merge_large_hands / merge_pass: a coarse box is added when its LONGER side (width or
    height) is at least LARGE_HAND_SIDE x the frame's longer side."""
    assert LARGE_HAND_SIDE == 0.4
    coarse = [_det(100, 50, 100 + w, 50 + h, 0.8)]
    out = merge_large_hands([], coarse, FRAME_SIDE, 4)
    assert (len(out) == 1) == kept
    out = merge_pass([], coarse, FRAME_SIDE, 4, min_side=LARGE_HAND_SIDE)
    assert (len(out) == 1) == kept


@pytest.mark.parametrize("w, h, kept", [(20, 95, True), (95, 20, True), (20, 96, False), (96, 20, False)])
def test_small_hand_pass_keeps_boxes_whose_longer_side_is_under_its_limit(w, h, kept):
    """merge_pass(max_side=0.15) at a 640 px side: a box is small while its longer side is under 96 px."""
    out = merge_pass([], [_det(10, 10, 10 + w, 10 + h, 0.7)], FRAME_SIDE, 4, max_side=0.15)
    assert (len(out) == 1) == kept


# == tracker: which hands are reported ============================================================
@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("threshold, found", [(0.97, True), (0.9701, False)])
def test_presence_at_min_tracking_confidence_is_a_hand(static, threshold, found):
    """``min_tracking_confidence``: "a hand BELOW it is not reported", so presence equal to it is.
    The fake landmark model answers a true hand with presence 0.97 exactly."""
    t, scene, _, _ = fake_tracker(min_tracking_confidence=threshold, static_image_mode=static, smoothing=False)
    scene.hands = [SceneHand(hand_keypoints(160, 120, palm=40), right=True)]
    for i in range(3):
        assert (len(t.process(blank(), timestamp_ms=i * 33.0).hands) == 1) == found


@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("w, h, palm, found", [
    # min_hand_size 0.2 of the SHORTER side (240 px): 48 px. The fake hand spans 1.9 palms (its
    # wrist to its middle fingertip): 76 px at palm 40 is kept, 38 px at palm 20 is dropped. Of
    # the longer side (640 px: 128 px) both would be dropped.
    (640, 240, 40, True),
    (640, 240, 20, False),
    (240, 640, 40, True),
    (240, 640, 20, False),
])
def test_min_hand_size_is_a_fraction_of_the_shorter_side(static, w, h, palm, found):
    t, scene, _, _ = fake_tracker(min_hand_size=0.2, static_image_mode=static, smoothing=False)
    scene.hands = [SceneHand(hand_keypoints(w / 2, h / 2, palm=palm), right=True)]
    for i in range(3):
        assert (len(t.process(blank(w, h), timestamp_ms=i * 33.0).hands) == 1) == found


# == tracker: the reported sides and boxes ========================================================
@pytest.mark.parametrize("mirrored", [False, True])
def test_video_handedness_is_the_probability_of_the_reported_side(mirrored):
    """``Hand.handedness``: "probability of ``side``". Both hands are voted for at 0.95 (the fake
    model's right_prob of the true side), so each hand's handedness is well above 0.5, whichever
    side it is reported on (mirrored swaps the labels, not what the number means)."""
    t, scene, _, _ = fake_tracker(mirrored=mirrored)
    scene.hands = [SceneHand(hand_keypoints(90, 130), True), SceneHand(hand_keypoints(230, 130, right=False), False)]
    for i in range(6):
        r = t.process(blank(), timestamp_ms=i * 33.0)
    assert sorted(h.side for h in r.hands) == ["left", "right"]
    for h in r.hands:
        assert h.handedness > 0.9, (h.side, h.handedness)


def test_video_box_frames_the_reported_smoothed_keypoints():
    """``Hand.box``: "x0, y0, x1, y1 pixels around ``keypoints``" (the smoothed ones, which are
    drawn and written), not around ``raw_keypoints``: with jittery measurements the two differ."""
    t, scene, _, _ = fake_tracker(Scene(noise_px=4.0, seed=5))
    scene.hands = [SceneHand(hand_keypoints(160, 120, palm=40), True)]
    differ = 0
    for i in range(12):
        for h in t.process(blank(), timestamp_ms=i * 33.0).hands:
            np.testing.assert_array_equal(h.box, [*h.keypoints.min(0), *h.keypoints.max(0)])
            differ += not np.allclose(h.keypoints, h.raw_keypoints, atol=0.5)
    assert differ >= 5     # the smoothing moved the keypoints, so the check above tells them apart


class _SideLandmarks:
    """The fake landmark model with a handedness of its own for each scene hand, keyed by the
    hand's palm x (``right_probs``)."""

    def __init__(self, fake, right_probs: dict[float, float]):
        self.fake, self.right_probs = fake, right_probs
        self.roi_scale, self.input_size = fake.roi_scale, fake.input_size

    def __call__(self, frame, rois):
        out = self.fake(frame, rois)
        for r in out:
            if r.presence > 0.5:
                x = min(self.right_probs, key=lambda v: abs(v - float(r.keypoints[1, 0])))
                r.right_prob = self.right_probs[x]
        return out


@pytest.mark.parametrize("order", ["sure-first", "unsure-first"])
def test_static_two_hands_voting_one_side_the_surer_keeps_it(order):
    """Static mode, at most one left and one right (max_hands <= 2): of two hands both voted right,
    "the more confident one keeps its label" and the other is reported left, with handedness
    1 - its right_prob. The hand at x=90 is voted right at 0.9, the one at x=230 at 0.6."""
    from tracker import HandTracker
    from .tracker_fakes import FakeDetector, FakeLandmarks
    scene = Scene()
    hands = [SceneHand(hand_keypoints(90, 130), True), SceneHand(hand_keypoints(230, 130), True)]
    scene.hands = hands if order == "sure-first" else hands[::-1]
    lm = _SideLandmarks(FakeLandmarks(scene), {90.0: 0.9, 230.0: 0.6})
    t = HandTracker(detector=FakeDetector(scene), landmark_model=lm, static_image_mode=True)
    r = t.process(blank())
    got = {h.side: (round(float(h.keypoints[1, 0])), round(h.handedness, 3)) for h in r.hands}
    assert got == {"right": (90, 0.9), "left": (230, 0.4)}


def test_an_empty_result_has_an_empty_list_of_its_own():
    """``HandTrackerResult.hands``: "list of Hand (empty, never None)", also when built with no
    arguments; two results do not share one list."""
    from tracker import HandTrackerResult
    a, b = HandTrackerResult(), HandTrackerResult()
    assert a.hands == [] and a.hand("left") is None and np.isnan(a.as_array()).all()
    a.hands.append(None)
    assert b.hands == []


@pytest.mark.parametrize("max_hands", [1, 4])
def test_static_mode_keeps_and_lists_the_surest_hands(max_hands):
    """Static mode: of more hands than ``max_hands`` the surest are kept (presence x mean keypoint
    confidence; presence is 0.97 for all here) and "hands of one side ... the surer first in
    static mode". Three right hands at mean keypoint confidence 0.7, 0.9 and 0.8."""
    t, scene, _, _ = fake_tracker(static_image_mode=True, max_hands=max_hands)
    scene.hands = [SceneHand(hand_keypoints(x, 130, palm=25), True, keypoint_score=s)
                   for x, s in ((60, 0.7), (160, 0.9), (260, 0.8))]
    r = t.process(blank())
    got = [(h.side, round(float(h.keypoints[1, 0])), round(float(np.mean(h.scores)), 2)) for h in r.hands]
    if max_hands == 1:
        assert got == [("right", 160, 0.9)]
    else:
        assert got == [("right", 160, 0.9), ("right", 260, 0.8), ("right", 60, 0.7)]
        assert r.hand("right").keypoints[1, 0] == pytest.approx(160, abs=1)


# == tracker: when the detector runs ==============================================================
def test_detector_runs_every_frame_while_a_lost_hand_is_remembered():
    """Module docstring / _process_video: the detector backs off while it keeps finding nothing,
    "unless a hand was lost recently (it is remembered for max_missed frames: look for it on every
    frame)" - also while the other hand is still tracked (a free slot). Once the lost hand is
    forgotten the back-off (detector_interval 3) applies again."""
    t, scene, _, _ = fake_tracker(max_missed=8, detector_interval=3)
    right, left = SceneHand(hand_keypoints(90, 130), True), SceneHand(hand_keypoints(230, 130, right=False), False)
    scene.hands = [right, left]
    ts = iter(range(0, 10 ** 6, 33))
    for _ in range(5):
        assert len(t.process(blank(), timestamp_ms=next(ts)).hands) == 2
    scene.hands = [left]                        # the right hand hides behind something
    # the frame it is lost on: its own crop finds nothing, both slots were taken, no detector run
    assert not t.process(blank(), timestamp_ms=next(ts)).detector_ran
    ran = [t.process(blank(), timestamp_ms=next(ts)).detector_ran for _ in range(7)]
    assert all(ran), ran
    # forgotten after max_missed frames: the back-off skips frames again
    later = [t.process(blank(), timestamp_ms=next(ts)).detector_ran for _ in range(12)]
    assert not all(later[-6:]), later


def test_detector_back_off_schedule_on_an_empty_stream():
    """The schedule of ``detector_interval`` on a stream with no hand: the detector runs on the
    first two frames (one miss alone does not start the back-off) and then on every
    ``detector_interval``-th frame. Pinned as tuned (a third run in a row is a detector run per
    empty stream more; ``detector_ran`` and the run count are what callers see)."""
    t, _, det, _ = fake_tracker(detector_interval=4)
    ran = [t.process(blank(), timestamp_ms=i * 33.0).detector_ran for i in range(14)]
    assert [i for i, r in enumerate(ran) if r] == [0, 1, 5, 9, 13]
    assert det.calls == 5
