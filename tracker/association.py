"""Track <-> measurement association, handedness evidence and left/right slots.

One :class:`HandAssociator` holds the tracks of one video. Every frame it gets the landmark
model's measurements (:class:`Measurement`) and

1. merges overlapping duplicates (two crops that found the same hand: mean keypoint distance
   below ``merge_distance`` palm sizes; the better one is kept);
2. matches measurements to tracks (alive ones and ones lost for at most ``max_missed`` frames)
   with a minimum-cost assignment (exact, by enumeration: there are at most a handful of hands).
   The cost is the median keypoint distance to the track's predicted keypoints in palm sizes, plus
   a handedness disagreement term, minus a bonus when the measurement came from the track's own
   crop; pairs beyond the gate (which widens while a track is lost, and is doubled for the
   track's own crop) can't match;
3. updates matched tracks (smoothing filter, handedness evidence), coasts unmatched ones
   (predict only, not reported) and drops those lost too long, starts new tracks for
   unmatched measurements while fewer than ``max_hands`` are alive;
4. assigns sides: handedness evidence is a log-odds sum over the track's life,
   ``L <- decay * L + presence * clip(logit(right_prob))``; with ``max_hands <= 2`` at most one
   track is "left" and one "right", chosen by the assignment that best agrees with the
   accumulated evidence plus a hysteresis bonus for keeping the current side. A lost track keeps
   its side and id, so a hand that comes back after a brief occlusion gets its slot back.

Sides here are as seen in the image; mirroring is applied by the caller
(:class:`tracker.hand_tracker.HandTracker`).
"""
from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .geometry import Roi
from .keypoints import palm_size
from .smoothing import make_filter

log = logging.getLogger(__name__)

LEFT, RIGHT = "left", "right"


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
    """

    keypoints: np.ndarray
    scores: np.ndarray
    presence: float = 1.0
    right_prob: float = 0.5
    roi: Roi | None = None
    track_id: int | None = None

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
        hits: frames matched; missed: consecutive frames without a match (0 = seen this frame).
    """

    track_id: int
    filter: object
    keypoints: np.ndarray
    raw_keypoints: np.ndarray
    scores: np.ndarray
    presence: float
    right_prob: float
    roi: Roi | None = None
    evidence: float = 0.0
    side: str | None = None
    hits: int = 1
    missed: int = 0
    age: int = 1
    palm: float = 1.0

    @property
    def p_right(self) -> float:
        """Accumulated probability that the track is a right hand."""
        return 1.0 / (1.0 + math.exp(-max(min(self.evidence, 50.0), -50.0)))

    @property
    def active(self) -> bool:
        return self.missed == 0


def _logit(p: float, clip: float) -> float:
    p = min(max(float(p), 1e-6), 1 - 1e-6)
    return max(min(math.log(p / (1 - p)), clip), -clip)


def keypoint_distance(a: np.ndarray, b: np.ndarray, palm: float,
                      sa: np.ndarray | None = None, sb: np.ndarray | None = None,
                      min_score: float = 0.3) -> float:
    """Median distance between two (17, 2) keypoint sets in units of ``palm`` (inf if no
    point is valid in both)."""
    ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    if sa is not None:
        ok &= np.asarray(sa) >= min_score
    if sb is not None:
        ok &= np.asarray(sb) >= min_score
    if ok.sum() < 3:
        ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
        if not ok.any():
            return math.inf
    d = np.linalg.norm(a[ok] - b[ok], axis=1)
    return float(np.median(d)) / max(palm, 1.0)


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
        merge_distance: measurements closer than this (palm sizes) are duplicates.
        evidence_decay: per-frame decay of the handedness log-odds.
        evidence_clip: largest |log-odds| one frame contributes.
        side_hysteresis: log-odds bonus for keeping the current side.
        handedness_weight: cost weight of |right_prob - track p_right| in matching.
        own_crop_bonus: cost bonus for a measurement made in the track's own crop.
    """

    def __init__(self, max_hands: int = 2,
                 filter_factory: Callable[[], object] | None = None,
                 max_missed: int = 10, gate: float = 1.5, gate_growth: float = 0.5,
                 merge_distance: float = 0.35, evidence_decay: float = 0.97,
                 evidence_clip: float = 3.0, side_hysteresis: float = 2.0,
                 handedness_weight: float = 0.5, own_crop_bonus: float = 0.3) -> None:
        if max_hands < 1:
            raise ValueError(f"max_hands must be >= 1, got {max_hands}")
        self.max_hands = int(max_hands)
        self.filter_factory = filter_factory or (lambda: make_filter("kalman"))
        self.max_missed = int(max_missed)
        self.gate = float(gate)
        self.gate_growth = float(gate_growth)
        self.merge_distance = float(merge_distance)
        self.evidence_decay = float(evidence_decay)
        self.evidence_clip = float(evidence_clip)
        self.side_hysteresis = float(side_hysteresis)
        self.handedness_weight = float(handedness_weight)
        self.own_crop_bonus = float(own_crop_bonus)
        self.tracks: list[Track] = []
        self._next_id = 0

    def reset(self) -> None:
        """Forget all tracks (ids keep counting up)."""
        self.tracks = []

    @property
    def active_tracks(self) -> list[Track]:
        """Tracks seen in the last frame, left first."""
        return sorted((t for t in self.tracks if t.active), key=_side_key)

    # -- steps ---------------------------------------------------------------------------------
    def merge_duplicates(self, measurements: list[Measurement]) -> list[Measurement]:
        """Drop measurements that repeat a better one (same hand found by two crops)."""
        order = sorted(range(len(measurements)),
                       key=lambda i: (measurements[i].track_id is None, -measurements[i].quality()))
        kept: list[Measurement] = []
        for i in order:
            m = measurements[i]
            palm = _palm(m.keypoints)
            dup = any(keypoint_distance(m.keypoints, k.keypoints, max(palm, _palm(k.keypoints)),
                                        m.scores, k.scores) < self.merge_distance for k in kept)
            if dup:
                log.debug("merged a duplicate measurement (track hint %s)", m.track_id)
            else:
                kept.append(m)
        return kept

    def _cost(self, tracks: list[Track], meas: list[Measurement], t_s: float | None) -> np.ndarray:
        cost = np.full((len(tracks), len(meas)), np.inf)
        for i, tr in enumerate(tracks):
            pred = tr.filter.peek(t_s) if hasattr(tr.filter, "peek") else None
            if pred is None:
                pred = tr.keypoints
            gate = self.gate + self.gate_growth * tr.missed
            for j, m in enumerate(meas):
                own = m.track_id is not None and m.track_id == tr.track_id
                d = keypoint_distance(pred, m.keypoints, tr.palm, tr.scores, m.scores)
                # A hand found in the track's own crop may have moved further than predicted.
                if not d <= (2 * gate if own else gate):
                    continue
                c = d + self.handedness_weight * abs(float(m.right_prob) - tr.p_right)
                if own:
                    c -= self.own_crop_bonus
                cost[i, j] = c
        return cost

    def update(self, measurements: list[Measurement], t_s: float | None = None) -> list[Track]:
        """Feed one frame's measurements; returns the tracks seen in it (left first).

        Args:
            measurements: hands found in this frame (any order, duplicates allowed).
            t_s: frame time in seconds (drives the smoothing filters' dt); None: fixed frame rate.
        """
        meas = self.merge_duplicates(list(measurements))
        for tr in self.tracks:
            tr.age += 1
        cost = self._cost(self.tracks, meas, t_s)
        pairs = best_assignment(cost, unmatched_cost=self.gate + 1.0)
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
        self._assign_sides()
        return self.active_tracks

    def _start(self, m: Measurement, t_s: float | None) -> Track:
        f = self.filter_factory()
        kps = np.asarray(m.keypoints, np.float32)
        sm = f.update(kps, m.scores, t_s=t_s)
        tr = Track(track_id=self._next_id, filter=f, keypoints=sm, raw_keypoints=kps.copy(),
                   scores=np.asarray(m.scores, np.float32), presence=float(m.presence),
                   right_prob=float(m.right_prob), roi=m.roi, palm=max(_palm(kps), 1.0))
        tr.evidence = float(m.presence) * _logit(m.right_prob, self.evidence_clip)
        self._next_id += 1
        self.tracks.append(tr)
        log.debug("track %d started", tr.track_id)
        return tr

    def _apply(self, tr: Track, m: Measurement, t_s: float | None) -> None:
        kps = np.asarray(m.keypoints, np.float32)
        if tr.missed > 0 and hasattr(tr.filter, "reset") and tr.missed > 3:
            # Back after a long gap: the motion model is stale, restart it at the measurement.
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
        tr.evidence = self.evidence_decay * tr.evidence + float(m.presence) * _logit(m.right_prob, self.evidence_clip)
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
            return
        best, best_sides = -math.inf, None
        for sides in itertools.permutations((LEFT, RIGHT), len(active)):
            s = 0.0
            for t, side in zip(active, sides):
                s += t.evidence if side == RIGHT else -t.evidence
                if t.side == side:
                    s += self.side_hysteresis
            if s > best:
                best, best_sides = s, sides
        for t, side in zip(active, best_sides):
            if t.side is not None and t.side != side:
                log.debug("track %d changes side %s -> %s (evidence %.2f)", t.track_id, t.side, side, t.evidence)
            t.side = side

    def _single_side(self, t: Track) -> str:
        if t.side == RIGHT:
            return LEFT if t.evidence < -self.side_hysteresis else RIGHT
        if t.side == LEFT:
            return RIGHT if t.evidence > self.side_hysteresis else LEFT
        return RIGHT if t.evidence >= 0 else LEFT


def _palm(kps: np.ndarray) -> float:
    p = float(palm_size(kps))
    if not math.isfinite(p) or p <= 1.0:
        k = np.asarray(kps)[np.isfinite(kps).all(1)]
        p = float(np.ptp(k, axis=0).max()) / 2 if len(k) >= 2 else 1.0
    return max(p, 1.0)


def _side_key(t: Track) -> tuple[int, int]:
    return (0 if t.side == LEFT else 1 if t.side == RIGHT else 2, t.track_id)
