"""Synthetic motion clips: determinism and ground truth that moves with the image."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from bench import motion, temporal
from train.data import HandRecord


def _drawn_hand():
    """A black 224x224 image with a white dot at each of 17 well separated keypoints."""
    k = np.array([[112, 200], [112, 160], [60, 175], [45, 145], [35, 115],
                  [80, 120], [75, 85], [70, 45], [105, 115], [105, 80], [105, 35],
                  [130, 118], [135, 85], [140, 50], [155, 125], [165, 100], [180, 75]], np.float32)
    img = np.zeros((224, 224, 3), np.uint8)
    for x, y in k:
        cv2.circle(img, (int(x), int(y)), 3, (255, 255, 255), -1, cv2.LINE_AA)
    return img, k


def _records(n=4):
    img, k = _drawn_hand()
    recs = [HandRecord(Path(f"fake{i}.png"), k.copy(), np.ones(17, np.float32), i % 2, 1.0, i)
            for i in range(n)]
    return recs, (lambda p: img)


def _blob_centre(frame, p, r=6):
    x0, y0 = int(round(p[0])) - r, int(round(p[1])) - r
    win = frame[max(y0, 0):y0 + 2 * r + 1, max(x0, 0):x0 + 2 * r + 1].astype(np.float64).mean(-1)
    w = np.clip(win - 100, 0, None)
    if w.sum() == 0:
        return None
    ys, xs = np.mgrid[0:win.shape[0], 0:win.shape[1]]
    return np.array([(xs * w).sum() / w.sum() + max(x0, 0), (ys * w).sum() / w.sum() + max(y0, 0)])


def test_clip_is_deterministic():
    recs, reader = _records()
    a = motion.make_clip(recs, seed=5, n_frames=80, n_hands=2, image_reader=reader)
    b = motion.make_clip(recs, seed=5, n_frames=80, n_hands=2, image_reader=reader)
    c = motion.make_clip(recs, seed=6, n_frames=80, n_hands=2, image_reader=reader)
    assert np.array_equal(a.keypoints, b.keypoints)
    assert np.array_equal(a.visible, b.visible)
    assert a.segments == b.segments
    assert np.array_equal(a.render(40), b.render(40))
    assert not np.array_equal(a.keypoints, c.keypoints)
    assert a.render(40).shape == (480, 640, 3) and a.render(40).dtype == np.uint8
    assert sorted(a.sides) == ["left", "right"]


@pytest.mark.parametrize("seed", [1, 2])
def test_ground_truth_follows_the_drawn_dots(seed):
    recs, reader = _records()
    clip = motion.make_clip(recs, seed=seed, n_frames=150, n_hands=1, image_reader=reader,
                            exits=False)
    spd = temporal.speed(clip.keypoints[:, 0])
    moving = [t for t in range(2, 150) if spd[t] > 3][:3]
    still = list(np.flatnonzero(temporal.still_mask(clip.keypoints[:, 0])))[:2]
    assert moving and still
    checked = 0
    for t in moving + still:
        frame = clip.render(t)
        for k in range(17):
            if not clip.visible[t, 0, k]:
                continue
            c = _blob_centre(frame, clip.keypoints[t, 0, k])
            assert c is not None, (t, k)
            tol = 1.5 + 0.5 * spd[t] * clip.blur_exposure
            assert np.hypot(*(c - clip.keypoints[t, 0, k])) < tol, (t, k, c, clip.keypoints[t, 0, k])
            checked += 1
    assert checked > 50


def test_timeline_has_still_fast_exit_and_cross():
    recs, reader = _records()
    clip = motion.make_clip(recs, seed=11, n_frames=400, n_hands=2, image_reader=reader)
    kinds = {k for _, _, k in clip.segments}
    assert {"still", "exit", "away", "cross"} <= kinds
    assert kinds & {"slow", "medium", "fast"}
    for a, b, k in clip.segments:
        if k == "still" and b - a > 3:
            g = clip.keypoints[a + 1:b - 1]
            assert np.abs(g - g[0]).max() < 1e-3
    # some hand is fully out of view during an "away" segment and present elsewhere
    away = [(a, b) for a, b, k in clip.segments if k == "away"]
    a, b = away[0]
    assert (~clip.present[(a + b) // 2]).any()
    assert clip.present.any(axis=0).all()
    # crossing: the hand drawn first is covered by the other one at some point (occlusion)
    a, b = [(a, b) for a, b, k in clip.segments if k == "cross"][0]
    inside = (clip.keypoints[a:b, 0] >= 0).all(-1) & (clip.keypoints[a:b, 0, :, 0] < 640) \
        & (clip.keypoints[a:b, 0, :, 1] < 480)
    assert (inside & ~clip.visible[a:b, 0]).any()
    assert clip.visible[a:b, 1].sum() >= (clip.visible[a:b, 0]).sum()
    # speeds from still to fast
    s = np.concatenate([temporal.speed(clip.keypoints[:, j]) for j in range(2)])
    assert s.min() < 1e-3 and s.max() > 8


def test_clip_from_real_photos(hands21):
    from train.data import load_records
    recs = load_records(hands21, "val")[:400]
    clip = motion.make_clip(recs, seed=0, n_frames=30, n_hands=2)
    f = clip.render(10)
    assert f.shape == (480, 640, 3)
    assert clip.present[:5].all()
