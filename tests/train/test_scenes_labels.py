"""Audit of the composed detector scenes: labels sit on the pasted hand pixels, flipped photos
land where they were placed with their orientation cue mirrored, and degenerate photos."""
from pathlib import Path

import numpy as np

from train.data import RIGHT, HandRecord
from train.scenes import SceneConfig, _paste_matrix, compose_scene, visible_hands

GREEN = (0, 255, 0)


def _green_at(scene, kp, v, w, h):
    """(shown, checked): visible in-canvas keypoints whose scene pixel is the photo's green."""
    shown = checked = 0
    for x, y in np.round(kp[v > 0]).astype(int):
        if 0 <= x < w and 0 <= y < h:
            px = scene[y, x].astype(int)
            checked += 1
            shown += px[1] > 170 and px[0] < 80 and px[2] < 80
    return shown, checked


def _edge_hand_photo():
    """Grey 224x224 photo whose hand (green 5x5 keypoint squares) reaches its left border, as
    many hands21 crops do (a quarter of them come within 5% of the photo's side)."""
    img = np.full((224, 224, 3), 128, np.uint8)
    ys = np.linspace(40, 184, 17)
    kp = np.stack([np.where(np.arange(17) % 2 == 0, 3.0, 60.0), ys], 1).astype(np.float32)
    for x, y in kp.round().astype(int):
        img[max(y - 2, 0):y + 3, max(x - 2, 0):x + 3] = GREEN
    return img, HandRecord(Path("edge.webp"), kp, np.ones(17, np.float32), RIGHT, 1.0, 0)


def test_visible_points_of_a_hand_at_its_photos_border_show_the_hand():
    """The feathered margin of the pasted photo (up to 15% of its side) fades the pixels near its
    border into the background: a keypoint there showed background yet stayed a visible point
    of a positive hand."""
    img, rec = _edge_hand_photo()
    # covered_alpha 0.2: a visible point shows >= 80% of its photo, green enough to tell on any background
    cfg = SceneConfig(256, 192, hand_frac=(0.4, 0.5), count_p=(0, 1, 0, 0, 0), rotate_deg=0.0, flip_p=0.0,
                      covered_alpha=0.2)
    rng = np.random.default_rng(0)
    shown = checked = ignored = 0
    for _ in range(60):
        scene, hands, ignore = compose_scene([[rec]], {rec.image: img}, cfg, rng, photometric_aug=False)
        pos, _ = visible_hands(hands, cfg.width, cfg.height)
        for kp, v in pos:
            s, c = _green_at(scene, kp, v, cfg.width, cfg.height)
            shown, checked = shown + s, checked + c
        ignored += len(ignore)
    assert checked > 150 and shown == checked, (shown, checked)
    # photos whose margin fades most of the hand make it an ignore region, not background
    assert ignored > 0


def test_flipped_photo_puts_its_hand_centre_where_it_was_placed():
    """The mirror was applied before the rotation about the unflipped hand centre: the hand of a
    flipped photo landed (iw - 1 - 2 cx) x scale away from its drawn place, often off the canvas
    and on top of the hands it was kept apart from."""
    cx, cy, iw = 40.0, 100.0, 224
    for ang in (0.0, 35.0, -120.0):
        m = _paste_matrix(cx, cy, ang, 1.7, 130.0, 90.0, True, iw)
        np.testing.assert_allclose(m @ [cx, cy, 1.0], [130.0, 90.0], atol=1e-6)
    # the photo is still mirrored: at angle 0 its x axis runs the other way, y unchanged
    m = _paste_matrix(cx, cy, 0.0, 2.0, 130.0, 90.0, True, iw)
    np.testing.assert_allclose(m[:, :2], [[-2.0, 0.0], [0.0, 2.0]], atol=1e-9)


def _upright_offcentre_hand():
    """Grey photo, hand near its left side pointing up: wrist (0) at the bottom, middle MCP (8)
    above it and to its right; keypoints are green squares."""
    img = np.full((224, 224, 3), 128, np.uint8)
    kp = np.zeros((17, 2), np.float32)
    kp[:, 0] = np.linspace(30, 60, 17)
    kp[:, 1] = np.linspace(170, 50, 17)
    for x, y in kp.round().astype(int):
        img[y - 3:y + 4, x - 3:x + 4] = GREEN
    return img, HandRecord(Path("up.webp"), kp, np.ones(17, np.float32), RIGHT, 1.0, 0)


def test_flipped_hands_stay_on_the_canvas_and_mirror_their_cue():
    img, rec = _upright_offcentre_hand()
    cfg = SceneConfig(256, 192, hand_frac=(0.3, 0.4), count_p=(0, 1, 0, 0, 0), rotate_deg=0.0, flip_p=1.0,
                      covered_alpha=0.2)
    rng = np.random.default_rng(3)
    off = 0
    for _ in range(60):
        scene, hands, _ = compose_scene([[rec]], {rec.image: img}, cfg, rng, photometric_aug=False)
        kp = hands[0][0]
        centre = (kp.min(0) + kp.max(0)) / 2
        # placed with its centre in [-5%, 105%] of the canvas
        off += not (-0.06 * 256 <= centre[0] <= 1.06 * 256 and -0.06 * 192 <= centre[1] <= 1.06 * 192)
        d = kp[8] - kp[0]                        # wrist -> middle MCP: up, and now to the left
        assert d[1] < 0 and d[0] < 0, d
        pos, _ = visible_hands(hands, cfg.width, cfg.height)
        for k, v in pos:
            s, c = _green_at(scene, k, v, cfg.width, cfg.height)
            assert s == c, (s, c)              # labels on the flipped hand's pixels
    assert off == 0, off


def test_degenerate_photos():
    """A photo smaller than the canvas, a grey one, a hand of one labelled point (zero-size box)
    and a photo whose only hand is off its picture give scenes, not errors, and finite labels."""
    small = np.full((40, 30, 3), 128, np.uint8)
    kp = np.stack([np.linspace(5, 25, 17), np.linspace(35, 5, 17)], 1).astype(np.float32)
    r_small = HandRecord(Path("s.webp"), kp, np.ones(17, np.float32), RIGHT, 1.0, 0)
    grey = np.full((224, 224, 3), 77, np.uint8)
    one = np.zeros(17, np.float32)
    one[0] = 1
    r_point = HandRecord(Path("p.webp"), np.full((17, 2), 100, np.float32), one, RIGHT, 1.0, 1)
    cache = {r_small.image: small, r_point.image: grey}
    cfg = SceneConfig(256, 192, count_p=(0, 0, 0, 0, 1))
    rng = np.random.default_rng(1)
    for _ in range(20):
        scene, hands, ignore = compose_scene([[r_small], [r_point]], cache, cfg, rng)
        assert scene.shape == (192, 256, 3) and scene.dtype == np.uint8
        assert len(hands) <= 4 and np.isfinite(ignore).all()
        for k, v in hands:
            assert np.isfinite(k[v > 0]).all()


def test_no_photos_is_one_clear_error():
    """An empty val split (every photo skipped) reached numpy as "high <= 0"; a photo with no
    hands as an IndexError."""
    import pytest
    with pytest.raises(ValueError, match="records_by_image is empty"):
        compose_scene([], {}, SceneConfig(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="photo with no hands"):
        compose_scene([[]], {}, SceneConfig(), np.random.default_rng(0))
