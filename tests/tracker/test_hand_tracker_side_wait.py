"""``HandTrackerOptions.side_wait``: a new hand whose side is still unsure is reported once its
side evidence reaches ``SIDE_SETTLED`` (2 log-odds), or after ``side_wait`` frames (fake models:
presence 0.97, keypoint confidence 0.9, so one vote for the true side at 0.95 weighs 2.86 log-odds,
one at 0.85 weighs 1.68)."""
from __future__ import annotations

import pytest

from .tracker_fakes import SceneHand, blank, fake_tracker, hand_keypoints

SURE, LEANING, UNSURE, WRONG = 0.95, 0.85, 0.55, 0.3   # the fake landmark model's confidence in the true side


def reported(p_true: list[float], fps: float = 30.0, **options) -> list[str | None]:
    """The side reported on each frame (``fps`` apart) for one right hand whose fits give the
    true side ``p_true[i]`` on frame i (None: not reported)."""
    t, scene, *_ = fake_tracker(**options)
    scene.hands = [SceneHand(hand_keypoints(320, 240), right=True)]
    out = []
    for i, p in enumerate(p_true):
        scene.right_prob = p
        hands = t.process(blank(640, 480), timestamp_ms=i * 1000.0 / fps).hands
        assert len(hands) <= 1
        out.append(hands[0].side if hands else None)
    t.close()
    return out


@pytest.mark.parametrize("p_true, side_wait, expected", [
    # two wrong, unsure votes, then sure right ones: shown at once it is "left", then "right"
    ([WRONG] * 2 + [SURE] * 4, 0, ["left"] * 3 + ["right"] * 3),
    # waiting, it is first shown when its evidence (4.1 on its 4th frame) holds: "right" only
    ([WRONG] * 2 + [SURE] * 4, 3, [None] * 3 + ["right"] * 3),
    # sure from the start: one vote settles it, shown on its first frame
    ([SURE] * 5, 3, ["right"] * 5),
    ([SURE] * 5, 0, ["right"] * 5),
    # leaning right: shown once two votes (3.4) settle it, on its 2nd frame, before the wait is out
    ([LEANING] * 5, 3, [None] + ["right"] * 4),
    ([LEANING] * 5, 0, ["right"] * 5),
    # never sure: shown on its side_wait + 1-th frame all the same
    ([UNSURE] * 6, 3, [None] * 3 + ["right"] * 3),
    ([UNSURE] * 6, 1, [None] + ["right"] * 5),
])
def test_a_new_hand_waits_for_its_side(p_true, side_wait, expected):
    assert reported(p_true, side_wait=side_wait) == expected


def test_the_wait_is_a_duration_with_frame_rate():
    """With ``frame_rate`` the wait counts frames at 30 fps: 3 are 6 at 60 fps."""
    t, *_ = fake_tracker(side_wait=3, frame_rate=60)
    assert t.effective_counts["side_wait"] == 6
    t.close()
    # votes count 30 / 60 times at 60 fps: an unsure hand's evidence (0.1 a frame) stays low,
    # so it waits the 6 frames
    assert reported([UNSURE] * 8, fps=60.0, side_wait=3, frame_rate=60) == [None] * 6 + ["right"] * 2


def test_a_hand_back_on_its_own_track_is_reported_at_once():
    """The wait is for new hands: a tracked hand lost for two frames and found again by its own
    track (hits well past the wait) is reported on its first frame back, whatever its votes."""
    t, scene, *_ = fake_tracker(side_wait=3)
    hand = SceneHand(hand_keypoints(320, 240), right=True)
    sides = []
    for i in range(12):
        scene.hands = [] if i in (6, 7) else [hand]
        scene.right_prob = SURE if i < 6 else UNSURE
        hands = t.process(blank(640, 480), timestamp_ms=i * 1000.0 / 30).hands
        sides.append((hands[0].side, hands[0].track_id) if hands else None)
    t.close()
    assert sides[6:8] == [None, None]
    assert sides[8] == sides[5] and all(s == sides[5] for s in sides[8:])


@pytest.mark.parametrize("side_wait", [0, 3])
def test_a_shown_hand_stays_shown_when_a_new_one_touches_it(side_wait):
    """A second hand appears touching a shown one: contact clears both hands' side evidence,
    which must not hide the hand already shown; the new one, whose side then never settles, is
    shown once it has waited."""
    t, scene, *_ = fake_tracker(side_wait=side_wait, smoothing=False, detector_interval=1)
    first = SceneHand(hand_keypoints(120, 120, palm=30), right=True)
    scene.hands = [first]
    assert len(t.process(blank(), timestamp_ms=0).hands) == 1
    scene.hands = [first, SceneHand(hand_keypoints(150, 125, palm=20), right=False)]
    counts, ids = [], set()
    for i in range(1, 7):
        hands = t.process(blank(), timestamp_ms=i * 33).hands
        counts.append(len(hands))
        ids |= {h.track_id for h in hands}
    t.close()
    assert counts == [1] * side_wait + [2] * (6 - side_wait)
    assert len(ids) == 2
    assert 0 in ids                                  # the first hand kept its track


@pytest.mark.parametrize("bad", [-1, 1.5, "3", None])
def test_a_bad_side_wait_is_one_value_error(bad):
    from tracker import HandTrackerOptions
    with pytest.raises(ValueError, match="side_wait"):
        HandTrackerOptions(side_wait=bad).validate()
