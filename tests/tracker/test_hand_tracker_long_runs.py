"""Audit (session 36) of the tracker over long runs: wall-clock timestamps, numpy float32 clocks,
long gaps, state that must not grow with frames or tracks (fake models, synthetic frames)."""
from __future__ import annotations

import numpy as np

from tracker.association import HandAssociator, Measurement

from .tracker_fakes import Scene, SceneHand, blank, fake_tracker, hand_keypoints


def _swing(n: int = 60, seed: int = 3):
    """(n, 17, 2) keypoints of a hand swinging left and right, with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 30
    x = 320 + 120 * np.sin(2 * np.pi * 0.7 * t)
    return np.stack([hand_keypoints(cx, 240) + rng.normal(0, 1.5, (17, 2)) for cx in x]).astype(np.float32)


def _run(clock_ms, hands):
    tr, scene, _, _ = fake_tracker(Scene())
    got = []
    for k, t in zip(hands, clock_ms):
        scene.hands = [SceneHand(k, True)]
        r = tr.process(blank(640, 480), timestamp_ms=t)
        got.append((r.hands[0].side, r.hands[0].track_id, r.hands[0].keypoints))
    return got


def test_a_wall_clock_in_milliseconds_smooths_as_a_clock_from_zero():
    """time.time() * 1000 (1.7e12 ms): times stay float64 seconds, the same sides, ids and
    (to well under a pixel) the same smoothed keypoints as timestamps from 0."""
    hands = _swing()
    t = np.arange(len(hands)) * 1000.0 / 30
    ref, wall = _run(t, hands), _run(t + 1.7e12, hands)
    assert [(s, i) for s, i, _ in ref] == [(s, i) for s, i, _ in wall]
    np.testing.assert_allclose(np.stack([k for *_, k in ref]), np.stack([k for *_, k in wall]), atol=0.05)


def test_a_float32_clock_too_coarse_for_frame_times_is_warned_of(caplog):
    """A numpy float32 timestamp holds a camera's ms clock after ~11 days of uptime (1e9 ms) only to
    64 ms: frames 33 ms apart come 0 or 64 ms apart, and the smoothing, taking dt from them, put a
    swinging hand's keypoints up to 150 px off those of the real clock on huytung_2hand. Nothing
    said so (the stopped-clock warning needs 10 equal timestamps in a row). One warning, naming the
    type; float32 times fine enough (a clock from 0 for minutes) and float64 ones say nothing."""
    hands = _swing(40)
    t = np.arange(len(hands)) * 1000.0 / 30
    with caplog.at_level("WARNING", logger="tracker.hand_tracker"):
        _run([np.float32(v) for v in t], hands)            # resolution under 0.001 ms: fine
        _run(t + 1.7e12, hands)                           # Python floats: fine
        _run((t + 1e9).astype(np.float64), hands)         # float64 array values: fine
    assert not [r for r in caplog.records if "float32" in r.getMessage()]
    with caplog.at_level("WARNING", logger="tracker.hand_tracker"):
        _run((t + 1e9).astype(np.float32), hands)
    found = [r.getMessage() for r in caplog.records if "float32" in r.getMessage()]
    assert len(found) == 1, found
    assert "timestamp_ms" in found[0] and "64 ms" in found[0]


def test_an_hour_long_pause_restarts_smoothly_at_the_hand():
    """The application paused for an hour (dt clamped to max_dt): the hand, still there, keeps its
    id and side and the smoothed keypoints stay within a few pixels of it, not flung along the
    velocity it had before the pause."""
    tr, scene, _, _ = fake_tracker(Scene(noise_px=1.0))
    t = 1.7e12
    for i in range(30):
        scene.hands = [SceneHand(hand_keypoints(150 + 8 * i, 240), True)]     # 240 px/s
        tr.process(blank(640, 480), t)
        t += 33.3
    t += 3600e3
    for _ in range(5):
        k = hand_keypoints(390, 240)
        scene.hands = [SceneHand(k, True)]
        r = tr.process(blank(640, 480), t)
        t += 33.3
        assert [(h.side, h.track_id) for h in r.hands] == [("right", 0)]
        assert float(np.abs(r.hands[0].keypoints - k).max()) < 8.0


def test_associator_state_stays_bounded_with_many_tracks():
    """Thousands of short-lived tracks: remembered side evidence, tracks and filters' caches stay
    bounded; ids keep counting up, unique."""
    a = HandAssociator(max_hands=2, max_missed=15)
    rng = np.random.default_rng(0)
    meas, ids, sizes = [], set(), []
    for i in range(3000):
        if i % 3 == 0:
            meas = [(hand_keypoints(rng.uniform(100, 540), rng.uniform(150, 400)), float(rng.uniform()))
                    for _ in range(int(rng.integers(0, 3)))]
        seen = a.update([Measurement(k, np.full(17, 0.9, np.float32), 0.97, p) for k, p in meas],
                        1.7e9 + i / 30)
        ids.update(t.track_id for t in seen)
        sizes.append((len(a.tracks), len(a._memory),
                      max((len(t.filter._q_cache) for t in a.tracks), default=0)))
    assert a._next_id > 150 and len(ids) > 100
    tracks, memory, cache = np.max(sizes, axis=0)
    assert tracks <= a.max_missed + a.max_hands + 1
    assert memory <= a.side_memory
    assert cache <= 65
