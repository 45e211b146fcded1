"""Session 47 mutation audit of tracker/association.py: tests that kill hand-made mutants the
existing association tests let through.

Session 43 audited smoothing.py and association.py together; since then association.py gained the
loose merge by box overlap, the finger mask, the lost hand matched where it was last seen, the
remembered and locked sides. Each expectation here is the documented contract (the module
docstring, ``HandAssociator``'s parameters, ``Track``'s attributes, the CHANGELOG), with values
worked out by hand, not copied from the current output.

Mutants killed here (numbered as in the commit message; 55 made; 30 were caught by the
association tests a developer would run and one more, A51, by the whole of tests/tracker and
tests/test_examples.py; 23 are killed here, 1 is left):

- A2  ``merge_duplicates``: a box overlap must exceed ``loose_merge_overlap`` (``>`` for ``>=``)
- A4  ``merge_duplicates``: detector crops looked at before tracks' crops
- A9  ``finger_mask``: a hand whose spread equals ``second_hand_min_spread`` taken for line-like
- A11 ``finger_mask``: a line-like fit from a track's own crop also taken for a finger
- A16 ``_box_gap``: dx + dy instead of the Euclidean distance between the boxes
- A25 ``_reliably_opposite``: each side by more than 1.0 instead of at least 1.0
- A29 the young gate for tracks with up to 3 hits instead of fewer than 3
- A30 a young lost track's frame-capped gate floored at ``gate``, not at its young gate
- A32 a lost locked track checked against its raw evidence, not its locked side
- A33 the cost's handedness term against the track's last vote instead of its evidence
- A34 the own-crop bonus added to the cost instead of taken off
- A36 a lost track's ``vote`` kept from the frame it was last seen instead of 0
- A37 a new track started with ``max_hands`` tracks alive (demoted, but kept as a lost track)
- A40 ``Track.right_prob`` not updated by a matched measurement
- A41 ``prior()`` counting the tracks seen now
- A43 exclusion evidence also with ``max_hands`` > 2
- A44 no ``evidence_cap`` clip
- A46 no hysteresis bonus in the two-hand side assignment
- A48 a side locked by ``|evidence|`` (evidence against the side included)
- A49 ``max_hands`` > 2: a "right" track turning "left" as soon as its evidence is negative
- A50 ``max_hands`` > 2: the side lock ignored
- A54 a lost track not matched where it was last seen (its prediction only)
- A55 non-finite keypoint scores giving a NaN vote instead of none

Also checked here, though test_hand_tracker_refine.py catches it through the tracker: A51, no
tie-break by the last vote (a new hand whose votes all weigh nothing always "left").

Left alive:

- A20 ``_palm``'s fallback for a degenerate palm triangle (the whole keypoint box's larger side
  instead of half of it): a heuristic unit no document states.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from tracker.association import (HandAssociator, Measurement, _box_gap, _box_overlap,
                                 _reliably_opposite, keypoint_distance)
from tracker.keypoints import HandKeypoint as K
from tracker.keypoints import spread_ratio
from .tracker_fakes import hand_keypoints

DT = 1 / 30
#: the palm size the associator measures on hand_keypoints(palm=60)
PALM = 0.9657 * 60.0


def meas(cx: float, cy: float = 200.0, right: bool = True, p_right: float = 0.5, score: float = 0.9,
         presence: float = 0.95, palm: float = 60.0, **kw) -> Measurement:
    return Measurement(hand_keypoints(cx, cy, palm, right), np.full(17, score, np.float32), presence,
                       p_right, **kw)


def grid(x0: float, y0: float, side: float = 90.0) -> np.ndarray:
    """(17, 2) points: a 4x4 grid over the square (x0, y0, x0 + side, y0 + side) and its centre
    (the keypoint box is the square, to the last bit for the sides used here)."""
    i = np.arange(16)
    pts = np.stack([x0 + side * (i % 4) / 3, y0 + side * (i // 4) / 3], 1)
    return np.vstack([pts, [[x0 + side / 2, y0 + side / 2]]]).astype(np.float32)


def line_keypoints(x: float, y0: float, y1: float) -> np.ndarray:
    """(17, 2) pixels on a nearly vertical segment: a fit folded onto one finger."""
    t = np.linspace(0.0, 1.0, 17)
    return np.stack([x + 3.0 * np.sin(7 * t), y0 + (y1 - y0) * t], 1).astype(np.float32)


def palm_x(t) -> float:
    return float(t.raw_keypoints[K.PALM, 0])


# == merging duplicates ===========================================================================
@pytest.mark.parametrize("shift, kept", [(45.0, 1), (46.0, 2)])
def test_a_box_overlap_of_exactly_loose_merge_overlap_merges(shift, kept):
    """``loose_merge_overlap``: a track's crop and a detector crop are one hand "when this share of
    the smaller keypoint box lies inside the other": a share of exactly 0.5 (90 px squares 45 px
    apart) reaches a bar of 0.5; 44/90 does not. The palm-size rules are off here."""
    a = HandAssociator(merge_distance=0.0, loose_merge_distance=0.0, loose_merge_overlap=0.5)
    m1 = Measurement(grid(100, 100), np.full(17, 0.9, np.float32), 0.95, 0.5, track_id=0)
    m2 = Measurement(grid(100 + shift, 100), np.full(17, 0.9, np.float32), 0.9, 0.5)
    assert _box_overlap(m1.keypoints, m2.keypoints) == (0.5 if shift == 45 else 44 / 90)
    assert len(a.merge_duplicates([m1, m2])) == kept


@pytest.mark.parametrize("order", [(0, 1, 2), (1, 2, 0), (2, 1, 0)])
def test_tracks_crops_are_looked_at_first(order):
    """merge_duplicates: "Measurements from tracks' own crops are looked at first". A track's crop
    with a detector crop 0.6 palm sizes on either side of it: each is the tracked hand again
    (loose rule), so one hand is left, with the track's hint. Had the two detector crops (1.2
    palm sizes apart, not duplicates of each other under the strict rule) been looked at first,
    two "hands" would be left."""
    ms = [meas(300, track_id=4), meas(300 - 0.6 * PALM, presence=0.9), meas(300 + 0.6 * PALM, presence=0.9)]
    out = HandAssociator().merge_duplicates([ms[i] for i in order])
    assert len(out) == 1
    assert out[0].track_id == 4 and out[0].keypoints[K.PALM, 0] == 300.0


# == fingers =====================================================================================
def test_a_hand_whose_spread_is_exactly_second_hand_min_spread_is_open():
    """``second_hand_min_spread``: a hand found in its track's crop "whose keypoints'
    spread_ratio is at least this" is open, and a line-like detector fit beside it is taken for
    one of its fingers."""
    hand = hand_keypoints(100, 150)
    a = HandAssociator(second_hand_min_spread=spread_ratio(hand))
    ms = [Measurement(hand, np.full(17, 0.9, np.float32), 0.95, 0.9, track_id=0),
          Measurement(line_keypoints(190, 60, 200), np.full(17, 0.9, np.float32), 0.95, 0.1)]
    assert a.finger_mask(ms) == [False, True]


@pytest.mark.parametrize("finger_hint, masked", [(None, True), (1, False)])
def test_a_line_like_fit_from_its_own_tracks_crop_is_no_finger(finger_hint, masked):
    """``second_hand_min_spread``: only "a measurement from a detector crop (no ``track_id``)" is
    left out; "found in its own track's crop, it is taken as it is" (a tracked hand seen edge-on
    beside another tracked hand)."""
    a = HandAssociator(second_hand_min_spread=0.15)
    ms = [Measurement(hand_keypoints(100, 150), np.full(17, 0.9, np.float32), 0.95, 0.9, track_id=0),
          Measurement(line_keypoints(190, 60, 200), np.full(17, 0.9, np.float32), 0.95, 0.1,
                      track_id=finger_hint)]
    assert a.finger_mask(ms) == [False, masked]


@pytest.mark.parametrize("b, gap", [
    (grid(120, 130), 50.0),       # 30 px right, 40 px below: the corners 50 px apart
    (grid(-130, -120), 50.0),     # 40 px left, 30 px above
    (grid(95, 20), 5.0),          # beside it on the right
    (grid(-115, 20), 25.0),       # beside it on the left
    (grid(20, -100), 10.0),       # above it
    (grid(50, 50), 0.0),          # overlapping
    (np.full((17, 2), np.nan, np.float32), math.inf),
])
def test_box_gap_is_the_euclidean_distance_between_the_boxes(b, gap):
    """_box_gap: "Distance in pixels between the axis-aligned boxes" around two keypoint sets, 0
    when they meet, inf when one has no finite point; either order (the first box is (0, 0, 90,
    90))."""
    a = grid(0, 0)
    assert _box_gap(a, b) == pytest.approx(gap, abs=1e-4)
    assert _box_gap(b, a) == pytest.approx(gap, abs=1e-4)


# == handedness helpers ==========================================================================
@pytest.mark.parametrize("a, b, opposite", [
    (1.0, -1.0, True),        # each by exactly 1.0: "at least"
    (-1.0, 3.0, True),
    (0.99, -3.0, False),      # one under 1.0
    (2.0, 3.0, False),        # the same side
    (0.0, -3.0, False),       # no evidence
])
def test_reliably_opposite_needs_each_side_by_at_least_one(a, b, opposite):
    assert _reliably_opposite(a, b) == opposite
    assert _reliably_opposite(b, a) == opposite


def test_a_measurement_with_non_finite_scores_carries_no_side_evidence():
    """CHANGELOG: non-finite keypoint scores count as 0 (a broken custom landmark model): such a
    measurement's vote weighs nothing, and a hand measured so keeps finite evidence and a side."""
    a = HandAssociator()
    m = Measurement(hand_keypoints(200, 200), np.full(17, np.nan, np.float32), 1.0, 0.9)
    assert a.vote(m) == 0.0
    for i in range(3):
        (t,) = a.update([Measurement(hand_keypoints(200, 200), np.full(17, np.nan, np.float32), 1.0, 0.9)], i * DT)
    assert t.evidence == 0.0 and t.side in ("left", "right")


# == matching ====================================================================================
@pytest.mark.parametrize("hits, same", [(2, True), (3, False)])
def test_the_young_gate_is_for_tracks_with_fewer_than_3_hits(hits, same):
    """``young_gate``: "gate multiplier for tracks with fewer than 3 hits". A still hand seen on
    ``hits`` frames, then found 2 palm sizes away: inside the young gate (2 x 1.5), outside the
    gate of 1.5 once it has 3 hits (a new track then)."""
    a = HandAssociator()
    for i in range(hits):
        (t,) = a.update([meas(200)], i * DT)
    assert t.hits == hits
    (back,) = a.update([meas(200 + 2.0 * PALM)], hits * DT)
    assert (back.track_id == t.track_id) == same


def test_the_frame_cap_never_shrinks_a_young_lost_gate_below_its_young_gate():
    """``lost_gate_share``: the grown gate of a lost track is capped, "never below ``gate``", and
    for a track with fewer than 3 hits the gate is ``young_gate`` x ``gate`` (3 palm sizes). A
    large hand in a small frame (cap 160 px = 1.38 of its palm sizes) seen twice, lost one frame
    and back 2.5 palm sizes away is the same hand, as it would be had it not been lost."""
    size = (320, 240)
    palm_px = 0.9657 * 120.0
    a = HandAssociator()
    for i in range(2):
        (t,) = a.update([meas(100, 120, palm=120.0)], i * DT, frame_size=size)
    assert a.lost_gate_share * math.hypot(*size) / palm_px < a.gate
    assert a.update([], 2 * DT, frame_size=size) == []
    (back,) = a.update([meas(100 + 2.5 * palm_px, 120, palm=120.0)], 3 * DT, frame_size=size)
    assert back.track_id == t.track_id


@pytest.mark.parametrize("left_votes, p_back, same", [
    (12, 0.95, True),    # a sure right hand: its locked side
    (0, 0.05, False),    # a sure left hand, the track's votes all right: a new hand
    (8, 0.05, False),    # ... its votes since even (evidence 0): still a new hand
    (12, 0.05, True),    # ... its last votes left too (evidence -12): the hand back
])
def test_a_locked_lost_hand_is_checked_against_its_locked_side(left_votes, p_back, same):
    """A lost track's side, against which a measurement reached only by its grown gate is checked
    ("when their handedness reliably differs: a new hand, not the lost one back"), is for a
    locked track its locked side (``side_lock``: the side is fixed until the track ends; a lost
    locked track is remembered with it). A right hand voted right 8 frames (locked "right"), then
    ``left_votes`` frames left, lost 4 frames: a hand 3 palm sizes away (beyond the gate of 1.5,
    inside the grown 3.5) voting right is it back. One voting left is a new hand, unless the
    track's own evidence says left as well (by >= 1.0): the model has been seeing this hand as a
    left one, so a left vote tells nothing against it being back (session 59: ali_hand.mp4's
    right thumbs-up, voted left from behind for 75 frames, lost for a frame and back 1.54 palm
    sizes away, became a new track called left)."""
    a = HandAssociator(side_lock=20.0, max_missed=10)
    f = 0
    for _ in range(8):
        (t,) = a.update([meas(200, p_right=0.99, presence=1.0)], f * DT); f += 1
    for _ in range(left_votes):
        (t,) = a.update([meas(200, p_right=0.01, presence=1.0)], f * DT); f += 1
    assert t.locked and t.side == "right" and t.evidence == pytest.approx(24.0 - 3.0 * left_votes)
    for _ in range(4):
        a.update([], f * DT); f += 1
    (back,) = a.update([meas(200 + 3.0 * PALM, p_right=p_back, presence=1.0)], f * DT)
    assert (back.track_id == t.track_id) == same
    if same:
        assert back.locked and back.side == "right"


def test_the_handedness_cost_uses_the_accumulated_side_not_the_last_vote():
    """Module docstring: the cost's handedness term is the disagreement with the track's
    accumulated evidence (``handedness_weight`` x |right_prob - track p_right|). Two hands voted
    right and left for 10 frames, then one frame with both votes wrong (the hands still apart),
    then they meet at one place: each track still takes the measurement of its own side."""
    a = HandAssociator()
    for i in range(10):
        tracks = a.update([meas(100, p_right=0.95), meas(200, right=False, p_right=0.05)], i * DT)
    ids = {t.side: t.track_id for t in tracks}
    tracks = a.update([meas(100, p_right=0.05), meas(200, right=False, p_right=0.95)], 10 * DT)
    assert {t.side: t.track_id for t in tracks} == ids             # sides held by the evidence
    tracks = a.update([meas(150, p_right=0.95), meas(150, right=False, p_right=0.05)], 11 * DT)
    assert {t.track_id: t.right_prob for t in tracks} == {ids["right"]: 0.95, ids["left"]: 0.05}


def test_a_measurement_from_a_tracks_own_crop_gets_the_bonus():
    """The cost is the distance "minus a bonus when the measurement came from the track's own
    crop": two still hands 100 px apart, one lost; a measurement from its own crop exactly halfway
    between them goes to its own track, not to the other one at the same distance."""
    for hint in (100, 200):
        a = HandAssociator()
        for i in range(5):
            tracks = a.update([meas(100), meas(200)], i * DT)
        ids = {round(palm_x(t)): t.track_id for t in tracks}
        (t,) = a.update([meas(150, track_id=ids[hint])], 5 * DT)
        assert t.track_id == ids[hint]


def test_a_fast_hand_back_where_it_was_last_seen_keeps_its_track():
    """A hand leaving fast (40 px a frame, 0.7 palm sizes) lost 12 frames: its prediction ran 9
    palm sizes on, beyond the grown gate (7.5); back where it was last seen it is the same
    track: "where it was last seen counts as well" (huytung_1hand came back 8 palm sizes from its
    prediction)."""
    a = HandAssociator(max_missed=15)
    for i in range(12):
        (t,) = a.update([meas(100, 800 - 40 * i, p_right=0.9)], i * DT)
    for i in range(12, 24):
        assert a.update([], i * DT) == []
    (back,) = a.update([meas(100, 800 - 40 * 11, p_right=0.9)], 24 * DT)
    assert back.track_id == t.track_id


# == track state ===================================================================================
def test_track_state_of_a_frame():
    """``Track``: ``right_prob`` is the last single-frame handedness; ``vote`` is this frame's
    weighted log-odds, "0 when not seen"."""
    a = HandAssociator()
    a.update([meas(200, p_right=0.9, presence=1.0)], 0.0)
    (t,) = a.update([meas(200, p_right=0.2, presence=1.0)], DT)
    assert t.right_prob == pytest.approx(0.2)
    assert t.vote == pytest.approx(math.log(0.25))
    assert a.update([], 2 * DT) == []
    assert a.tracks[0] is t and t.missed == 1 and t.vote == 0.0


def test_a_measurement_left_over_max_hands_starts_no_track():
    """Step 3: new tracks start "while fewer than ``max_hands`` are alive": with one hand allowed,
    the poorer of two new hands is dropped, not kept as a track (lost or not)."""
    a = HandAssociator(max_hands=1)
    (t,) = a.update([meas(100, p_right=0.9), meas(400, right=False, p_right=0.1, presence=0.5)], 0.0)
    assert palm_x(t) == 100.0
    assert a.tracks == [t]


@pytest.mark.parametrize("palms, same", [(2.7, True), (3.3, False)])
def test_a_young_track_gates_at_twice_the_gate(palms, same):
    """A track with fewer than 3 hits has no velocity yet: its gate, 1.5 palm sizes, is doubled
    (``young_gate``, 2.0) to 3. A detector crop's fit 2.7 palm sizes from a one-frame track is that
    hand; at 3.3 it is a new hand (and the first is lost)."""
    a = HandAssociator()
    (t,) = a.update([meas(100, p_right=0.9)], 0.0)
    first, palm = t.raw_keypoints.copy(), t.palm
    (u,) = a.update([meas(100 + palms * PALM, p_right=0.9)], DT)
    assert keypoint_distance(first, u.raw_keypoints, palm) == pytest.approx(palms, abs=0.02)
    assert (u is t) == same
    assert t.missed == (0 if same else 1)


def _crossing_gain(x: float) -> float:
    """Palm sizes of distance that two fits save by crossing over: two tracks 2 palm sizes apart,
    each fit ``x`` palm sizes from its own track towards the other and half a palm up or down."""
    return 2 * (math.hypot(x, 0.5) - math.hypot(2 - x, 0.5))


@pytest.mark.parametrize("x, own", [
    (1.12, True),    # each fit 0.21 palm sizes further from its own track than from the other: the bonus wins
    (1.22, False),   # 0.39 further: over the bonus (0.3), each fit goes to the nearer track
])
def test_the_own_crop_bonus_is_0_3_palm_sizes(x, own):
    """Two still tracks 2 palm sizes apart; each one's own crop finds a hand ``x`` palm sizes
    towards the other track (and half a palm up or down, so the two fits are no duplicates). The
    minimum-cost assignment takes each fit for its own track while the cost it saves by crossing
    is under twice ``own_crop_bonus`` (0.3 palm sizes each)."""
    a = HandAssociator()
    for i in range(10):
        t1, t2 = a.update([meas(100), meas(100 + 2 * PALM)], i * DT)
    q1 = meas(100 + x * PALM, 200 + 0.5 * PALM, track_id=t1.track_id)
    q2 = meas(100 + (2 - x) * PALM, 200 - 0.5 * PALM, track_id=t2.track_id)
    gain = _crossing_gain(x)
    assert (gain < 2 * 0.3) == own and abs(gain - 2 * 0.3) > 0.15
    a.update([q1, q2], 10 * DT)
    x1, x2 = (float(q.keypoints[K.PALM, 0]) for q in (q1, q2))
    assert (palm_x(t1), palm_x(t2)) == pytest.approx((x1, x2) if own else (x2, x1), abs=0.01)


@pytest.mark.parametrize("x, by_side", [
    (1.17, True),    # each fit with its side's track: 0.6 palm sizes of extra distance, the handedness term wins
    (1.28, False),   # 1.0 palm sizes: over the term's 0.8, each fit goes to the nearer track
])
def test_the_handedness_cost_weight_is_0_5(x, by_side):
    """Matching cost = distance + ``handedness_weight`` (0.5) x |right_prob - track p_right|. A sure
    right and a sure left track (p_right ~1 and ~0) 2 palm sizes apart; detector-crop fits voting
    0.9 and 0.1 lie ``x`` palm sizes from the track of their side towards the other (and half a
    palm up or down). Taking each with its side's track costs 2 x 0.1 x 0.5 in handedness, crossing
    2 x 0.9 x 0.5: 0.8 palm sizes more, which pays for up to 0.8 of extra distance."""
    a = HandAssociator()
    for i in range(10):
        tracks = a.update([meas(100, p_right=0.9), meas(100 + 2 * PALM, right=False, p_right=0.1)], i * DT)
    right, left = sorted(tracks, key=palm_x)
    assert right.p_right > 0.999 and left.p_right < 0.001
    qr = meas(100 + x * PALM, 200 + 0.5 * PALM, p_right=0.9)
    ql = meas(100 + (2 - x) * PALM, 200 - 0.5 * PALM, right=False, p_right=0.1)
    extra = _crossing_gain(x)
    assert (extra < 0.8) == by_side and abs(extra - 0.8) > 0.15
    a.update([qr, ql], 10 * DT)
    xr, xl = (float(q.keypoints[K.PALM, 0]) for q in (qr, ql))
    assert (palm_x(right), palm_x(left)) == pytest.approx((xr, xl) if by_side else (xl, xr), abs=0.01)


@pytest.mark.parametrize("shift, contact", [
    (80, True),      # 0.36 of the smaller keypoint box inside the other: over contact_overlap (0.3), in contact
    (91, False),     # 0.24: two hands side by side, each keeps its votes
])
def test_the_default_contact_overlap_is_0_3(shift, contact):
    """Two tracks seen together whose keypoint boxes overlap by more than ``contact_overlap`` (0.3,
    intersection over the smaller box) touch: their side evidence is held at 0 while they do."""
    a = HandAssociator()
    for i in range(5):
        tracks = a.update([meas(100, p_right=0.9), meas(100 + shift, right=False, p_right=0.1)], i * DT)
    right, left = sorted(tracks, key=palm_x)
    assert abs(_box_overlap(right.keypoints, left.keypoints) - 0.3) > 0.05
    assert (_box_overlap(right.keypoints, left.keypoints) > 0.3) == contact
    if contact:
        assert right.evidence == left.evidence == 0.0
    else:
        assert right.evidence > 10 and left.evidence < -10


# == side evidence ===================================================================================
def test_tracks_seen_now_give_no_prior():
    """prior(): the side prior of a new track comes from tracks "lost (still remembered, not seen
    now) or ended": a hand seen now, however sure, gives none; once it is lost it does (capped at
    ``memory_prior``, fading)."""
    a = HandAssociator()
    for i in range(10):
        a.update([meas(100, p_right=0.95, presence=1.0)], i * DT)
    assert a.prior() == 0.0
    tracks = a.update([meas(100, p_right=0.99, presence=1.0), meas(400, right=False, p_right=0.5, presence=1.0)],
                      10 * DT)
    (new,) = [x for x in tracks if palm_x(x) == 400.0]
    # its own vote 0, the other's +3 negated (exclusion): no prior in it
    assert new.evidence == pytest.approx(-3.0)
    assert a.update([], 11 * DT) == []
    # both lost one frame: the first capped at memory_prior, the new one's -3, each faded by 1/150
    assert a.prior() == pytest.approx((a.memory_prior - 3.0) * (1 - 1 / a.side_memory))


def test_the_default_memory_prior_is_4():
    """The tracker keeps ``HandAssociator``'s default ``memory_prior``, 4 log-odds: a right hand sure
    for 10 frames (evidence 30), lost one frame, gives a new hand far from it a prior of 4, faded
    by 1/150; one where it was seen gets the near cap, ``NEAR_MEMORY_PRIOR`` (8), instead."""
    a = HandAssociator()
    for i in range(10):
        a.update([meas(100, p_right=0.99, presence=1.0)], i * DT)
    assert a.update([], 10 * DT) == []
    fade = 1 - 1 / 150
    assert a.prior() == pytest.approx(4.0 * fade)
    assert a.prior(meas(500).keypoints) == pytest.approx(4.0 * fade)
    assert a.prior(meas(100).keypoints) == pytest.approx(8.0 * fade)


def test_no_exclusion_evidence_with_room_for_more_than_two_hands():
    """Exclusion evidence only "while exactly two tracks are seen (``max_hands <= 2``)": with
    ``max_hands=3`` two hands seen together each hold their own votes only."""
    a = HandAssociator(max_hands=3)
    tracks = a.update([meas(100, p_right=0.9, presence=1.0), meas(400, right=False, p_right=0.2, presence=1.0)], 0.0)
    ev = {round(palm_x(t)): t.evidence for t in tracks}
    assert ev == pytest.approx({100: math.log(9.0), 400: math.log(0.25)})


def test_evidence_is_capped_at_evidence_cap():
    """``L <- clip(decay * L + votes, +-evidence_cap)``: votes of +3 (clipped) on 6 frames reach 18,
    held at a cap of 10."""
    a = HandAssociator(evidence_cap=10.0, side_lock=None)
    for i in range(6):
        (t,) = a.update([meas(100, p_right=0.99, presence=1.0)], i * DT)
        assert t.evidence == min(3.0 * (i + 1), 10.0)


@pytest.mark.parametrize("p_right, cap", [(0.99, 60.0), (0.01, -60.0)])
def test_the_default_evidence_cap_is_60(p_right, cap):
    """The tracker keeps ``HandAssociator``'s default cap, 60 log-odds: 20 frames of clipped votes
    (+-3 each) reach +-60, and the 21st stays at the cap (not at +-63)."""
    a = HandAssociator(side_lock=None)
    for i in range(21):
        (t,) = a.update([meas(100, right=p_right > 0.5, p_right=p_right, presence=1.0)], i * DT)
        assert t.evidence == pytest.approx(math.copysign(min(3.0 * (i + 1), 60.0), cap))
    assert t.evidence == cap


def test_a_pair_keeps_its_sides_within_the_hysteresis():
    """Two hands: sides by the assignment that best agrees with the evidence "plus a hysteresis
    bonus (``side_hysteresis``) for keeping the current side". With exclusion the two tracks'
    evidence is +-e: the sides as they are score 2e + 2 x 3, swapped -2e, so they swap once e is
    under -1.5, not as soon as it turns (frame 2)."""
    a = HandAssociator(side_lock=None)
    step = 0.95 * 2 * math.log(1.5)            # each frame: log-odds 0.405 each, both hands
    tracks = a.update([meas(100, p_right=0.6), meas(300, p_right=0.4)], 0.0)
    sides = {round(palm_x(t)): t.side for t in tracks}
    assert sides == {100: "right", 300: "left"}
    for i in range(1, 12):
        tracks = a.update([meas(100, p_right=0.4), meas(300, p_right=0.6)], i * DT)
        e = {round(palm_x(t)): t.evidence for t in tracks}[100]
        assert e == pytest.approx(step * (1 - i))
        swapped = -e > a.side_hysteresis / 2
        assert {round(palm_x(t)): t.side for t in tracks} == (
            {100: "left", 300: "right"} if swapped else {100: "right", 300: "left"}), f"frame {i}: e {e}"
    assert swapped


def test_a_side_locks_on_evidence_for_it_not_against_it():
    """``side_lock``: "once a track's evidence for its current side reaches this". With a large
    hysteresis (50: a lone hand turns once its evidence is under -25) a hand keeps its first side
    "right" while its evidence goes to -21; it is not locked "right" by evidence against it, and
    turns "left", and locks it, once the evidence is under -25."""
    a = HandAssociator(side_lock=20.0, side_hysteresis=50.0)
    (t,) = a.update([meas(100, p_right=0.99, presence=1.0)], 0.0)
    assert t.side == "right"
    for i in range(1, 9):
        (t,) = a.update([meas(100, p_right=0.01, presence=1.0)], i * DT)
    assert t.evidence == pytest.approx(-21.0) and t.side == "right" and not t.locked
    for i in range(9, 11):
        (t,) = a.update([meas(100, p_right=0.01, presence=1.0)], i * DT)
    assert t.evidence == pytest.approx(-27.0) and t.side == "left" and t.locked


@pytest.mark.parametrize("first", ["right", "left"])
def test_single_sides_keep_their_side_within_the_hysteresis(first):
    """With ``max_hands=3`` each track's side goes by its own evidence, with the hysteresis bonus
    for keeping its current side: a hand started "right" (+2.09) voted "left" at 0.3 (-0.80 a
    frame) keeps "right" at -1.1 and turns "left" only below -3 (and the mirror case)."""
    sign = 1 if first == "right" else -1
    p = lambda q: q if sign > 0 else 1 - q     # noqa: E731
    a = HandAssociator(max_hands=3, side_lock=None)
    (t,) = a.update([meas(100, p_right=p(0.9))], 0.0)
    assert t.side == first
    other = "left" if first == "right" else "right"
    for i in range(1, 9):
        (t,) = a.update([meas(100, p_right=p(0.3))], i * DT)
        expected = other if sign * t.evidence < -a.side_hysteresis else first
        assert t.side == expected, f"frame {i}: evidence {t.evidence}"
    assert t.side == other


def test_a_locked_side_holds_with_room_for_more_than_two_hands():
    """``side_lock`` holds for every track, also with ``max_hands=3`` (sides one by one): a hand
    locked "right" keeps it through 30 frames of sure "left" votes."""
    a = HandAssociator(max_hands=3, side_lock=20.0)
    for i in range(7):
        (t,) = a.update([meas(100, p_right=0.99, presence=1.0)], i * DT)
    assert t.locked and t.side == "right"
    for i in range(7, 37):
        (t,) = a.update([meas(100, p_right=0.01, presence=1.0)], i * DT)
        assert t.side == "right"
    assert t.evidence < -a.side_hysteresis


@pytest.mark.parametrize("max_hands", [2, 3])
@pytest.mark.parametrize("p_right, side", [(0.9, "right"), (0.1, "left")])
def test_an_unreliable_new_hand_follows_its_best_guess(max_hands, p_right, side):
    """_side_score: the last single-frame vote, unweighted, breaks ties: "a new track whose first
    crops are all unreliable still follows its best guess rather than a fixed default" (keypoint
    scores under ``vote_score_range``: a vote of weight 0)."""
    a = HandAssociator(max_hands=max_hands)
    (t,) = a.update([meas(100, p_right=p_right, score=0.3)], 0.0)
    assert t.evidence == 0.0 and t.side == side


@pytest.mark.parametrize("palm_points, others, expected", [
    # a normal palm triangle: its longest side (pinky MCP - wrist here: 50 px)
    ([(100, 100), (100, 70), (140, 70)], None, 50.0),
    # the triangle collapsed onto one point: half the keypoint box's longer side (120 / 2)
    ([(100, 100)] * 3, [(40, 100), (160, 130)], 60.0),
    # the triangle's points not finite: the same from the finite points (80 / 2)
    ([(np.nan, np.nan)] * 3, [(10, 10), (90, 50)], 40.0),
    # one finite point left: no box, 1 px
    ([(np.nan, np.nan)] * 3, [(10, 10)], 1.0),
])
def test_palm_falls_back_to_half_the_keypoint_box(palm_points, others, expected):
    """``_palm``'s documented fallback (mutant A20 made it the box's whole side)."""
    from tracker.association import _palm
    from tracker.keypoints import PALM_TRIANGLE
    k = np.full((17, 2), np.nan)
    rest = [j for j in range(17) if j not in PALM_TRIANGLE]
    for j, p in zip(PALM_TRIANGLE, palm_points):
        k[j] = p
    for j, p in zip(rest, others or []):
        k[j] = p
    if others is None:
        k[rest] = k[PALM_TRIANGLE[0]]
    assert _palm(k) == pytest.approx(expected)

