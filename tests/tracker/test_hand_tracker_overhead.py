"""The tracker's per-frame work outside the networks was made cheaper (session 34): keypoint
distances, the spread check, the filters' peek and the duplicate merge's palm sizes. These tests
pin that each fast path computes the very same numbers as the plain numpy it replaced, and that
the tracker's outputs on real clips do not move by a bit."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tracker.association as association
import tracker.hand_tracker as hand_tracker
from tracker.association import HandAssociator, Measurement, keypoint_distance
from tracker.hand_tracker import spread_ratio
from tracker.keypoints import HandKeypoint, palm_size
from tracker.smoothing import KalmanKeypointFilter


# -- the plain numpy each fast path replaced (the code before session 34) --------------------------
def reference_keypoint_distance(a, b, palm, sa=None, sb=None, min_score=0.3):
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


def reference_spread_ratio(kps):
    k = np.asarray(kps, np.float64)
    k = k[np.isfinite(k).all(1)]
    if len(k) < 3:
        return 0.0
    ev = np.linalg.eigvalsh(np.cov((k - k.mean(0)).T))
    return float(np.sqrt(max(ev[0], 0.0) / ev[1])) if ev[1] > 0 else 0.0


def reference_peek(self, t_s=None):
    if not self.initialized:
        return None
    x, _ = self._predict_state(self._dt(t_s))
    return x[:, 0].reshape(-1, 2).astype(np.float32)


def random_hands(rng, n):
    """Keypoint pairs of both float types, some points NaN or infinite, some scores low or absent."""
    for t in range(n):
        dt = (np.float32, np.float64)[t % 2]
        a = (rng.random((17, 2)) * 600 + rng.random(2) * 1000).astype(dt)
        b = (a + rng.normal(0, 20, (17, 2))).astype(dt)
        if t % 3 == 0:
            a[rng.random(17) < 0.4] = np.nan
        if t % 5 == 0:
            b[rng.random(17) < 0.6, rng.integers(0, 2)] = np.inf
        sa = rng.random(17).astype(np.float32) if t % 4 else None
        sb = rng.random(17).astype(np.float32) if t % 7 else None
        yield a, b, sa, sb


def test_keypoint_distance_is_the_median_norm_bit_for_bit():
    rng = np.random.default_rng(0)
    cases = 0
    for a, b, sa, sb in random_hands(rng, 4000):
        palm = float(rng.random() * 80)
        want = reference_keypoint_distance(a, b, palm, sa, sb)
        got = keypoint_distance(a, b, palm, sa, sb)
        assert got == want or (math.isinf(got) and math.isinf(want)), (got, want)
        cases += math.isfinite(want)
    assert cases > 3000      # the comparison mostly ran on real distances
    nan = np.full((17, 2), np.nan, np.float32)
    assert keypoint_distance(nan, nan, 10.0) == math.inf
    # an even number of usable points: the mean of the two middle distances
    a = np.zeros((17, 2), np.float32)
    b = a.copy()
    b[:, 0] = np.arange(17)
    b[4:] = np.nan
    assert keypoint_distance(a, b, 1.0) == pytest.approx(1.5)


def test_spread_ratio_is_the_covariance_eigen_ratio_bit_for_bit():
    rng = np.random.default_rng(1)
    for t in range(3000):
        k = (rng.random((17, 2)) * rng.random(2) * 500 + rng.random(2) * 1000).astype(np.float32)
        if t % 3 == 0:
            k[rng.random(17) < 0.5] = np.nan
        if t % 7 == 0:                   # all on a line: ratio ~0
            k[:, 1] = 0.5 * k[:, 0] + 3.0
        assert spread_ratio(k) == reference_spread_ratio(k)
    assert spread_ratio(np.full((17, 2), 5.0)) == 0.0           # no spread at all
    assert spread_ratio(np.full((17, 2), np.nan)) == 0.0


def test_peek_is_the_prediction_and_leaves_the_state_alone():
    rng = np.random.default_rng(2)
    for _ in range(50):
        f = KalmanKeypointFilter()
        assert f.peek(0.0) is None
        t = 0.0
        for _ in range(12):
            t += float(rng.choice([0.02, 0.033, 0.1]))
            z = (rng.random((17, 2)) * 400 + 30 * t).astype(np.float32)
            f.update(z, rng.random(17).astype(np.float32), t_s=t)
            state = (f.x.copy(), f.P.copy(), f.d2.copy(), f.t_s)
            for ahead in (None, t + 0.033, t + 0.4, t + 3.0):
                np.testing.assert_array_equal(f.peek(ahead), reference_peek(f, ahead))
            np.testing.assert_array_equal(f.x, state[0])
            np.testing.assert_array_equal(f.P, state[1])
            np.testing.assert_array_equal(f.d2, state[2])
            assert f.t_s == state[3]


def hand(cx, cy, size, squeeze_palm=1.0):
    """(17, 2) keypoints on a grid around (cx, cy); the palm triangle's points pulled towards its
    centre by ``squeeze_palm`` (a palm collapsed in a bad crop)."""
    g = np.stack(np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 4)), -1).reshape(-1, 2)[:17]
    k = (g * size / 2 + [cx, cy]).astype(np.float32)
    tri = [HandKeypoint.WRIST, HandKeypoint.INDEX_MCP, HandKeypoint.PINKY_MCP]
    c = k[tri].mean(0)
    k[tri] = c + (k[tri] - c) * squeeze_palm
    return k


def test_merge_uses_the_palm_of_the_measurement_that_replaced_a_duplicate():
    # A track's crop found the hand with a collapsed palm; a detector crop found it whole and
    # sure, so it replaces it; a third, shifted detector crop of the same hand, confidently of
    # the other side (no loose merge), is a duplicate only in the palm size of the whole hand.
    whole = hand(300, 200, 120)
    collapsed = whole.copy()
    collapsed[[HandKeypoint.WRIST, HandKeypoint.INDEX_MCP, HandKeypoint.PINKY_MCP]] = \
        hand(300, 200, 120, squeeze_palm=0.15)[[HandKeypoint.WRIST, HandKeypoint.INDEX_MCP, HandKeypoint.PINKY_MCP]]
    shifted = collapsed + np.float32([20.0, 0.0])
    big, small = float(palm_size(whole)), float(palm_size(collapsed))
    assert big > 100 and small < 25
    hi, mid, lo = (np.full(17, v, np.float32) for v in (0.95, 0.9, 0.7))
    track_crop = Measurement(collapsed, lo, presence=0.5, right_prob=0.02, track_id=4)
    detector_crop = Measurement(whole, hi, presence=1.0, right_prob=0.02)
    other = Measurement(shifted, mid, presence=0.9, right_prob=0.98)
    assert 20.0 / big < 0.35 < 20.0 / small     # which palm decides the outcome
    out = HandAssociator().merge_duplicates([other, track_crop, detector_crop])
    assert len(out) == 1
    np.testing.assert_array_equal(out[0].keypoints, whole)
    assert out[0].track_id == 4


@pytest.mark.parametrize("clip", ["huytung_2hand.mp4", "mohanad_hands.mp4"])
def test_tracker_outputs_are_the_reference_outputs_on_real_clips(videos, clip, monkeypatch):
    cv2 = pytest.importorskip("cv2")
    from tracker import HandTracker
    cap = cv2.VideoCapture(str(videos / clip))
    frames = []
    while len(frames) < 150:
        ok, f = cap.read()
        if not ok:
            break
        frames.append((f, cap.get(cv2.CAP_PROP_POS_MSEC)))
    cap.release()
    assert len(frames) >= 100

    def run():
        rows = []
        with HandTracker(threads=2) as tr:
            for f, t in frames:
                for h in tr.process(f, timestamp_ms=t).hands:
                    rows.append((h.track_id, h.side, h.score, h.handedness, h.keypoints, h.raw_keypoints, h.scores))
        return rows

    fast = run()
    with monkeypatch.context() as m:
        m.setattr(association, "keypoint_distance", reference_keypoint_distance)
        m.setattr(hand_tracker, "spread_ratio", reference_spread_ratio)
        m.setattr(association, "spread_ratio", reference_spread_ratio)
        m.setattr(KalmanKeypointFilter, "peek", reference_peek)
        slow = run()
    assert len(fast) == len(slow) > 100
    for a, b in zip(fast, slow):
        assert a[:4] == b[:4]                       # track id, side, presence, handedness
        for x, y in zip(a[4:], b[4:]):              # keypoints, raw keypoints, scores
            np.testing.assert_array_equal(x, y)
