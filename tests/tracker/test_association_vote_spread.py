"""Votes of line-like fits (:data:`tracker.association.VOTE_SPREAD`): a fit whose keypoints'
spread ratio is under 0.25 (a hand seen edge-on) votes for its side in proportion to it, so a
run of weak votes on such fits does not move a hand's side, while open fits still do.

The fits are the synthetic upright hand of ``tracker_fakes`` (spread ratio 0.72), squashed across
(x scaled by ``squash`` about its mean), with scores 0.9 and presence 1, so an open fit's vote is
the log-odds of its right probability (clipped at 3)."""
from __future__ import annotations

import numpy as np
import pytest

import tracker.association as association
from tracker.association import HandAssociator, Measurement
from tracker.keypoints import spread_ratio
from .motion_clips import track_motion_clip
from .tracker_fakes import hand_keypoints, p_right

DT = 1 / 30


def fit(squash: float = 1.0) -> np.ndarray:
    k = hand_keypoints(200.0, 200.0)
    c = k.mean(0)
    return (c + (k - c) * np.array([squash, 1.0], np.float32)).astype(np.float32)


def meas(log_odds: float, squash: float = 1.0) -> Measurement:
    return Measurement(fit(squash), np.full(17, 0.9, np.float32), 1.0, p_right(log_odds))


def run(a: HandAssociator, log_odds: float, frames: int, start: int = 0, squash: float = 1.0) -> list[str]:
    """Feed ``frames`` frames of the one hand voting ``log_odds``; its side after each."""
    out = []
    for i in range(frames):
        (t,) = a.update([meas(log_odds, squash)], (start + i) * DT)
        out.append(t.side)
    return out


@pytest.mark.parametrize("squash, spread, weight", [
    (1.0, 0.715, 1.0),          # the open hand: full weight
    (0.5, 0.392, 1.0),
    (0.3, 0.2375, 0.95),        # just under the bar
    (0.2, 0.1587, 0.635),
    (0.1, 0.0795, 0.318),       # edge-on: a third of the vote
    (0.0, 0.0, 0.0),            # all on a line: no vote
])
def test_a_fit_votes_in_proportion_to_its_spread_under_the_bar(squash, spread, weight):
    assert association.VOTE_SPREAD == 0.25
    assert spread_ratio(fit(squash)) == pytest.approx(spread, abs=1e-3)
    a = HandAssociator()
    assert a.vote(meas(2.0, squash)) == pytest.approx(2.0 * weight, abs=2e-3)
    assert a.vote(meas(-2.0, squash)) == pytest.approx(-2.0 * weight, abs=2e-3)


def test_without_the_bar_every_fit_votes_in_full(monkeypatch):
    monkeypatch.setattr(association, "VOTE_SPREAD", None)
    a = HandAssociator()
    assert a.vote(meas(2.0, 0.1)) == pytest.approx(2.0)
    assert a.vote(meas(2.0, 0.0)) == pytest.approx(2.0)


@pytest.mark.parametrize("bar, changes", [(association.VOTE_SPREAD, False), (None, True)])
def test_weak_votes_of_a_hand_seen_edge_on_leave_its_side(monkeypatch, bar, changes):
    """A lone hand called left by open fits (evidence -3, not locked) turns edge-on (spread 0.08)
    and is called right at log-odds 1 for 12 frames: 12 in full, the side right from the 5th
    frame on (evidence over 1.5, half the hysteresis); 3.8 with the bar, under it. An open fit
    called right then changes the side at once (the bar weighs fits, it holds no side)."""
    monkeypatch.setattr(association, "VOTE_SPREAD", bar)
    a = HandAssociator()
    assert run(a, -0.5, 6) == ["left"] * 6
    assert a.tracks[0].evidence == pytest.approx(-3.0)
    edge_on = run(a, 1.0, 12, start=6, squash=0.1)
    assert len(a.tracks) == 1                      # one hand throughout
    assert ("right" in edge_on) is changes
    if not changes:
        assert a.tracks[0].evidence == pytest.approx(-3.0 + 12 * 0.0795 / 0.25, abs=0.05)
        open_right = run(a, 2.0, 10, start=18)
        assert open_right == ["right"] * 10       # 0.8 + 2 > 1.5 on the first open fit


def test_two_hands_crossing_keep_the_edge_on_one_on_its_side(hands21):
    """``python -m bench --only motion --motion-clips 12 --seed 2``, clip 1, with the shipped
    models: the hands cross about frame 85 (the contact clears both tracks' evidence) and the right
    one is lost behind the left one, which is seen edge-on (spread 0.06-0.16). Its weak right
    votes made it right for frames 97-107 and again 145-147 (4 side swaps; with ``VOTE_SPREAD``
    None this test fails so); it stays left now."""
    from bench.matching import match_hands      # the benchmark's matching of hands to the truth
    clip, hands = track_motion_clip(hands21, seed=2, index=1, last=150)
    left = clip.sides.index("left")
    sides = []
    for i in range(85, 151):
        present = [j for j in range(len(clip.sides)) if clip.present[i, j]]
        pairs = match_hands([h.keypoints for h in hands[i]], [clip.keypoints[i, j] for j in present],
                            [clip.visible[i, j] for j in present])
        sides += [hands[i][p].side for p, g in pairs if present[g] == left]
    assert len(sides) >= 50
    assert set(sides) == {"left"}, sides
