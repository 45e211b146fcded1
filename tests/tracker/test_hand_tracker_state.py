"""Session 40 review of the tracker's per-frame state (reset, frame sizes, frame rate, timestamps,
order within ``process``, exceptions part-way through ``process``).

A ``process`` call that raises part-way (a model failing on one frame) does not advance the frame
index, so the detections it cached for reuse within its frame (``_frame_detections``: the refresh
of a collapsed or unsure hand reuses the new-hand run's detections) were taken, on the next call,
for that frame's own: a tracked hand was measured again in the crop of a detection made on the
failed frame's image.
"""
from __future__ import annotations

import numpy as np
import pytest

from tracker import HandTracker
from tracker.geometry import roi_from_keypoints
from tracker.hand_tracker import COLLAPSED_SPREAD
from tracker.keypoints import HandKeypoint as K
from tracker.keypoints import spread_ratio
from tracker.landmarks import LandmarkResult

from .test_association_second_hand import line_keypoints
from .tracker_fakes import FakeDetection, blank, hand_keypoints

HAND = hand_keypoints(120, 140, 40, right=True)          # the tracked hand (keypoint box x 95-158)
COLLAPSED = line_keypoints(115, 70, 125)                 # its own crop's fit, folded onto a finger
#: the detector's box of the hand (with a bit of the forearm: its crop is not the track's own)
HAND_BOX = np.array([*HAND.min(0), *HAND.max(0)], np.float32) + np.array([0, 0, 0, 20], np.float32)
#: a detection on the failed frame's image only: it covers the hand, shifted right by 10 px
STALE_BOX = HAND_BOX + np.array([10, 0, 10, 0], np.float32)
#: pixel [0, 0, 0] of the failed frame's image (the other frames are black)
FAILED_MARK = 7


def _det(box: np.ndarray, score: float = 0.9) -> FakeDetection:
    cx = float(box[0] + box[2]) / 2
    return FakeDetection(box.copy(), score, np.array([cx, box[3]], np.float32),
                         np.array([cx, (box[1] + box[3]) / 2], np.float32))


class _ImageDetector:
    """Sees the hand at HAND_BOX, or at STALE_BOX in the failed frame's image."""

    default_threshold = 0.5

    def __call__(self, frame, score_threshold=None, max_detections: int = 4):
        box = STALE_BOX if frame[0, 0, 0] == FAILED_MARK else HAND_BOX
        d = _det(box)
        return [d] if score_threshold is None or d.score >= score_threshold else []

    def close(self) -> None:
        pass


def _near(r, c) -> bool:
    return bool(np.hypot(r.cx - c.cx, r.cy - c.cy) < 1.0)


class _Landmarks:
    """A crop made from a detection (HAND_BOX or STALE_BOX) gives the open hand, any other crop
    holding the hand's palm (the track's own crop) the collapsed fit; a crop made from STALE_BOX
    raises while ``fail`` is set (the model failing on that frame). Records the centre of every
    crop."""

    roi_scale = 1.6

    def __init__(self) -> None:
        self.fail, self.centres = False, []
        self.found = _det(HAND_BOX).roi(self.roi_scale)
        self.stale = _det(STALE_BOX).roi(self.roi_scale)

    def __call__(self, frame, rois):
        out = []
        for r in rois:
            self.centres.append(np.array([r.cx, r.cy]))
            if self.fail and _near(r, self.stale):
                raise RuntimeError("the landmark model failed on this frame")
            if float(np.hypot(r.cx - HAND[K.PALM][0], r.cy - HAND[K.PALM][1])) < r.size / 2:
                k = HAND if _near(r, self.found) or _near(r, self.stale) else COLLAPSED
                out.append(LandmarkResult(k.copy(), np.full(17, 0.9, np.float32), 0.97, 0.9, r))
            else:
                out.append(LandmarkResult(np.full((17, 2), (r.cx, r.cy), np.float32), np.full(17, 0.1, np.float32),
                                          0.02, 0.5, r))
        return out

    def close(self) -> None:
        pass


def test_the_fixtures():
    lm = _Landmarks()
    own = roi_from_keypoints(HAND, np.ones(17, bool), scale=lm.roi_scale)
    assert not _near(lm.found, lm.stale) and not _near(lm.found, own) and not _near(lm.stale, own)
    assert spread_ratio(COLLAPSED) < COLLAPSED_SPREAD < spread_ratio(HAND)


@pytest.mark.parametrize("max_hands", [1, 2])
def test_a_failed_call_leaves_no_detections_for_the_next_frame(max_hands):
    """The tracked hand's own crop collapses onto a finger on every frame, so on every frame it is
    measured again in the crop of a detection covering it (``_refresh_suspects``). On one frame the
    landmark model raises on that crop. The next frame's image has no detection there: no crop of
    any later frame may come from the failed frame's detection (it did, on the next frame, with the
    failed frame's detections kept under the frame index the failed call did not advance)."""
    det, lm = _ImageDetector(), _Landmarks()
    with HandTracker(detector=det, landmark_model=lm, max_hands=max_hands) as tr:
        for i in range(12):
            hands = tr.process(blank(), i * 33.3).hands
            assert [h.track_id for h in hands] == [0], f"frame {i}"
        failed = blank()
        failed[0, 0, 0] = FAILED_MARK
        lm.fail = True
        with pytest.raises(RuntimeError, match="landmark model failed"):
            tr.process(failed, 12 * 33.3)
        lm.fail = False                          # a passing failure: the next frames go through
        n = len(lm.centres)
        for i in range(13, 20):
            hands = tr.process(blank(), i * 33.3).hands
            assert [h.track_id for h in hands] == [0], f"frame {i}"
        after = lm.centres[n:]
    near = lambda c, r: np.hypot(c[0] - r.cx, c[1] - r.cy) < 1.0      # noqa: E731
    stale = [c for c in after if near(c, lm.stale)]
    assert not stale, f"{len(stale)} crop(s) after the failure came from the failed frame's detection"
    # the refresh went on: each later frame measured the hand in its own detection's crop
    assert sum(near(c, lm.found) for c in after) == 7

