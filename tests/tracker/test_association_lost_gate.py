"""Audit (session 37) of the lost-hand gate: a lost track's gate grows by ``gate_growth`` palm
sizes per missed frame, but the assignment left a track and a measurement unmatched for
2 x (gate + 1) = 5, so no pair costing more than 5 was ever taken: a lost hand back 5-9 palm sizes
from where it went, inside the grown gate, got a new id. Pairs dearer than 4.5 are now squeezed,
in order, below 5: takeable, and still the last resort (a far pair takes no measurement from a hand
seen in the last frame, and a lost track's near pairs are not made cheaper by its far ones)."""
from __future__ import annotations

import numpy as np
import pytest

from tracker.association import HandAssociator, Measurement
from tracker.keypoints import HandKeypoint as K
from .tracker_fakes import Scene, SceneHand, blank, fake_tracker, hand_keypoints

FPS = 30.0
PALM = 20.0                     # a small hand: the 0.4-of-the-diagonal cap (320 px) is 16 palm sizes
PALM_PX = 0.966 * PALM          # the palm size the associator measures on hand_keypoints(palm=PALM)


def meas(cx, cy, palm=PALM, p_right=0.05, right=False) -> Measurement:
    return Measurement(hand_keypoints(cx, cy, palm, right), np.full(17, 0.9, np.float32), 0.95, p_right)


def lose(a: HandAssociator, x: float, gap: int, size, p_right=0.05):
    """30 frames of a hand at (x, 300), then ``gap`` empty frames; (its track, next frame)."""
    f = 0
    for _ in range(30):
        (t,) = a.update([meas(x, 300, p_right=p_right)], f / FPS, frame_size=size); f += 1
    for _ in range(gap):
        assert a.update([], f / FPS, frame_size=size) == []; f += 1
    return t, f


@pytest.mark.parametrize("size", [(640, 480), None])
@pytest.mark.parametrize("gap, d", [(10, 6.0), (12, 7.0), (14, 8.0), (7, 4.9)])
def test_lost_hand_back_inside_the_grown_gate_beyond_5_palm_sizes_keeps_its_id(size, gap, d):
    """Lost ``gap`` frames (gate 1.5 + 0.5 x gap palm sizes), back ``d`` palm sizes from where it
    went: inside the gate, so it is the lost hand (it got a new id for any d above ~5)."""
    a = HandAssociator(max_missed=15)
    lost, f = lose(a, 150, gap, size)
    assert d < a.gate + a.gate_growth * gap
    (back,) = a.update([meas(150 + d * PALM_PX, 300)], f / FPS, frame_size=size)
    assert (back.track_id, back.side) == (lost.track_id, lost.side)


@pytest.mark.parametrize("size", [(640, 480), None])
@pytest.mark.parametrize("gap, d", [(10, 7.0), (4, 4.0)])
def test_a_hand_beyond_the_grown_gate_is_still_a_new_hand(size, gap, d):
    a = HandAssociator(max_missed=15)
    lost, f = lose(a, 150, gap, size)
    assert d > a.gate + a.gate_growth * gap
    (new,) = a.update([meas(150 + d * PALM_PX, 300)], f / FPS, frame_size=size)
    assert new.track_id != lost.track_id


def test_the_frame_cap_still_bounds_the_grown_gate():
    # 8 palm sizes of a 20 px hand are 155 px; with a 160x120 frame the cap is 80 px (4.1 palm sizes)
    a = HandAssociator(max_missed=15)
    lost, f = lose(a, 150, 14, (160, 120))
    (new,) = a.update([meas(150 + 8.0 * PALM_PX, 300)], f / FPS, frame_size=(160, 120))
    assert new.track_id != lost.track_id


def test_a_far_lost_track_takes_no_measurement_from_a_hand_seen_in_the_last_frame():
    """A hand seen every frame (A) and a hand lost 10 frames (B, gate 6.5) 6 palm sizes from A;
    a new hand appears 1.2 palm sizes from A. A keeps its own hand; B's grown gate reaching A's
    hand does not make A jump to the new hand so that B can be matched too."""
    size = (640, 480)
    a = HandAssociator(max_missed=15)
    xa, xb = 150 + 6.0 * PALM_PX, 150.0
    f = 0
    for _ in range(30):
        a.update([meas(xb, 300, p_right=0.5), meas(xa, 300, p_right=0.5)], f / FPS, frame_size=size); f += 1
    ids = {round(float(t.raw_keypoints[K.PALM, 0])): t.track_id for t in a.tracks}
    for _ in range(10):
        (t,) = a.update([meas(xa, 300, p_right=0.5)], f / FPS, frame_size=size); f += 1
    assert t.track_id == ids[round(xa)]
    tracks = a.update([meas(xa, 300, p_right=0.5), meas(xa + 1.2 * PALM_PX, 300, p_right=0.5)], f / FPS,
                      frame_size=size)
    got = {round(float(t.raw_keypoints[K.PALM, 0])): t.track_id for t in tracks}
    assert got[round(xa)] == ids[round(xa)]
    assert got[round(xa + 1.2 * PALM_PX)] not in ids.values()


@pytest.mark.parametrize("fps", [30, 60])
def test_lost_hand_back_6_palm_sizes_away_through_the_tracker(fps):
    """On fake models: a hand seen 1 s, gone 0.3 s (gate 1.5 + 0.5 x 9 = 6 palm sizes, the same
    in seconds at 60 fps with frame_rate), back 5.7 palm sizes from where it went keeps its id."""
    t, scene, *_ = fake_tracker(Scene(noise_px=0.3), frame_rate=fps)
    n_on, n_gap = fps, round(0.3 * fps)
    ids = []
    for i in range(n_on + n_gap + 3):
        x = 60 if i < n_on else 60 + 5.5 * 15
        scene.hands = [] if n_on <= i < n_on + n_gap else [SceneHand(hand_keypoints(x, 130, 15.0), True)]
        r = t.process(blank(), i * 1000 / fps)
        if i in (n_on - 1, n_on + n_gap + 2):
            assert len(r.hands) == 1
            ids.append(r.hands[0].track_id)
    assert ids[0] == ids[1]


def test_a_far_pair_of_a_lost_track_takes_no_near_measurement_from_a_seen_hand():
    """Review (session 37): A seen every frame, B lost 14 frames right beside A (gate 8.5), and a
    new hand 7 palm sizes from B. Lowering B's whole row so that its far pair could be taken made
    B's near pair on A's hand cheaper than A's own: B took A's hand (an identity swap) and A was
    lost. Only the far pairs may be made takeable; A keeps its hand."""
    size = (640, 480)
    a = HandAssociator(max_missed=15)
    xa, xb = 300.0, 300.0 + 1.0 * PALM_PX
    f = 0
    for _ in range(30):
        a.update([meas(xa, 300, p_right=0.5), meas(xb, 300, p_right=0.5)], f / FPS, frame_size=size); f += 1
    ids = {round(float(t.raw_keypoints[K.PALM, 0])): t.track_id for t in a.tracks}
    for _ in range(14):
        (t,) = a.update([meas(xa, 300, p_right=0.5)], f / FPS, frame_size=size); f += 1
    assert t.track_id == ids[round(xa)]
    tracks = a.update([meas(xa, 300, p_right=0.5), meas(xb - 7.0 * PALM_PX, 300, p_right=0.5)], f / FPS,
                      frame_size=size)
    by_x = {round(float(t.raw_keypoints[K.PALM, 0])): t.track_id for t in tracks}
    assert by_x[round(xa)] == ids[round(xa)]
