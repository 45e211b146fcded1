"""Track <-> measurement association, handedness evidence and left/right slots.

One :class:`HandAssociator` holds the tracks of one video. Every frame it gets the landmark
model's measurements (:class:`Measurement`) and

1. merges overlapping duplicates (two crops that found the same hand: median keypoint distance
   below ``merge_distance`` palm sizes, or below ``loose_merge_distance`` (or one keypoint box
   mostly inside the other, ``loose_merge_overlap``) for a detector crop next to a track's crop when their handedness
   does not reliably differ, or, when one of the two is a detector crop, both lying on one line
   along which they overlap, one hand seen edge-on: :data:`EDGE_ON_SPREAD`; the better keypoints
   are kept), and leaves out a detector crop's
   line-like fit next to a hand its track's crop found (a finger: ``second_hand_min_spread``),
   and a detector crop's small, unsure fit touching a surer one (a part of that hand, such as a
   raised thumb: :data:`PART_PALM`);
2. matches measurements to tracks (alive ones and ones lost for at most ``max_missed`` frames)
   with a minimum-cost assignment (exact, by enumeration: there are at most a handful of hands).
   The cost is the median keypoint distance to the track's predicted keypoints in palm sizes, plus
   a handedness disagreement term, minus a bonus when the measurement came from the track's own
   crop; pairs beyond the gate (which widens while a track is lost, up to ``lost_gate_share`` of
   the frame diagonal when :meth:`HandAssociator.update` is given the frame size, and is doubled
   for the track's own crop) can't match, nor can a lost track and a measurement that only the widened
   gate reaches when their handedness reliably differs (a new hand, not the lost one back; unless
   the track's own votes said the measurement's side too: the model sees that hand so) or
   when the measurement is a detector crop's fit much smaller than the track (:data:`RETAKE_PALM`);
   a lost track whose last fit jumped off the hand is also looked for where it was before the
   jump (:data:`JUMP_PALMS`);
3. updates matched tracks (smoothing filter, handedness evidence), coasts unmatched ones
   (predict only, not reported) and drops those lost too long, starts new tracks for
   unmatched measurements while fewer than ``max_hands`` are alive, and joins two tracks seen
   on one hand, one of them on a small, unsure part of it (:data:`PART_TRACK_PALM`: the track
   seen longer keeps its id and side, with the whole hand's fit);
4. assigns sides from handedness evidence, a log-odds sum over the track's life:

   - each frame's vote is ``w * clip(logit(right_prob), +-evidence_clip)`` with the weight
     ``w = presence * q(mean keypoint score) * min(1, spread / VOTE_SPREAD)``, ``q`` rising
     from 0 to 1 over ``vote_score_range``: the landmark model's handedness is unreliable (worse
     than chance on the motion benchmark) on crops whose keypoints it is unsure of (blur, hand at
     the edge), and so is a weak vote on a fit whose keypoints lie near a line (a hand seen
     edge-on: :data:`VOTE_SPREAD`);
   - while exactly two tracks are seen (``max_hands <= 2``) they are two different hands, one
     left and one right, so each also takes the *other* track's vote, negated (exclusion
     evidence): a hand whose own votes are weak keeps the side the other hand leaves it, also
     after the other hand has gone;
   - ``L <- clip(decay * L + votes, +-evidence_cap)``: the cap bounds how long a burst of
     wrong votes must last to flip a long-lived track, without making a wrong start permanent;
   - a new track starts from a prior: the side evidence of tracks lost or ended in the last
     ``side_memory`` frames (each capped at ``memory_prior``, fading with time), so a hand that
     comes back after leaving gets its old side unless its own votes clearly say otherwise; one
     that starts where such tracks were last seen takes only theirs, at a higher cap
     (:data:`NEAR_MEMORY_PALMS`);
   - with ``max_hands <= 2`` at most one track is "left" and one "right", chosen by the
     assignment that best agrees with the accumulated evidence plus a hysteresis bonus
     (``side_hysteresis``) for keeping the current side. A lost track keeps its side and id, so
     a hand that comes back after a brief occlusion gets its slot back;
   - once a track's evidence for its side reaches ``side_lock``, and so do the votes of its last
     second (:data:`LOCK_WINDOW`), the side is fixed until the track ends: a physical hand never
     changes side, and evidence that turns against a side held that confidently came, on the
     real clips we looked at, from views the model gets wrong for seconds on end (backs of hands
     from above), not from a wrong start;
   - except where two hands seen in one frame have keypoint boxes on each other, or one is
     lost behind the other (``contact_overlap``): there a track may leave with the other hand,
     so both lose their lock and their evidence, which stays 0 while they touch, and the votes
     after they part decide (a hand crossing in front of the other on the motion benchmark's
     clips kept the other's locked side for the rest of the clip);
   - and where one of two tracks comes back from a loss voting against its side while the other
     has voted against its own for :data:`EXCHANGE_FRAMES` frames: the two may have exchanged
     hands while one was hidden, and are treated as in contact;
   - two tracks seen together, both established, exchange sides only once the exchange has been
     the better assignment for :data:`SIDE_SWITCH_FRAMES` frames in a row, or beats keeping the
     sides by :data:`SIDE_SWITCH_MARGIN` (just after a contact cleared their evidence, one frame of
     a half-hidden hand's fits outvoted the hysteresis).

Sides here are as seen in the image; mirroring is applied by the caller
(:class:`tracker.hand_tracker.HandTracker`).
"""
from __future__ import annotations

import collections
import dataclasses
import itertools
import logging
import math
from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from .checks import is_int, is_real
from .geometry import Roi
from .keypoints import HandKeypoint, palm_size, spread_ratio
from .smoothing import make_filter

log = logging.getLogger(__name__)

LEFT, RIGHT = "left", "right"

#: the frames both tracks must have been matched in for a hand lost behind another to count as
#: a contact (``HandAssociator(contact_overlap=...)``): a hand lost at the frame's edge and
#: started again at once beside its lost track made a new track, which then hid the lost one
#: (huytung_1hand, frame 288) and unlocked the side that it would have left to the new one
HIDDEN_MIN_HITS = 10

#: how far (gap between the keypoint boxes, in the open hand's palm sizes) a detector crop's
#: line-like fit may lie from a hand found in its track's crop and still be taken for one of its
#: fingers (``HandAssociator(second_hand_min_spread=...)``). The fingers left out on the shared
#: clips (OpenCV 4.10, noise, JPEG) lay 0-1.15 palm sizes from the hand's fit; a hand seen
#: edge-on further away is its own hand.
FINGER_REACH = 2.0

#: a detector crop's fit whose palm is under this share of the palm of another fit it touches
#: (within :data:`FINGER_REACH` of its palm sizes), and whose mean keypoint confidence is under
#: :data:`PART_SCORE` and :data:`PART_SCORE_GAP` below that fit's, is a part of that hand, left
#: out as a finger is (with ``second_hand_min_spread`` set, as the tracker sets it; None: no such
#: rule). On ali_hand.mp4 a raised thumb was offered as a hand of its own (palm 43-50 px against
#: the hand's 98, confidence 0.30-0.38 against 0.75), took the lost track and left the hand a
#: second one of the other side.
PART_PALM: float | None = 0.6
PART_SCORE = 0.45
PART_SCORE_GAP = 0.2

#: two fits, one of them from a detector crop, whose 34 keypoints together lie on a line (their
#: :func:`~tracker.keypoints.spread_ratio` under this; None: no such rule) and overlap along it by
#: at least :data:`EDGE_ON_SHARED` of the shorter one's extent are one hand seen edge-on, merged
#: as duplicates whatever their handedness votes (the model's votes on an edge-on hand are often
#: sure and opposite). The detector often boxes such a hand twice, the hand alone and the hand with
#: its forearm, and the two crops' fits (palms of 16-35 px against 31-66 px, one reaching down
#: the forearm) are 0.4-1.6 palm sizes apart, over the strict merge distance: hands21 val photos
#: of one raised hand seen edge-on were reported as two hands, in static mode and, held still, in
#: video mode as two tracks (session 67: 11 of 2,500 val photos, 12 of the 102 false hands).
#: Of the 158 labelled pairs of hands in hands21 val and train photos the rule takes 6 for one
#: hand, each the labels' own duplicate of one edge-on hand (MediaPipe's; at a bar of 0.3, 25,
#: duplicates as far as looked at). A track's own crop against another track's keeps the strict rule.
EDGE_ON_SPREAD: float | None = 0.15
EDGE_ON_SHARED = 0.15

#: two tracks seen in one frame whose keypoint boxes overlap by more than ``contact_overlap``,
#: where one's fit is small (palm under this share of the other's) and unsure (mean keypoint
#: confidence under :data:`PART_SCORE`), are one hand and a part of it: the track seen longer
#: keeps its id, side and lock and takes the whole hand's fit; the other ends (None: no such
#: rule). On ali_hand.mp4's JPEG copy the right hand's locked track slid onto the raised thumb
#: (palm 37 px, confidence 0.38) while the detector started a second track on the hand (palm
#: 132); when the two touched, the contact rule unlocked both, and the model's "left" votes for
#: the back of the hand named it left. With the part rule's bounds (palm 0.6 of the other's,
#: any confidence under 0.45) the join also took two hands of different sizes that overlapped
#: on the motion benchmark's clips (palms 0.43-0.57 of each other, most of them sure fits), and
#: swapped sides there; at 0.4 it joined only ali_hand's thumb in the measured clips (session 60).
PART_TRACK_PALM: float | None = 0.4

#: a lost track is not taken back by a detector crop's fit whose palm is under this share of the
#: track's palm and that only the gate grown while it was lost reaches (None: no such rule); the
#: fit starts a track of its own instead. A hand does not halve in size while lost for at most
#: ``max_missed`` frames, but false fits (a patch of texture, part of an arm) are often small: on
#: the motion benchmark's default clips one 270 px from the hand (palm 0.38 of the track's) took a
#: track lost one frame before, and the hand, back two frames later, got a new id. Of 151 re-takes
#: on six motion sets (session 57), 12 lay beyond the near gate: 11 real hands, palms 0.95-1.76 of
#: the track's, and that false fit. Near the lost track (inside the gate of a track seen last
#: frame) a small fit is taken: a hand leaving the frame is fitted small where it was (shared
#: clips: palms 0.14-0.5 of the track's, 0.1-0.4 palm sizes from it).
RETAKE_PALM: float | None = 0.5

#: a new track that starts within this many palm sizes (the remembered track's) of where a lost or
#: recently ended track was last seen takes its side prior from the remembered tracks that near
#: only, each capped at :data:`NEAR_MEMORY_PRIOR` instead of ``memory_prior`` (None: no such rule;
#: every remembered track counts, wherever it was, as before session 65). A hand that comes back
#: where a hand went is most likely that hand: it keeps that side against a few unsure or wrong
#: first votes, and a prior past ``tracker.hand_tracker.SIDE_SETTLED`` lets ``side_wait`` report it
#: at once. On huytung_1hand turned upside down the hand cut by the frame's edge came back as a new
#: track whose votes called it left for a while (1 side change in 2 of 3 runs); on the motion
#: benchmark three returning hands were reported a frame sooner, on their side, although their
#: first vote was surely against it (a veto by such a vote, tried, lost those). The cost: another
#: hand that appears where one went within ``side_memory`` frames, voting surely for its side, is
#: reported on the remembered side for its first frames and then changes side (a test bounds it).
NEAR_MEMORY_PALMS: float | None = 2.0
NEAR_MEMORY_PRIOR = 8.0

#: the lock window (None: no window): a track's side locks (``side_lock``) only once the evidence
#: it gained in its last this many matched frames (its starting prior included while it is that
#: young; weighted by ``vote_weight``, and the frames scaled by it, so this is one second of video
#: at any frame rate) reaches ``side_lock`` too. Frame after frame of one view the model is unsure
#: of, the votes are much the same and add up to the lock without saying as much: on the motion
#: benchmark (12 clips, ``--seed 5``, clip 10) a small tilted right hand voted left at right
#: probability 0.39-0.45 for 57 frames, was locked left, and stayed left for the whole clip (side
#: accuracy 0) although it voted right at 0.9-0.95 from frame 180 on. Confident votes (about 0.67
#: log-odds a frame or more, two hands' exclusion counted) lock as soon as before; on six motion
#: sets and the shared clips under 7 conditions (session 72) that clip was the only one to change.
LOCK_WINDOW: int | None = 30

#: "where a track was last seen" for :data:`NEAR_MEMORY_PALMS` is any of the palm centres of its
#: last this many matched frames, each with the track's palm size then (1: the last one only, as
#: in session 65). A hand leaving the frame is often fitted smaller and off the hand in its last
#: frames: on huytung_1hand under JPEG the lost track's last fit lay 3.3 of its shrunken palm
#: sizes from where the hand came back, the fits of 5-10 frames before within one.
NEAR_MEMORY_TRAIL = 10

#: the exchange rule (None: off): with two tracks seen, when one comes back from a loss voting
#: against its side while the other has voted against its own side for this many frames in a row
#: (this one included), the two may have exchanged hands while one was hidden; both are treated
#: as in contact (unlocked, evidence 0), so the votes of the next frames decide. On the motion
#: benchmark (6 clips, ``--seed 1``, clip 1) the left hand passed behind the right one, the right
#: track's crop slid onto it as it came out, and the left track, back 12 frames later, took the
#: right hand: both locked, each on the other's side, for 95 frames (side accuracy 0.65). Two
#: tracks seen all along keep their locks against any run of votes, as before: the lock is there
#: for views the model gets wrong for seconds on end. On six motion sets and the shared clips with
#: their degraded copies (session 58) the rule fired on that one return only.
EXCHANGE_FRAMES: int | None = 3
#: a vote counts as against a track's side when its weighted log-odds are at least this much
#: on the other side (a handedness probability of 0.27 or less for a confident right fit)
EXCHANGE_VOTE = 1.0

#: the jump rule (None: off): a lost track whose last matched fit lay more than this many palm
#: sizes (the track's palm size the frame before) from the one before, a fit off the hand whose
#: jump also sent the filter's prediction flying, may also be taken back by a measurement near
#: where it was before that jump: the palm centres of its last :data:`JUMP_TRAIL` matched frames
#: before it count as "where it was last seen" (median keypoint distance -> palm-centre distance,
#: in each frame's palm sizes). On the motion benchmark's default set (clip 2) a hand entering the
#: frame fast and blurred was lost for a frame; its 2-frame-old track (young gate) took a fit 3
#: palm sizes off the hand, and the hand's next detection, 2.9 palm sizes from that fit and
#: further from the flying prediction, started a new track (an id change; session 71).
JUMP_PALMS: float | None = 2.0
#: the matched frames before a jump that :data:`JUMP_PALMS` lets a lost track be taken back near
JUMP_TRAIL = 5

#: the switch rule (None: off): two tracks seen in a frame, both matched in at least
#: :data:`HIDDEN_MIN_HITS` frames and holding a left and a right, exchange sides only once the
#: exchange has been the better assignment for this many frames in a row (this one included), or
#: at once when it beats keeping the sides by :data:`SIDE_SWITCH_MARGIN` log-odds. With the
#: exclusion evidence each vote counts in both tracks, so where a contact has just cleared the
#: evidence, one frame in which one hand's vote outweighs the other's by 1.5 log-odds beats the
#: hysteresis of both: on the motion benchmark's default set (clip 1) the left hand came out from
#: behind the right one, its first fits of a hand still half hidden voted right, and the two
#: tracks exchanged sides for frames 230-231 and back at 232 (4 side swaps, issue 5's zero-swap
#: target missed). Session 71: on six motion sets 26 side swaps instead of 30, the default set's 4
#: gone; one other clip reads 2 of 443 hand-frames fewer on their side, no other clip changed.
SIDE_SWITCH_FRAMES: int | None = 3
#: the margin (log-odds, the side assignment's score) by which an exchange of two established
#: tracks' sides is taken at once (:data:`SIDE_SWITCH_FRAMES`): twice the default hysteresis,
#: evidence that one frame of half-hidden fits does not give
SIDE_SWITCH_MARGIN = 6.0

#: a fit whose keypoints' spread ratio (:func:`tracker.keypoints.spread_ratio`: 0 on a line, 1
#: for an even spread) is under this votes for its side in proportion to it (None: every fit in
#: full). A hand seen edge-on is fitted as a line, and there the model's handedness is less sure:
#: on 2,521 hands21 val hands (session 40) it was right on 0.864 of the fits under 0.15 against
#: 0.99 over 0.3, every error an unsure vote. On the motion benchmark (12 clips, ``--seed 2``,
#: clip 1) two hands crossed, the contact cleared both tracks' evidence, the right hand was lost
#: behind the left one, and the left hand, edge-on alone (spread 0.06-0.16), was called right by
#: votes of at most 1.1 log-odds for 11 frames, twice (4 side swaps). Session 73: on six motion
#: sets that clip was the only one to change (side swaps 27 -> 23), the shared clips under 7
#: conditions read the same.
VOTE_SPREAD: float | None = 0.25


class KeypointFilter(Protocol):
    """What a track's smoothing filter (``HandAssociator(filter_factory=...)``) must have, as
    :func:`~tracker.smoothing.make_filter`'s filters do; its ``reset()``, ``predict(t_s)`` and
    ``peek(t_s)`` are used where it has them."""

    def update(self, keypoints: np.ndarray, scores: np.ndarray, t_s: float | None = None) -> np.ndarray:
        """The smoothed (N, 2) keypoints after this measurement."""
        ...


@dataclass
class Measurement:
    """One hand found by the landmark model in one frame.

    Attributes:
        keypoints: (17, 2) float32 frame pixels.
        scores: (17,) float32 per-keypoint confidence in [0, 1].
        presence: probability that the crop holds a hand.
        right_prob: probability that it is a right hand (as seen in the image).
        roi: the crop it was measured in (None when unknown).
        track_id: the track whose crop produced it (None for a detector crop).
        tentative: a new hand that must be seen again before it is reported (see
            :attr:`Track.confirmed`); the tracker sets it for hands from low detections.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    presence: float = 1.0
    right_prob: float = 0.5
    roi: Roi | None = None
    track_id: int | None = None
    tentative: bool = False

    def quality(self) -> float:
        return float(self.presence) * float(np.mean(self.scores))


@dataclass
class Track:
    """One hand followed over time.

    Attributes:
        track_id: unique id within the associator's life.
        side: "left"/"right" as seen in the image (None before the first assignment).
        keypoints: (17, 2) float32 smoothed pixels; raw_keypoints: last measurement.
        scores: (17,) float32; presence: last presence; right_prob: last single-frame handedness.
        evidence: accumulated handedness log-odds (> 0: right).
        vote: this frame's weighted handedness log-odds (0 when not seen).
        hits: frames matched; missed: consecutive frames without a match (0 = seen this frame).
        back: matched this frame after at least one missed frame.
        contrary: consecutive frames (up to this one) in which the track was seen with a vote
            against its side (:data:`EXCHANGE_VOTE`).
        tentative: started from a tentative measurement; such a track is not ``confirmed`` (to be
            reported) before it has been matched in a second frame.
        trail: (palm centre (2,) pixels, palm size pixels) of its last matched frames, newest
            last, at most :data:`NEAR_MEMORY_TRAIL`.
        gains: the side evidence (log-odds, > 0: right) each of its last matched frames added,
            its starting prior first, newest last, at most :data:`LOCK_WINDOW` frames (scaled
            with ``vote_weight``); emptied where its evidence is cleared.
    """

    track_id: int
    filter: KeypointFilter
    keypoints: np.ndarray
    raw_keypoints: np.ndarray
    scores: np.ndarray
    presence: float
    right_prob: float
    roi: Roi | None = None
    evidence: float = 0.0
    vote: float = 0.0
    side: str | None = None
    locked: bool = False
    hits: int = 1
    missed: int = 0
    age: int = 1
    palm: float = 1.0
    back: bool = False
    contrary: int = 0
    tentative: bool = False
    trail: list[tuple[np.ndarray, float]] = dataclasses.field(default_factory=list)
    gains: collections.deque[float] = dataclasses.field(default_factory=collections.deque)

    @property
    def p_right(self) -> float:
        """Accumulated probability that the track is a right hand."""
        return 1.0 / (1.0 + math.exp(-max(min(self.evidence, 50.0), -50.0)))

    @property
    def active(self) -> bool:
        return self.missed == 0

    @property
    def confirmed(self) -> bool:
        """Whether the track may be reported: always, unless it started tentative and has not been
        matched in a second frame yet."""
        return not self.tentative or self.hits >= 2


def _logit(p: float, clip: float) -> float:
    p = min(max(float(p), 1e-6), 1 - 1e-6)
    return max(min(math.log(p / (1 - p)), clip), -clip)


def keypoint_distance(a: np.ndarray, b: np.ndarray, palm: float,
                      sa: np.ndarray | None = None, sb: np.ndarray | None = None,
                      min_score: float = 0.3) -> float:
    """Median distance between two (17, 2) keypoint sets in units of ``palm`` (inf if no
    point is valid in both)."""
    finite = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    ok = finite
    if sa is not None:
        ok = ok & (np.asarray(sa) >= min_score)
    if sb is not None:
        ok = ok & (np.asarray(sb) >= min_score)
    if np.count_nonzero(ok) < 3:
        ok = finite
        if not ok.any():
            return math.inf
    diff = a[ok] - b[ok]
    if not np.issubdtype(diff.dtype, np.inexact):
        diff = diff.astype(float)
    # np.linalg.norm(axis=1) and np.median do these same operations (so the same numbers) with
    # several times the call overhead; this runs for every track x measurement pair of every frame
    return _median(np.sqrt((diff * diff).sum(axis=1))) / max(palm, 1.0)


def _median(d: np.ndarray) -> float:
    """``float(np.median(d))`` of a non-empty 1-D array without NaN (the middle value, or the mean
    of the two middle values in ``d``'s dtype, as np.median computes it)."""
    s = np.sort(d)
    h = len(s) // 2
    return float(s[h]) if len(s) % 2 else float((s[h - 1] + s[h]) / 2)


def _reliably_opposite(a: float, b: float) -> bool:
    """Whether two pieces of side evidence (log-odds of right: votes, a track's accumulated
    evidence) name opposite sides, each by at least 1.0."""
    return a * b < 0 and min(abs(a), abs(b)) >= 1.0


def best_assignment(cost: np.ndarray, unmatched_cost: float) -> list[tuple[int, int]]:
    """Minimum-cost partial assignment of rows to columns by enumeration.

    Args:
        cost: (R, C) costs, ``inf`` where a pair can't match. Each row or column not matched
            costs ``unmatched_cost`` (so every feasible pair cheaper than 2x that is worth taking).

    Returns:
        list of (row, col) pairs. Exact for small problems (R, C <= 6); larger ones are solved
        greedily (cheapest pair first).
    """
    R, C = cost.shape
    if R == 0 or C == 0:
        return []
    if min(R, C) > 6 or math.perm(max(R, C), min(R, C)) > 50000:
        pairs, used_r, used_c = [], set(), set()
        for idx in np.argsort(cost, axis=None):
            r, c = divmod(int(idx), C)
            if r in used_r or c in used_c or not np.isfinite(cost[r, c]):
                continue
            pairs.append((r, c)); used_r.add(r); used_c.add(c)
        return pairs
    best, best_pairs = math.inf, []
    transpose = R > C
    m = cost.T if transpose else cost          # rows <= cols
    r_n, c_n = m.shape
    # Each row picks a distinct column or "none" (-1).
    for choice in itertools.product(range(-1, c_n), repeat=r_n):
        cols = [c for c in choice if c >= 0]
        if len(cols) != len(set(cols)):
            continue
        total = 0.0
        for r, c in enumerate(choice):
            total += unmatched_cost * 2 if c < 0 else m[r, c]
        if total < best:
            best, best_pairs = total, [(r, c) for r, c in enumerate(choice) if c >= 0]
    if transpose:
        best_pairs = [(c, r) for r, c in best_pairs]
    return [(r, c) for r, c in best_pairs if np.isfinite(cost[r, c])]


class HandAssociator:
    """Keeps hand tracks, their identities and their left/right slots.

    Args:
        max_hands: most tracks alive (reported) at once.
        filter_factory: zero-argument callable returning a new smoothing filter (one per track);
            default ``make_filter("kalman")``.
        max_missed: frames a lost track is remembered (keeps its id and side).
        gate: largest match distance in palm sizes for a track seen in the last frame; grows by
            ``gate_growth`` per missed frame.
        lost_gate_share: largest radius of that grown gate in pixels, as a share of the frame
            diagonal, when :meth:`update` is given the frame size (None: no cap). Never below
            ``gate``. In palm sizes of a large hand (close to the camera) the grown gate spans the
            frame, and a new hand of the lost hand's side entering at the other side took its id.
            On the shared clips a lost hand came back at most 0.14 of the diagonal from where it
            went (0.06 where only the grown gate reached it).
        merge_distance: measurements closer than this (palm sizes) are duplicates.
        loose_merge_distance: measurements closer than this are duplicates unless their
            handedness votes are reliably opposite.
        loose_merge_overlap: ... or when this share of the smaller keypoint box lies inside the
            other (intersection / smaller box area; None: off). Palm sizes fail for a hand cut by
            the frame edge or seen edge-on: its track's crop collapses onto part of it (a palm a
            few pixels wide, a box inside the detector crop's box of the whole hand), and the two
            were reported as two hands, one made left and one right.
        evidence_decay: per-frame decay of the handedness log-odds (1 = none).
        evidence_clip: largest |log-odds| one frame's vote contributes.
        evidence_cap: largest |accumulated log-odds| of a track.
        vote_score_range: (lo, hi) mean keypoint score over which a vote's weight rises from 0
            to 1.
        exclusion: while two tracks are seen, each takes the other's vote negated.
        side_memory: frames, counted from the last frame a lost or ended track was seen, that
            its side evidence is kept as a prior for new tracks, fading linearly (0 = off).
        memory_prior: largest |log-odds| prior one remembered track gives a new one (but
            :data:`NEAR_MEMORY_PRIOR` where the new one starts near where it was last seen).
        young_gate: gate multiplier for tracks with fewer than 3 hits (no motion estimate yet).
        side_hysteresis: log-odds bonus for keeping the current side.
        side_lock: once a track's evidence for its current side reaches this, the side is fixed
            until the track ends (None: never; see ``HandTrackerOptions.side_lock``). A lost or
            ended locked track is remembered with its locked side at the full cap.
        handedness_weight: cost weight of |right_prob - track p_right| in matching.
        own_crop_bonus: cost bonus for a measurement made in the track's own crop.
        second_hand_min_spread: in a frame where a track's own crop found a hand whose keypoints'
            :func:`~tracker.keypoints.spread_ratio` is at least this, a measurement from a
            detector crop (no ``track_id``) under it within :data:`FINGER_REACH` of that hand is
            left out: it neither starts nor updates a track (None: off). So close to a tracked
            hand such a line-like fit is most often one of its fingers (a thumbs-up's thumb
            folded into a second "hand" of the other side on the first one's wrist, or taking the
            lost first hand's track and side). A real hand seen edge-on that close is taken once
            its fit opens; further away, alone, or found in its own track's crop, it is taken as
            it is. :class:`~tracker.hand_tracker.HandTracker` does not measure the detection
            that gave a finger again for a while (``FINGER_MEMORY``), so the finger does not take
            the new-hand slot from a real second hand (:meth:`finger_mask`).
        filter_restart_missed: a track back after more than this many missed frames restarts its
            smoothing filter at the measurement (its motion model is stale by then).
        contact_overlap: two tracks seen in the same frame whose keypoint boxes overlap by more
            than this (intersection over the smaller box) are in contact: each is unlocked and
            its evidence held at 0 while they touch (the votes of crops that hold two hands are
            not counted; the sides stay as they are), so after they part the votes decide. None:
            off (before session 53). A track lost in this frame whose predicted keypoints' box
            overlaps a track seen in it is in contact with it too (a hand hidden behind the
            other; keypoints predicted to fly off, more than a palm size from the median move,
            are put where the median move takes their last measurement), when both have been
            matched in :data:`HIDDEN_MIN_HITS` frames or more: a
            hand lost and found again at once beside its lost track is the same hand, and its
            lost track keeps the side it leaves to the new one (huytung_1hand's edge).
        vote_weight: each frame's votes (own and exclusion) are multiplied by this as they are
            added to a track's evidence: :class:`~tracker.hand_tracker.HandTracker` given a
            ``frame_rate`` passes ``30 / frame_rate``, so the evidence, and the time a side takes
            to reach ``side_lock``, is per second of video what the 30 fps tuning gives. The vote
            itself (its clip, and what the matching and :data:`EXCHANGE_VOTE` compare) stays per
            frame.
    """

    def __init__(self, max_hands: int = 2,
                 filter_factory: Callable[[], KeypointFilter] | None = None,
                 max_missed: int = 10, gate: float = 1.5, gate_growth: float = 0.5,
                 merge_distance: float = 0.35, loose_merge_distance: float = 1.0,
                 loose_merge_overlap: float | None = 0.7, evidence_decay: float = 1.0,
                 evidence_clip: float = 3.0, evidence_cap: float = 60.0,
                 vote_score_range: tuple[float, float] = (0.45, 0.65), exclusion: bool = True,
                 side_memory: int = 150, memory_prior: float = 4.0, young_gate: float = 2.0,
                 side_hysteresis: float = 3.0, side_lock: float | None = 20.0,
                 handedness_weight: float = 0.5, own_crop_bonus: float = 0.3,
                 lost_gate_share: float | None = 0.4, second_hand_min_spread: float | None = None,
                 filter_restart_missed: int = 3, contact_overlap: float | None = 0.3,
                 vote_weight: float = 1.0) -> None:
        if max_hands < 1:
            raise ValueError(f"max_hands must be >= 1, got {max_hands}")
        self.max_hands = int(max_hands)
        self.filter_factory = filter_factory or (lambda: make_filter("kalman"))
        self.max_missed = int(max_missed)
        if not (is_int(filter_restart_missed) and filter_restart_missed >= 0):
            raise ValueError(f"filter_restart_missed must be an integer >= 0, got {filter_restart_missed!r}")
        self.filter_restart_missed = int(filter_restart_missed)
        self.gate = float(gate)
        self.gate_growth = float(gate_growth)
        self.lost_gate_share = None if lost_gate_share is None else float(lost_gate_share)
        self.second_hand_min_spread = None if second_hand_min_spread is None else float(second_hand_min_spread)
        self.merge_distance = float(merge_distance)
        self.loose_merge_distance = float(loose_merge_distance)
        self.loose_merge_overlap = None if loose_merge_overlap is None else float(loose_merge_overlap)
        self.evidence_decay = float(evidence_decay)
        self.evidence_clip = float(evidence_clip)
        self.evidence_cap = float(evidence_cap)
        lo, hi = (float(v) for v in vote_score_range)
        if not hi > lo:
            raise ValueError(f"vote_score_range must be (lo, hi) with hi > lo, got {vote_score_range}")
        self.vote_score_range = (lo, hi)
        self.exclusion = bool(exclusion)
        self.side_memory = int(side_memory)
        self.memory_prior = float(memory_prior)
        self.young_gate = float(young_gate)
        self.side_hysteresis = float(side_hysteresis)
        self.side_lock = None if side_lock is None else float(side_lock)
        self.handedness_weight = float(handedness_weight)
        self.own_crop_bonus = float(own_crop_bonus)
        self.contact_overlap = None if contact_overlap is None else float(contact_overlap)
        if not (is_real(vote_weight) and math.isfinite(vote_weight) and vote_weight > 0):
            raise ValueError(f"vote_weight must be a finite number > 0, got {vote_weight!r}")
        self.vote_weight = float(vote_weight)
        self.tracks: list[Track] = []
        self._next_id = 0
        self._frame = 0
        #: ended tracks: (frame last seen, side evidence, trail: see :meth:`_memory_item`)
        self._memory: list[tuple[int, float, list[tuple[np.ndarray, float]]]] = []
        self._nan_warned = False
        #: the exchange :data:`SIDE_SWITCH_FRAMES` waits for: ((track ids), (their sides after it)),
        #: and the frames in a row it has been the better assignment
        self._switch: tuple[tuple[int, ...], tuple[str, ...]] | None = None
        self._switch_frames = 0

    def reset(self) -> None:
        """Forget all tracks (ids keep counting up)."""
        self.tracks = []
        self._memory = []
        self._switch, self._switch_frames = None, 0

    @property
    def active_tracks(self) -> list[Track]:
        """Tracks seen in the last frame, left first."""
        return sorted((t for t in self.tracks if t.active), key=_side_key)

    # -- steps ---------------------------------------------------------------------------------
    def merge_duplicates(self, measurements: list[Measurement]) -> list[Measurement]:
        """Drop measurements that repeat another one (the same hand found by two crops).

        Two measurements are the same hand when their keypoints are closer than
        ``merge_distance`` palm sizes, or, when one comes from a track's crop and the other from
        a detector crop (a new hand, or the tracked one again?), closer than ``loose_merge_distance`` without reliably opposite handedness votes
        (two hands that overlap are mirror images: both crops vote confidently, one left, one
        right). When either is a detector crop, two fits that together lie on a line and overlap
        along it are one hand seen edge-on, whatever the votes (:data:`EDGE_ON_SPREAD`).
        Two tracks' own crops keep the strict rule: crossing hands stay apart. Measurements from tracks' own crops are looked at
        first; of a duplicate pair the one kept takes the better keypoints (higher presence x
        mean score) and keeps the crop's track hint, which is dropped when the two came from
        different tracks' crops (the hint no longer says which track it is).

        A ``right_prob`` that is NaN (a custom or faulty landmark model) counts as unknown, 0.5:
        kept, it would make the track's side evidence NaN for good (and the side assignment
        recurse until RecursionError).
        """
        if any(math.isnan(float(m.right_prob)) for m in measurements):
            if not self._nan_warned:
                self._nan_warned = True
                log.warning("the landmark model gave a NaN handedness: counted as unknown (0.5)")
            measurements = [dataclasses.replace(m, right_prob=0.5) if math.isnan(float(m.right_prob)) else m
                            for m in measurements]
        order = sorted(range(len(measurements)),
                       key=lambda i: (measurements[i].track_id is None, -measurements[i].quality()))
        kept: list[Measurement] = []
        palms = {i: _palm(measurements[i].keypoints) for i in order}
        kept_palms: list[float] = []      # the palm size of each kept measurement's keypoints
        for i in order:
            m = measurements[i]
            palm = palms[i]
            vm: float | None = None       # its vote, computed only where a loose merge asks for it
            dup = None
            for n, k in enumerate(kept):
                d = keypoint_distance(m.keypoints, k.keypoints, max(palm, kept_palms[n]),
                                      m.scores, k.scores)
                if d < self.merge_distance:
                    dup = n
                elif (m.track_id is None or k.track_id is None) and _edge_on_pair(m.keypoints, k.keypoints):
                    dup = n
                elif (m.track_id is None) != (k.track_id is None) and (
                        d < self.loose_merge_distance or (self.loose_merge_overlap is not None and
                                                          _box_overlap(m.keypoints, k.keypoints) >= self.loose_merge_overlap)):
                    vm = self.vote(m) if vm is None else vm
                    if not _reliably_opposite(vm, self.vote(k)):
                        dup = n
                if dup is not None:
                    break
            if dup is None:
                kept.append(m)
                kept_palms.append(palm)
                continue
            k = kept[dup]
            log.debug("merged a duplicate measurement (track hints %s, %s)", m.track_id, k.track_id)
            hint = k.track_id
            if m.track_id is not None and hint is not None and m.track_id != hint:
                hint = None
            elif hint is None:
                hint = m.track_id
            tentative = m.tentative and k.tentative   # a hand found for sure is not tentative
            if m.quality() > k.quality():
                k = dataclasses.replace(m)
                kept_palms[dup] = palm
            else:
                k = dataclasses.replace(k)
            k.track_id = hint
            k.tentative = tentative
            kept[dup] = k
        return kept

    def finger_mask(self, meas: list[Measurement]) -> list[bool]:
        """For each of ``meas``: whether it is a line-like detector-crop fit within
        :data:`FINGER_REACH` of a hand a track's own crop found open, taken for one of its fingers
        (``second_hand_min_spread``; all False when that is None), or a part of a hand
        (:data:`PART_PALM`)."""
        if (self.second_hand_min_spread is None or len(meas) < 2
                or all(m.track_id is not None for m in meas)):
            # only a detector crop's fit can be a finger: a tracking frame has none to test, and
            # the spread of every fit (an eigen-decomposition each) was most of this check's time
            return [False] * len(meas)
        line = [spread_ratio(m.keypoints) < self.second_hand_min_spread for m in meas]
        hands = [m.keypoints for m, thin in zip(meas, line) if m.track_id is not None and not thin]
        fingers = [bool(hands) and m.track_id is None and thin
                   and any(_box_gap(m.keypoints, h) < FINGER_REACH * _palm(h) for h in hands)
                   for m, thin in zip(meas, line)]
        return [f or p for f, p in zip(fingers, self._parts(meas))]

    @staticmethod
    def _parts(meas: list[Measurement]) -> list[bool]:
        """For each of ``meas``: whether it is a detector crop's small, unsure fit touching a larger,
        surer one (:data:`PART_PALM`), taken for a part of that hand."""
        if PART_PALM is None:
            return [False] * len(meas)
        palms = [_palm(m.keypoints) for m in meas]
        conf = [float(np.mean(m.scores)) for m in meas]
        return [m.track_id is None and conf[j] < PART_SCORE
                and any(k != j and palms[j] < PART_PALM * palms[k] and conf[k] >= conf[j] + PART_SCORE_GAP
                        and _box_gap(m.keypoints, h.keypoints) < FINGER_REACH * palms[k]
                        for k, h in enumerate(meas))
                for j, m in enumerate(meas)]

    def _drop_fingers(self, meas: list[Measurement]) -> list[Measurement]:
        """``meas`` without the fingers of :meth:`finger_mask`: they neither start nor update a track."""
        keep = [m for m, finger in zip(meas, self.finger_mask(meas)) if not finger]
        if len(keep) < len(meas):
            log.debug("left out %d detector measurement(s) taken for a finger or part of a hand", len(meas) - len(keep))
        return keep

    def _cost(self, tracks: list[Track], meas: list[Measurement], t_s: float | None,
              cap_px: float = math.inf) -> np.ndarray:
        cost = np.full((len(tracks), len(meas)), np.inf)
        any_lost = any(tr.missed for tr in tracks)
        votes = [self.vote(m) for m in meas] if any_lost else []
        palms = [_palm(m.keypoints) for m in meas] if any_lost else []
        for i, tr in enumerate(tracks):
            pred = tr.filter.peek(t_s) if hasattr(tr.filter, "peek") else None
            if pred is None:
                pred = tr.keypoints
            gate, near = self.gate + self.gate_growth * tr.missed, self.gate
            if tr.hits < 3:
                gate *= self.young_gate     # no velocity yet: a fast hand may be far from it
                near *= self.young_gate
            if tr.missed:
                # The growth is in palm sizes, the frame is not: see lost_gate_share.
                gate = min(gate, max(near, cap_px / tr.palm))
            # A lost track's side evidence, against which a far measurement's vote is checked below.
            side_ev = self._remembered(tr) if tr.missed else 0.0
            before_jump = _before_jump(tr) if tr.missed else []
            for j, m in enumerate(meas):
                own = m.track_id is not None and m.track_id == tr.track_id
                d = keypoint_distance(pred, m.keypoints, tr.palm, tr.scores, m.scores)
                if tr.missed:
                    # A lost track's prediction runs on at the velocity it had, often the jerk of a
                    # hand leaving the frame or going behind the other one; hands mostly stop or
                    # come back where they went: where it was last seen counts as well (huytung_1hand,
                    # back at the edge after 12 frames, was 8 palm sizes from its prediction).
                    d = min(d, keypoint_distance(tr.raw_keypoints, m.keypoints, tr.palm, tr.scores, m.scores))
                    if before_jump:
                        d = min(d, _trail_distance(np.asarray(m.keypoints, np.float64)[HandKeypoint.PALM], before_jump))
                # A hand found in the track's own crop may have moved further than predicted.
                if not d <= (2 * gate if own else gate):
                    continue
                if tr.missed and d > near and ((_reliably_opposite(side_ev, votes[j])
                                                and not _reliably_opposite(-tr.evidence, votes[j])) or (
                        RETAKE_PALM is not None and m.track_id is None and palms[j] < RETAKE_PALM * tr.palm)):
                    # Only the gate grown while the track was lost reaches this measurement, and
                    # their handedness reliably differs: a hand never changes side, so it is more
                    # likely a new hand than this one back. In palm sizes of a large (near) hand
                    # the grown gate spans the frame: a hand entering on the other side took the
                    # lost hand's id and side, and the lost hand, back where it went, a new one.
                    # Not so when the track's own evidence names the measurement's side as well (a
                    # locked track's side and evidence can disagree): the model saw this hand so
                    # before it was lost (ali_hand.mp4's right thumbs-up, voted left from behind,
                    # back 1.54 palm sizes away, was a new track called left under float noise).
                    # Nor does a hand halve in size while lost (RETAKE_PALM).
                    continue
                c = d + self.handedness_weight * abs(float(m.right_prob) - tr.p_right)
                if own:
                    c -= self.own_crop_bonus
                cost[i, j] = c
        return cost

    def update(self, measurements: list[Measurement], t_s: float | None = None,
               frame_size: tuple[int, int] | None = None) -> list[Track]:
        """Feed one frame's measurements; returns the tracks seen in it (left first).

        Args:
            measurements: hands found in this frame (any order, duplicates allowed).
            t_s: frame time in seconds (drives the smoothing filters' dt); None: fixed frame rate.
            frame_size: (width, height) of the frame in pixels; caps a lost track's grown gate at
                ``lost_gate_share`` of its diagonal. None: no cap (the gate in palm sizes only).
        """
        cap_px = math.inf
        if frame_size is not None:
            try:
                w, h = (float(v) for v in frame_size)
            except (TypeError, ValueError):
                w = h = math.nan
            if not (w > 0 and h > 0 and math.isfinite(w) and math.isfinite(h)):
                raise ValueError(f"frame_size must be (width, height) in pixels, both > 0, got {frame_size!r}")
            if self.lost_gate_share is not None:
                cap_px = self.lost_gate_share * math.hypot(w, h)
        meas = self._drop_fingers(self.merge_duplicates(list(measurements)))
        self._frame += 1
        for tr in self.tracks:
            tr.age += 1
            tr.vote = 0.0
            tr.back = False
        cost = self._cost(self.tracks, meas, t_s, cap_px)
        unmatched = self.gate + 1.0
        # A pair dearer than 2 x unmatched is never worth taking, but a lost track's grown gate (and
        # a young track's own-crop gate) reaches further: a hand back 6 palm sizes from where it
        # went got a new id. Pairs above ``far`` are squeezed, in order, into [far, 2 x
        # unmatched): takeable, yet dearer than any nearer pair. Only those pairs change: lowering a
        # lost track's whole row let its near pair outbid a hand seen in the last frame (a swap).
        far = 2 * unmatched - 0.5
        over = np.isfinite(cost) & (cost > far)
        if over.any():
            cost = cost.copy()
            cost[over] = far + 0.5 * (1.0 - np.exp(-(cost[over] - far) / 0.5)) * 0.99
        pairs = best_assignment(cost, unmatched_cost=unmatched)
        matched_t = {i for i, _ in pairs}
        matched_m = {j for _, j in pairs}
        for i, j in pairs:
            self._apply(self.tracks[i], meas[j], t_s)
        for i, tr in enumerate(self.tracks):
            if i not in matched_t:
                tr.missed += 1
                if hasattr(tr.filter, "predict"):
                    pred = tr.filter.predict(t_s)
                    if pred is not None:
                        tr.keypoints = pred
        for t in self.tracks:
            if t.missed > self.max_missed and self.side_memory > 0:
                # Kept from the frame it was last seen, as while it was lost: the fade goes on.
                self._memory.append(self._memory_item(t))
        self._memory = [m for m in self._memory if self._frame - m[0] < self.side_memory]
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        # New tracks: best measurements first, while there is room.
        new = sorted((j for j in range(len(meas)) if j not in matched_m), key=lambda j: -meas[j].quality())
        for j in new:
            n_active = sum(t.active for t in self.tracks)
            if n_active >= self.max_hands:
                log.debug("dropped a measurement: already %d hands", n_active)
                break
            self._start(meas[j], t_s)
        self._enforce_max_hands()
        self._absorb_parts()
        self._accumulate()
        self._contacts()
        self._exchanges()
        self._assign_sides()
        return self.active_tracks

    def _absorb_parts(self) -> None:
        """Join two tracks seen in this frame whose fits are one hand and a part of it
        (:data:`PART_TRACK_PALM`): the one with more hits keeps its id, side, lock and
        evidence, and takes the whole hand's filter, keypoints and crop; the other is dropped.
        Not with ``contact_overlap`` None: the join mends what the contact rule does to two
        such tracks (unlocking the hand's side), and without that rule nothing unlocks them."""
        if PART_TRACK_PALM is None or self.contact_overlap is None:
            return
        seen = [t for t in self.tracks if t.active]
        gone: set[int] = set()
        for part, whole in itertools.permutations(seen, 2):
            if part.track_id in gone or whole.track_id in gone or not float(np.mean(part.scores)) < PART_SCORE:
                continue
            if not (_palm(part.raw_keypoints) < PART_TRACK_PALM * _palm(whole.raw_keypoints)
                    and _box_overlap(part.keypoints, whole.keypoints) > self.contact_overlap):
                continue
            keep = part if (part.hits, -part.track_id) > (whole.hits, -whole.track_id) else whole
            if keep is part:
                # what was measured of the hand this frame; the track's history (hits, lock,
                # evidence, whether it started tentative) stays its own
                for name in ("filter", "keypoints", "raw_keypoints", "scores", "presence", "right_prob", "roi",
                             "palm", "vote"):
                    setattr(part, name, getattr(whole, name))
            log.debug("track %d was a part of track %d's hand: one track (%d) kept",
                      part.track_id, whole.track_id, keep.track_id)
            gone.add(whole.track_id if keep is part else part.track_id)
        if gone:
            self.tracks = [t for t in self.tracks if t.track_id not in gone]

    def _contacts(self) -> None:
        """Unlock and clear the side evidence (this frame's votes included) of tracks seen in
        this frame whose keypoint boxes overlap by more than ``contact_overlap``, and of a track
        lost in this frame behind one seen in it: hands that touch may part with each other's
        tracks (session 53: a swap at a crossing kept both hands on the wrong locked side), and
        a crop holding both hands votes for either. With no evidence the side assignment keeps
        the sides as they are until the hands part."""
        if self.contact_overlap is None:
            return
        seen = [t for t in self.tracks if t.active]
        pairs = list(itertools.combinations(seen, 2))
        # a hand lost this frame where another is seen (both tracked >= HIDDEN_MIN_HITS frames):
        # hidden behind it, it may come back on the other's track
        pairs += [(h, t) for h in self.tracks if h.missed == 1 and h.hits >= HIDDEN_MIN_HITS
                  for t in seen if t.hits >= HIDDEN_MIN_HITS]
        for a, b in pairs:
            if _box_overlap(_steady_prediction(a), b.keypoints) > self.contact_overlap:
                for t in (a, b):
                    _clear_side(t)

    def _exchanges(self) -> None:
        """Count each track's run of votes against its side, and treat two seen tracks as in
        contact when one is back from a loss voting against its side while the other's run has
        lasted :data:`EXCHANGE_FRAMES` frames (see there)."""
        for t in self.tracks:
            against = t.active and t.side is not None and \
                (t.vote if t.side == RIGHT else -t.vote) <= -EXCHANGE_VOTE
            t.contrary = t.contrary + 1 if against else 0
        seen = [t for t in self.tracks if t.active]
        if EXCHANGE_FRAMES is None or self.max_hands > 2 or len(seen) != 2:
            return
        a, b = seen
        if a.side == b.side or not (a.locked or b.locked):
            return
        if (a.back and a.contrary >= 1 and b.contrary >= EXCHANGE_FRAMES) or \
                (b.back and b.contrary >= 1 and a.contrary >= EXCHANGE_FRAMES):
            log.debug("tracks %d and %d may have exchanged hands: sides decided again", a.track_id, b.track_id)
            for t in seen:
                _clear_side(t)

    # -- handedness evidence -------------------------------------------------------------------
    def vote(self, m: Measurement) -> float:
        """One measurement's handedness log-odds (> 0: right), weighted by its reliability: its
        keypoints' mean confidence (``vote_score_range``), its presence and, for a fit whose
        keypoints lie near a line, their spread ratio (:data:`VOTE_SPREAD`)."""
        lo, hi = self.vote_score_range
        sc = np.asarray(m.scores, np.float64)
        q = float(np.mean(sc)) if sc.size and np.isfinite(sc).all() else 0.0
        w = min(max((q - lo) / (hi - lo), 0.0), 1.0)
        pres = float(m.presence) if math.isfinite(float(m.presence)) else 0.0
        w *= min(max(pres, 0.0), 1.0)
        if VOTE_SPREAD is not None and w > 0.0:
            w *= min(spread_ratio(m.keypoints) / VOTE_SPREAD, 1.0)
        return w * _logit(m.right_prob, self.evidence_clip)

    def _remembered(self, t: Track) -> float:
        """The side evidence a lost or ended track leaves: its evidence, or for a locked track its
        locked side at full strength (:attr:`evidence_cap`; its later evidence disagreed, but its
        side did not change)."""
        if t.locked:
            return self.evidence_cap if t.side == RIGHT else -self.evidence_cap
        return t.evidence

    def _memory_item(self, t: Track) -> tuple[int, float, list[tuple[np.ndarray, float]]]:
        """A lost or ended track as :meth:`prior` remembers it: the frame it was last seen, its
        side evidence (:meth:`_remembered`) and its :attr:`Track.trail` (where it was seen last,
        palm centres in pixels with the palm sizes then)."""
        return self._frame - t.missed, self._remembered(t), list(t.trail)

    def prior(self, keypoints: np.ndarray | None = None) -> float:
        """Side prior for a new track from tracks lost (still remembered, not seen now) or
        ended in the last ``side_memory`` frames, each capped at ``memory_prior`` and fading
        linearly with the time since it was last seen. With the new track's ``keypoints``
        ((17, 2) pixels), when some of them were seen in their last :data:`NEAR_MEMORY_TRAIL`
        frames within :data:`NEAR_MEMORY_PALMS` palm sizes (theirs then) of its palm centre, only
        those count, each capped at :data:`NEAR_MEMORY_PRIOR`."""
        if self.side_memory <= 0 or self.memory_prior <= 0:
            return 0.0
        seen = list(self._memory)
        seen += [self._memory_item(t) for t in self.tracks if t.missed > 0]
        # (fade, evidence, trail) of those not faded out
        items = [(1.0 - (self._frame - f) / self.side_memory, e, trail) for f, e, trail in seen]
        items = [it for it in items if it[0] > 0]
        cap = self.memory_prior
        if NEAR_MEMORY_PALMS is not None and keypoints is not None:
            here = np.asarray(keypoints, np.float64)[HandKeypoint.PALM]
            near = [it for it in items if _near_trail(here, it[2], NEAR_MEMORY_PALMS)]
            if near:
                items, cap = near, max(NEAR_MEMORY_PRIOR, self.memory_prior)
        return sum(fade * max(min(e, cap), -cap) for fade, e, _ in items)

    def _accumulate(self) -> None:
        """Add this frame's votes (and, for two tracks, the exclusion evidence) to the tracks
        seen in it."""
        active = [t for t in self.tracks if t.active]
        pair = self.exclusion and self.max_hands <= 2 and len(active) == 2
        for t in active:
            v = t.vote
            if pair:
                other = active[1] if t is active[0] else active[0]
                v -= other.vote
            gain = self.vote_weight * v
            e = self.evidence_decay * t.evidence + gain
            t.evidence = max(min(e, self.evidence_cap), -self.evidence_cap)
            self._gain(t, gain)

    def _start(self, m: Measurement, t_s: float | None) -> Track:
        f = self.filter_factory()
        kps = np.asarray(m.keypoints, np.float32)
        sm = f.update(kps, m.scores, t_s=t_s)
        tr = Track(track_id=self._next_id, filter=f, keypoints=sm, raw_keypoints=kps.copy(),
                   scores=np.asarray(m.scores, np.float32), presence=float(m.presence),
                   right_prob=float(m.right_prob), roi=m.roi, palm=max(_palm(kps), 1.0),
                   tentative=bool(m.tentative))
        tr.evidence = self.prior(kps)
        self._gain(tr, tr.evidence)
        tr.vote = self.vote(m)
        _extend_trail(tr)
        self._next_id += 1
        self.tracks.append(tr)
        log.debug("track %d started", tr.track_id)
        return tr

    def _apply(self, tr: Track, m: Measurement, t_s: float | None) -> None:
        kps = np.asarray(m.keypoints, np.float32)
        tr.back = tr.missed > 0
        if tr.missed > self.filter_restart_missed and hasattr(tr.filter, "reset"):
            tr.filter.reset()
        tr.keypoints = tr.filter.update(kps, m.scores, t_s=t_s)
        tr.raw_keypoints = kps.copy()
        tr.scores = np.asarray(m.scores, np.float32)
        tr.presence = float(m.presence)
        tr.right_prob = float(m.right_prob)
        tr.roi = m.roi
        p = _palm(kps)
        if p > 1.0:
            tr.palm = 0.8 * tr.palm + 0.2 * p if tr.hits else p
        tr.vote = self.vote(m)
        _extend_trail(tr)
        tr.hits += 1
        tr.missed = 0

    def _enforce_max_hands(self) -> None:
        active = [t for t in self.tracks if t.active]
        if len(active) <= self.max_hands:
            return
        active.sort(key=lambda t: (-t.hits, -t.presence))
        for t in active[self.max_hands:]:
            t.missed = 1   # demote to lost; it may come back if the others go

    def _assign_sides(self) -> None:
        active = [t for t in self.tracks if t.active]
        if not active:
            return
        if self.max_hands > 2 or len(active) > 2:
            for t in active:
                t.side = self._single_side(t)
            self._lock(active)
            return
        best, best_sides = -math.inf, None
        scores: dict[tuple[str | None, ...], float] = {}      # each allowed assignment's score
        for sides in itertools.permutations((LEFT, RIGHT), len(active)):
            if any(t.locked and t.side != side for t, side in zip(active, sides)):
                continue
            s = 0.0
            for t, side in zip(active, sides):
                e = self._side_score(t)
                s += e if side == RIGHT else -e
                if t.side == side:
                    s += self.side_hysteresis
            scores[sides] = s
            if s > best:
                best, best_sides = s, sides
        if best_sides is None:
            # Both locked on one side: a locked hand came back after the other took that side
            # while it was hidden. The one seen longer keeps it; the other goes by its evidence.
            newer = min(active, key=lambda t: (t.hits, -t.track_id))
            newer.locked = False
            self._assign_sides()
            return
        if self._switch_waits(active, best_sides, best - scores.get(tuple(t.side for t in active), -math.inf)):
            self._lock(active)
            return
        for t, side in zip(active, best_sides):
            if t.side is not None and t.side != side:
                log.debug("track %d changes side %s -> %s (evidence %.2f)", t.track_id, t.side, side, t.evidence)
            t.side = side
        self._lock(active)

    def _switch_waits(self, active: list[Track], sides: tuple[str, ...], gain: float) -> bool:
        """Whether two established tracks keep their sides this frame although ``sides`` (their
        best assignment, scored ``gain`` more than the sides they have) exchanges them: see
        :data:`SIDE_SWITCH_FRAMES`."""
        frames = SIDE_SWITCH_FRAMES
        pair = frames is not None and len(active) == 2 \
            and all(t.hits >= HIDDEN_MIN_HITS and t.side is not None for t in active) \
            and active[0].side != active[1].side and any(t.side != side for t, side in zip(active, sides))
        if not pair:
            self._switch, self._switch_frames = None, 0
            return False
        key = (tuple(t.track_id for t in active), tuple(sides))
        self._switch_frames = self._switch_frames + 1 if self._switch == key else 1
        self._switch = key
        if frames is not None and self._switch_frames < frames and gain < SIDE_SWITCH_MARGIN:
            log.debug("tracks %d and %d keep their sides: an exchange for %d frame(s), by %.2f",
                      *key[0], self._switch_frames, gain)
            return True
        self._switch, self._switch_frames = None, 0
        return False

    def _lock(self, active: list[Track]) -> None:
        if self.side_lock is None:
            return
        for t in active:
            if t.locked or t.side is None:
                continue
            sign = 1.0 if t.side == RIGHT else -1.0
            if sign * t.evidence >= self.side_lock and \
                    (LOCK_WINDOW is None or sign * sum(t.gains) >= self.side_lock):
                t.locked = True

    def _gain(self, t: Track, gain: float) -> None:
        """Note the side evidence ``gain`` (log-odds) that this frame added to track ``t``, for
        :data:`LOCK_WINDOW`."""
        if LOCK_WINDOW is None:
            return
        t.gains.append(gain)
        keep = max(1, round(LOCK_WINDOW / self.vote_weight))
        while len(t.gains) > keep:
            t.gains.popleft()

    def _side_score(self, t: Track) -> float:
        """The evidence that decides a track's side; the last single-frame vote, unweighted,
        only breaks ties (a new track whose first crops are all unreliable still follows its
        best guess rather than a fixed default)."""
        return t.evidence + 1e-3 * _logit(t.right_prob, self.evidence_clip)

    def _single_side(self, t: Track) -> str:
        if t.locked:
            assert t.side is not None   # _lock locks only a track that has a side, and none is taken away
            return t.side
        e = self._side_score(t)
        if t.side == RIGHT:
            return LEFT if e < -self.side_hysteresis else RIGHT
        if t.side == LEFT:
            return RIGHT if e > self.side_hysteresis else LEFT
        return RIGHT if e >= 0 else LEFT


def _steady_prediction(t: Track) -> np.ndarray:
    """(17, 2) pixels: a track's keypoints; for a lost track, its predicted keypoints with those
    predicted to move more than a palm size further than the median keypoint (flying off on a
    velocity that a flickering fit gave them) put where the median move takes their last
    measurement. On mohanad_piano30.mp4 played at 8 fps the fits flipped between the hand and its
    mirror image, and a lost hand's predicted box spanned 976 px (the hand 160 px) and lay over the
    other hand, its palm centre 290 px away, which then counted as hiding it."""
    if not t.missed:
        return t.keypoints
    pred = np.asarray(t.keypoints, np.float64)
    raw = np.asarray(t.raw_keypoints, np.float64)
    move = pred - raw
    median = np.nanmedian(move, axis=0)
    flying = np.linalg.norm(move - median, axis=1) > t.palm
    if not flying.any():
        return t.keypoints
    out = pred.copy()
    out[flying] = raw[flying] + median
    return out.astype(np.float32)


def _edge_on_pair(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two (17, 2) keypoint sets are one hand seen edge-on (:data:`EDGE_ON_SPREAD`): their
    finite points together lie on a line and, projected on it, overlap by at least
    :data:`EDGE_ON_SHARED` of the shorter set's extent. False with fewer than 3 finite points in either."""
    if EDGE_ON_SPREAD is None:
        return False
    ka, kb = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ka, kb = ka[np.isfinite(ka).all(1)], kb[np.isfinite(kb).all(1)]
    if len(ka) < 3 or len(kb) < 3:
        return False
    both = np.concatenate([ka, kb])
    if spread_ratio(both) >= EDGE_ON_SPREAD:
        return False
    centre = both.mean(0)
    x = both - centre
    # the line's direction: the major axis of the points' 2x2 scatter matrix, in closed form
    angle = 0.5 * math.atan2(2.0 * float(x[:, 0] @ x[:, 1]), float(x[:, 0] @ x[:, 0] - x[:, 1] @ x[:, 1]))
    axis = np.array([math.cos(angle), math.sin(angle)])
    pa, pb = (ka - centre) @ axis, (kb - centre) @ axis
    shared = min(pa.max(), pb.max()) - max(pa.min(), pb.min())
    shorter = min(pa.max() - pa.min(), pb.max() - pb.min())
    return bool(shorter > 0 and shared >= EDGE_ON_SHARED * shorter)


def _box_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection of the axis-aligned boxes around two (17, 2) keypoint sets over the smaller
    box's area (1: one box inside the other; 0 if they do not meet or either is empty)."""
    ba, bb = _finite_box(a, 2), _finite_box(b, 2)
    if ba is None or bb is None:
        return 0.0
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = ba, bb
    iw, ih = min(ax1, bx1) - max(ax0, bx0), min(ay1, by1) - max(ay0, by0)
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((ax1 - ax0) * (ay1 - ay0), (bx1 - bx0) * (by1 - by0))
    return float(iw * ih / smaller) if smaller > 0 else 0.0


def _box_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Distance in pixels between the axis-aligned boxes around two (17, 2) keypoint sets (0 when
    they meet; their finite points only, inf when either has none)."""
    ba, bb = _finite_box(a), _finite_box(b)
    if ba is None or bb is None:
        return math.inf
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = ba, bb
    dx = max(bx0 - ax1, ax0 - bx1, 0.0)
    dy = max(by0 - ay1, ay0 - by1, 0.0)
    return float(math.hypot(dx, dy))


def _finite_box(kps: np.ndarray, min_points: int = 1) -> tuple[float, float, float, float] | None:
    """(x0, y0, x1, y1) pixels of the axis-aligned box around a keypoint set's finite points, or
    None when fewer than ``min_points`` are finite."""
    k = np.asarray(kps, np.float64)
    k = k[np.isfinite(k).all(1)]
    if len(k) < max(min_points, 1):
        return None
    (x0, y0), (x1, y1) = k.min(0), k.max(0)
    return float(x0), float(y0), float(x1), float(y1)


def _palm(kps: np.ndarray) -> float:
    """The palm size (pixels) that scales distances to a (17, 2) keypoint set: its palm triangle's
    longest side (:func:`tracker.keypoints.palm_size`); where that is not finite or at most 1 px (a
    fit collapsed onto one point, a NaN point), half the longest side of its finite keypoints' box,
    about one palm size (hands21 val hands with all 17 points visible: the box's longer side is
    1.95 palm sizes at the median, 1.32-2.21 from the 10th to the 90th percentile); never under 1 px."""
    p = float(palm_size(kps))
    if not math.isfinite(p) or p <= 1.0:
        k = np.asarray(kps)[np.isfinite(kps).all(1)]
        p = float(np.ptp(k, axis=0).max()) / 2 if len(k) >= 2 else 1.0
    return max(p, 1.0)


def _side_key(t: Track) -> tuple[int, int]:
    return (0 if t.side == LEFT else 1 if t.side == RIGHT else 2, t.track_id)


def _clear_side(t: Track) -> None:
    """Unlock ``t`` and clear its side evidence, and with it its :data:`LOCK_WINDOW` gains (the
    contact and exchange rules: the votes after decide)."""
    t.locked = False
    t.evidence = 0.0
    t.gains.clear()


def _before_jump(tr: Track) -> list[tuple[np.ndarray, float]]:
    """A track's :attr:`Track.trail` entries (palm centre (2,) pixels, palm size) of the last
    :data:`JUMP_TRAIL` matched frames before its last one, when the last one's palm centre lies
    more than :data:`JUMP_PALMS` palm sizes from the one before; else []."""
    if JUMP_PALMS is None or len(tr.trail) < 2:
        return []
    (last, _), (prev, palm) = tr.trail[-1], tr.trail[-2]
    if not float(np.hypot(*(last - prev))) > JUMP_PALMS * max(palm, 1.0):
        return []
    return tr.trail[:-1][-JUMP_TRAIL:]


def _extend_trail(tr: Track) -> None:
    """Add the frame's palm centre (of ``tr.raw_keypoints``) and palm size to ``tr.trail``,
    keeping the last :data:`NEAR_MEMORY_TRAIL`."""
    tr.trail.append((np.array(tr.raw_keypoints[HandKeypoint.PALM], np.float64), float(tr.palm)))
    del tr.trail[:-NEAR_MEMORY_TRAIL]


def _trail_distance(here: np.ndarray, trail: list[tuple[np.ndarray, float]]) -> float:
    """The distance of the palm centre ``here`` ((2,) pixels) from the nearest point of a track's
    ``trail``, in that point's palm sizes; inf when ``here`` is not finite or no point is."""
    if not np.all(np.isfinite(here)):
        return math.inf
    return min((float(np.hypot(*(here - c))) / max(p, 1.0) for c, p in trail if np.all(np.isfinite(c))),
               default=math.inf)


def _near_trail(here: np.ndarray, trail: list[tuple[np.ndarray, float]], palms: float) -> bool:
    """Whether the palm centre ``here`` ((2,) pixels) lies within ``palms`` palm sizes of any
    point of a track's ``trail`` (each with its own palm size); False when ``here`` is not finite."""
    return _trail_distance(here, trail) <= palms
