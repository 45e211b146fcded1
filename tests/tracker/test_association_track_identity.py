"""Audit of track identity: a new hand entering far from a hand lost a few frames before must
start its own track, not take the lost hand's id (and side); the lost hand, back where it went,
gets its own id back (associator on synthetic measurements, and the tracker on fake models)."""
from __future__ import annotations

import numpy as np
import pytest

from tracker.association import HandAssociator, Measurement
from tracker.keypoints import HandKeypoint as K
from .tracker_fakes import SceneHand, blank, fake_tracker, hand_keypoints

FPS = 30.0
W, H = 640, 480


def meas(cx, cy, right: bool, palm: float, p_right: float) -> Measurement:
    return Measurement(hand_keypoints(cx, cy, palm, right), np.full(17, 0.9, np.float32), 0.95, p_right)


def track_then_lose(a: HandAssociator, palm: float, gap: int):
    """30 frames of a left hand at x=100, then ``gap`` empty frames; (its track, next frame index)."""
    f = 0
    for _ in range(30):
        (left,) = a.update([meas(100, 300, False, palm, 0.05)], f / FPS); f += 1
    for _ in range(gap):
        assert a.update([], f / FPS) == []; f += 1
    return left, f


@pytest.mark.parametrize("side_lock", [20.0, None])
@pytest.mark.parametrize("palm", [140.0, 180.0])
@pytest.mark.parametrize("gap", [4, 6, 10])
def test_large_new_hand_across_the_frame_gets_a_new_id(palm, gap, side_lock):
    """A large left hand (close to the camera) at the left of a 640 px frame is lost for ``gap``
    frames (fewer than max_missed); a right hand of the same size appears at the right: it was
    matched to the lost track (3 palm sizes away, inside the gate grown while lost), so it took
    the left hand's id and its locked left side, and the left hand, back where it went, got a new
    id and the right side."""
    a = HandAssociator(max_missed=15, side_lock=side_lock)
    left, f = track_then_lose(a, palm, gap)
    assert left.side == "left"
    for _ in range(5):
        (new,) = a.update([meas(540, 300, True, palm, 0.95)], f / FPS); f += 1
        assert new.track_id != left.track_id, "the new hand took the lost hand's id"
    # (its first frame may still say left: a new track starts from the side prior the lost hand
    # leaves, documented, until its own votes outweigh it)
    assert new.side == "right"
    for _ in range(3):
        tracks = a.update([meas(540, 300, True, palm, 0.95), meas(100, 300, False, palm, 0.05)], f / FPS); f += 1
        got = {round(float(t.raw_keypoints[K.PALM, 0])): (t.track_id, t.side) for t in tracks}
        assert got[100] == (left.track_id, "left")
        assert got[540] == (new.track_id, "right")


@pytest.mark.parametrize("dx, p_right", [(0.0, 0.95), (200.0, 0.05)])
def test_lost_hand_back_keeps_its_id(dx, p_right):
    """What still matches a lost track: the hand back where it went with a wrong handedness vote
    (a view the model gets wrong), or back far away (inside the grown gate) with its own side."""
    a = HandAssociator(max_missed=15)
    left, f = track_then_lose(a, 140.0, 6)
    (back,) = a.update([meas(100 + dx, 300, False, 140.0, p_right)], f / FPS)
    assert (back.track_id, back.side) == (left.track_id, "left")


@pytest.mark.parametrize("gap", [6, 10])
def test_large_new_hand_through_the_tracker(gap):
    """The same on fake models in a 640x480 frame: the entering hand is reported with a new id and
    its own side; the lost hand coming back gets its old id and side."""
    tr, scene, _, _ = fake_tracker()
    lost = SceneHand(hand_keypoints(100, 300, 140.0, False), False)
    new = SceneHand(hand_keypoints(540, 300, 140.0, True), True)
    i = 0
    for _ in range(30):
        scene.hands = [lost]
        r = tr.process(blank(W, H), i * 1000 / FPS); i += 1
    ((old_id, old_side),) = [(h.track_id, h.side) for h in r.hands]
    assert old_side == "left"
    scene.hands = []
    for _ in range(gap):
        assert tr.process(blank(W, H), i * 1000 / FPS).hands == []; i += 1
    scene.hands = [new]
    for _ in range(5):
        r = tr.process(blank(W, H), i * 1000 / FPS); i += 1
        assert [h.track_id for h in r.hands if h.track_id == old_id] == [], "the new hand took the lost hand's id"
    ((new_id, new_side),) = [(h.track_id, h.side) for h in r.hands]
    assert new_side == "right"
    scene.hands = [new, lost]
    for _ in range(3):
        r = tr.process(blank(W, H), i * 1000 / FPS); i += 1
    got = {round(float(h.raw_keypoints[K.PALM, 0]) / 10) * 10: (h.track_id, h.side) for h in r.hands}
    assert got == {100: (old_id, "left"), 540: (new_id, "right")}


@pytest.mark.xfail(strict=True, reason="a new hand of the lost hand's side, reached only by the gate "
                   "grown while the track was lost (in palm sizes of a large hand it spans a 640 px "
                   "frame), still takes the lost id when the associator is not given the frame size: "
                   "nothing but distance tells them apart. With update(frame_size=...), as HandTracker "
                   "calls it, the gate is capped (test_association_identity_gate.py)")
def test_large_new_hand_of_the_same_side_across_the_frame_gets_a_new_id():
    a = HandAssociator(max_missed=15)
    left, f = track_then_lose(a, 140.0, 6)
    (new,) = a.update([meas(540, 300, False, 140.0, 0.05)], f / FPS)
    assert new.track_id != left.track_id
