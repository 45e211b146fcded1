"""Audit (session 37) of track identity: a lost track's gate, grown in palm sizes while the track
is lost, is capped at a share of the frame when the associator is told the frame size, so a new
hand of the lost hand's side entering across the frame starts its own track (the gate of a large
hand, close to the camera, spanned a 640 px frame); a lost hand back near where it went keeps its
id, also a small hand that only the grown gate reaches."""
from __future__ import annotations

import numpy as np
import pytest

from tracker.association import HandAssociator, Measurement
from tracker.keypoints import HandKeypoint as K
from .tracker_fakes import SceneHand, blank, fake_tracker, hand_keypoints

FPS = 30.0


def meas(cx, cy, right: bool, palm: float, p_right: float) -> Measurement:
    return Measurement(hand_keypoints(cx, cy, palm, right), np.full(17, 0.9, np.float32), 0.95, p_right)


def track_then_lose(a: HandAssociator, x: float, y: float, palm: float, gap: int, size):
    """30 frames of a left hand at (x, y), then ``gap`` empty frames; (its track, next frame)."""
    f = 0
    for _ in range(30):
        (left,) = a.update([meas(x, y, False, palm, 0.05)], f / FPS, frame_size=size); f += 1
    for _ in range(gap):
        assert a.update([], f / FPS, frame_size=size) == []; f += 1
    return left, f


@pytest.mark.parametrize("scale", [1, 2])
@pytest.mark.parametrize("palm", [140.0, 180.0])
@pytest.mark.parametrize("gap", [4, 6, 10])
def test_same_side_new_hand_across_the_frame_gets_a_new_id(scale, palm, gap):
    """A large left hand at the left of a 640x480 frame (and the same scene at 1280x960) is lost
    for ``gap`` frames; a left hand of the same size appears at the right, 440 px away (0.69 of
    the frame's width): the grown gate (up to 6.5 palm sizes, 900 px) reached it and nothing else
    told them apart, so it took the lost hand's id."""
    s = float(scale)
    size = (640 * scale, 480 * scale)
    a = HandAssociator(max_missed=15)
    left, f = track_then_lose(a, 100 * s, 300 * s, palm * s, gap, size)
    (new,) = a.update([meas(540 * s, 300 * s, False, palm * s, 0.05)], f / FPS, frame_size=size)
    assert new.track_id != left.track_id, "the new hand took the lost hand's id"
    # the lost hand, back where it went, gets its own id back
    tracks = a.update([meas(540 * s, 300 * s, False, palm * s, 0.05),
                       meas(100 * s, 300 * s, False, palm * s, 0.05)], (f + 1) / FPS, frame_size=size)
    got = {round(float(t.raw_keypoints[K.PALM, 0]) / s): t.track_id for t in tracks}
    assert got == {100: left.track_id, 540: new.track_id}


@pytest.mark.parametrize("palm, dx, gap", [(140.0, 240.0, 6), (40.0, 150.0, 6), (70.0, 300.0, 10), (20.0, 90.0, 10)])
def test_lost_hand_back_inside_the_grown_gate_keeps_its_id(palm, dx, gap):
    """What the cap leaves alone: a lost hand back ``dx`` px from where it went (at most 0.3 of a
    640x480 frame's diagonal), beyond the gate of a track seen in the last frame (1.5 palm sizes)
    but inside the one grown while it was lost, keeps its id (and side) with the frame size given
    too."""
    size = (640, 480)
    a = HandAssociator(max_missed=15)
    left, f = track_then_lose(a, 150, 300, palm, gap, size)
    assert dx / (0.966 * palm) > 1.5        # only the grown gate reaches it
    (back,) = a.update([meas(150 + dx, 300, False, palm, 0.05)], f / FPS, frame_size=size)
    assert (back.track_id, back.side) == (left.track_id, "left")


@pytest.mark.parametrize("bad", [(0, 480), (640, -1), (640,), (float("nan"), 480), "640x480"])
def test_bad_frame_size_is_one_clear_error(bad):
    a = HandAssociator()
    with pytest.raises(ValueError, match="frame_size"):
        a.update([meas(100, 300, False, 60.0, 0.05)], 0.0, frame_size=bad)


@pytest.mark.parametrize("gap", [4, 6, 10])
def test_same_side_new_hand_through_the_tracker(gap):
    """On fake models in a 640x480 frame: a large left hand lost for ``gap`` frames, a left hand
    entering at the other side is reported with a new id; the lost hand back gets its old id."""
    tr, scene, _, _ = fake_tracker()
    lost = SceneHand(hand_keypoints(100, 300, 140.0, False), False)
    new = SceneHand(hand_keypoints(540, 300, 140.0, False), False)
    i = 0
    for _ in range(30):
        scene.hands = [lost]
        r = tr.process(blank(640, 480), i * 1000 / FPS); i += 1
    ((old_id, old_side),) = [(h.track_id, h.side) for h in r.hands]
    assert old_side == "left"
    scene.hands = []
    for _ in range(gap):
        assert tr.process(blank(640, 480), i * 1000 / FPS).hands == []; i += 1
    scene.hands = [new]
    for _ in range(3):
        r = tr.process(blank(640, 480), i * 1000 / FPS); i += 1
        assert [h.track_id for h in r.hands] != [old_id], "the new hand took the lost hand's id"
    (new_id,) = [h.track_id for h in r.hands]
    scene.hands = [new, lost]
    for _ in range(3):
        r = tr.process(blank(640, 480), i * 1000 / FPS); i += 1
    got = {round(float(h.raw_keypoints[K.PALM, 0]) / 10) * 10: h.track_id for h in r.hands}
    assert got == {100: old_id, 540: new_id}
