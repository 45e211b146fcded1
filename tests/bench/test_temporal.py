"""Metric code on hand-made cases: known jitter, lag, swap count, re-acquisition, PCK, matching."""
from __future__ import annotations

import numpy as np
import pytest

from bench import matching, temporal
from tracker import metrics


def _hand(cx=100.0, cy=100.0, s=50.0):
    """A fake 17-point hand: points on a grid around (cx, cy), palm triangle of known size."""
    rng = np.random.default_rng(0)
    k = rng.uniform(-0.5, 0.5, (17, 2)) * s + (cx, cy)
    k[0] = (cx, cy + s / 2)        # wrist
    k[5] = (cx - s / 4, cy - s / 4)  # index mcp
    k[14] = (cx + s / 4, cy - s / 4)  # pinky mcp
    return k


def test_jitter_known_value():
    t_len = 40
    g = np.repeat(_hand()[None], t_len, 0)
    palm = np.full(t_len, 20.0)
    # alternating +-a offset in x: |x(t+1) - 2x(t) + x(t-1)| = 4a
    a = 0.5
    sign = np.where(np.arange(t_len) % 2 == 0, 1.0, -1.0)
    pred = g.copy()
    pred[..., 0] += a * sign[:, None]
    still = temporal.still_mask(g)
    assert still[1:-1].all() and not still[0] and not still[-1]
    j = temporal.jitter(pred, still, palm)
    assert j == pytest.approx(4 * a / 20.0)
    # a perfectly steady prediction with a constant offset has zero jitter
    assert temporal.jitter(g + 3.0, still, palm) == pytest.approx(0.0)
    # frames where the truth moves are not counted: make the second half move
    g2 = g.copy()
    g2[20:, :, 0] += (np.arange(20)[:, None] + 1) * 2.0
    st2 = temporal.still_mask(g2)
    assert not st2[19:].any() and st2[1:19].all()
    pred2 = g2.copy()
    pred2[:20, :, 0] += a * sign[:20, None]
    jpf = temporal.jitter_per_frame(pred2, st2, palm)
    assert np.isnan(jpf[20:]).all()
    assert np.nanmean(jpf) == pytest.approx(4 * a / 20.0)


def test_jitter_skips_missing_frames():
    g = np.repeat(_hand()[None], 10, 0)
    pred = g.copy()
    pred[5] = np.nan  # frames 4, 5, 6 lose their window
    jpf = temporal.jitter_per_frame(pred, temporal.still_mask(g), np.full(10, 10.0))
    assert np.isnan(jpf[[0, 4, 5, 6, 9]]).all()
    assert np.isfinite(jpf[[1, 2, 3, 7, 8]]).all()


@pytest.mark.parametrize("delay", [0, 1, 2, 3])
def test_lag_known_integer_delay(delay):
    t = np.arange(200, dtype=np.float64)
    x = 200 + 80 * np.sin(t / 9.0)
    y = 150 + 40 * np.cos(t / 13.0)
    g = np.stack([x, y], -1)[:, None, :] + _hand(0, 0)[None]
    pred = np.roll(g, delay, axis=0)  # pred(t) = g(t - delay)
    pred[:delay] = g[0]
    r = temporal.lag(pred, g, temporal.moving_mask(g, 0.5), max_lag=6)
    assert r.lag == pytest.approx(delay, abs=0.05)
    assert r.frames > 100
    assert min(r.curve, key=r.curve.get) == delay


def test_lag_subframe_from_exponential_smoothing():
    """A one-pole low-pass y += k (x - y) on a ramp lags by (1 - k) / k frames."""
    t_len = 300
    g = np.zeros((t_len, 1, 2))
    g[:, 0, 0] = np.linspace(0, 900, t_len)  # 3 px/frame ramp
    g[:, 0, 1] = 100.0 + 0.5 * np.sin(np.arange(t_len) / 50)
    k = 0.35
    p = g.copy()
    for i in range(1, t_len):
        p[i] = p[i - 1] + k * (g[i] - p[i - 1])
    mv = temporal.moving_mask(g, 1.0)
    mv[:30] = False  # let the filter settle
    r = temporal.lag(p, g, mv, max_lag=6)
    assert r.lag == pytest.approx((1 - k) / k, abs=0.1)
    assert temporal.lag(p, g, mv, max_lag=6, subframe=False).lag == 2.0


def test_lag_noise_does_not_bias():
    rng = np.random.default_rng(1)
    t = np.arange(300, dtype=np.float64)
    g = np.stack([300 + 100 * np.sin(t / 11), 200 + 60 * np.sin(t / 7)], -1)[:, None, :]
    pred = g + rng.normal(0, 2.0, g.shape)
    r = temporal.lag(pred, g, temporal.moving_mask(g), max_lag=5)
    assert abs(r.lag) < 0.25


def test_count_swaps_known():
    sides = ["left", "left", None, "left", "right", "right", "left", None, None, "left"]
    ids = [1, 1, -1, 1, 1, 2, 2, -1, -1, 5]
    present = [True] * 7 + [False, False, True]
    sw = temporal.count_swaps(sides, ids, present)
    # sides: left->right (t4), right->left (t6) = 2; ids: 1->2 at t5 = 1; 2->5 after leaving = 0
    assert (sw.side, sw.track_id, sw.total) == (2, 1, 3)
    # the same id change across a gap in which the hand stayed in view is a swap
    sw2 = temporal.count_swaps(sides, ids, [True] * 10)
    assert sw2.track_id == 2
    assert temporal.count_swaps(["right"] * 5, [3] * 5).total == 0
    assert temporal.per_minute(3, 1800, 30.0) == pytest.approx(3.0)


def test_reacquisition_known():
    present = np.array([1] * 5 + [0] * 10 + [1] * 10 + [0] * 6 + [1] * 4, bool)
    reported = np.zeros_like(present)
    reported[:5] = True
    reported[18:25] = True  # 3 frames after it came back at 15
    times = temporal.reacquisition(present, reported, min_absent=5)
    assert times == [3.0, float("inf")]  # second return (frame 31) never reported
    assert temporal.reacquisition(present, reported, 5, include_start=True)[0] == 0.0
    # a short absence is not a re-appearance
    assert temporal.reacquisition(present, reported, min_absent=20) == []


def test_matching_assigns_nearest_and_rejects_far():
    a, b = _hand(100, 100), _hand(300, 120)
    pred = [b + 2.0, a - 1.0, _hand(600, 400)]
    pairs = matching.match_hands(pred, [a, b])
    assert pairs == [(0, 1), (1, 0)]
    assert matching.match_hands([_hand(600, 400)], [a]) == []
    assert matching.match_hands([], [a]) == []
    # one prediction between two hands goes to the closer one
    assert matching.match_hands([a + 5.0], [a, b]) == [(0, 0)]


def test_align_and_summarize_fake_method():
    """A fake tracker: 1 px noise, a side swap at frame 50, loses the hand for frames 60-64."""
    t_len = 120
    t = np.arange(t_len, dtype=np.float64)
    offs = np.where(t < 40, 0.0, 4.0 * (t - 40))[:, None]
    g = (_hand(100, 200)[None] + np.concatenate([offs, 0 * offs], 1)[:, None, :])[:, None]
    vis = np.ones((t_len, 1, 17), bool)
    rng = np.random.default_rng(3)
    preds = []
    for i in range(t_len):
        if 60 <= i < 65:
            preds.append([])
            continue
        side = "right" if i < 50 else "left"
        preds.append([temporal.PredHand(g[i, 0] + rng.normal(0, 1, (17, 2)), side, 7)])
    tr = temporal.align(preds, g, vis)
    s = temporal.summarize(tr, g, vis, vis.sum(-1) >= 12, ["right"], fps=30.0)
    assert s["side_swaps"] == 1
    assert s["id_swaps"] == 0
    assert s["found_rate"] == pytest.approx(115 / 120)
    assert s["side_accuracy"] == pytest.approx(50 / 115)
    assert abs(s["lag"]) < 0.3
    assert s["jitter"] > 0 and s["still_frames"] > 30
    assert s["swaps_per_min"] == pytest.approx(1 / (120 / 30 / 60))
    tbl = temporal.by_speed_table(s["by_speed"])
    assert tbl["still"]["frames"] == 40 and tbl["still"]["found_rate"] == 1.0
    assert tbl["slow (<3 px/f)"]["frames"] == 1
    assert tbl["medium (3-8)"]["frames"] == 79
    assert tbl["medium (3-8)"]["found_rate"] == pytest.approx(74 / 79)
    assert tbl["fast (>=8)"]["frames"] == 0 and np.isnan(tbl["fast (>=8)"]["nme"])
    assert 0 < tbl["still"]["nme"] < 0.2


def test_tracker_pck_on_known_case():
    """tracker.metrics.pck: 1 of 4 keypoints off by more than the threshold -> PCK 0.75."""
    gt = np.zeros((1, 17, 2))
    gt[0, :, 0] = np.linspace(0, 100, 17)  # box longest side 100
    vis = np.zeros((1, 17))
    vis[0, :4] = 1
    gt[0, :4, 0] = [0, 50, 100, 100]
    pred = gt.copy()
    pred[0, 1, 1] += 7.0  # 0.07 x size: wrong at 0.05, right at 0.1
    pred[0, 2, 1] += 30.0  # wrong at 0.2
    r = metrics.pck(pred, gt, vis)
    assert r[0.05] == pytest.approx(2 / 4) and r[0.1] == pytest.approx(3 / 4)
    assert r[0.2] == pytest.approx(3 / 4)
    assert metrics.pck(pred, gt, vis, found=[False])[0.2] == 0.0
