"""Session 39: the tracker's internal frame counts keep their durations with ``frame_rate``, and a
finger found through an unsure hand's detector check is treated as one found on a detector frame.

Until session 38 three internal counts stayed in frames whatever ``frame_rate`` said (documented):
the detector checks of unsure hands every 10 frames, the 15 frames a finger's detection is not
measured again and the 3 frames a vanished hand must have been seen to lower the detector
threshold. At 60 fps each lasted half as long (the unsure checks ran the detector twice as often
per second). The filter restart of a hand back after more than 3 missed frames stays in frames
(``HandAssociator(filter_restart_missed=...)``; scaled, it cost a side change, docs/options.md).
"""
from __future__ import annotations

import numpy as np
import pytest

from tracker.association import HandAssociator, Measurement
from tracker.hand_tracker import FINGER_MEMORY, REDETECTION_MIN_HITS, UNSURE_INTERVAL

from .test_association_second_hand import line_keypoints
from .tracker_fakes import SceneHand, blank, fake_tracker, hand_keypoints

RESTART = HandAssociator().filter_restart_missed


@pytest.mark.parametrize("frame_rate, factor", [(None, 1), (30, 1), (60, 2), (15, 0.5), (120, 4)])
def test_internal_counts_scale_with_frame_rate(frame_rate, factor):
    t, *_ = fake_tracker(frame_rate=frame_rate)
    for _ in range(2):                       # as built, and the associator rebuilt by reset()
        assert t._finger_memory == round(FINGER_MEMORY * factor)
        assert t._unsure_interval == round(UNSURE_INTERVAL * factor)
        assert t._redetection_min_hits == max(1, round(REDETECTION_MIN_HITS * factor))
        assert t.associator.filter_restart_missed == RESTART == 3
        t.reset()


def test_at_a_low_frame_rate_the_counts_stay_at_least_one_frame():
    t, *_ = fake_tracker(frame_rate=1)
    assert (t._finger_memory, t._unsure_interval, t._redetection_min_hits) == (1, 1, 1)


class _CountingFilter:
    """Passes measurements through; counts its resets."""

    def __init__(self):
        self.resets = 0

    def update(self, kps, scores, t_s=None):
        return np.asarray(kps, np.float32)

    def reset(self):
        self.resets += 1


@pytest.mark.parametrize("restart_missed, missed, restarted", [
    (3, 3, False), (3, 4, True),          # the default: more than 3 missed frames (0.1 s at 30 fps)
    (6, 4, False), (6, 7, True),          # set by hand
])
def test_the_filter_restarts_after_more_than_filter_restart_missed_frames(restart_missed, missed, restarted):
    filters = []

    def factory():
        filters.append(_CountingFilter())
        return filters[-1]

    a = HandAssociator(filter_factory=factory, filter_restart_missed=restart_missed, max_missed=20)
    k = hand_keypoints(100, 150)
    m = Measurement(k, np.full(17, 0.9, np.float32), 0.95, 0.9)
    a.update([m], 0.0)
    for i in range(missed):
        a.update([], (i + 1) / 30)
    a.update([m], (missed + 1) / 30)
    assert len(filters) == 1 and filters[0].resets == (1 if restarted else 0)


def test_a_finger_found_through_an_unsure_hands_check_is_treated_as_on_a_detector_frame():
    """One unsure hand tracked (mean keypoint confidence 0.5): every UNSURE_INTERVAL frames the
    detector runs for it, also on frames the back-off skips, and its detections are offered as new
    hands. A detection on a finger of the hand (a line-like fit next to it) found that way is left
    out as a finger; like one found on a detector frame, it must neither count as a new hand
    (which sent the detector back to every frame: its schedule changed) nor be measured again
    for FINGER_MEMORY frames."""
    frames = 120
    schedule, crops = {}, {}
    for with_finger in (False, True):
        # side_wait 0: the unsure hand is shown from its first frame (its side votes are weak)
        tr, scene, det, lm = fake_tracker(max_hands=2, min_detection_confidence=0.5, side_wait=0)
        hand = SceneHand(hand_keypoints(120, 150, 50.0, right=True), right=True, keypoint_score=0.5)
        finger = SceneHand(line_keypoints(240, 60, 200), right=False, keypoint_score=0.9)
        runs = []
        with tr:
            scene.hands = [hand]
            for i in range(30):            # the back-off settles (nothing new found)
                assert len(tr.process(blank(), i * 33.3).hands) == 1
            crops0 = lm.crops
            scene.hands = [hand, finger] if with_finger else [hand]
            for i in range(30, 30 + frames):
                calls = det.calls
                hands = tr.process(blank(), i * 33.3).hands
                assert [h.track_id for h in hands] == [0], f"frame {i}"
                runs.append(det.calls - calls)
        schedule[with_finger], crops[with_finger] = runs, lm.crops - crops0
    assert schedule[True] == schedule[False]
    # each measurement of the finger is followed by FINGER_MEMORY frames without one
    assert 1 <= crops[True] - crops[False] <= -(-frames // (FINGER_MEMORY + 1)), crops


@pytest.mark.parametrize("value", [-1, 2.9, "3", True, None])
def test_filter_restart_missed_must_be_a_count(value):
    # -1 restarted the filter on every update (smoothing silently off), 2.9 was truncated to 2
    with pytest.raises(ValueError, match="filter_restart_missed"):
        HandAssociator(filter_restart_missed=value)
