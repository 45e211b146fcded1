"""Track association on synthetic measurements: crossings, occlusions, side conflicts, duplicates."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from tracker.association import HandAssociator, Measurement, _box_overlap, _palm, best_assignment, keypoint_distance
from .tracker_fakes import hand_keypoints

FPS = 30.0


def meas(cx, cy, right: bool, p_right: float | None = None, rng=None, noise=1.0, **kw) -> Measurement:
    k = hand_keypoints(cx, cy, 60.0, right)
    if rng is not None:
        k = k + rng.normal(0, noise, k.shape).astype(np.float32)
    p = p_right if p_right is not None else (0.9 if right else 0.1)
    return Measurement(k, np.full(17, 0.9, np.float32), 0.95, p, **kw)


def sides_by_id(tracks) -> dict[int, str]:
    return {t.track_id: t.side for t in tracks}


def test_two_hands_get_one_left_one_right():
    a = HandAssociator()
    tracks = a.update([meas(100, 200, True), meas(300, 200, False)], 0.0)
    assert sorted(t.side for t in tracks) == ["left", "right"]
    assert [t.side for t in tracks] == ["left", "right"]          # left first


@pytest.mark.parametrize("wrong_vote_rate", [0.0, 0.25])
def test_slots_kept_through_a_crossing(wrong_vote_rate):
    """Two hands swap places (crossing in the middle); each keeps its track id and side even
    when the single-frame handedness vote is wrong a quarter of the time."""
    rng = np.random.default_rng(0)
    a = HandAssociator()
    n = 60
    xs_r = np.linspace(100, 400, n)          # right hand moves right -> ...
    xs_l = np.linspace(400, 100, n)          # ... left hand moves left, they cross at frame 30
    ids = None
    for i in range(n):
        pr = 0.85 if rng.random() >= wrong_vote_rate else 0.15
        pl = 0.15 if rng.random() >= wrong_vote_rate else 0.85
        m = [meas(xs_r[i], 200 + 5 * np.sin(i / 5), True, pr, rng),
             meas(xs_l[i], 210, False, pl, rng)]
        rng.shuffle(m)
        tracks = a.update(m, i / FPS)
        assert len(tracks) == 2
        by_side = {t.side: t for t in tracks}
        # the right track must be where the true right hand is
        assert abs(by_side["right"].raw_keypoints[1, 0] - xs_r[i]) < 10, f"frame {i}"
        cur = (by_side["right"].track_id, by_side["left"].track_id)
        ids = ids or cur
        assert cur == ids, f"identities swapped at frame {i}"


def test_slot_kept_through_brief_occlusion():
    rng = np.random.default_rng(1)
    a = HandAssociator(max_missed=10)
    for i in range(20):
        tracks = a.update([meas(100 + 2 * i, 200, True, rng=rng), meas(300, 200, False, rng=rng)], i / FPS)
    before = sides_by_id(tracks)
    # The right hand is hidden for 6 frames while it keeps moving; the left one stays.
    for i in range(20, 26):
        tracks = a.update([meas(300, 200, False, rng=rng)], i / FPS)
        assert len(tracks) == 1 and tracks[0].side == "left"
    tracks = a.update([meas(100 + 2 * 26, 200, True, rng=rng), meas(300, 200, False, rng=rng)], 26 / FPS)
    assert sides_by_id(tracks) == before


def test_lost_hand_back_where_it_was_last_seen_keeps_its_track():
    """A hand that vanished while moving fast (leaving the frame) and comes back where it was last
    seen, after most of ``max_missed``, is the same track: its constant-velocity prediction ran
    far away meanwhile (on huytung_1hand it then came back as a new track and changed side)."""
    rng = np.random.default_rng(2)
    a = HandAssociator(max_missed=15)
    for i in range(12):
        tracks = a.update([meas(100, 600 - 25 * i, True, rng=rng)], i / FPS)
    first = tracks[0].track_id
    for i in range(12, 24):
        assert a.update([], i / FPS) == []
    tracks = a.update([meas(100, 600 - 25 * 11, True, rng=rng)], 24 / FPS)
    assert [t.track_id for t in tracks] == [first]


def test_track_forgotten_after_long_occlusion():
    a = HandAssociator(max_missed=3)
    first = a.update([meas(100, 200, True)], 0.0)[0].track_id
    for i in range(1, 6):
        assert a.update([], i / FPS) == []
    again = a.update([meas(100, 200, True)], 6 / FPS)[0].track_id
    assert again != first


@pytest.mark.parametrize("lost, same", [(10, True), (11, False)])
def test_a_lost_track_is_remembered_for_10_frames_by_default(lost, same):
    """``HandAssociator()`` keeps a lost track (id and side) for ``max_missed`` = 10 frames: a hand
    back where it went after 10 missed frames is that track; after 11 it is a new one.
    (:class:`~tracker.hand_tracker.HandTracker` passes its own ``max_missed``.)"""
    a = HandAssociator()
    first = a.update([meas(100, 200, True)], 0.0)[0].track_id
    for i in range(1, lost + 1):
        assert a.update([], i / FPS) == []
    assert len(a.tracks) == (1 if same else 0)
    again = a.update([meas(100, 200, True)], (lost + 1) / FPS)[0].track_id
    assert (again == first) == same


def test_side_conflict_resolved_by_accumulated_evidence():
    """Both hands claim 'right' for a few frames: the one with the longer right history keeps
    the slot, the other is 'left' (never two rights)."""
    a = HandAssociator()
    for i in range(30):
        tracks = a.update([meas(100, 200, True, 0.9), meas(300, 200, False, 0.1)], i / FPS)
    right_id = {t.side: t.track_id for t in tracks}["right"]
    for i in range(30, 36):
        tracks = a.update([meas(100, 200, True, 0.9), meas(300, 200, False, 0.9)], i / FPS)
        assert sorted(t.side for t in tracks) == ["left", "right"]
        assert {t.side: t.track_id for t in tracks}["right"] == right_id


@pytest.mark.parametrize("side_lock, final_side", [
    (None, "left"),       # without the lock lasting evidence flips the side ...
    (20.0, "right"),      # ... with it (the default) a side held with evidence >= 20 stays
    (40.0, "left"),       # 20 frames at 0.8 (log-odds 1.39 each: 27.7) do not reach a lock of 40
])
def test_single_wrong_votes_do_not_flip_a_lone_hand(side_lock, final_side):
    a = HandAssociator(side_lock=side_lock)
    for i in range(20):
        a.update([meas(100, 200, True, 0.8)], i / FPS)
    for i in range(20, 23):
        (t,) = a.update([meas(100, 200, True, 0.1)], i / FPS)
        assert t.side == "right"
    for i in range(23, 80):
        (t,) = a.update([meas(100, 200, True, 0.05)], i / FPS)
    assert t.side == final_side
    assert t.locked == (side_lock is not None)   # with 40: locked "left" once the evidence got there
    assert t.p_right < 0.01                      # the evidence itself says left in every case


def test_locked_pair_keeps_sides_while_the_relative_votes_turn():
    """Two hands that never cross, both voted "right" for a long stretch, the true left one
    more so (the shared piano clip): with the lock each keeps the side it was given."""
    for side_lock, swapped in ((20.0, False), (None, True)):
        a = HandAssociator(side_lock=side_lock)
        for i in range(30):
            tracks = a.update([meas(100, 200, False, 0.3), meas(300, 200, True, 0.95)], i / FPS)
        sides = {round(float(t.raw_keypoints[1, 0])): t.side for t in tracks}
        assert sides == {100: "left", 300: "right"}
        for i in range(30, 130):
            tracks = a.update([meas(100, 200, False, 0.95), meas(300, 200, True, 0.6)], i / FPS)
        sides = {round(float(t.raw_keypoints[1, 0])): t.side for t in tracks}
        assert sides == ({100: "right", 300: "left"} if swapped else {100: "left", 300: "right"}), side_lock


def test_two_hands_locked_on_one_side_are_split():
    """A right hand (locked) hides for a few frames; meanwhile another hand, voted right, takes
    the right side and locks it. When both are seen again they are not both "right": the one
    seen longer keeps it."""
    a = HandAssociator(side_lock=20.0, max_missed=10)
    for i in range(30):
        (first,) = a.update([meas(100, 200, True, 0.95)], i / FPS)
    assert first.locked and first.side == "right"
    for i in range(30, 38):                              # the first hand hidden
        (second,) = a.update([meas(400, 200, True, 0.95)], i / FPS)
    assert second.track_id != first.track_id and second.locked and second.side == "right"
    for i in range(38, 45):
        tracks = a.update([meas(100, 200, True, 0.95), meas(400, 200, True, 0.95)], i / FPS)
        assert sorted(t.side for t in tracks) == ["left", "right"], f"frame {i}"
        assert {t.track_id: t.side for t in tracks}[first.track_id] == "right"


def test_a_locked_track_is_remembered_with_its_side():
    """A right hand locked "right", then voted "left" until it leaves: a new hand at the same
    place starts from the remembered locked side, not from the late evidence."""
    a = HandAssociator(side_lock=20.0, max_missed=2)
    for i in range(20):
        a.update([meas(100, 200, True, 0.95)], i / FPS)
    for i in range(20, 60):
        (t,) = a.update([meas(100, 200, True, 0.02)], i / FPS)
    assert t.side == "right" and t.evidence < 0
    for i in range(60, 65):
        a.update([], i / FPS)
    assert a.prior() > 0
    (t,) = a.update([meas(100, 200, True, 0.5)], 65 / FPS)
    assert t.side == "right" and not t.locked


def test_duplicates_are_merged():
    rng = np.random.default_rng(2)
    a = HandAssociator()
    m1 = meas(150, 200, True, rng=rng, track_id=None)
    m2 = meas(151, 201, True, rng=rng, track_id=None)
    tracks = a.update([m1, m2, meas(350, 200, False)], 0.0)
    assert len(tracks) == 2
    # crossing hands are close but not duplicates: mirrored shapes 0.3 palm sizes apart (their
    # median keypoint distance, which merge_distance bounds, is 0.62)
    a2 = HandAssociator()
    assert len(a2.update([meas(200, 200, True), meas(218, 200, False)], 0.0)) == 2


@pytest.mark.parametrize("hints", [(None, None), (0, 1)])
@pytest.mark.parametrize("shift, kept", [
    (17, 1),     # 0.29 palm sizes apart (median keypoint distance): under merge_distance (0.35), one hand
    (24, 2),     # 0.41 apart: two hands, though neither rule for a detector crop next to a track's crop applies
])
def test_merge_distance_default_bar(hints, shift, kept):
    """``merge_distance`` (0.35 palm sizes) is the only rule that merges two crops of the same kind
    (two detector crops, or two tracks' own crops). Rows on both sides of the default bar."""
    a = HandAssociator()
    m1 = meas(200, 200, True, track_id=hints[0])
    m2 = meas(200 + shift, 200, True, track_id=hints[1])
    d = keypoint_distance(m1.keypoints, m2.keypoints, _palm(m1.keypoints), m1.scores, m2.scores)
    assert (d < 0.35) == (kept == 1) and abs(d - 0.35) > 0.05
    assert len(a.merge_duplicates([m1, m2])) == kept


@pytest.mark.parametrize("shift, kept", [
    (25, 1),     # 0.73 of the smaller keypoint box inside the other: over loose_merge_overlap (0.7), one hand
    (30, 2),     # 0.68: two hands
])
def test_loose_merge_overlap_default_bar(shift, kept):
    """A track's crop and a detector crop whose keypoints are far apart in palm sizes (the hand
    turned 180 degrees about its box centre, then moved ``shift`` px sideways): only the box rule
    can merge them, at its default bar of 0.7 shared."""
    a = HandAssociator()
    m1 = meas(200, 200, True, p_right=0.95, track_id=0)
    k = m1.keypoints
    m2 = Measurement((k.min(0) + k.max(0)) - k + np.float32([shift, 0]), m1.scores.copy(), 0.95, 0.9)
    assert keypoint_distance(k, m2.keypoints, _palm(k)) > a.loose_merge_distance
    assert abs(_box_overlap(k, m2.keypoints) - 0.7) < 0.05
    assert (_box_overlap(k, m2.keypoints) >= 0.7) == (kept == 1)
    assert len(a.merge_duplicates([m1, m2])) == kept


# Two crops of one edge-on hand at the frame edge (huytung_1hand.mp4 frame 252, session 18): the
# track's own crop (unsure, mean confidence 0.25) and a detector crop. Their palms are 8 and 14 px, so
# the keypoints are 2 palm sizes apart, but 0.87 of the smaller keypoint box lies inside the other.
# Kept apart, the two "hands" were made one left and one right and the track's side flipped twice.
EDGE_ON_TRACK_CROP = [[41.6, 289.7], [41.5, 286.3], [33.8, 283.6], [31.3, 291.0], [39.8, 305.5], [34.3, 290.5],
                      [61.1, 266.3], [66.7, 252.5], [37.1, 296.3], [25.4, 310.8], [66.5, 253.4], [37.5, 295.9],
                      [55.7, 258.6], [61.0, 253.6], [33.1, 289.9], [52.1, 248.2], [58.7, 253.0]]
EDGE_ON_TRACK_SCORES = [0.24, 0.33, 0.21, 0.21, 0.11, 0.2, 0.18, 0.28, 0.27, 0.19, 0.39, 0.2, 0.39, 0.35, 0.12, 0.27, 0.27]
EDGE_ON_DETECTOR_CROP = [[21.9, 325.8], [19.6, 326.8], [38.7, 309.8], [51.8, 276.1], [61.7, 256.0], [20.2, 328.9],
                         [50.6, 299.7], [66.6, 260.8], [18.2, 321.1], [45.4, 285.6], [61.4, 258.7], [21.1, 326.1],
                         [44.1, 296.0], [63.1, 268.1], [30.4, 319.9], [41.9, 300.3], [41.0, 281.4]]
EDGE_ON_DETECTOR_SCORES = [0.52, 0.66, 0.35, 0.64, 1.0, 0.35, 0.37, 0.55, 0.5, 0.51, 0.63, 0.53, 0.6, 0.31, 0.61, 0.63, 0.19]


@pytest.mark.parametrize("loose_merge_overlap, hints, kept", [
    (0.7, (1, None), 1),       # a track's crop and a detector crop, 0.87 of the smaller box shared: one hand
    (None, (1, None), 2),      # without the box rule the palm-size distance (2 palms) keeps both
    (0.9, (1, None), 2),       # the rule's bar is the shared share, 0.87 is under 0.9
    (0.7, (1, 2), 2),          # two tracks' own crops keep the strict rule (crossing hands stay apart)
])
def test_edge_on_duplicates_merge_by_box_overlap(loose_merge_overlap, hints, kept):
    a = HandAssociator(loose_merge_overlap=loose_merge_overlap)
    m1 = Measurement(np.array(EDGE_ON_TRACK_CROP, np.float32), np.array(EDGE_ON_TRACK_SCORES, np.float32),
                     0.58, 0.36, track_id=hints[0])
    m2 = Measurement(np.array(EDGE_ON_DETECTOR_CROP, np.float32), np.array(EDGE_ON_DETECTOR_SCORES, np.float32),
                     0.75, 0.42, track_id=hints[1])
    out = a.merge_duplicates([m1, m2])
    assert len(out) == kept
    if kept == 1:   # the better keypoints (the detector crop's), with the track's hint
        assert out[0].presence == 0.75 and out[0].track_id == 1


@pytest.mark.parametrize("p_right, kept", [(0.05, 2), (0.9, 1), (0.5, 1)])
def test_box_overlap_does_not_merge_reliably_opposite_hands(p_right, kept):
    """The same box, keypoints far apart in palm sizes (the hand turned 180 degrees about the box
    centre): only the box rule can merge them, and it does unless both votes are sure and opposite (crossing hands)."""
    a = HandAssociator()
    m1 = meas(200, 200, True, p_right=0.95, track_id=0)
    k = m1.keypoints
    m2 = Measurement((k.min(0) + k.max(0)) - k, m1.scores.copy(), 0.95, p_right)
    assert _box_overlap(m1.keypoints, m2.keypoints) == pytest.approx(1.0, abs=1e-5)
    assert keypoint_distance(m1.keypoints, m2.keypoints, _palm(m1.keypoints)) > a.loose_merge_distance
    assert len(a.merge_duplicates([m1, m2])) == kept


@pytest.mark.parametrize("first, second, tentative", [
    (True, True, True),      # both crops tentative (two low detections of one hand)
    (True, False, False),    # a sure detection of the same hand: not tentative
    (False, True, False),
    (False, False, False),
])
def test_merged_duplicate_is_tentative_only_when_both_are(first, second, tentative):
    a = HandAssociator()
    # the better-quality one first and second in turn: the flag must not follow the kept keypoints
    for hi, lo in ((first, second), (second, first)):
        m1 = meas(150, 200, True, tentative=hi)
        m2 = meas(151, 201, True, tentative=lo)
        m2.presence = 0.5
        (kept,) = a.merge_duplicates([m1, m2])
        assert kept.tentative == tentative


def test_tentative_track_is_confirmed_when_matched_again():
    a = HandAssociator()
    (t,) = a.update([meas(150, 200, True, tentative=True)], 0.0)
    assert t.tentative and not t.confirmed
    (t,) = a.update([meas(152, 200, True, track_id=t.track_id)], 1 / FPS)
    assert t.confirmed
    (t2,) = HandAssociator().update([meas(150, 200, True)], 0.0)
    assert t2.confirmed


def test_at_most_max_hands():
    a = HandAssociator(max_hands=1)
    tracks = a.update([meas(100, 200, True), meas(300, 200, False)], 0.0)
    assert len(tracks) == 1
    a3 = HandAssociator(max_hands=3)
    tracks = a3.update([meas(100, 200, True), meas(300, 200, False), meas(500, 200, True)], 0.0)
    assert len(tracks) == 3


def test_measurement_from_own_crop_stays_with_track():
    a = HandAssociator()
    a.update([meas(100, 200, True), meas(300, 200, False)], 0.0)
    ids = {t.side: t.track_id for t in a.active_tracks}
    # Both measurements move 40 px towards each other; the crop hints keep them apart.
    tracks = a.update([meas(140, 200, True, track_id=ids["right"]),
                       meas(260, 200, False, track_id=ids["left"])], 1 / FPS)
    assert {t.side: t.track_id for t in tracks} == ids


@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (2, 3), (3, 2), (4, 4)])
def test_best_assignment_is_optimal(shape):
    rng = np.random.default_rng(sum(shape))
    for _ in range(20):
        cost = rng.uniform(0, 3, shape)
        cost[rng.random(shape) < 0.2] = np.inf
        u = 2.0
        pairs = best_assignment(cost, u)
        total = lambda ps: sum(cost[r, c] for r, c in ps) + u * (sum(shape) - 2 * len(ps))  # noqa: E731
        best = np.inf
        R, C = shape
        for k in range(min(R, C) + 1):
            for rows in itertools.combinations(range(R), k):
                for cols in itertools.permutations(range(C), k):
                    ps = list(zip(rows, cols))
                    if all(np.isfinite(cost[r, c]) for r, c in ps):
                        best = min(best, total(ps))
        assert total(pairs) == pytest.approx(best)
        assert len({r for r, _ in pairs}) == len(pairs) == len({c for _, c in pairs})


def _square(x0, y0, side):
    """17 points on the border of a square box (x0, y0, x0 + side, y0 + side)."""
    t = np.linspace(0, 4, 17, endpoint=False)
    edge = np.floor(t).astype(int)
    f = t - edge
    xy = np.select([edge == 0, edge == 1, edge == 2], [np.stack([f, 0 * f], 1).T, np.stack([1 + 0 * f, f], 1).T,
                                                      np.stack([1 - f, 1 + 0 * f], 1).T], np.stack([0 * f, 1 - f], 1).T)
    return (np.asarray(xy).T * side + [x0, y0]).astype(np.float32)


@pytest.mark.parametrize("a, b, expected", [
    (_square(0, 0, 100), _square(20, 20, 40), 1.0),     # one inside the other
    (_square(0, 0, 100), _square(50, 0, 100), 0.5),     # half of the (equal) smaller box shared
    (_square(0, 0, 100), _square(90, 90, 20), 0.25),    # a corner of the small one
    (_square(0, 0, 100), _square(200, 0, 50), 0.0),     # apart
    (_square(0, 0, 100), np.full((17, 2), np.nan, np.float32), 0.0),   # nothing to compare
])
def test_box_overlap_is_shared_share_of_the_smaller_box(a, b, expected):
    assert _box_overlap(a, b) == pytest.approx(expected, abs=1e-3)
    assert _box_overlap(b, a) == pytest.approx(expected, abs=1e-3)
