"""Track association on synthetic measurements: crossings, occlusions, side conflicts, duplicates."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from tracker.association import HandAssociator, Measurement, best_assignment
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


def test_track_forgotten_after_long_occlusion():
    a = HandAssociator(max_missed=3)
    first = a.update([meas(100, 200, True)], 0.0)[0].track_id
    for i in range(1, 6):
        assert a.update([], i / FPS) == []
    again = a.update([meas(100, 200, True)], 6 / FPS)[0].track_id
    assert again != first


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
    # crossing hands are close but not duplicates: mirrored shapes, 0.3 palm apart
    a2 = HandAssociator()
    assert len(a2.update([meas(200, 200, True), meas(218, 200, False)], 0.0)) == 2


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
