"""Audit (session 37) of ``HandTrackerOptions.frame_rate`` beyond the three frame-count options:
the associator's side memory and gate growth, and the smoothing filter's frame time when no
timestamps are given, must keep their meaning in seconds at other frame rates."""
from __future__ import annotations

import numpy as np
import pytest

from tracker.association import HandAssociator

from .tracker_fakes import Scene, SceneHand, blank, fake_tracker, hand_keypoints

DEFAULTS = HandAssociator()


@pytest.mark.parametrize("frame_rate", [None, 30, 30.0])
def test_no_or_30_fps_frame_rate_keeps_the_associator_defaults(frame_rate):
    t, *_ = fake_tracker(frame_rate=frame_rate)
    a = t.associator
    assert (a.side_memory, a.gate_growth, a.evidence_decay, a.vote_weight) == \
        (DEFAULTS.side_memory, DEFAULTS.gate_growth, DEFAULTS.evidence_decay, DEFAULTS.vote_weight) == (150, 0.5, 1.0, 1.0)
    f = a.filter_factory()
    assert f.default_dt == 1 / 30


def test_frame_rate_scales_side_memory_gate_growth_and_the_filter_frame_time():
    t, *_ = fake_tracker(frame_rate=60)
    for _ in range(2):                               # as built, and rebuilt by reset()
        a = t.associator
        assert a.side_memory == 2 * DEFAULTS.side_memory               # 5 s in frames at 60 fps
        assert a.gate_growth == pytest.approx(DEFAULTS.gate_growth / 2)  # palm sizes per 30-fps frame
        assert a.filter_factory().default_dt == pytest.approx(1 / 60)
        assert a.vote_weight == pytest.approx(0.5)                      # votes per 30-fps frame
        t.reset()
    t, *_ = fake_tracker(frame_rate=15)
    assert t.associator.side_memory == DEFAULTS.side_memory // 2
    assert t.associator.gate_growth == pytest.approx(2 * DEFAULTS.gate_growth)
    assert t.associator.vote_weight == pytest.approx(2.0)
    t, *_ = fake_tracker(frame_rate=60, smoothing=False)     # no filter to give a frame time
    assert t.associator.side_memory == 300


def _side_after_gap(fps: float, gap_s: float, **options) -> tuple[str, str]:
    """Side of a right hand (as seen) tracked for 1 s, and of the hand that appears at the same
    place after ``gap_s`` seconds with no hand, whose own handedness says nothing (0.5: with no
    remembered side such a hand is put on the left)."""
    scene = Scene(noise_px=1.0)
    t, scene, *_ = fake_tracker(scene, **options)
    hand = SceneHand(hand_keypoints(160, 130, 30.0), True)
    n_on, n_gap = int(fps), int(round(gap_s * fps))
    first = None
    for i in range(n_on + n_gap + int(fps)):
        if i == n_on + n_gap:
            scene.right_prob = 0.5
        scene.hands = [] if n_on <= i < n_on + n_gap else [hand]
        r = t.process(blank(), i * 1000 / fps)
        if i == n_on - 1:
            assert len(r.hands) == 1
            first = r.hands[0].side
    assert len(r.hands) == 1
    return first, r.hands[0].side


def test_a_hand_back_after_4_s_at_60_fps_takes_the_remembered_side():
    # at 30 fps a hand's side is remembered for 5 s (side_memory 150 frames): 4 s later the new
    # hand, with no handedness of its own, is given it; 6 s later it is not
    assert _side_after_gap(30, 4.0) == ("right", "right")
    assert _side_after_gap(30, 6.0) == ("right", "left")
    # at 60 fps with frame_rate the same 5 s (it was 150 frames, 2.5 s: the side was forgotten)
    assert _side_after_gap(60, 4.0, frame_rate=60) == ("right", "right")
    assert _side_after_gap(60, 6.0, frame_rate=60) == ("right", "left")


def _id_of_near_hand(fps: float, **options) -> tuple[int, int]:
    """Track ids of a hand seen for 1 s, then, after 0.1 s with no hand, of a hand of the same
    side 4 palm sizes away (a lost track's gate grows while it is lost)."""
    t, scene, *_ = fake_tracker(Scene(noise_px=0.5), **options)
    n_on, n_gap = int(fps), int(round(0.1 * fps))
    ids = []
    for i in range(n_on + n_gap + 3):
        x = 60 if i < n_on else 60 + 4 * 15
        scene.hands = [] if n_on <= i < n_on + n_gap else [SceneHand(hand_keypoints(x, 130, 15.0), True)]
        r = t.process(blank(), i * 1000 / fps)
        if i in (n_on - 1, n_on + n_gap + 2):
            assert len(r.hands) == 1
            ids.append(r.hands[0].track_id)
    return tuple(ids)


def test_the_lost_hand_gate_grows_with_time_not_frames():
    # at 30 fps a lost track's gate after 0.1 s (3 frames) is 1.5 + 0.5 * 3 = 3 palm sizes: a
    # hand 4 palm sizes away is a new hand
    before, after = _id_of_near_hand(30)
    assert before != after
    # at 60 fps with frame_rate the same (6 frames; it grew 0.5 a frame to 4.5 palm sizes, and
    # the hand took the lost one's id)
    before, after = _id_of_near_hand(60, frame_rate=60)
    assert before != after


def test_frame_rate_without_timestamps_smooths_as_with_that_rate_timestamps():
    """With ``frame_rate`` and ``timestamp_ms=None`` the frames are 1/frame_rate s apart for the
    filter (they were taken as 1/30 s: a 60 fps stream smoothed as if twice as slow) and for the
    results' timestamps."""
    fps = 60.0
    outs = {}
    for ts in (True, False):
        t, scene, *_ = fake_tracker(Scene(noise_px=1.5, seed=4), frame_rate=fps)
        got, stamps = [], []
        for i in range(90):
            x = 100 + 80 * np.sin(2 * np.pi * 0.7 * i / fps)
            scene.hands = [SceneHand(hand_keypoints(x, 130, 30.0), True)]
            r = t.process(blank(), i * 1000 / fps if ts else None)
            # at 60 fps a sure vote weighs half, so the new hand's side settles on its 2nd frame
            # (side_wait): NaN where it is not shown yet
            got.append(r.hands[0].keypoints if r.hands else np.full((17, 2), np.nan, np.float32))
            stamps.append(r.timestamp_ms)
        outs[ts] = (np.stack(got), np.array(stamps))
        assert np.isfinite(outs[ts][0][1:]).all()
    # taken as 1/30 s apart, the keypoints were up to 3.9 px off those smoothed on the real clock
    np.testing.assert_allclose(outs[False][0], outs[True][0], atol=0.01)
    np.testing.assert_allclose(outs[False][1], np.arange(90) * 1000 / fps)


def test_static_mode_ignores_frame_rate_for_the_assumed_timestamps():
    t, *_ = fake_tracker(static_image_mode=True, frame_rate=60)
    stamps = [t.process(blank()).timestamp_ms for _ in range(3)]
    np.testing.assert_allclose(stamps, [0.0, 1000 / 30, 2000 / 30])


def _seconds_to_lock(fps: float, **options) -> float:
    """Stream time (s) of the first frame at which one right hand, seen from the first frame with
    a confident handedness (0.95), has its side locked."""
    t, scene, *_ = fake_tracker(Scene(noise_px=0.5), **options)
    scene.hands = [SceneHand(hand_keypoints(160, 130, 30.0), True)]
    for i in range(int(2 * fps)):
        t.process(blank(), i * 1000 / fps)
        if any(tr.locked for tr in t.associator.tracks):
            return i / fps
    raise AssertionError(f"no lock within 2 s at {fps} fps")


def test_with_frame_rate_a_side_locks_after_the_same_time_at_any_rate():
    """The handedness evidence counts votes per 30-fps frame: at 10 fps with ``frame_rate`` a
    side locks as soon as at 30 fps (without it, three times later); at 60 fps as late."""
    at_30 = _seconds_to_lock(30)
    assert 0.1 < at_30 < 0.4                         # side_lock 20 with votes of ~2.9 a frame
    for fps in (10, 15, 60):
        assert abs(_seconds_to_lock(fps, frame_rate=fps) - at_30) <= 1 / fps + 1 / 30, fps
    assert _seconds_to_lock(10) >= 2.5 * at_30       # counted in frames
    assert _seconds_to_lock(60) <= 0.6 * at_30


def test_vote_weight_multiplies_the_own_and_the_exclusion_votes():
    from tracker.association import Measurement

    def evidence(weight):
        a = HandAssociator(vote_weight=weight)
        hands = [Measurement(hand_keypoints(x, 130, 30.0, right), np.full(17, 0.9, np.float32), 0.95, p)
                 for x, right, p in ((80, True, 0.9), (240, False, 0.3))]
        a.update(hands, 0.0)
        a.update(hands, 1 / 30)
        return sorted(t.evidence for t in a.tracks)
    one, two = evidence(1.0), evidence(2.0)
    # votes 2.09 and -0.80 a frame; with the other's negated each track adds 2.89 a frame
    assert one == pytest.approx([-2 * 2.892, 2 * 2.892], abs=0.01)
    np.testing.assert_allclose(two, 2 * np.array(one), rtol=1e-6)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), "2", None, True])
def test_a_bad_vote_weight_is_one_value_error(bad):
    with pytest.raises(ValueError, match="vote_weight must be a finite number > 0"):
        HandAssociator(vote_weight=bad)


@pytest.mark.parametrize("weight", [2, 0.5, np.float32(2.0)])
def test_a_vote_weight_may_be_any_positive_real_number(weight):
    assert HandAssociator(vote_weight=weight).vote_weight == float(weight)
