"""Left/right slots from accumulated handedness evidence, on synthetic measurements built like
the motion benchmark's failure cases: a hand whose single-frame handedness votes are unreliable
(low keypoint scores, mostly wrong) next to a confident one, hands crossing, a burst of wrong
votes, a hand leaving and coming back, a hand entering fast. The check in every test is the
benchmark's: no side (or id) change of one physical hand."""
from __future__ import annotations

import numpy as np
import pytest

from tracker.association import HandAssociator, Measurement
from .tracker_fakes import hand_keypoints

FPS = 30.0


def meas(cx, cy, right: bool, p_right: float, score: float = 0.9, presence: float = 1.0,
         rng=None, track_id=None) -> Measurement:
    """A measurement of a hand of true side ``right`` with the model's vote ``p_right`` and
    mean keypoint confidence ``score``."""
    k = hand_keypoints(cx, cy, 60.0, right)
    if rng is not None:
        k = k + rng.normal(0, 1.0, k.shape).astype(np.float32)
    return Measurement(k, np.full(17, score, np.float32), presence, p_right, track_id=track_id)


def nearest(tracks, x):
    return min(tracks, key=lambda t: abs(float(t.raw_keypoints[1, 0]) - x)) if tracks else None


class SideLog:
    """Reported (side, id) of each physical hand over time; counts changes like the bench."""

    def __init__(self):
        self.seen: dict[str, list[tuple[str, int]]] = {}

    def add(self, name, track):
        if track is not None:
            self.seen.setdefault(name, []).append((track.side, track.track_id))

    def side_swaps(self, name) -> int:
        s = [x[0] for x in self.seen.get(name, [])]
        return sum(a != b for a, b in zip(s, s[1:]))

    def sides(self, name) -> set[str]:
        return {x[0] for x in self.seen.get(name, [])}


def unreliable_vote(rng, p_wrong=0.8) -> tuple[float, float]:
    """(right_prob, mean score) for a true right hand whose crops the model is unsure of: the
    vote is mostly wrong, the keypoint scores low (as on the benchmark's blurred hands)."""
    wrong = rng.random() < p_wrong
    return (rng.uniform(0.1, 0.3) if wrong else rng.uniform(0.7, 0.9)), rng.uniform(0.3, 0.45)


def test_weak_hand_keeps_the_side_the_other_leaves_it_through_crossing_exit_and_return():
    """A right hand with unreliable (mostly wrong, low-score) votes and a confident left hand:
    they cross, then the left hand leaves (the right one is alone) and comes back with a wrong
    first vote. Neither hand ever changes side."""
    rng = np.random.default_rng(3)
    a = HandAssociator()
    log = SideLog()
    n_cross = 60
    xr = np.concatenate([np.full(20, 150.0), np.linspace(150, 450, n_cross), np.full(200, 450.0)])
    xl = np.concatenate([np.full(20, 450.0), np.linspace(450, 150, n_cross), np.full(200, 150.0)])
    for i in range(len(xr)):
        left_in = not (120 <= i < 170)                  # the left hand leaves for 50 frames
        pr, sc = unreliable_vote(rng)
        m = [meas(xr[i], 200 + 5 * np.sin(i / 5), True, pr, sc, rng=rng)]
        if left_in:
            first_back = i == 170
            # the returning hand's first vote is wrong (0.74 "right"), with good scores
            m.append(meas(xl[i], 260, False, 0.74 if first_back else rng.uniform(0.0, 0.05), rng=rng))
        rng.shuffle(m)
        tracks = a.update(m, i / FPS)
        assert len(tracks) == len(m)
        log.add("right", nearest(tracks, xr[i]))
        if left_in:
            log.add("left", nearest(tracks, xl[i]))
    assert log.sides("right") == {"right"}, log.seen["right"][100:200]
    assert log.sides("left") == {"left"}
    assert log.side_swaps("right") == log.side_swaps("left") == 0


def test_burst_of_unreliable_wrong_votes_does_not_flip_a_long_lived_track():
    """A lone right hand seen for 100 frames, then 60 frames of blurred crops whose votes say
    "left" (low keypoint scores, lower presence): it stays right."""
    a = HandAssociator()
    for i in range(100):
        (t,) = a.update([meas(200, 200, True, 0.9)], i / FPS)
    assert t.side == "right"
    for i in range(100, 160):
        (t,) = a.update([meas(200, 200, True, 0.05, score=0.4, presence=0.9)], i / FPS)
        assert t.side == "right", f"flipped at frame {i}"
    for i in range(160, 180):
        (t,) = a.update([meas(200, 200, True, 0.9)], i / FPS)
        assert t.side == "right"


def test_burst_of_confident_wrong_votes_needs_to_last_before_flipping():
    """Evidence is capped, not forgotten: 12 frames of confident wrong votes do not flip a
    long-lived right track; lasting ones still do (test_single_wrong_votes_do_not_flip_a_lone_hand
    in test_association.py)."""
    a = HandAssociator()
    for i in range(300):
        (t,) = a.update([meas(200, 200, True, 0.95)], i / FPS)
    for i in range(300, 312):
        (t,) = a.update([meas(200, 200, True, 0.02)], i / FPS)
        assert t.side == "right", f"flipped at frame {i}"


def test_reacquired_hand_gets_its_side_back_despite_a_wrong_first_vote():
    """A right hand leaves the frame (longer than max_missed, so its track ends) and comes back;
    its first crops are at the image edge (low scores) and vote "left". It is "right" again
    from its first frame back."""
    a = HandAssociator(max_missed=10)
    ids = set()
    for i in range(60):
        (t,) = a.update([meas(300, 200, True, 0.95)], i / FPS)
        ids.add(t.track_id)
    for i in range(60, 100):                       # gone for 40 frames
        assert a.update([], i / FPS) == []
    votes = [(0.13, 0.45), (0.25, 0.5), (0.3, 0.55)] + [(0.9, 0.9)] * 20
    for k, (p, sc) in enumerate(votes):
        (t,) = a.update([meas(600 - 10 * k, 220, True, p, sc)], (100 + k) / FPS)
        assert t.side == "right", f"frame {k} after the return"
    assert t.track_id not in ids                   # a new track (the old one had ended) ...


def test_reacquired_hand_with_a_moderately_wrong_first_vote():
    """Same, but the first frame back votes 0.2 with good keypoint scores: the remembered side
    still wins (its prior outweighs one moderate vote)."""
    a = HandAssociator(max_missed=10)
    for i in range(60):
        a.update([meas(300, 200, True, 0.95)], i / FPS)
    for i in range(60, 90):
        a.update([], i / FPS)
    for k in range(10):
        (t,) = a.update([meas(500, 220, True, 0.2 if k == 0 else 0.9)], (90 + k) / FPS)
        assert t.side == "right", f"frame {k} after the return"


def test_a_new_hand_with_confident_votes_is_not_held_by_the_memory():
    """The side memory is only a prior: a left hand that appears after a right one left, and
    votes confidently, is "left" within a few frames and then stays so."""
    a = HandAssociator(max_missed=10)
    for i in range(60):
        a.update([meas(300, 200, True, 0.95)], i / FPS)
    for i in range(60, 90):
        a.update([], i / FPS)
    sides = []
    for k in range(20):
        (t,) = a.update([meas(300, 200, False, 0.02)], (90 + k) / FPS)
        sides.append(t.side)
    assert sides[3:] == ["left"] * 17
    assert sum(a != b for a, b in zip(sides, sides[1:])) <= 1


def test_hand_entering_fast_keeps_its_track_id():
    """A hand enters moving ~1.7 palm sizes per frame, found by the detector each frame (its own
    crop lags behind): one track, not a new one per frame."""
    a = HandAssociator()
    ids = []
    for k in range(6):
        (t,) = a.update([meas(60 + 90 * k, 200, True, 0.95)], k / FPS)
        ids.append(t.track_id)
    assert len(set(ids)) == 1, ids


def test_no_swap_through_crossing_with_occlusion_and_noisy_votes():
    """Two hands cross twice. The right hand's votes are mostly wrong, from low-score crops; the
    left hand's are right two times in three (after 10 frames of good votes). At the first crossing the left hand passes under
    the right one and is hidden for 14 frames (longer than max_missed, so its track ends and a
    new one starts when it reappears). Each hand keeps its side throughout, and its id while it
    stays in view."""
    rng = np.random.default_rng(7)
    a = HandAssociator(max_missed=10)
    n = 240
    xs_r = 300 + 150 * np.cos(np.linspace(0, 2 * np.pi, n))      # 450 -> 150 -> 450
    xs_l = 600 - xs_r
    hidden = range(n // 4 - 7, n // 4 + 7)
    log = SideLog()
    for i in range(n):
        m = []
        for x, right, y in ((xs_r[i], True, 200), (xs_l[i], False, 215)):
            if not right and i in hidden:
                continue
            if i >= 10 and rng.random() < (0.7 if right else 0.33):
                p, sc = (0.15 if right else 0.85), rng.uniform(0.3, 0.45)
            else:
                p, sc = (0.9 if right else 0.1), rng.uniform(0.7, 0.9)
            m.append(meas(x, y, right, p, sc, rng=rng))
        rng.shuffle(m)
        tracks = a.update(m, i / FPS)
        assert len(tracks) == len(m)
        log.add("right", nearest(tracks, xs_r[i]))
        if i not in hidden:
            log.add("left", nearest(tracks, xs_l[i]))
    for name in ("right", "left"):
        assert log.sides(name) == {name}, name
    assert len({tid for _, tid in log.seen["right"]}) == 1
    assert len({tid for _, tid in log.seen["left"][hidden.stop:]}) == 1


def test_detector_crop_next_to_a_tracks_crop_is_the_same_hand():
    """A fast hand: its own (lagging) crop gives a poor measurement, the detector a good one
    0.6 palm sizes away, both voting "left". One hand, one track (not a duplicate track that
    then takes the other side)."""
    a = HandAssociator()
    for i in range(10):
        (t,) = a.update([meas(100 + 5 * i, 300, False, 0.02)], i / FPS)
    tid = t.track_id
    own = meas(150, 300, False, 0.07, score=0.43, track_id=tid)
    own.keypoints = own.keypoints + np.float32(0.6 * 58)          # 0.6 palm off, poorly fitted
    det = meas(150, 300, False, 0.0014, score=0.62)
    tracks = a.update([own, det], 10 / FPS)
    assert [(t.track_id, t.side) for t in tracks] == [(tid, "left")]
    assert np.allclose(tracks[0].raw_keypoints, det.keypoints)   # the better measurement kept


def test_overlapping_mirrored_hands_from_track_and_detector_are_not_merged():
    """A second hand appears right next to a tracked one (mirror image, 0.3 palm apart): both
    votes are reliable and opposite, so it is a new hand, not a duplicate."""
    a = HandAssociator()
    for i in range(10):
        (t,) = a.update([meas(200, 200, True, 0.95)], i / FPS)
    tracks = a.update([meas(200, 200, True, 0.95, track_id=t.track_id), meas(218, 200, False, 0.03)],
                      10 / FPS)
    assert sorted(t.side for t in tracks) == ["left", "right"]


@pytest.mark.parametrize("side_wait", [0, 3])
def test_hand_back_after_leaving_keeps_its_side_through_tracker(side_wait):
    """End to end on fake models: a right hand is tracked, leaves for 30 frames (its track
    ends), and comes back where it went; on its first frame found again the landmark model votes
    0.2 "right". It is reported "right" on every frame, from that first one (the faded prior of
    the hand last seen there, :data:`~tracker.association.NEAR_MEMORY_PRIOR`, outweighs the vote
    and settles the side, so ``side_wait`` does not hold it back)."""
    from .tracker_fakes import SceneHand, blank, fake_tracker
    tr, scene, _, _ = fake_tracker(max_missed=10, side_wait=side_wait)
    hand = SceneHand(hand_keypoints(160, 130, 40.0, True), True)
    scene.right_prob = 0.95
    for i in range(30):
        scene.hands = [hand]
        r = tr.process(blank(), i * 33)
        assert [h.side for h in r.hands] == ["right"]
    scene.hands = []
    for i in range(30, 60):
        assert tr.process(blank(), i * 33).hands == []
    scene.hands = [hand]
    scene.right_prob = 0.2
    i = 60
    r = tr.process(blank(), i * 33)
    while not tr.associator.tracks and i < 64:    # the detector backs off while it finds nothing
        i += 1
        r = tr.process(blank(), i * 33)
    assert tr.associator.tracks[0].hits == 1      # the one wrong vote is in
    scene.right_prob = 0.95
    assert [h.side for h in r.hands] == ["right"]
    for i in range(i + 1, i + 10):
        assert [h.side for h in tr.process(blank(), i * 33).hands] == ["right"]


@pytest.mark.parametrize("x, expected", [
    (500, 8.0),     # back where the right hand went: its side alone, at the near cap
    (130, -8.0),    # where the left hand went: its side
    (315, 0.0),     # far from both (over 2 palm sizes): both count, capped at 4, and cancel
])
def test_a_new_hand_takes_the_side_prior_of_the_hand_last_seen_where_it_starts(x, expected):
    """Two hands tracked (left at x=100, right at x=530, palms ~60 px), both lost at once: a hand
    that comes back near where one of them went takes that one's side as its prior; elsewhere
    the two remembered sides cancel out, as before session 65."""
    a = HandAssociator(max_missed=10, side_memory=150, memory_prior=4.0)
    for i in range(60):
        a.update([meas(100, 200, False, 0.02), meas(530, 200, True, 0.98)], i / FPS)
    assert sorted((t.side, t.locked) for t in a.tracks) == [("left", True), ("right", True)]
    for i in range(60, 75):          # both tracks end (max_missed 10)
        a.update([], i / FPS)
    assert not a.tracks
    fade = 1.0 - 15 / 150            # both last seen 15 frames ago
    kps = meas(x, 200, True, 0.5).keypoints
    assert a.prior(kps) == pytest.approx(expected * fade, abs=1e-6)
    assert a.prior() == pytest.approx(0.0, abs=1e-6)       # no keypoints: every remembered hand


def test_another_hand_where_one_went_takes_its_own_side_within_three_frames():
    """The near prior's cost (NEAR_MEMORY_PALMS): a left hand that appears where a locked right
    hand went half a second before, voting left surely (0.02), starts on the remembered side but
    is called left from its third frame on, and stays left."""
    a = HandAssociator(max_missed=10, side_memory=150, memory_prior=4.0)
    for i in range(60):
        (t,) = a.update([meas(530, 200, True, 0.98)], i / FPS)
    assert (t.side, t.locked) == ("right", True)
    for i in range(60, 75):
        assert a.update([], i / FPS) == []
    sides = []
    for i in range(75, 90):
        (t,) = a.update([meas(530, 200, False, 0.02)], i / FPS)
        sides.append(t.side)
    first_left = sides.index("left")
    assert first_left <= 2 and set(sides[first_left:]) == {"left"}


def test_side_memory_fades_from_the_frame_a_hand_was_last_seen():
    """The prior a lost hand leaves fades linearly from the frame it was last seen, while it is
    lost and after its track ends alike: it does not jump back to full strength when the track
    ends (max_missed frames later)."""
    a = HandAssociator(max_missed=10, side_memory=150, memory_prior=4.0)
    for i in range(60):
        a.update([meas(300, 200, True, 0.95)], i / FPS)
    last_seen = a._frame
    priors = []
    for i in range(60, 100):
        assert a.update([], i / FPS) == []
        priors.append(a.prior())
    expected = [4.0 * (1.0 - (last_seen + k + 1 - last_seen) / 150) for k in range(len(priors))]
    np.testing.assert_allclose(priors, expected, atol=1e-9)
    assert all(b < p for p, b in zip(priors, priors[1:]))      # falls every frame, through the end


def _hand(cx, cy, palm, p_right):
    return Measurement(keypoints=hand_keypoints(cx, cy, palm, True), scores=np.full(17, 0.9, np.float32),
                       presence=1.0, right_prob=p_right)


def _left_after_drifting(drift: tuple[float, ...]) -> tuple[HandAssociator, object]:
    """A right hand at the frame's left edge (palm 60 px at x=40) for 60 frames, locked right;
    then its fits drift off the hand (palm 15 px, to the x of ``drift``, one a frame) on the same
    track; then it is lost and its track ends (max_missed 10), 15 frames after it was last seen.
    Returns the associator and the track as of its last matched frame."""
    a = HandAssociator(max_missed=10, side_memory=150, memory_prior=4.0)
    for i in range(60):
        (t,) = a.update([_hand(40, 200, 60.0, 0.98)], i / FPS)
    assert (t.side, t.locked) == ("right", True)
    for i, x in enumerate(drift, start=60):
        (t,) = a.update([_hand(x, 200, 15.0, 0.6)], i / FPS)
        assert t.track_id == 0
    for i in range(60 + len(drift), 75 + len(drift)):
        a.update([], i / FPS)
    assert not a.tracks
    return a, t


def _prior_back_at_the_edge(a: HandAssociator, x: float = 40.0) -> float:
    """The side prior of a hand back at ``x`` (default: the edge, x=40), in units of the fade (last
    seen 15 frames ago)."""
    return a.prior(hand_keypoints(x, 200, 60.0, True)) / (1.0 - 15 / 150)


@pytest.mark.parametrize("palms, near", [(1.8, True), (2.2, False)])
def test_near_is_within_two_of_the_lost_tracks_palm_sizes(palms, near):
    """No drift: the hand was last seen at x=40 (palm 58 px). A new hand ``palms`` of those palm
    sizes to the right takes the near prior within NEAR_MEMORY_PALMS = 2, the far one beyond
    (NEAR_MEMORY_PALMS 1.0 passed every test before, session 78)."""
    from tracker import association
    a, t = _left_after_drifting(())
    cap = association.NEAR_MEMORY_PRIOR if near else a.memory_prior
    assert _prior_back_at_the_edge(a, 40 + palms * t.palm) == pytest.approx(cap, abs=1e-6)


@pytest.mark.parametrize("trail, near", [(None, True), (1, False)])
def test_a_hand_back_where_it_was_seen_in_its_last_frames_takes_the_near_prior(monkeypatch, trail, near):
    """A right hand leaving at the frame's left edge (palm 60 px at x=40) is fitted smaller and
    off the hand in its last frames (palm 15 px, out to x=130), as huytung_1hand's hand was under
    JPEG. A hand back at x=40 is 2.4 of the track's palm sizes (shrunk to 37 px) from the last
    fit but where the hand was seen 4 frames before: with the trail (NEAR_MEMORY_TRAIL, default)
    it takes the near prior (capped at NEAR_MEMORY_PRIOR); with the last fit alone, only the far
    one (memory_prior)."""
    from tracker import association
    if trail is not None:
        monkeypatch.setattr(association, "NEAR_MEMORY_TRAIL", trail)
    a, t = _left_after_drifting((70, 100, 130))      # the collapsing last fits drift right
    assert 90 / t.palm > 2.4
    cap = association.NEAR_MEMORY_PRIOR if near else a.memory_prior
    assert _prior_back_at_the_edge(a) == pytest.approx(cap, abs=1e-6)


@pytest.mark.parametrize("trail, near", [(None, True), (7, False)])
def test_the_trail_reaches_back_past_eight_drifting_fits(monkeypatch, trail, near):
    """As above, but the last fits drift off the hand for 8 frames (out to x=220): the hand was
    last at x=40 nine matched frames before the track was lost. The default trail (10 frames)
    still holds that place, so a hand back there takes the near prior; a trail of 7 holds only
    the drifting fits, all over 2 palm sizes from x=40."""
    from tracker import association
    assert association.NEAR_MEMORY_TRAIL >= 8
    if trail is not None:
        monkeypatch.setattr(association, "NEAR_MEMORY_TRAIL", trail)
    a, _ = _left_after_drifting((100, 130, 160, 190, 220, 220, 220, 220))
    cap = association.NEAR_MEMORY_PRIOR if near else a.memory_prior
    assert _prior_back_at_the_edge(a) == pytest.approx(cap, abs=1e-6)


@pytest.mark.parametrize("trail, near", [(None, False), (11, True)])
def test_the_trail_ends_ten_matched_frames_before_the_loss(monkeypatch, trail, near):
    """The other side of the trail's length: the fits drift off the hand for 11 frames (x=100, 130,
    ..., out to 220). The default trail holds the last 10 of them, from x=130 on, all over 2 palm
    sizes from x=40, so a hand back there takes only the far prior; a trail of 11 also holds the fit
    at x=100, near enough, and the near prior with it. (NEAR_MEMORY_TRAIL 20 passed every test
    before, session 78.)"""
    from tracker import association
    if trail is not None:
        monkeypatch.setattr(association, "NEAR_MEMORY_TRAIL", trail)
    a, _ = _left_after_drifting((100, 130, 160, 190, 220, 220, 220, 220, 220, 220, 220))
    cap = association.NEAR_MEMORY_PRIOR if near else a.memory_prior
    assert _prior_back_at_the_edge(a) == pytest.approx(cap, abs=1e-6)
