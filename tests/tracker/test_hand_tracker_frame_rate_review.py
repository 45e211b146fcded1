"""Second-eye review of session 39's commit 5df5186 (frame_rate scales the internal counts; a finger
found through an unsure hand's detector check is remembered as on a detector frame).

The finger mask of the detector-frame path is computed before ``_refresh_suspects``, the
refresh-path one (session 39) after it; the associator leaves fingers out of the measurements as
they are after the refresh. When the refresh replaces a tracked hand's collapsed fit (its own crop
followed a finger) by an open one, a detector crop's line-like fit beside that hand is left out by
the associator as a finger, but the tracker had taken it for a new hand: it keeps the detector's
back-off at every frame, is not remembered (measured again on every frame) and, with one free slot,
takes the new-hand slot from a real second hand on every frame.
"""
from __future__ import annotations

import numpy as np
import pytest

from tracker import HandTracker
from tracker.keypoints import HandKeypoint as K
from tracker.keypoints import spread_ratio
from tracker.landmarks import LandmarkResult

from .test_association_second_hand import line_keypoints
from .tracker_fakes import FakeDetection, blank, hand_keypoints

HAND = hand_keypoints(110, 140, 40, right=True)         # the tracked right hand (box x 85-148)
COLLAPSED = line_keypoints(100, 70, 125)                # its own crop's fit folded onto a finger
FINGER = line_keypoints(165, 80, 150)                   # a detector fit on a finger beside it
SECOND = hand_keypoints(260, 150, 30, right=False)      # a real left hand, far from both
#: a weak detection covering the tracked hand (score 0.3: under the new-hand threshold 0.5, over
#: min_redetection_confidence 0.2), whose crop the refresh measures the hand in again
HAND_DET = np.array([66, 90, 166, 190], np.float32)


def _det(box, score: float) -> FakeDetection:
    box = np.asarray(box, np.float32)
    cx = float(box[0] + box[2]) / 2
    return FakeDetection(box, score, np.array([cx, box[3]], np.float32),
                         np.array([cx, (box[1] + box[3]) / 2], np.float32))


def _key_box(k: np.ndarray) -> np.ndarray:
    return np.array([*k.min(0), *k.max(0)], np.float32)


class _Detector:
    default_threshold = 0.5

    def __init__(self) -> None:
        self.more = False       # the finger and the second hand are in view

    def __call__(self, frame, score_threshold=None, max_detections: int = 4):
        out = [_det(HAND_DET, 0.3)]
        if self.more:
            out += [_det(_key_box(FINGER), 0.9), _det(_key_box(SECOND), 0.6)]
        out = [d for d in out if score_threshold is None or d.score >= score_threshold]
        return sorted(out, key=lambda d: -d.score)[:max_detections]

    def close(self) -> None:
        pass


class _Landmarks:
    """The hand's own crop gives the collapsed fit when ``collapse`` (else the hand), the crop of
    HAND_DET the open hand, the finger's detection the finger, the second hand's crop that hand."""

    roi_scale = 1.6

    def __init__(self, det: _Detector) -> None:
        self.det, self.collapse, self.finger_crops = det, False, 0

    def __call__(self, frame, rois):
        out = []
        for r in rois:
            c = np.array([r.cx, r.cy])
            if np.hypot(*(c - (HAND_DET[:2] + HAND_DET[2:]) / 2)) < 3:
                k, p = HAND, 0.95
            elif self.det.more and np.hypot(*(c - (FINGER.min(0) + FINGER.max(0)) / 2)) < 10:
                k, p = FINGER, 0.05
                self.finger_crops += 1
            elif self.det.more and np.hypot(*(c - SECOND[K.PALM])) < r.size / 2:
                k, p = SECOND, 0.05
            elif np.hypot(*(c - HAND[K.PALM])) < 40:
                k, p = (COLLAPSED if self.collapse else HAND), 0.95
            else:
                out.append(LandmarkResult(np.full((17, 2), c, np.float32), np.full(17, 0.1, np.float32),
                                          0.02, 0.5, r))
                continue
            out.append(LandmarkResult(k.astype(np.float32), np.full(17, 0.9, np.float32), 0.97, p, r))
        return out

    def close(self) -> None:
        pass


def test_the_fixtures():
    assert spread_ratio(COLLAPSED) < 0.15 < spread_ratio(HAND)
    assert spread_ratio(FINGER) < 0.15


@pytest.mark.parametrize("collapse", [False, True])
def test_a_finger_beside_a_hand_the_refresh_repaired_does_not_hold_the_new_hand_slot(collapse):
    """collapse=False: the tracked hand's own crop finds it open; the finger's fit is left out as a
    finger, remembered, and the second hand takes the free slot at once. collapse=True: the own
    crop gives a collapsed fit every frame, which the refresh replaces by the open hand from
    HAND_DET before the associator sees it (so the associator leaves the finger out too); the
    detector-frame finger mask, computed before the refresh, saw no open hand and took the finger
    for a new hand: measured on all 60 frames, the second hand never found (2 s)."""
    det = _Detector()
    lm = _Landmarks(det)
    frames = 60
    with HandTracker(detector=det, landmark_model=lm, max_hands=2, min_detection_confidence=0.5) as tr:
        for i in range(20):
            hands = tr.process(blank(), i * 33.3).hands
        assert [h.track_id for h in hands] == [0]
        lm.collapse, det.more = collapse, True
        second_at = None
        for i in range(20, 20 + frames):
            hands = tr.process(blank(), i * 33.3).hands
            assert 0 in [h.track_id for h in hands], f"frame {i}"
            assert len(hands) <= 2
            if len(hands) == 2 and second_at is None:
                second_at = i - 20
    assert second_at is not None and second_at <= 3, second_at
    assert lm.finger_crops <= -(-frames // (tr._finger_memory + 1)), lm.finger_crops
