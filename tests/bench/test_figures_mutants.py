"""Session 43 mutation audit of the benchmark figures (bench.matching, bench.accuracy,
bench.temporal, bench.motion): each test kills a hand-made mutant that the existing tests let
through (docs/model_history.md, Session 43). Every expected figure is worked out by hand from small
made-up tracks, photos and clips."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from bench import accuracy, matching, motion, temporal
from bench.methods import FrameOutput
from bench.temporal import PredHand


# ---------------------------------------------------------------------------------------------
# bench.matching


@pytest.mark.parametrize("cost, max_cost, want", [
    (0.5, matching.MAX_COST, []),          # "below 0.5": exactly 0.5 is not that hand
    (0.4999, matching.MAX_COST, [(0, 0)]),
    (0.3, 0.3, []),
    (0.2999, 0.3, [(0, 0)]),
])
def test_assign_keeps_only_costs_strictly_below_max_cost(cost, max_cost, want):
    """The threshold is strict, as the module and keypoints.md say ("below")."""
    assert matching.assign(np.array([[cost]]), max_cost) == want


def test_greedy_assignment_of_many_predictions_gives_one_ground_truth_one_prediction():
    """Beyond 6 hands the assignment is greedy; it must still be one-to-one: seven predictions
    all close to one ground-truth hand match once (the closest), the rest are false positives."""
    cost = np.array([[0.3], [0.2], [0.05], [0.4], [0.1], [0.25], [0.15]])
    assert matching.assign(cost) == [(2, 0)]
    # seven ground-truth hands, seven predictions, every prediction close to every hand
    rng = np.random.default_rng(0)
    c = rng.uniform(0.0, 0.4, (7, 7))
    pairs = matching.assign(c)
    assert len(pairs) == 7
    assert sorted(i for i, _ in pairs) == list(range(7))
    assert sorted(j for _, j in pairs) == list(range(7))


# ---------------------------------------------------------------------------------------------
# bench.accuracy


def _grid_hand(cx, cy, s=60.0):
    """17 points of a 5x4 grid spanning an s x s box centred on (cx, cy)."""
    g = np.stack(np.meshgrid(np.linspace(-0.5, 0.5, 5), np.linspace(-0.5, 0.5, 4)), -1).reshape(-1, 2)[:17]
    return (g * s + (cx, cy)).astype(np.float32)


class _Scripted:
    """A static-mode method answering the given hands (and latency) on successive calls."""

    def __init__(self, answers, ms=None):
        self.answers = list(answers)
        self.ms = list(ms) if ms is not None else [1.0] * len(self.answers)

    def __call__(self, frame, timestamp_ms=None):
        return FrameOutput({"smoothed": self.answers.pop(0)}, self.ms.pop(0))


@pytest.fixture()
def photo(tmp_path):
    p = tmp_path / "img.png"
    cv2.imwrite(str(p), np.zeros((224, 224, 3), np.uint8))
    return p


@pytest.mark.parametrize("norm_side, pck05, pck10, pck20", [
    (200.0, 0.0, 1.0, 1.0),        # 15 px / 200 = 0.075
    (float("nan"), 0.0, 0.0, 0.0),  # no label box: the 17-point box, 60 px: 15 / 60 = 0.25
    (0.0, 0.0, 0.0, 0.0),           # an unusable label box falls back to the 17-point box
])
def test_accuracy_pck_uses_the_labelled_box_side_when_given(photo, norm_side, pck05, pck10, pck20):
    """keypoints.md normalises PCK by the annotation's own box side (``norm_sides``), not the
    smaller box of the 17 points; only when it is missing or not positive is the latter used."""
    gt = _grid_hand(100, 100)
    vis = np.ones(17, np.float32)
    im = accuracy.GtImage(photo, [gt], [vis], [1], [0.99], [norm_side])
    run = accuracy.run(_Scripted([[PredHand(gt + np.float32([15.0, 0.0]), "right")]]), [im], "smoothed")
    want_norm = 60.0 if not (np.isfinite(norm_side) and norm_side > 0) else norm_side
    assert run.norm.tolist() == pytest.approx([want_norm])
    s = accuracy.summarize(run)
    assert (s["pck@0.05"], s["pck@0.1"], s["pck@0.2"]) == pytest.approx((pck05, pck10, pck20))


@pytest.mark.parametrize("score, want", [(0.9, 1.0), (0.95, 1.0), (0.8999, None)])
def test_confident_handedness_includes_a_label_score_of_exactly_0_9(photo, score, want):
    """handedness_acc_conf counts labels whose side score is at least 0.9 (0.9 itself included);
    with no such label the figure is NaN."""
    gt = _grid_hand(100, 100)
    im = accuracy.GtImage(photo, [gt], [np.ones(17, np.float32)], [1], [score])
    s = accuracy.summarize(accuracy.run(_Scripted([[PredHand(gt, "right")]]), [im], "smoothed"))
    assert s["handedness_acc"] == 1.0
    if want is None:
        assert math.isnan(s["handedness_acc_conf"])
    else:
        assert s["handedness_acc_conf"] == want


def test_accuracy_latency_is_a_median_not_a_mean(photo):
    """ms_p50 is the median photo latency: one slow photo (30 ms) must not move it."""
    gt = _grid_hand(100, 100)
    im = accuracy.GtImage(photo, [gt], [np.ones(17, np.float32)], [1], [0.99])
    run = accuracy.run(_Scripted([[], [], []], ms=[1.0, 2.0, 30.0]), [im, im, im], "smoothed")
    assert accuracy.summarize(run)["ms_p50"] == 2.0


# ---------------------------------------------------------------------------------------------
# bench.temporal: jitter, moving frames, swaps


def test_jitter_of_a_spike_is_divided_by_the_palm_size_of_its_own_frame():
    """A still track with one frame displaced by a: second differences a, 2a, a at frames 4, 5,
    6, each divided by the palm size of that (centre) frame; zero elsewhere."""
    t_len, a = 11, 3.0
    track = np.zeros((t_len, 17, 2))
    track[5, :, 0] += a
    norm = 10.0 * (np.arange(t_len) + 1)
    still = np.ones(t_len, bool)
    out = temporal.jitter_per_frame(track, still, norm)
    want = np.zeros(t_len)
    want[[4, 5, 6]] = [a / norm[4], 2 * a / norm[5], a / norm[6]]
    assert math.isnan(out[0]) and math.isnan(out[-1])
    np.testing.assert_allclose(out[1:-1], want[1:-1], rtol=1e-12, atol=0)


@pytest.mark.parametrize("how", ["nan", "visible"])
def test_jitter_averages_only_the_keypoints_it_can_measure(how):
    """Keypoints not reported (NaN) or not visible are left out of the mean, not counted as zero:
    8 of 17 keypoints wobble by a, the other 9 are missing, so the jitter is that of the 8."""
    t_len, a, palm = 9, 2.0, 20.0
    track = np.zeros((t_len, 17, 2))
    track[4, :8, 1] += a
    visible = None
    if how == "nan":
        track[:, 8:] = np.nan
    else:
        track[4, 8:, 1] += 50.0  # large but unseen: must not count either
        visible = np.zeros((t_len, 17), bool)
        visible[:, :8] = True
    out = temporal.jitter_per_frame(track, np.ones(t_len, bool), np.full(t_len, palm), visible)
    assert out[4] == pytest.approx(2 * a / palm)
    assert out[3] == pytest.approx(a / palm) and out[5] == pytest.approx(a / palm)
    assert temporal.jitter(track, np.ones(t_len, bool), np.full(t_len, palm), visible) == \
        pytest.approx((a + 2 * a + a) / palm / (t_len - 2))


def test_a_hand_moving_exactly_at_min_speed_is_moving():
    """moving = at least ``min_speed`` px/frame: 1 px/frame with min_speed 1 counts."""
    g = np.zeros((10, 17, 2))
    g[:, :, 0] = np.arange(10)[:, None] + 100.0
    assert temporal.moving_mask(g, 1.0).all()
    assert not temporal.moving_mask(g, 1.0001).any()


@pytest.mark.parametrize("ids, want", [
    ([0, 1, 0, 0], 2),       # 0 is a real track id
    ([0, -1, 0, -1], 0),     # -1 = unknown, skipped
    ([3, 0, 0, 3], 2),
])
def test_track_id_zero_is_an_id_not_unknown(ids, want):
    """Trackers number tracks from 0; only negative ids (or None) mean "unknown"."""
    sw = temporal.count_swaps([None] * len(ids), ids)
    assert sw.track_id == want and sw.side == 0


# ---------------------------------------------------------------------------------------------
# bench.temporal: align and summarize on a hand-built clip


def _palm20_hand(x0=200.0, y0=200.0):
    """17 points: palm triangle wrist (0,0), index MCP (20,0), pinky MCP (10,10) (palm size 20),
    the other points spread over a 100 x 50 box (hand size 100)."""
    k = np.zeros((17, 2))
    others = [i for i in range(17) if i not in (0, 5, 14)]
    xs = np.linspace(-40.0, 60.0, len(others))
    ys = np.linspace(-40.0, 10.0, len(others))
    k[others] = np.stack([xs, ys], 1)
    k[0], k[5], k[14] = (0.0, 0.0), (20.0, 0.0), (10.0, 10.0)
    return k + (x0, y0)


def _moving_clip(t_len=40, v=2.0):
    """(T, 1, 17, 2) ground truth moving v px/frame to the right, all points visible."""
    g = _palm20_hand()[None] + np.stack([v * np.arange(t_len), np.zeros(t_len)], 1)[:, None, :]
    return g[:, None], np.ones((t_len, 1, 17), bool)


@pytest.mark.parametrize("n_visible, matched", [(2, False), (3, True), (17, True)])
def test_align_cannot_match_a_hand_with_fewer_than_three_visible_points(n_visible, matched):
    """A ground-truth hand showing 2 keypoints cannot be matched even by a perfect prediction,
    which then counts as a false positive."""
    g = _palm20_hand()[None, None]
    vis = np.zeros((1, 1, 17), bool)
    vis[0, 0, :n_visible] = True
    tr = temporal.align([[PredHand(g[0, 0].copy(), "left", 0)]], g, vis)
    assert np.isfinite(tr.keypoints).all() == matched
    assert tr.false_positives.tolist() == [0 if matched else 1]


def test_found_rate_counts_only_frames_where_the_hand_is_present():
    """A hand reported on all 20 frames but present on 10 is found 10 of 10 times (rate 1)."""
    g, vis = _moving_clip(20)
    preds = [[PredHand(g[t, 0].copy(), "left", 0)] for t in range(20)]
    present = np.zeros((20, 1), bool)
    present[:10] = True
    s = temporal.summarize(temporal.align(preds, g, vis), g, vis, present, ["left"], fps=30.0)
    assert s["found_frames"] == 10 and s["present_frames"] == 10
    assert s["found_rate"] == 1.0


def test_moving_error_is_normalised_by_palm_and_pck_by_hand_size():
    """A constant 5 px offset on a hand of palm 20 and size 100: nme_moving = 5 / 20 = 0.25 (palm
    normaliser), and every visible point is within 0.1 x hand size (5 / 100 = 0.05): PCK 1."""
    g, vis = _moving_clip(30)
    preds = [[PredHand(g[t, 0] + (5.0, 0.0), "left", 0)] for t in range(30)]
    s = temporal.summarize(temporal.align(preds, g, vis), g, vis, np.ones((30, 1), bool),
                           ["left"], fps=30.0)
    assert s["nme_moving"] == pytest.approx(0.25)
    assert s["nme_count"] == 30 * 17
    assert s["pck10_moving"] == 1.0 and s["pck_n"] == 30 * 17


def test_lag_curve_of_one_hand_is_its_mean_squared_distance_per_delay():
    """A track one frame late on a hand moving v = 2 px/frame: pred(t) = truth(t-1), so the curve
    is ((1-d) v)^2 for delay d (4, 0, 4, 16 at d = 0, 1, 2, -1) and the lag is 1 frame; the
    curve is the per-delay mean, not that times or divided by the frame count."""
    t_len, v = 40, 2.0
    g, vis = _moving_clip(t_len, v)
    preds = [[PredHand(g[t, 0] - (v, 0.0), "left", 0)] for t in range(t_len)]
    s = temporal.summarize(temporal.align(preds, g, vis), g, vis, np.ones((t_len, 1), bool),
                           ["left"], fps=30.0, max_lag=8)
    assert s["lag_frames"] == t_len - 2 * 8
    for d in (-1, 0, 1, 2, 8):
        assert s["lag_curve"][d] == pytest.approx(((1 - d) * v) ** 2)
    assert s["lag"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# bench.temporal.combine


def _summary(**over):
    """A summarize()-shaped dict with every count zero, then ``over``."""
    s = {"jitter": float("nan"), "jitter_frames": 0, "still_frames": 0, "lag": float("nan"),
         "lag_curve": {}, "lag_frames": 0, "moving_frames": 0, "side_swaps": 0, "id_swaps": 0,
         "swaps_per_min": 0.0, "reacq_frames": [], "reacq_mean_frames": float("nan"),
         "reacq_missed": 0, "found_rate": float("nan"), "side_accuracy": float("nan"),
         "nme_moving": float("nan"), "pck10_moving": float("nan"), "false_pos_per_frame": 0.0,
         "frames": 0, "minutes": 0.0, "present_frames": 0, "found_frames": 0, "side_frames": 0,
         "side_ok": 0, "nme_count": 0, "pck_hits": 0, "pck_n": 0, "false_pos": 0,
         "by_speed": {b: [0, 0, 0.0, 0] for b in temporal.SPEED_BINS}}
    s.update(over)
    return s


def test_combine_weights_jitter_by_the_frames_it_was_measured_on():
    """Clip 1: jitter 1.0 over 1 measured frame (of 10 still ones); clip 2: 3.0 over 3 (of 3).
    Pooled per measured frame: (1 + 9) / 4 = 2.5."""
    c = temporal.combine([_summary(jitter=1.0, jitter_frames=1, still_frames=10, frames=30, minutes=1 / 60),
                          _summary(jitter=3.0, jitter_frames=3, still_frames=3, frames=30, minutes=1 / 60)])
    assert c["jitter"] == pytest.approx(2.5)
    assert c["jitter_frames"] == 4


def test_combine_swaps_per_minute_is_total_swaps_over_total_minutes():
    """2 swaps in 1 minute and 2 in 3 minutes: 4 swaps in 4 minutes = 1 per minute."""
    c = temporal.combine([_summary(side_swaps=1, id_swaps=1, frames=1800, minutes=1.0),
                          _summary(side_swaps=2, frames=5400, minutes=3.0)])
    assert c["swaps_per_min"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------
# bench.motion


def _still_clip(points, width=64, height=48, n_frames=3, alphas=None):
    """A clip whose hands sit still with their sprite keypoints at ``points`` (frame pixels, one
    (17, 2) array per hand, or one array for one hand): camera at rest (identity) and hand pose
    (128, 128, 0, 0), which maps sprite pixels to frame pixels unchanged."""
    pts = np.asarray(points, np.float32)
    pts = pts[None] if pts.ndim == 2 else pts
    alphas = alphas or [None] * len(pts)
    sprites = [motion.Sprite(np.zeros((motion.SPRITE, motion.SPRITE, 3), np.uint8),
                             np.zeros((motion.SPRITE, motion.SPRITE), np.float32) if a is None else a,
                             p, "left") for p, a in zip(pts, alphas)]
    stops = [True, True]
    cam = motion.Path4([0, n_frames], [np.array([width / 2, height / 2, 0.0, 0.0])] * 2, stops)
    hands = [motion.Path4([0, n_frames], [np.array([128.0, 128.0, 0.0, 0.0])] * 2, stops)
             for _ in sprites]
    clip = motion.Clip(width, height, 30.0, 0, sprites, np.zeros((height, width, 3), np.uint8), cam,
                       hands, np.array([[1, 0, 0], [0, 1, 0]], np.float64), noise_sigma=0.0,
                       jpeg_quality=90, blur_exposure=0.0, n_frames=n_frames)
    clip._ground_truth()
    return clip


def test_motion_keypoints_are_visible_only_on_pixel_centres_inside_the_frame():
    """A pixel-centre keypoint is inside for 0 <= x <= width - 1 (and likewise y); half a pixel
    beyond the last pixel centre it is outside the frame."""
    w, h = 64, 48
    xs = [0.0, -0.5, w - 1.0, w - 0.5, 10.0, 10.0, 10.0, 10.0]
    ys = [10.0, 10.0, 10.0, 10.0, 0.0, -0.5, h - 1.0, h - 0.5]
    want = [True, False, True, False, True, False, True, False]
    pts = np.full((17, 2), 20.0)
    pts[:8, 0], pts[:8, 1] = xs, ys
    clip = _still_clip(pts, w, h)
    np.testing.assert_allclose(clip.keypoints[0, 0], pts, atol=1e-4)
    assert clip.visible[0, 0, :8].tolist() == want
    assert clip.visible[:, 0, 8:].all()


def test_a_later_hand_covers_the_earlier_one_where_its_alpha_is():
    """Hand 1's sprite is opaque on its top half only (rows y < 128). Both hands map sprite pixels
    to frame pixels unchanged, so a hand-0 keypoint at (x=200, y=50) is covered and one at
    (x=50, y=200) is not; hand 1 itself is never covered (it is drawn last)."""
    pts0 = np.full((17, 2), 100.0)
    pts0[0], pts0[1] = (200.0, 50.0), (50.0, 200.0)
    pts0[2:, 1] = 200.0  # the rest in the transparent half
    alpha1 = np.zeros((motion.SPRITE, motion.SPRITE), np.float32)
    alpha1[:128] = 1.0
    clip = _still_clip([pts0, np.full((17, 2), 60.0)], 256, 256, alphas=[None, alpha1])
    assert clip.visible[0, 0, 0] == False  # noqa: E712  (covered)
    assert clip.visible[0, 0, 1:].all()
    assert clip.visible[0, 1].all()


def _dot_photo():
    """A black photo with a soft white dot (sub-pixel centre) at each of 17 keypoints."""
    k = np.array([[112, 200], [112, 160], [60, 175], [45, 145], [35, 115],
                  [80, 120], [75, 85], [70, 45], [105, 115], [105, 80], [105, 35],
                  [130, 118], [135, 85], [140, 50], [155, 125], [165, 100], [180, 75]], np.float32)
    k = k + np.float32([0.3, -0.2])
    img = np.zeros((224, 224, 3), np.uint8)
    for x, y in k:
        cv2.circle(img, (int(round(x * 16)), int(round(y * 16))), 3 * 16, (255, 255, 255), -1,
                   cv2.LINE_AA, shift=4)
    return img, k


def _centroid(img, p, r=6):
    """Intensity centroid (pixel-centre coordinates) of the dot near ``p``."""
    x0, y0 = int(round(p[0])) - r, int(round(p[1])) - r
    win = img[y0:y0 + 2 * r + 1, x0:x0 + 2 * r + 1].astype(np.float64).mean(-1)
    ys, xs = np.mgrid[0:win.shape[0], 0:win.shape[1]]
    return np.array([(xs * win).sum() / win.sum() + x0, (ys * win).sum() / win.sum() + y0])


@pytest.mark.parametrize("flip", [False, True])
def test_sprite_keypoints_sit_on_the_dots_also_when_mirrored(flip):
    """make_sprite's keypoints are where the labelled dots are in the sprite image, mirrored or
    not (pixel centres: x -> SPRITE - 1 - x), and a mirrored left hand is a right hand."""
    img, k = _dot_photo()
    sp = motion.make_sprite(img, k, "left", np.random.default_rng(0), flip=flip)
    assert sp.side == ("right" if flip else "left")
    for p in sp.keypoints:
        np.testing.assert_allclose(_centroid(sp.image, p), p, atol=0.3)


def _dot_records(n=4):
    from pathlib import Path

    from train.data import HandRecord
    img, k = _dot_photo()
    recs = [HandRecord(Path(f"fake{i}.png"), k.copy(), np.ones(17, np.float32), i % 2, 1.0, i)
            for i in range(n)]
    return recs, (lambda p: img)


def test_clip_motion_scales_with_the_frame_size():
    """Speeds are px/frame at 640x480 "scaled with the frame width": the same seed at 1280x960
    is the same clip twice as large, every ground-truth point at twice the coordinates (also
    while moving and leaving the frame)."""
    recs, reader = _dot_records()
    small = motion.make_clip(recs, seed=3, n_frames=160, n_hands=1, image_reader=reader)
    big = motion.make_clip(recs, seed=3, n_frames=160, n_hands=1, width=1280, height=960,
                           image_reader=reader)
    assert [s[2] for s in big.segments] == [s[2] for s in small.segments]
    assert any(s[2] in motion.SPEEDS for s in small.segments)
    np.testing.assert_allclose(big.keypoints, 2 * small.keypoints.astype(np.float64), atol=0.05)


@pytest.mark.parametrize("frames", [1, 300])
def test_motion_memory_counts_the_predictions_of_two_clips(frames):
    """With no clips built, what remains is the predictions kept for the clip being tracked and
    for the example: 2 x frames x (5 views x 2 hands x 1 KiB)."""
    assert motion.motion_bytes(0, frames) == 2 * frames * 5 * 2 * 1024
