"""Audit of the smoothing and its use of time: frame rates, irregular timestamps, low-confidence
keypoints (filter level, fake-model tracker where the tracker's use of time matters)."""
from __future__ import annotations

import numpy as np
import pytest

from tracker.keypoints import palm_size
from tracker.smoothing import make_filter
from .tracker_fakes import Scene, SceneHand, blank, fake_tracker, hand_keypoints

PALM = float(palm_size(hand_keypoints(0, 0, 60.0)))


def _settled(n: int = 40, fps: float = 30.0):
    f = make_filter("kalman")
    k = hand_keypoints(200, 200).astype(np.float64)
    for i in range(n):
        f.update(k, np.full(17, 0.9), t_s=i / fps)
    return f, k


@pytest.mark.parametrize("wild", ["alternating", "random"])
def test_inconsistent_low_confidence_values_do_not_pull_a_point(wild):
    """A keypoint under ``min_score`` whose (unsure) values jump about by more than a palm size
    from frame to frame must not pull the smoothed point. The re-anchoring meant for a point that
    really moved while unsure reset the point to whatever its measurement was on every frame from
    the sixth one left out: the output followed +-150 px swings exactly, unsmoothed."""
    f, k = _settled()
    rng = np.random.default_rng(0)
    scores = np.full(17, 0.9)
    scores[7] = 0.1
    worst = 0.0
    for i in range(40, 70):
        z = k.copy()
        z[7] += (150.0 * (1 if i % 2 else -1) if wild == "alternating"
                 else rng.uniform(-3 * PALM, 3 * PALM, 2))
        out = f.update(z, scores, t_s=i / 30)
        worst = max(worst, float(np.linalg.norm(out[7] - k[7])))
    assert worst < 0.5 * PALM, f"the unsure index tip was pulled {worst:.0f} px (palm {PALM:.0f} px)"


def test_a_steady_low_confidence_value_far_away_still_re_anchors_the_point():
    """The re-anchoring itself stays: an unsure point whose values agree, frame after frame, on a
    place more than a palm size away (a finger that bent while unsure) goes there after
    ``reanchor_frames`` frames, with no jump larger than the gap, and stays (no oscillation)."""
    f, k = _settled()
    scores = np.full(17, 0.9)
    scores[7] = 0.1
    z = k.copy()
    z[7] += (1.5 * PALM, 0.0)
    outs = [f.update(z, scores, t_s=i / 30) for i in range(40, 52)]
    jumps = [float(np.linalg.norm(b[7] - a[7])) for a, b in zip(outs, outs[1:])]
    assert max(jumps) <= 1.5 * PALM + 1e-3
    assert np.linalg.norm(outs[-1][7] - z[7]) < 1.0
    assert all(np.linalg.norm(o[7] - z[7]) < 1.0 for o in outs[6:])


def test_a_point_back_from_low_confidence_jumps_no_further_than_the_gap():
    """norfair style: unsure frames leave the point where the hand takes it; when it is sure
    again it moves towards its measurement, never past it."""
    f, k = _settled()
    scores = np.full(17, 0.9)
    scores[7] = 0.1
    moved = k.copy()
    moved[7] += (25.0, 0.0)             # the tip bends while unsure, under a palm size
    for i in range(40, 48):
        before = f.update(moved, scores, t_s=i / 30)
    assert np.linalg.norm(before[7] - k[7]) < 1.0
    after = f.update(moved, np.full(17, 0.9), t_s=48 / 30)
    gap = float(np.linalg.norm(moved[7] - before[7]))
    assert np.linalg.norm(after[7] - before[7]) <= gap + 1e-3
    assert after[7, 0] <= moved[7, 0] + 1e-3


def _sine(t: np.ndarray) -> np.ndarray:
    base = hand_keypoints(320, 240, 60.0)[None]
    return base + (2 * PALM * np.sin(2 * np.pi * 0.7 * t))[:, None, None] * np.array([1.0, 0.3])


def _lag_ms(sm: np.ndarray, ts: np.ndarray) -> float:
    m = ts > 0.5
    errs = [(np.abs(sm[m] - _sine(ts[m] - d)).mean(), d) for d in np.arange(-0.1, 0.1501, 0.002)]
    return 1000.0 * min(errs)[1]


def test_lag_in_milliseconds_does_not_depend_on_the_frame_rate():
    """The filter is tuned in time, not per frame: the same motion sampled at 15, 30 and 60 fps
    with its timestamps lags by the same few milliseconds."""
    lags = []
    for fps in (15, 30, 60):
        ts = np.arange(int(5 * fps)) / fps
        rng = np.random.default_rng(fps)
        raw = _sine(ts) + rng.normal(0, 0.03 * PALM, (len(ts), 17, 2))
        f = make_filter("kalman")
        sm = np.stack([f.update(z, np.full(17, 0.9), t_s=t) for z, t in zip(raw, ts)])
        lags.append(_lag_ms(sm, ts))
    assert max(lags) <= 10.0 and max(lags) - min(lags) <= 6.0, lags


def test_a_long_video_clock_smooths_as_one_from_zero():
    """Timestamps of hours (1e8 ms) lose nothing: the filter keeps seconds in float64."""
    ts = np.arange(90) / 30
    rng = np.random.default_rng(1)
    raw = _sine(ts) + rng.normal(0, 0.03 * PALM, (len(ts), 17, 2))
    outs = []
    for off_ms in (0.0, 1e8):
        tr, scene, _, _ = fake_tracker(Scene())
        got = []
        for z, t in zip(raw, ts):
            scene.hands = [SceneHand(z.astype(np.float32), True)]
            got.append(tr.process(blank(640, 480), timestamp_ms=off_ms + 1000.0 * t).hands[0].keypoints)
        outs.append(np.stack(got))
    np.testing.assert_allclose(outs[0], outs[1], atol=0.05)


def test_a_clock_that_stops_after_the_start_is_warned_of_once(caplog):
    """A clock that stops advancing after the first frames (a camera position that freezes) was
    never warned of: only the first 10 timestamps were checked. The smoothing then takes dt as
    1 ms on every frame and trails a moving hand by about a palm size (0.9 palm sizes mean on a
    0.7 Hz swing, against 0.05 with the real clock). One warning, as for a clock stuck from the
    start; short bursts of equal timestamps are allowed without one."""
    tr, scene, _, _ = fake_tracker()
    scene.hands = [SceneHand(hand_keypoints(90, 130), True)]
    clock = [1000.0 * i / 30 for i in range(30)]
    clock += [clock[-1]] * 3 + [clock[-1] + 100.0] * 3      # bursts: a coarse clock, allowed
    clock += [clock[-1] + 200.0] * 40                       # stopped for good
    with caplog.at_level("WARNING", logger="tracker.hand_tracker"):
        for i, t in enumerate(clock):
            tr.process(blank(), t)
            if i == 35:
                assert not [r for r in caplog.records if "timestamp_ms" in r.getMessage()]
    found = [r.getMessage() for r in caplog.records if "timestamp_ms" in r.getMessage()]
    assert len(found) == 1 and "has stayed at" in found[0] and "for 10 frames" in found[0]

