"""A lost track is not taken back by a detector crop's fit much smaller than it that only the gate
grown while the track was lost reaches (``association.RETAKE_PALM``, session 57). On the motion
benchmark's default clips a false fit (palm 0.38 of the track's, 270 px from the hand) took a track
lost one frame before, and the hand, back two frames later, got a new id: an id swap. Near the
track a small fit is still taken: a hand leaving the frame is fitted small where it was."""
from __future__ import annotations

import numpy as np
import pytest

from tracker import association
from tracker.association import HandAssociator, Measurement
from .tracker_fakes import hand_keypoints

FPS = 30.0
SIZE = (640, 480)
PALM = 60.0


def fit(cx, cy, palm=PALM, track_id=None) -> Measurement:
    return Measurement(hand_keypoints(cx, cy, palm, False), np.full(17, 0.8, np.float32), 0.95, 0.05,
                       track_id=track_id)


def lose(a: HandAssociator, gap: int):
    """30 frames of a hand at (300, 240), then ``gap`` empty frames; (its track, next frame)."""
    f = 0
    for _ in range(30):
        (t,) = a.update([fit(300, 240)], f / FPS, frame_size=SIZE); f += 1
    for _ in range(gap):
        assert a.update([], f / FPS, frame_size=SIZE) == []; f += 1
    return t, f


# (frames lost, the fit's offset in palm sizes, its palm as a share of the hand's, taken back).
# Lost g frames the gate is 1.5 + 0.5 g palm sizes; a track seen last frame has 1.5 ("near").
CASES = [
    (3, 2.2, 0.38, False), (3, 2.2, 0.45, False), (5, 2.5, 0.3, False),   # beyond near, small
    (3, 2.2, 0.55, True), (5, 2.5, 0.65, True), (3, 2.2, 1.0, True),      # beyond near, not small
    (1, 0.5, 0.38, True), (2, 0.3, 0.2, True), (3, 1.0, 0.45, True),      # near: a hand at the edge
]


@pytest.mark.parametrize("gap, offset, share, taken", CASES)
def test_a_lost_track_is_not_taken_back_by_a_much_smaller_detector_fit_beyond_the_near_gate(gap, offset, share, taken):
    a = HandAssociator(max_missed=15)
    lost, f = lose(a, gap)
    (t,) = a.update([fit(300 + offset * PALM, 240, share * PALM)], f / FPS, frame_size=SIZE)
    assert (t.track_id == lost.track_id) is taken


@pytest.mark.parametrize("gap, offset, share, taken", CASES)
def test_without_the_rule_every_such_fit_inside_the_gate_takes_the_lost_track(monkeypatch, gap, offset, share, taken):
    """The cases above are inside the lost track's gate: only the palm rule parts them."""
    monkeypatch.setattr(association, "RETAKE_PALM", None)
    a = HandAssociator(max_missed=15)
    lost, f = lose(a, gap)
    (t,) = a.update([fit(300 + offset * PALM, 240, share * PALM)], f / FPS, frame_size=SIZE)
    assert t.track_id == lost.track_id


@pytest.mark.parametrize("rule", [True, False])
def test_the_hand_back_after_a_refused_false_fit_gets_its_id_back(monkeypatch, rule):
    """The default clips' case: lost, a small false fit 2 palm sizes away (only the grown gate
    reaches it), the hand back where it went the frame after, the false fit still there. Without
    the rule the false fit keeps the lost id and the hand gets a new one."""
    if not rule:
        monkeypatch.setattr(association, "RETAKE_PALM", None)
    a = HandAssociator(max_missed=15)
    lost, f = lose(a, 2)
    (false,) = a.update([fit(300 + 2 * PALM, 240, 0.38 * PALM)], f / FPS, frame_size=SIZE); f += 1
    assert (false.track_id != lost.track_id) is rule
    tracks = a.update([fit(300 + 2 * PALM, 240, 0.38 * PALM), fit(305, 240)], f / FPS, frame_size=SIZE)
    (back,) = [t for t in tracks if abs(float(np.median(t.raw_keypoints[:, 0])) - 305) < PALM]
    assert (back.track_id == lost.track_id) is rule


def test_a_small_fit_from_the_tracks_own_crop_is_not_refused():
    """The rule is for detector crops' fits: the track's own crop measured this one."""
    a = HandAssociator(max_missed=15)
    lost, f = lose(a, 3)
    (t,) = a.update([fit(300 + 2.2 * PALM, 240, 0.38 * PALM, track_id=lost.track_id)], f / FPS, frame_size=SIZE)
    assert t.track_id == lost.track_id
