"""Session 43 mutation audit of the tracking core: tracker/smoothing.py (the Kalman keypoint filter)
and tracker/association.py (matching, track ids, left/right evidence and slots).

Each test here was written against a hand-made bug ("mutant") that the rest of the suite let pass;
docs/model_history.md, Session 43, sums up the mutants and how many the existing tests caught. The
checks are stated as the documented contracts (the two modules' docstrings and the parameters'
descriptions) with values worked out by hand or from an independent reference (filterpy's
KalmanFilter), not copied from the current output.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from filterpy.common import Q_discrete_white_noise
from filterpy.kalman import KalmanFilter

from tracker.association import HandAssociator, Measurement
from tracker.keypoints import HandKeypoint as K
from tracker.smoothing import KalmanKeypointFilter, make_filter
from .tracker_fakes import hand_keypoints

FPS = 30.0
DT = 1 / FPS
#: the palm size the associator measures on hand_keypoints(palm=60)
PALM = 0.9657 * 60.0


# == smoothing =====================================================================================
def _settle(f, k: np.ndarray, n: int = 20, v=(0.0, 0.0), score: float = 0.9):
    """``n`` frames of the hand ``k`` moving at ``v`` px/s; returns the next frame's time."""
    for i in range(n):
        f.update(k + np.asarray(v) * i * DT, np.full(17, score), t_s=i * DT)
    return n * DT


@pytest.mark.parametrize("order", [2, 3])
def test_filter_treats_x_and_y_alike(order):
    """The model is one filter per point and axis with a process noise that depends on the point's
    speed (both axes: ``hypot``): a motion along y is smoothed exactly as the same motion along x.
    A speed term that reads only the x velocity smoothed vertical moves as a still hand (lag)."""
    rng = np.random.default_rng(0)
    t = np.arange(60) * DT
    base = hand_keypoints(320, 240).astype(np.float64)
    # a fast swing: 3 palm sizes at 1.2 Hz, plus measurement noise
    swing = (3 * PALM * np.sin(2 * np.pi * 1.2 * t))[:, None, None] * np.array([1.0, 0.2])
    zs = base[None] + swing + rng.normal(0, 1.5, (len(t), 17, 2))
    fx, fy = make_filter("kalman", order=order), make_filter("kalman", order=order)
    for z, ti in zip(zs, t):
        ox = fx.update(z, np.full(17, 0.9), t_s=ti)
        oy = fy.update(z[:, ::-1], np.full(17, 0.9), t_s=ti)     # the same scene, axes swapped
        np.testing.assert_allclose(oy[:, ::-1], ox, atol=1e-3)


def test_a_point_scored_exactly_min_score_is_used():
    """``score < min_score`` is left out (module docstring): a score equal to ``min_score`` is used,
    exactly as it is under any lower ``min_score``."""
    k = hand_keypoints(200, 200).astype(np.float64)
    outs = []
    for min_score in (0.3, 0.25):
        f = KalmanKeypointFilter(min_score=min_score)
        t = _settle(f, k)
        z = k.copy()
        z[K.INDEX_TIP] += (20.0, -10.0)
        s = np.full(17, 0.9)
        s[K.INDEX_TIP] = 0.3                                        # float64: exactly min_score
        outs.append(f.update(z, s, t_s=t))
    np.testing.assert_array_equal(outs[0], outs[1])
    assert np.linalg.norm(outs[0][K.INDEX_TIP] - k[K.INDEX_TIP]) > 0.5        # it was pulled


@pytest.mark.parametrize("n_sure, all_used", [(0, True), (1, True), (2, True), (3, False)])
def test_fewer_than_three_sure_points_use_every_finite_point(n_sure, all_used):
    """"unless fewer than 3 points pass, then all finite points are used": a hand with 0-2 points
    over ``min_score`` (motion blur) is filtered as if ``min_score`` were 0; with 3 the unsure
    ones are left out (predict only)."""
    k = hand_keypoints(200, 200).astype(np.float64)
    v = np.array([120.0, 40.0])                  # px/s; the blurred frames keep moving
    outs = {}
    for min_score in (0.3, 0.0):
        f = KalmanKeypointFilter(min_score=min_score)
        t = _settle(f, k, v=v)
        s = np.full(17, 0.15)
        s[:n_sure] = 0.9
        got = []
        for i in range(4):
            got.append(f.update(k + v * (t + i * DT), s, t_s=t + i * DT))
        outs[min_score] = np.stack(got)
    same = np.array_equal(outs[0.3], outs[0.0])
    assert same == all_used


def test_an_unsure_start_point_has_a_wide_prior():
    """A new track's points under ``min_score`` start at their own measurement "with a wide
    prior": the next sure measurement puts them (nearly) there, while a point that started sure
    holds on to its start for part of the gap."""
    k = hand_keypoints(200, 200).astype(np.float64)
    s = np.full(17, 0.9)
    s[9:] = 0.2
    f = make_filter("kalman")
    off = np.array([0.5 * PALM, 0.0])             # every first guess half a palm size off
    f.update(k + off, s, t_s=0.0)
    out = f.update(k, np.full(17, 0.9), t_s=DT)
    err_sure = np.linalg.norm(out[:9] - k[:9], axis=1)
    err_unsure = np.linalg.norm(out[9:] - k[9:], axis=1)
    assert err_unsure.max() < 0.02 * 0.5 * PALM
    assert err_unsure.max() < 0.25 * err_sure.min()


def test_a_point_left_out_is_predicted_only():
    """"points with score < min_score ... are left out of the update (predict only)": the left-out
    point's covariance takes the predict step only, as filterpy's ``KalmanFilter.predict``; a
    measured point's takes the update too (adaptive terms off, fixed hand size, so the model is
    filterpy's constant-velocity filter)."""
    palm, dt = 50.0, DT
    f = KalmanKeypointFilter(speed_ref=math.inf, innovation_gain=0.0)
    k = hand_keypoints(100, 100).astype(np.float64)
    for i in range(10):
        f.update(k, np.ones(17), t_s=i * dt, palm=palm)
    s = np.ones(17)
    s[K.INDEX_TIP] = 0.29                     # just under min_score: left out, though close to it
    row = 2 * int(K.INDEX_TIP)                # the index tip's x axis
    ref = KalmanFilter(dim_x=2, dim_z=1)
    ref.F = np.array([[1.0, dt], [0.0, 1.0]])
    ref.Q = Q_discrete_white_noise(2, dt, var=(f.process_noise * palm) ** 2)
    ref.P = f.P[row].copy()
    ref.predict()
    f.update(k, s, t_s=10 * dt, palm=palm)
    np.testing.assert_allclose(f.P[row], ref.P, rtol=1e-9)
    # a measured point (same history) takes the update too: P00 R / (P00 + R), R = (0.06 palm)^2
    r = (f.meas_noise * palm) ** 2
    assert f.P[row + 2, 0, 0] == pytest.approx(ref.P[0, 0] * r / (ref.P[0, 0] + r), rel=1e-9)


def test_a_point_left_out_moves_with_the_hand():
    """A point left out of the update (here: no finite value) moves with the mean velocity of the
    updated points: on a hand moving steadily it stays on the hand, it does not stop where it
    was last seen."""
    f = make_filter("kalman")
    k = hand_keypoints(200, 200).astype(np.float64)
    v = np.array([90.0, -30.0])                                      # px/s: 3 and 1 px per frame
    t = _settle(f, k, n=30, v=v)
    for i in range(6):
        z = k + v * (t + i * DT)
        z[K.INDEX_TIP] = np.nan
        out = f.update(z, np.full(17, 0.9), t_s=t + i * DT)
    truth = k[K.INDEX_TIP] + v * (t + 5 * DT)
    assert np.linalg.norm(out[K.INDEX_TIP] - truth) < 1.0, (out[K.INDEX_TIP], truth)


@pytest.mark.parametrize("reanchor_frames", [1, 3, 5, None])
def test_re_anchoring_waits_for_reanchor_frames_frames(reanchor_frames):
    """An unsure point whose values agree on a place 1.5 palm sizes away stays with the hand for
    ``reanchor_frames`` frames left out, and is reset to its measurement on the next one. None:
    the default, 5 frames (the tracker's)."""
    if reanchor_frames is None:
        f, reanchor_frames = KalmanKeypointFilter(), 5
    else:
        f = KalmanKeypointFilter(reanchor_frames=reanchor_frames)
    k = hand_keypoints(200, 200).astype(np.float64)
    t = _settle(f, k, n=40)
    s = np.full(17, 0.9)
    s[K.INDEX_TIP] = 0.1
    z = k.copy()
    z[K.INDEX_TIP] += (1.5 * PALM, 0.0)
    outs = [f.update(z, s, t_s=t + i * DT)[K.INDEX_TIP] for i in range(reanchor_frames + 2)]
    for i in range(reanchor_frames):
        assert np.linalg.norm(outs[i] - k[K.INDEX_TIP]) < 1.0, f"moved on left-out frame {i + 1}"
    assert np.linalg.norm(outs[reanchor_frames] - z[K.INDEX_TIP]) < 1e-3
    assert np.linalg.norm(outs[reanchor_frames + 1] - z[K.INDEX_TIP]) < 1.0


def test_constant_acceleration_model_is_exact_on_a_parabola():
    """``order=3``: x' = x + v dt + a dt^2 / 2. Noise-free constant-acceleration motion sampled at
    irregular times is then followed exactly: the prediction ahead is the parabola's point.
    (At a fixed frame rate a model without the 1/2 fits too, with a velocity state half a frame
    off; irregular frame times and a look further ahead tell them apart.)"""
    f = make_filter("kalman", order=3)
    k = hand_keypoints(100, 200).astype(np.float64)
    v, a = np.array([50.0, 80.0]), np.array([400.0, -150.0])       # px/s, px/s^2
    ts = np.cumsum(np.random.default_rng(0).choice([1 / 60, 1 / 30, 1 / 15], 90))
    for t in ts:
        f.update(k + v * t + 0.5 * a * t * t, None, t_s=t)
    for ahead in (1 / 60, 1 / 30, 1 / 15):
        t = ts[-1] + ahead
        np.testing.assert_allclose(f.peek(t), k + v * t + 0.5 * a * t * t, atol=0.01)


def test_adaptive_process_noise_is_the_documented_formula():
    """Module docstring: the process noise variance of each point is ``(process_noise * palm)^2``
    times ``1 + (speed / speed_ref)^2 + gain * max(0, d2 - 1)``, ``speed`` the filtered point
    speed in palm sizes per second (both axes), ``d2`` the normalised innovation squared of the
    axis's last update. Reference: two filterpy ``KalmanFilter`` (the index tip's x and y) whose
    Q is set from that formula before each predict, on a hand that swings, stops and jumps."""
    palm = 50.0
    ours = KalmanKeypointFilter()
    tip = int(K.INDEX_TIP)
    rng = np.random.default_rng(3)
    n = 45
    t = np.arange(n) * DT
    path = (2 * palm * np.sin(2 * np.pi * 1.5 * t))[:, None] * np.array([0.4, 1.0])
    path[25:] = path[24]                                  # a sudden stop ...
    path[35:] += np.array([-0.8 * palm, 0.3 * palm])      # ... and a jump: d2 well over 1
    zs = hand_keypoints(200, 200)[None] + path[:, None, :] + rng.normal(0, 1.0, (n, 17, 2))
    refs = [KalmanFilter(dim_x=2, dim_z=1) for _ in range(2)]
    d2 = [0.0, 0.0]
    most = [0.0, 0.0]                    # the largest speed / speed_ref and d2 seen: both terms ran
    for i, z in enumerate(zs):
        out = ours.update(z, np.ones(17), t_s=t[i], palm=palm)
        if i == 0:
            for ax, r in enumerate(refs):
                r.x = np.array([[z[tip, ax]], [0.0]])
                r.P = ours.P[2 * tip + ax].copy()
                r.F = np.array([[1.0, DT], [0.0, 1.0]])
                r.H = np.array([[1.0, 0.0]])
                r.R = np.array([[(ours.meas_noise * palm) ** 2]])
            continue
        speed = math.hypot(refs[0].x[1, 0], refs[1].x[1, 0]) / palm
        most = [max(most[0], speed / ours.speed_ref), max(most[1], *d2)]
        for ax, r in enumerate(refs):
            scale = 1 + (speed / ours.speed_ref) ** 2 + ours.innovation_gain * max(0.0, d2[ax] - 1)
            r.Q = Q_discrete_white_noise(2, DT, var=(ours.process_noise * palm) ** 2 * scale)
            r.predict()
            r.update(z[tip, ax])
            d2[ax] = float(r.y[0, 0] ** 2 / r.S[0, 0])
        assert out[tip] == pytest.approx([refs[0].x[0, 0], refs[1].x[0, 0]], abs=1e-3), i
    assert most[0] > 2 and most[1] > 4, most


# == association ===================================================================================
def meas(cx, cy, right: bool, p_right: float, palm: float = 60.0, presence: float = 0.95,
         score: float = 0.9, **kw) -> Measurement:
    return Measurement(hand_keypoints(cx, cy, palm, right), np.full(17, score, np.float32), presence,
                       p_right, **kw)


LN9 = math.log(9.0)


@pytest.mark.parametrize("presence, score, p_right, expected", [
    (1.0, 0.9, 0.9, LN9),                 # full weight: the logit
    (0.5, 0.9, 0.9, 0.5 * LN9),           # weight = presence x q(score)
    (1.0, 0.55, 0.9, 0.5 * LN9),          # q halfway up (0.45, 0.65)
    (1.0, 0.60, 0.2, 0.75 * math.log(0.25)),
    (0.8, 0.60, 0.01, 0.8 * 0.75 * -3.0),  # logit -4.6 clipped to -evidence_clip
    (1.0, 0.45, 0.9, 0.0),                # q = 0 at the bottom of the range
    (1.0, 0.30, 0.9, 0.0),                # and below it
    (1.7, 0.9, 0.9, LN9),                 # presence over 1 counts as 1
    (math.nan, 0.9, 0.9, 0.0),            # an unknown presence carries no evidence
])
def test_vote_is_presence_times_score_weight_times_clipped_logit(presence, score, p_right, expected):
    """Module docstring: "each frame's vote is ``w * clip(logit(right_prob), +-evidence_clip)`` with
    the weight ``w = presence * q(mean keypoint score)``, ``q`` rising from 0 to 1 over
    ``vote_score_range``" (defaults (0.45, 0.65), clip 3)."""
    m = Measurement(hand_keypoints(100, 100), np.full(17, score, np.float64), presence, p_right)
    assert HandAssociator().vote(m) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_evidence_is_the_sum_of_the_votes_from_the_first_frame(n):
    """"a log-odds sum over the track's life" (decay 1, no prior): a lone hand voted 0.9 "right"
    with full weight on each of ``n`` frames holds n x ln 9, its first frame included; two hands
    seen together each also take the other's vote, negated."""
    a = HandAssociator()
    for i in range(n):
        (t,) = a.update([meas(100, 200, True, 0.9, presence=1.0)], i * DT)
    assert t.evidence == pytest.approx(n * LN9, rel=1e-9)
    b = HandAssociator()
    for i in range(n):
        tracks = b.update([meas(100, 200, True, 0.9), meas(400, 200, False, 0.2)], i * DT)
    ev = {t.side: t.evidence for t in tracks}
    step = 0.95 * (LN9 - math.log(0.25))         # presence 0.95 weights both votes
    assert ev == pytest.approx({"right": n * step, "left": -n * step}, rel=1e-9)


@pytest.mark.parametrize("side_lock, frames", [(3.0, 1), (18.0, 6), (19.0, 7), (21.0, 7)])
def test_side_locks_when_the_evidence_reaches_side_lock(side_lock, frames):
    """"once a track's evidence for its side reaches ``side_lock`` the side is fixed": votes of
    exactly +3 (a sure right hand, clipped at evidence_clip) lock a lone hand on the frame its
    evidence gets to ``side_lock``, equality included (7 x 3 = 21)."""
    a = HandAssociator(side_lock=side_lock)
    for i in range(frames):
        (t,) = a.update([meas(100, 200, True, 0.99, presence=1.0)], i * DT)
        assert t.locked == (i == frames - 1), f"frame {i + 1}: evidence {t.evidence}"
    assert t.side == "right" and t.evidence == 3.0 * frames


@pytest.mark.parametrize("max_hands", [1, 2])
def test_new_tracks_start_from_the_best_measurements(max_hands):
    """With room for fewer new hands than were found, the best measurements (presence x mean
    keypoint score) start the tracks, whatever order they come in."""
    good = [meas(100 + 200 * j, 200, True, 0.9, presence=0.95) for j in range(max_hands)]
    poor = [meas(150 + 200 * j, 420, False, 0.1, presence=0.5, score=0.6) for j in range(2)]
    tracks = HandAssociator(max_hands=max_hands).update(poor + good, 0.0)
    assert sorted(float(t.raw_keypoints[K.PALM, 1]) for t in tracks) == [200.0] * max_hands


def test_a_lost_hand_back_beside_two_hands_takes_no_slot_from_them():
    """max_hands=2: hand A is lost for a few frames, meanwhile a new hand C starts beside B; when
    A comes back while B and C are seen, three tracks match but two are reported: the two seen
    longest (A and B), with their ids; the newest (C) is demoted to lost."""
    a = HandAssociator(max_hands=2, max_missed=10)
    f = 0
    for _ in range(30):
        tracks = a.update([meas(100, 200, True, 0.9), meas(300, 200, False, 0.1)], f * DT); f += 1
    ids = {t.side: t.track_id for t in tracks}
    for _ in range(3):                       # A (right) hidden; C appears far off
        tracks = a.update([meas(300, 200, False, 0.1), meas(520, 420, True, 0.9)], f * DT); f += 1
    assert len(tracks) == 2
    new_id = ({t.track_id for t in tracks} - set(ids.values())).pop()
    tracks = a.update([meas(100, 200, True, 0.9), meas(300, 200, False, 0.1), meas(520, 420, True, 0.9)],
                      f * DT)
    assert {t.track_id for t in tracks} == set(ids.values())
    assert new_id not in {t.track_id for t in tracks}
    assert {t.side: t.track_id for t in tracks} == ids


def test_the_frame_cap_never_shrinks_a_lost_gate_below_the_gate():
    """``lost_gate_share`` caps the gate a lost track grows, "never below ``gate``": a large hand
    in a small frame (the cap, 0.4 x 400 px = 160 px, is 1.38 of its palm sizes) lost 2 frames
    and back 1.45 palm sizes away is the same hand, as it would be had it not been lost."""
    size = (320, 240)
    palm_px = 0.9657 * 120.0
    a = HandAssociator(max_missed=10)
    for i in range(10):
        (t,) = a.update([meas(100, 120, False, 0.1, palm=120.0)], i * DT, frame_size=size)
    assert a.lost_gate_share * math.hypot(*size) / palm_px < a.gate
    for i in range(10, 12):
        assert a.update([], i * DT, frame_size=size) == []
    (back,) = a.update([meas(100 + 1.45 * palm_px, 120, False, 0.1, palm=120.0)], 12 * DT, frame_size=size)
    assert back.track_id == t.track_id


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_crossing_hands_at_one_place_are_told_apart_by_handedness(order):
    """Two hands cross: in the frame where they overlap (mirrored shapes, one palm centre), their
    distances to both tracks are the same; the handedness term of the matching cost
    (|right_prob - track p_right|) gives each track the measurement of its own side, in either
    order of the measurements."""
    a = HandAssociator()
    for i in range(10):
        tracks = a.update([meas(100, 200, True, 0.95), meas(200, 200, False, 0.05)], i * DT)
    ids = {t.side: t.track_id for t in tracks}
    both = [meas(150, 200, True, 0.95), meas(150, 200, False, 0.05)]
    tracks = a.update([both[j] for j in order], 10 * DT)
    assert len(tracks) == 2
    for t in tracks:
        assert t.right_prob == (0.95 if t.track_id == ids["right"] else 0.05), t.track_id


def test_two_tracks_crops_of_one_hand_merge_without_a_track_hint():
    """merge_duplicates: of a duplicate pair the kept one keeps the crop's track hint, "which is
    dropped when the two came from different tracks' crops (the hint no longer says which track
    it is)"."""
    m1 = meas(150, 200, True, 0.9, track_id=0)
    m2 = meas(151, 201, True, 0.9, presence=0.6, track_id=1)
    (kept,) = HandAssociator().merge_duplicates([m2, m1])
    assert kept.track_id is None
    assert kept.presence == 0.95                     # the better keypoints
    (kept,) = HandAssociator().merge_duplicates([meas(150, 200, True, 0.9, track_id=1),
                                                 meas(151, 201, True, 0.9, track_id=1)])
    assert kept.track_id == 1                         # the same track twice: kept


def test_reset_forgets_the_side_memory():
    """``reset()`` forgets all tracks, the remembered ones too: a hand after a reset starts from
    no side prior (ids keep counting up). The tracker resets its associator when the frame size
    changes (a new source), where the old source's hands say nothing about the new one's."""
    a = HandAssociator(max_missed=2)
    for i in range(30):
        (t,) = a.update([meas(100, 200, True, 0.95)], i * DT)
    for i in range(30, 35):
        a.update([], i * DT)
    assert a.prior() > 3.0
    a.reset()
    assert a.prior() == 0.0
    (new,) = a.update([meas(100, 200, True, 0.5)], 35 * DT)
    assert new.evidence == 0.0 and new.track_id > t.track_id


@pytest.mark.parametrize("p_detector, kept", [
    (0.35, 1),     # an unsure "left" vote (-0.6) against a sure "right": not reliably opposite
    (0.5, 1),      # no vote
    (0.9, 1),      # the same side
    (0.1, 2),      # both sure, opposite (-2.2 and +2.9): two hands (crossing, mirrored)
])
def test_loose_merge_needs_both_votes_reliably_opposite_to_keep_two_hands(p_detector, kept):
    """merge_duplicates: a track's crop and a detector crop closer than ``loose_merge_distance``
    are one hand "without reliably opposite handedness votes": each vote at least 1.0 on its
    side. One sure vote against an unsure one is not enough to make two hands."""
    track_crop = meas(200, 200, True, 0.95, track_id=0)
    detector_crop = meas(200 + 0.6 * PALM, 200, True, p_detector)
    assert len(HandAssociator().merge_duplicates([track_crop, detector_crop])) == kept


@pytest.mark.parametrize("sep, da, db", [(3.2, 2.0, 2.4), (3.0, 2.0, 2.0)])
def test_two_hands_lost_together_and_back_side_by_side_keep_their_ids(sep, da, db):
    """Module docstring: a minimum-cost assignment on palm-size distances; only pairs over
    ``2 x (gate + 1) - 0.5`` (4.5 palm sizes) are squeezed below ``2 x (gate + 1)``. Two hands
    ``sep`` palm sizes apart, both missed for 10 frames (gate 6.5), come back ``da`` and ``db``
    palm sizes to the right: each is its own track (distances 2 + 2.4 against 5.6 + 1.2 for the
    swap), not one hand jumping over the other."""
    palm, px = 20.0, 0.966 * 20.0
    xa, xb = 200.0, 200.0 + sep * px
    a = HandAssociator(max_missed=15)
    f = 0
    for _ in range(30):
        tracks = a.update([meas(xa, 300, False, 0.5, palm), meas(xb, 300, False, 0.5, palm)], f * DT); f += 1
    ids = {round(float(t.raw_keypoints[K.PALM, 0])): t.track_id for t in tracks}
    for _ in range(10):
        assert a.update([], f * DT) == []; f += 1
    back = [meas(xa + da * px, 300, False, 0.5, palm), meas(xb + db * px, 300, False, 0.5, palm)]
    got = {t.track_id: round(float(t.raw_keypoints[K.PALM, 0])) for t in a.update(back, f * DT)}
    assert got == {ids[round(xa)]: round(xa + da * px), ids[round(xb)]: round(xb + db * px)}
