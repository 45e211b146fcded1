"""The switch rule (:data:`tracker.association.SIDE_SWITCH_FRAMES`): two established tracks seen
together exchange sides only once the exchange has been the better assignment for 3 frames in a
row, or at once when it beats keeping the sides by :data:`SIDE_SWITCH_MARGIN` log-odds.

The hands here are a right one at x=100 and a left one at x=300. A small ``evidence_cap`` bounds
what the evidence can say, so a run of votes against the sides makes an exchange that beats
keeping them by a known margin: with cap c the exchange scores 2c against keeping's -2c + 6
(the hysteresis, 3 per track), a margin of 4c - 6."""
from __future__ import annotations

import numpy as np
import pytest

import tracker.association as association
from tracker.association import HIDDEN_MIN_HITS, HandAssociator, Measurement
from .tracker_fakes import hand_keypoints

DT = 1 / 30


def meas(cx: float, p_right: float) -> Measurement:
    return Measurement(hand_keypoints(cx, 200.0, 60.0, cx < 200), np.full(17, 0.9, np.float32), 1.0, p_right)


def sides(tracks) -> dict[int, str]:
    """{x of the hand: its side}."""
    return {100 if float(t.raw_keypoints[0, 0]) < 200 else 300: t.side for t in tracks}


RIGHT_LEFT = {100: "right", 300: "left"}
EXCHANGED = {100: "left", 300: "right"}


def run(a: HandAssociator, frames: int, p100: float, p300: float, start: int) -> list[dict[int, str]]:
    """Feed ``frames`` frames of both hands voting ``p100`` / ``p300`` (right probability); the
    sides after each."""
    return [sides(a.update([meas(100, p100), meas(300, p300)], (start + i) * DT)) for i in range(frames)]


def established(cap: float) -> HandAssociator:
    a = HandAssociator(side_lock=None, evidence_cap=cap)
    assert run(a, HIDDEN_MIN_HITS, 0.9, 0.1, 0)[-1] == RIGHT_LEFT
    return a


def first_exchanged(after: list[dict[int, str]]) -> int:
    """The 1-based frame from which the sides are exchanged (and stay so)."""
    first = next(i for i, s in enumerate(after) if s == EXCHANGED)
    assert all(s == EXCHANGED for s in after[first:])
    return first + 1


def test_votes_against_both_sides_exchange_them_after_three_frames():
    """Cap 2, votes of log-odds 2.2 against: the evidence is -+2 from the first frame on, an
    exchange better by 4 x 2 - 6 = 2: taken on the third frame."""
    a = established(2.0)
    assert first_exchanged(run(a, 5, 0.1, 0.9, HIDDEN_MIN_HITS)) == 3


@pytest.mark.parametrize("margin, expected", [(association.SIDE_SWITCH_MARGIN, 2), (float("inf"), 3)])
def test_an_exchange_by_a_clear_margin_is_taken_at_once(monkeypatch, margin, expected):
    """Cap 4, votes of log-odds 3 (the clip) against: the evidence moves by 6 a frame, to -+2 on
    the first frame (better by 2: waits) and to the cap -+4 on the second (better by 10, over
    the margin of 6: taken at once, not on the third)."""
    monkeypatch.setattr(association, "SIDE_SWITCH_MARGIN", margin)
    a = established(4.0)
    assert first_exchanged(run(a, 5, 0.001, 0.999, HIDDEN_MIN_HITS)) == expected


@pytest.mark.parametrize("cap, expected", [(2.75, 3), (3.5, 2)])
def test_the_margin_for_an_exchange_at_once_lies_between_five_and_eight(cap, expected):
    """The same votes with caps on either side of session 71's margin of 6: with cap 2.75 the
    exchange is better by 4 x 2.75 - 6 = 5 once the evidence is capped, under the margin, and waits
    for the third frame; with cap 3.5 it is better by 8 on the second frame and is taken there."""
    assert 5.0 < association.SIDE_SWITCH_MARGIN < 8.0
    a = established(cap)
    assert first_exchanged(run(a, 5, 0.001, 0.999, HIDDEN_MIN_HITS)) == expected


def test_an_exchange_for_two_frames_is_not_taken_and_its_count_starts_again():
    a = established(2.0)
    start = HIDDEN_MIN_HITS
    for _ in range(3):
        # two frames against, then enough frames for the sides to get their evidence back
        assert run(a, 2, 0.1, 0.9, start) == [RIGHT_LEFT, RIGHT_LEFT]
        assert run(a, 2, 0.9, 0.1, start + 2) == [RIGHT_LEFT, RIGHT_LEFT]
        start += 4


def test_without_the_rule_one_frame_exchanges_the_sides(monkeypatch):
    """The same votes as the cap-2 case above, with the rule off: the exchange of the first
    frame is taken (what the default motion set's returning hand did, session 71)."""
    monkeypatch.setattr(association, "SIDE_SWITCH_FRAMES", None)
    a = established(2.0)
    assert run(a, 1, 0.1, 0.9, HIDDEN_MIN_HITS) == [EXCHANGED]


def test_young_tracks_exchange_at_once():
    """Tracks matched in fewer than HIDDEN_MIN_HITS frames take the better assignment at once, as
    a new hand's side must settle fast (side_wait and the near prior rely on it)."""
    a = HandAssociator(side_lock=None, evidence_cap=2.0)
    assert run(a, 3, 0.9, 0.1, 0)[-1] == RIGHT_LEFT
    assert run(a, 1, 0.1, 0.9, 3) == [EXCHANGED]


@pytest.mark.parametrize("before, expected", [(8, EXCHANGED), (9, RIGHT_LEFT)])
def test_tracks_are_established_from_their_tenth_matched_frame(before, expected):
    """The rule holds for tracks matched in HIDDEN_MIN_HITS = 10 frames, the contrary frame
    included: after 8 agreeing frames one contrary frame exchanges the sides at once, after 9 it
    waits. (The test above uses 3 frames, far from the bar; the others feed HIDDEN_MIN_HITS
    frames and pass with any bar.)"""
    a = HandAssociator(side_lock=None, evidence_cap=2.0)
    assert run(a, before, 0.9, 0.1, 0)[-1] == RIGHT_LEFT
    assert run(a, 1, 0.1, 0.9, before) == [expected]


def test_a_lone_track_changes_side_as_before():
    """The rule is for a pair seen together; a lone established hand goes by its hysteresis."""
    a = HandAssociator(side_lock=None, evidence_cap=4.0)
    for i in range(HIDDEN_MIN_HITS):
        (t,) = a.update([meas(100, 0.9)], i * DT)
    assert t.side == "right"
    got = []
    for i in range(2):      # evidence 4 -> 1 (right 1 + 3 against left -1) -> -2 (left 2 against 1)
        (t,) = a.update([meas(100, 0.001)], (HIDDEN_MIN_HITS + i) * DT)
        got.append(t.side)
    assert got == ["right", "left"]


def test_reset_forgets_a_waiting_exchange():
    a = established(2.0)
    assert run(a, 2, 0.1, 0.9, HIDDEN_MIN_HITS) == [RIGHT_LEFT, RIGHT_LEFT]
    a.reset()
    assert a._switch is None and a._switch_frames == 0
