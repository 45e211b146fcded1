"""Augmentations keep keypoints on the same pixels: checked on a drawn test image."""
import re
from dataclasses import replace

import numpy as np
import pytest

import cv2

from train.augment import (AUGMENT_PRESETS, AugmentConfig, augment_preset, flip_crop, jpeg_roundtrip, lowres,
                           photometric, sample_crop)
from train.data import LEFT, RIGHT, HandRecord

COLORS = np.array([[40 + 12 * i, 255 - 12 * i, (80 * i) % 256] for i in range(17)], np.uint8)


def drawn_hand(seed=0):
    """A 224x224 image with a 5x5 coloured square at each of 17 keypoints."""
    rng = np.random.default_rng(seed)
    img = np.full((224, 224, 3), 128, np.uint8)
    ang = np.linspace(0, 2 * np.pi, 17, endpoint=False)
    r = rng.uniform(30, 60, 17)
    kps = np.stack([112 + r * np.cos(ang), 112 + r * np.sin(ang)], 1).round().astype(np.float32)
    for k, c in zip(kps.astype(int), COLORS):
        img[k[1] - 2:k[1] + 3, k[0] - 2:k[0] + 3] = c
    return img, HandRecord(image=None, keypoints=kps, visible=np.ones(17, np.float32), handedness=LEFT)


@pytest.mark.parametrize("cfg", [
    AugmentConfig(photometric=False, full_rotation_p=1.0, flip_p=0.0, negative_p=0.0),
    AugmentConfig(photometric=False, full_rotation_p=0.0, flip_p=1.0, negative_p=0.0),
    AugmentConfig(photometric=False, full_rotation_p=0.5, flip_p=0.5, negative_p=0.0, scale_range=(0.6, 1.5)),
    replace(AUGMENT_PRESETS["light"], photometric=False, negative_p=0.0),
])
def test_keypoints_stay_on_their_pixels(cfg):
    img, rec = drawn_hand()
    rng = np.random.default_rng(1)
    for _ in range(20):
        s = sample_crop(img, rec, 128, cfg, rng)
        crop, kps = s["crop"].astype(int), s["keypoints"]
        for k in range(17):
            if not s["visible"][k]:
                continue
            x, y = np.round(kps[k]).astype(int)
            assert np.abs(crop[y, x] - COLORS[k]).max() <= 40, (k, crop[y, x], COLORS[k])
        assert s["presence"] == 1


def test_flip_swaps_side_and_keeps_indices():
    img, rec = drawn_hand()
    crop = img[:128, :128]
    k = rec.keypoints.copy()
    fc, fk, side = flip_crop(crop, k, LEFT)
    assert side == RIGHT
    np.testing.assert_allclose(fk[:, 0], 127 - k[:, 0])
    np.testing.assert_array_equal(fc[:, 0], crop[:, 127])


def test_negatives_have_no_presence_and_photometric_keeps_shape():
    img, rec = drawn_hand()
    rng = np.random.default_rng(3)
    neg = [sample_crop(img, rec, 128, AugmentConfig(negative_p=1.0), rng)["presence"] for _ in range(30)]
    assert sum(neg) <= 3  # a shifted crop can still hold most of a hand now and then
    s = sample_crop(img, rec, 96, AugmentConfig(), rng)
    assert s["crop"].shape == (96, 96, 3) and s["crop"].dtype == np.uint8


def check_cut_crop(s) -> np.ndarray:
    """A 128-px crop of a drawn hand cut by a frame edge: its visible points show their own colour
    and those in the crop but not visible all show one (the border's) colour. Returns the latter."""
    crop, kps = s["crop"].astype(int), s["keypoints"]
    inside = ((kps >= 2) & (kps <= 125)).all(1)
    kept = s["visible"] > 0
    gone = inside & ~kept
    for k in np.flatnonzero(kept):
        x, y = np.round(kps[k]).astype(int)
        assert np.abs(crop[y, x] - COLORS[k]).max() <= 40, k
    # past the edge every point shows the same border colour, so (the drawn colours all differ)
    # at most one could still show its own by chance
    past = {tuple(crop[y, x]) for x, y in np.round(kps[gone]).astype(int)}
    assert len(past) <= 1, past
    return gone


def test_edge_negatives_cut_the_hand_at_a_frame_edge():
    """A hand leaving the frame: the points past the edge lose their pixels, those before keep
    them, and the crop is a negative."""
    img, rec = drawn_hand()
    rng = np.random.default_rng(5)
    cfg = AugmentConfig(photometric=False, flip_p=0.0, negative_p=1.0, edge_negative_p=1.0)
    n_gone = []
    for _ in range(20):
        s = sample_crop(img, rec, 128, cfg, rng)
        assert s["presence"] == 0
        n_gone.append(check_cut_crop(s).sum())
    assert min(n_gone) >= 0.6 * 17 - 1   # most of the hand is past the edge in every crop



def spread_hand():
    """Like :func:`drawn_hand`, with every pair of points >= 6 px apart along both image axes, so
    an edge halfway between two of them keeps clear of both squares."""
    img = np.full((224, 224, 3), 128, np.uint8)
    i = np.arange(17)
    kps = np.stack([64 + 6 * i, 64 + 6 * ((5 * i) % 17)], 1).astype(np.float32)
    for k, c in zip(kps.astype(int), COLORS):
        img[k[1] - 2:k[1] + 3, k[0] - 2:k[0] + 3] = c
    return img, HandRecord(image=None, keypoints=kps, visible=np.ones(17, np.float32), handedness=LEFT)


def test_edge_positives_cut_a_little_of_the_hand_and_stay_hands():
    """A hand partly past a frame edge (edge_positive_p): the points past the edge lose their
    pixels and their heatmap weight (not visible), the others keep both, and the crop is still a
    hand. The share past the edge stays within edge_positive_gone, under the negatives' 60%."""
    img, rec = spread_hand()
    rng = np.random.default_rng(7)
    cfg = AugmentConfig(photometric=False, flip_p=0.0, negative_p=0.0, edge_positive_p=1.0,
                        full_rotation_p=0.0, scale_range=(1.0, 1.0), shift_sigma=0.0)
    n_gone = []
    for _ in range(30):
        s = sample_crop(img, rec, 128, cfg, rng)
        assert s["presence"] == 1
        gone = check_cut_crop(s)
        assert (gone == (s["visible"] == 0)).all()   # no jitter: only the edge removes points
        n_gone.append(int(gone.sum()))
    assert min(n_gone) >= 2 and max(n_gone) <= np.ceil(0.45 * 17)
    assert len(set(n_gone)) > 2         # the share varies


@pytest.mark.parametrize("edge_positive_p, hands_cut", [(0.0, 0), (0.5, (8, 22)), (1.0, 30)])
def test_edge_positive_p_is_the_share_of_positive_crops_cut(edge_positive_p, hands_cut):
    img, rec = drawn_hand()
    rng = np.random.default_rng(11)
    cfg = AugmentConfig(photometric=False, flip_p=0.0, negative_p=0.0, edge_positive_p=edge_positive_p,
                        full_rotation_p=0.0, scale_range=(1.0, 1.0), shift_sigma=0.0)
    cut = sum(bool((sample_crop(img, rec, 128, cfg, rng)["visible"] == 0).any()) for _ in range(30))
    lo, hi = hands_cut if isinstance(hands_cut, tuple) else (hands_cut, hands_cut)
    assert lo <= cut <= hi


def test_edge_positive_p_off_takes_the_same_random_draws_as_before():
    """Every preset leaves it off, and off it draws nothing: older recipes get the same crops. The
    golden number is the generator's next draw after 8 crops, taken with the code before the
    option existed (it depends on how many numbers were drawn, not on pixels or the platform)."""
    assert all(p.edge_positive_p == 0.0 for p in AUGMENT_PRESETS.values())
    img, rec = drawn_hand()
    rng = np.random.default_rng(3)
    for _ in range(8):
        sample_crop(img, rec, 96, AugmentConfig(), rng)
    assert rng.random() == pytest.approx(0.6637430301546088, abs=1e-15)
    rng = np.random.default_rng(3)
    for _ in range(8):
        sample_crop(img, rec, 96, replace(AugmentConfig(), edge_positive_p=0.5), rng)
    assert rng.random() != pytest.approx(0.6637430301546088, abs=1e-15)   # on, it draws



@pytest.mark.parametrize("gone_range", [(0.1, 0.45), (0.6, 1.0)])
def test_cut_photo_at_edge_ends_the_photo_between_kept_and_gone_points(gone_range):
    """The photo is sliced at the edge (all four sides over the draws); the hand's points move with
    the slice, those in view keep their colours there, those past it lie outside the new photo
    and are not visible; the share gone follows ``gone_range``."""
    from train.augment import cut_photo_at_edge
    img, rec = spread_hand()
    rng = np.random.default_rng(4)
    sides = set()
    for _ in range(24):
        out, hand = cut_photo_at_edge(img, rec, rng, gone_range)
        h, w = out.shape[:2]
        assert (h == 224) != (w == 224)                      # one axis cut
        kept = hand.visible > 0
        n_gone = 17 - int(kept.sum())
        assert np.floor(gone_range[0] * 17) <= n_gone <= np.ceil(gone_range[1] * 17)
        for k in np.flatnonzero(kept):
            x, y = np.round(hand.keypoints[k]).astype(int)
            assert 0 <= x < w and 0 <= y < h
            np.testing.assert_array_equal(out[y, x], COLORS[k])
        gone = hand.keypoints[~kept]
        assert (((gone < -0.5) | (gone > np.array([w, h]) - 0.5)).any(1)).all()
        moved = hand.keypoints - rec.keypoints
        assert np.allclose(moved, moved[0]) and (moved[0] <= 0).all()   # a slice off the start shifts them
        sides.add((w < 224, bool(moved[0].any())))
    assert len(sides) == 4

@pytest.mark.parametrize("inside, min_inside, label", [
    (17, 0.75, 1), (13, 0.75, 1), (12, 0.75, 0), (9, 0.5, 1), (8, 0.5, 0), (0, 0.5, 0),
])
def test_presence_label_share_inside(inside, min_inside, label):
    from train.augment import presence_label
    kps = np.stack([np.linspace(10, 100, 17), np.full(17, 50.0)], 1)
    kps[inside:] = -1.0                  # past the crop
    if inside:
        kps[0] = (10, 50)
        kps[inside - 1] = (100, 50)      # what is in view spans 90 px: not tiny
    assert presence_label(kps, np.ones(17), 128, min_inside) == label

@pytest.mark.parametrize("shape", [(160, 160, 3), (48, 64, 3), (600, 40, 3)])   # the last: bigger than the field
def test_gaussian_noise_is_standard_normal_and_varies(shape):
    from train.augment import gaussian_noise
    rng = np.random.default_rng(0)
    a, b = gaussian_noise(shape, rng), gaussian_noise(shape, rng)
    assert a.shape == shape and a.dtype == np.float32
    assert abs(float(a.mean())) < 0.05 and abs(float(a.std()) - 1.0) < 0.05
    assert np.abs(a - b).mean() > 0.5          # a new window (or draw) each call


def test_gaussian_noise_takes_the_same_draws_from_rng_whether_or_not_the_field_exists():
    """Otherwise what a seeded generator yields after the first noisy crop of a process differs
    from later calls, and the same seed composes different val scenes."""
    import train.augment as A
    A._NOISE_FIELD = None
    r1 = np.random.default_rng(0)
    A.gaussian_noise((32, 32, 3), r1)           # draws the field
    r2 = np.random.default_rng(0)
    A.gaussian_noise((32, 32, 3), r2)           # the field exists
    assert r1.random() == r2.random()


@pytest.mark.parametrize("name, full_rotation_p, negative_p, error", [
    ("tracker", 0.3, 0.12, None),
    ("light", 0.1, 0.06, None),
    ("degraded", 0.3, 0.12, None),
    ("heavy", None, None, "--augment 'heavy': unknown, expected one of ['degraded', 'light', 'tracker']"),
    ("", None, None, "--augment '': unknown"),
])
def test_augment_presets(name, full_rotation_p, negative_p, error):
    if error:
        with pytest.raises(ValueError, match=re.escape(error)):
            augment_preset(name)
        return
    cfg = augment_preset(name)
    assert (cfg.full_rotation_p, cfg.negative_p) == (full_rotation_p, negative_p)
    assert cfg == AUGMENT_PRESETS[name] and cfg is not AUGMENT_PRESETS[name]  # a copy: changing it changes no preset


def test_light_preset_is_milder_than_the_tracker_mix_in_every_hard_case():
    tracker, light = augment_preset("tracker"), augment_preset("light")
    assert tracker == AugmentConfig()  # the shipped models' augmentation is the default
    for field in ("full_rotation_p", "negative_p", "occlusion_p", "blur_p", "motion_blur_p", "noise_p", "jpeg_p",
                  "shift_sigma"):
        assert 0 < getattr(light, field) < getattr(tracker, field), field
    assert tracker.scale_range[0] < light.scale_range[0] < light.scale_range[1] < tracker.scale_range[1]


def test_degraded_preset_is_the_tracker_mix_with_harder_image_damage():
    tracker, degraded = augment_preset("tracker"), augment_preset("degraded")
    damage = ("grey_p", "noise_p", "noise_sigma", "jpeg_p", "jpeg_quality", "jpeg_upscale")
    for field in AugmentConfig.__dataclass_fields__:   # geometry, flips, negatives, blur: the tracker's
        if field not in damage:
            assert getattr(degraded, field) == getattr(tracker, field), field
    for field in ("grey_p", "noise_p", "jpeg_p"):
        assert getattr(degraded, field) > getattr(tracker, field), field
    assert degraded.noise_sigma[1] > 15 > tracker.noise_sigma[1]        # bench robustness: noise sigma 15
    assert degraded.jpeg_quality[0] <= 10 < tracker.jpeg_quality[0]     # bench robustness: JPEG quality 10
    assert tracker.jpeg_upscale == (1.0, 1.0) < degraded.jpeg_upscale


def _smooth_image(seed=0, n=160):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur((rng.random((n, n, 3)) * 255).astype(np.uint8), (0, 0), 3)
    return cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX)


def _column_jump(img, phase):
    """Mean |x[i+1] - x[i]| over columns i = phase (mod 8), relative to columns inside 4-px blocks."""
    d = np.abs(np.diff(img.astype(np.float32), axis=1)).mean(axis=(0, 2))
    idx = np.arange(len(d)) % 8
    return d[idx == phase].mean() / d[(idx != 7) & (idx != 3)].mean()


@pytest.mark.parametrize("upscale, jump_at_8, jump_at_4", [
    (1.0, (1.8, 9.9), (0.0, 1.3)),    # 8-px blocks of the crop: edges every 8 columns only
    (2.0, (1.8, 9.9), (1.4, 9.9)),    # enlarged 2x first: 4-px blocks, edges every 4 columns
])
def test_jpeg_roundtrip_puts_block_edges_at_8_over_upscale_pixels(upscale, jump_at_8, jump_at_4):
    img = _smooth_image()
    assert 0.9 < _column_jump(img, 7) < 1.1 and 0.9 < _column_jump(img, 3) < 1.1   # no blocks before
    out = jpeg_roundtrip(img, 10, upscale)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - img).mean() > 3      # quality 10 changes the pixels
    assert jump_at_8[0] < _column_jump(out, 7) < jump_at_8[1]
    assert jump_at_4[0] < _column_jump(out, 3) < jump_at_4[1]


def test_photometric_grey_p_makes_the_crop_grey_and_jpeg_quality_is_taken_from_the_config():
    img = _smooth_image(1)
    only = dict(occlusion_p=0.0, blur_p=0.0, motion_blur_p=0.0, noise_p=0.0)
    for seed in range(5):
        grey = photometric(img, AugmentConfig(grey_p=1.0, jpeg_p=0.0, **only), np.random.default_rng(seed))
        assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
        colour = photometric(img, AugmentConfig(grey_p=0.0, jpeg_p=0.0, **only), np.random.default_rng(seed))
        assert (colour[..., 0] != colour[..., 2]).any()
    # the same draws, once at quality 5 and once at 95: only the quality range differs
    low, high = (photometric(img, AugmentConfig(grey_p=0.0, jpeg_p=1.0, jpeg_quality=q, **only),
                             np.random.default_rng(3)) for q in ((5, 6), (95, 96)))
    plain = photometric(img, AugmentConfig(grey_p=0.0, jpeg_p=0.0, **only), np.random.default_rng(3))
    assert np.abs(low.astype(int) - plain).mean() > 3 * np.abs(high.astype(int) - plain).mean()


@pytest.mark.parametrize("side", [48, 80, 112])
def test_lowres_keeps_a_point_on_its_pixel_and_loses_detail(side):
    """A bright square's centroid stays where it was (the keypoint keeps its pixel), while the
    fine detail a small hand's crop lacks is gone (less high-frequency energy)."""
    img = np.zeros((160, 160, 3), np.uint8)
    img[87:93, 47:53] = 255                      # centroid (49.5, 89.5) in pixel-centre coordinates
    img[::2, 120:] = 200                         # 1-pixel stripes: detail no small crop holds
    out = lowres(img, covered=200.0, rng=np.random.default_rng(0), side_range=(side, side))
    assert out.shape == img.shape and out.dtype == np.uint8
    blob = out[70:110, 30:70, 0].astype(float)
    ys, xs = np.mgrid[70:110, 30:70]
    cx, cy = (blob * xs).sum() / blob.sum(), (blob * ys).sum() / blob.sum()
    assert abs(cx - 49.5) < 0.3 and abs(cy - 89.5) < 0.3, (cx, cy)
    stripes = lambda a: np.abs(np.diff(a[:, 125:155, 0].astype(float), axis=0)).mean()
    assert stripes(out) < 0.5 * stripes(img)


@pytest.mark.parametrize("covered, side, changed", [
    (200.0, 80, True),     # the crop spans more photo pixels than a small hand's: resampled
    (80.0, 80, False),     # it already spans no more than that: left as it is
    (60.0, 80, False),
    (500.0, 160, False),   # no coarser than the crop itself
])
def test_lowres_changes_only_crops_finer_than_the_target(covered, side, changed):
    img = np.random.default_rng(1).integers(0, 256, (160, 160, 3), dtype=np.uint8)
    out = lowres(img, covered, np.random.default_rng(0), (side, side))
    assert (not np.array_equal(out, img)) == changed


def test_lowres_p_in_sample_crop_keeps_keypoints_and_defaults_off():
    assert AugmentConfig().lowres_p == 0.0 and all(p.lowres_p == 0.0 for p in AUGMENT_PRESETS.values())
    img, rec = drawn_hand()
    base = AugmentConfig(photometric=False, full_rotation_p=0.0, flip_p=0.0, negative_p=0.0)
    a = sample_crop(img, rec, 128, base, np.random.default_rng(5))
    b = sample_crop(img, rec, 128, replace(base, lowres_p=1.0, lowres_side=(64, 64)), np.random.default_rng(5))
    np.testing.assert_array_equal(a["keypoints"], b["keypoints"])
    assert not np.array_equal(a["crop"], b["crop"])
    # the coloured squares are still where the keypoints say (blurred, so a looser tolerance)
    for k in range(17):
        x, y = np.round(b["keypoints"][k]).astype(int)
        assert np.abs(b["crop"][y, x].astype(int) - 128).max() > 20 or np.abs(COLORS[k].astype(int) - 128).max() <= 20


@pytest.mark.parametrize("shape", [(300, 120, 3), (120, 300, 3), (160, 160, 3)])
def test_photometric_occluders_fit_images_that_are_not_square(shape):
    """``export.quantize`` passes whole photos (a user's may be portrait or landscape) through the
    photometric changes: the occluding patches were drawn for a square of the image's height and
    could not be pasted into a narrower one (ValueError in 45 of 50 draws on 300x120)."""
    from train.augment import AugmentConfig, photometric
    img = np.full(shape, 128, np.uint8)
    cfg = AugmentConfig(occlusion_p=1.0)
    for seed in range(30):
        out = photometric(img, cfg, np.random.default_rng(seed))
        assert out.shape == shape and out.dtype == np.uint8
