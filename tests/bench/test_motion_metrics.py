"""Synthetic motion clips against deliberately wrong fake trackers: ground truth where the dots
are drawn (two hands, rotation, zoom, a shrunk source photo), and each temporal figure reacting
to the fault it is meant to measure (lag k -> lag ~k, noise -> jitter, label swaps -> swaps,
dropped frames -> found rate)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bench import motion, temporal
from tracker.keypoints import palm_size
from train.data import HandRecord

from tests.bench.test_motion import _blob_centre

_K = np.array([[112, 200], [112, 160], [60, 175], [45, 145], [35, 115],
               [80, 120], [75, 85], [70, 45], [105, 115], [105, 80], [105, 35],
               [130, 118], [135, 85], [140, 50], [155, 125], [165, 100], [180, 75]], np.float32)


def _records(scale=1.0, n=4):
    """Records of one black photo with a white dot at each keypoint (``scale`` x 224 px square)."""
    k = _K * scale
    side = int(round(224 * scale))
    img = np.zeros((side, side, 3), np.uint8)
    for x, y in k:
        # sub-pixel centres (shift=4) so that the dots sit exactly on the labels
        cv2.circle(img, (int(round(x * 16)), int(round(y * 16))), int(round(3 * scale * 16)),
                   (255, 255, 255), -1, cv2.LINE_AA, shift=4)
    recs = [HandRecord(Path(f"fake{i}.png"), k.copy(), np.ones(17, np.float32), i % 2, 1.0, i)
            for i in range(n)]
    return recs, (lambda p: img)


def _clip(seed, n_hands, scale=1.0, n_frames=300):
    recs, reader = _records(scale)
    return motion.make_clip(recs, seed=seed, n_frames=n_frames, n_hands=n_hands,
                            image_reader=reader)


def _run(clip, fake):
    """Summary of a fake tracker: ``fake(t, j)`` -> PredHand or None for ground-truth hand j."""
    preds = []
    for t in range(len(clip)):
        preds.append([h for h in (fake(t, j) for j in range(len(clip.sides))) if h is not None])
    tracks = temporal.align(preds, clip.keypoints, clip.visible)
    return temporal.summarize(tracks, clip.keypoints, clip.visible, clip.present, clip.sides,
                              clip.fps)


def _faithful(clip, delay=0, noise=0.0, seed=0):
    """Reports every present hand at its truth ``delay`` frames ago, plus Gaussian ``noise`` px."""
    rng = np.random.default_rng(seed)

    def fake(t, j):
        if not clip.present[t, j]:
            return None
        k = clip.keypoints[max(t - delay, 0), j].astype(np.float64)
        if noise:
            k = k + rng.normal(0, noise, k.shape)
        return temporal.PredHand(k, clip.sides[j], j)
    return fake


@pytest.mark.parametrize("seed,n_hands,scale", [(3, 2, 1.0), (11, 2, 3.0), (4, 1, 3.0)])
def test_ground_truth_on_the_dots_two_hands_rotated_zoomed(seed, n_hands, scale):
    """Still frames of clips with two hands, rotation, zoom and a source photo the sprite cut
    shrinks (3x): each visible keypoint is on its drawn dot to a fraction of a pixel."""
    clip = _clip(seed, n_hands, scale)
    checked = 0
    angles = set()
    for t in range(0, len(clip), 5):
        for j in range(n_hands):
            if not temporal.still_mask(clip.keypoints[:, j])[t]:
                continue
            frame = clip.render(t)
            m = clip.hand_matrix(j, t)
            angles.add(round(float(np.degrees(np.arctan2(m[1, 0], m[0, 0])))))
            for q in np.flatnonzero(clip.visible[t, j]):
                p = clip.keypoints[t, j, q]
                others = np.concatenate([np.delete(clip.keypoints[t, j], q, 0)]
                                        + [clip.keypoints[t, i] for i in range(n_hands) if i != j])
                if np.linalg.norm(others - p, axis=1).min() < 14:
                    continue
                c = _blob_centre(frame, p)
                assert c is not None, (t, j, q)
                assert np.hypot(*(c - p)) < 0.5, (t, j, q, c, p)
                checked += 1
    assert checked > 100
    assert len(angles) > 3  # the hands were seen at several rotations


def test_hands_out_of_view_or_covered_do_not_count():
    clip = _clip(11, 2)
    kp = clip.keypoints
    inside = (kp[..., 0] >= 0) & (kp[..., 0] <= clip.width - 1) & (kp[..., 1] >= 0) \
        & (kp[..., 1] <= clip.height - 1)
    assert not (clip.visible & ~inside).any()
    assert np.array_equal(clip.present, clip.visible.sum(-1) >= clip.present_min)
    # a fake that reports exactly the present hands is fully found, whatever left or was covered
    s = _run(clip, _faithful(clip))
    assert (~clip.present).sum() > 20
    assert s["found_rate"] == 1.0 and s["present_frames"] == int(clip.present.sum())
    assert s["side_swaps"] == s["id_swaps"] == 0
    assert s["jitter"] == 0.0 and abs(s["lag"]) < 0.05
    assert s["nme_moving"] == 0.0 and s["pck10_moving"] == 1.0
    assert s["false_pos_per_frame"] == 0.0


@pytest.mark.parametrize("seed,n_hands", [(4, 1), (11, 2)])
@pytest.mark.parametrize("delay", [1, 3])
def test_lagging_fake_shows_its_lag(seed, n_hands, delay):
    clip = _clip(seed, n_hands)
    s = _run(clip, _faithful(clip, delay=delay))
    assert s["lag"] == pytest.approx(delay, abs=0.1)
    assert s["lag_frames"] > 100
    assert min(s["lag_curve"], key=s["lag_curve"].get) == delay


@pytest.mark.parametrize("seed", [4, 7])
def test_lag_ignores_points_the_tracker_cannot_see(seed):
    """A fake 2 frames late on what it sees that clamps the points outside the frame to its edge
    and holds covered ones: the lag is still 2 (it was pulled to 1.8 by those unseen points)."""
    clip = _clip(seed, 1)
    kp, vis = clip.keypoints, clip.visible
    moving = temporal.moving_mask(kp[:, 0]) & clip.present[:, 0]
    assert (~vis[moving, 0]).sum() > 5  # the case is there: unseen points while moving
    held = {}

    def fake(t, j):
        src = max(t - 2, 0)
        k = kp[src, j].astype(np.float64)
        k[:, 0] = np.clip(k[:, 0], 0, clip.width - 1)
        k[:, 1] = np.clip(k[:, 1], 0, clip.height - 1)
        if j in held:
            k[~vis[src, j]] = held[j][~vis[src, j]]
        held[j] = k
        return temporal.PredHand(k.copy(), clip.sides[j], j) if clip.present[t, j] else None
    s = _run(clip, fake)
    assert s["lag"] == pytest.approx(2.0, abs=0.05)


def test_lag_visible_mask_direct():
    t = np.arange(200, dtype=np.float64)
    g = np.zeros((200, 2, 2))
    g[:, :, 0] = (40 + 60 * np.sin(t / 10))[:, None] + [0.0, -50.0]
    g[:, :, 1] = 100.0
    vis = g[..., 0] >= 0
    pred = np.roll(g, 2, axis=0)
    pred[:2] = g[0]
    pred[..., 0] = np.maximum(pred[..., 0], 0)  # the unseen point is clamped to the edge
    mv = temporal.moving_mask(g)
    assert temporal.lag(pred, g, mv, visible=vis).lag == pytest.approx(2.0, abs=0.02)
    with_all = temporal.lag(pred, g, mv, visible=np.ones_like(vis)).lag
    assert with_all == temporal.lag(pred, g, mv).lag and abs(with_all - 2.0) > 0.05


@pytest.mark.parametrize("seed,n_hands", [(4, 1), (11, 2)])
def test_noisy_fake_shows_jitter_in_proportion(seed, n_hands):
    """iid noise of sigma px: E|x(t+1)-2x(t)+x(t-1)| = sqrt(6) sigma sqrt(pi/2) per point."""
    clip = _clip(seed, n_hands)
    js = {}
    for sigma in (1.0, 3.0):
        s = _run(clip, _faithful(clip, noise=sigma, seed=1))
        js[sigma] = s["jitter"]
        assert abs(s["lag"]) < 0.1 and s["found_rate"] == 1.0 and s["side_swaps"] == 0
    inv_palm = []
    for j in range(n_hands):
        g = clip.keypoints[:, j]
        st = temporal.still_mask(g) & clip.present[:, j]
        inv_palm.extend((1.0 / palm_size(g[st])).tolist())
    want = np.sqrt(6) * np.sqrt(np.pi / 2) * np.mean(inv_palm)
    assert js[1.0] == pytest.approx(want, rel=0.1)
    assert js[3.0] == pytest.approx(3 * js[1.0], rel=0.1)
    assert _run(clip, _faithful(clip))["jitter"] == 0.0


def _window(mask, length):
    """First start s with mask[s:s + length] all True."""
    for s in range(len(mask) - length):
        if mask[s:s + length].all():
            return s
    raise AssertionError("no such window")


def test_side_swapping_fake_shows_swaps():
    clip = _clip(11, 2)
    both = clip.present.all(1)
    s0 = _window(both, 30)
    flip = {"left": "right", "right": "left"}

    def fake(t, j):
        h = _faithful(clip)(t, j)
        if h is not None and s0 + 5 <= t < s0 + 25:
            h.side = flip[h.side]
        return h
    s = _run(clip, fake)
    # both hands' labels change twice (to the wrong side and back)
    assert s["side_swaps"] == 4 and s["id_swaps"] == 0
    assert s["swaps_per_min"] == pytest.approx(4 / (len(clip) / clip.fps / 60))
    assert s["side_accuracy"] == pytest.approx(1 - 40 / clip.present.sum())


def test_track_id_changes_count_only_while_in_view():
    clip = _clip(4, 1)
    pres = clip.present[:, 0]
    s0 = _window(pres, 30)
    away = [(a, b) for a, b, k in clip.segments if k == "away"][0]
    assert not pres[(away[0] + away[1]) // 2]

    def fake(t, j):
        h = _faithful(clip)(t, j)
        if h is not None:
            # new id in the middle of a stretch in view (a swap), and one after the hand left
            h.track_id = 1 + (t >= s0 + 15) + (t >= away[1])
        return h
    s = _run(clip, fake)
    assert s["id_swaps"] == 1 and s["side_swaps"] == 0


def test_dropping_fake_lowers_found_rate_and_shows_reacquisition():
    clip = _clip(4, 1)
    pres = clip.present[:, 0]
    s0 = _window(pres, 40)
    ret = [a for a, b, k in clip.segments if k == "return"][0]
    back = ret + int(np.argmax(clip.present[ret:, 0]))  # first present frame after the return

    def fake(t, j):
        if s0 + 10 <= t < s0 + 20 or back <= t < back + 4:
            return None
        return _faithful(clip)(t, j)
    s = _run(clip, fake)
    assert s["found_rate"] == pytest.approx(1 - 14 / pres.sum())
    assert s["reacq_frames"] == [4.0]
    # unreported moving frames are misses for PCK
    mv = temporal.moving_mask(clip.keypoints[:, 0]) & pres
    dropped = np.zeros(len(clip), bool)
    dropped[s0 + 10:s0 + 20] = True
    dropped[back:back + 4] = True
    n = clip.visible[mv, 0].sum()
    assert s["pck10_moving"] == pytest.approx(1 - clip.visible[mv & dropped, 0].sum() / n)
