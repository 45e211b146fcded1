"""Audit of train.augment's photometric changes: pixel values, kernel centring and patch ranges."""
import numpy as np
import pytest

from train.augment import AugmentConfig, photometric

#: every image change off but the always-on brightness / contrast (and the 50% hue / saturation)
ONLY_COLOUR = dict(grey_p=0.0, occlusion_p=0.0, blur_p=0.0, motion_blur_p=0.0, noise_p=0.0, jpeg_p=0.0)


def test_brightness_and_contrast_keep_dark_pixels_dark():
    """A grey ramp stays a non-decreasing ramp: darkening clips at black. cv2.convertScaleAbs took
    |alpha * x + beta|, so a darkened crop turned its darkest pixels (and the runtime's black
    border) brighter again, black 0 becoming up to 40 (in 42% of hands21 crops)."""
    ramp = np.repeat(np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 4, 0), 3, 2)   # grey: hue no-op
    darkened = 0
    for seed in range(60):
        out = photometric(ramp, AugmentConfig(**ONLY_COLOUR), np.random.default_rng(seed))
        assert out.shape == ramp.shape and out.dtype == np.uint8
        row = out[0, :, 0].astype(int)
        assert (np.diff(row) >= 0).all(), (seed, row[:40])
        darkened += row[0] == 0
    assert darkened >= 15          # about half the draws darken: black stays black in those


def _blob(n=96, sigma=3.0):
    yy, xx = np.mgrid[:n, :n]
    c = n // 2
    v = 255 * np.exp(-((xx - c) ** 2 + (yy - c) ** 2) / (2 * sigma ** 2))
    return np.repeat(np.rint(v).astype(np.uint8)[..., None], 3, 2), c


def test_motion_blur_keeps_a_point_on_its_pixel():
    """A blob's centroid stays put under motion blur, at every kernel length. The line was centred
    on (k-1)/2 of a k x k kernel whose anchor filter2D takes at k//2: for the even lengths (4, 6, 8)
    the crop moved by up to a pixel (on average half a pixel down) off its keypoints."""
    img, c = _blob()
    cfg = AugmentConfig(**{**ONLY_COLOUR, "motion_blur_p": 1.0})
    yy, xx = np.mgrid[:img.shape[0], :img.shape[1]]
    shifts = []
    for seed in range(40):
        out = photometric(img, cfg, np.random.default_rng(seed))[..., 0].astype(float)
        w = np.clip(out - np.median(out), 0, None)      # brightness lifts the background: not the blob
        shifts.append(((w * xx).sum() / w.sum() - c, (w * yy).sum() / w.sum() - c))
    shifts = np.abs(np.array(shifts))
    assert shifts.max() < 0.15, shifts.max(0)


def test_occluders_reach_the_last_row_and_column():
    """Patches are placed anywhere they fit: rng.integers' upper bound is exclusive, so drawing the
    corner from [0, side - patch) never let a patch touch the crop's last row or column."""
    img = np.full((40, 40, 3), 128, np.uint8)
    cfg = AugmentConfig(**{**ONLY_COLOUR, "occlusion_p": 1.0})
    last_col = last_row = 0
    for seed in range(600):
        out = photometric(img, cfg, np.random.default_rng(seed))
        plain = np.median(out.reshape(-1, 3), 0)          # the uncovered pixels, after brightness
        covered = (out != plain).any(2)
        last_col += covered[:, -1].any()
        last_row += covered[-1].any()
    assert last_col > 0 and last_row > 0, (last_col, last_row)


def test_occluder_source_smaller_than_the_patch_is_no_error():
    """The occluder photo is another training photo: one smaller than a patch (a dataset of small
    hand photos at a larger input size) stopped training with numpy's "high <= 0"."""
    img = np.full((160, 160, 3), 128, np.uint8)
    small = np.zeros((30, 50, 3), np.uint8)
    cfg = AugmentConfig(**{**ONLY_COLOUR, "occlusion_p": 1.0})
    for seed in range(40):
        out = photometric(img, cfg, np.random.default_rng(seed), occluder_src=small)
        assert out.shape == img.shape and out.dtype == np.uint8


@pytest.mark.parametrize("shape", [(160, 160, 3), (120, 300, 3)])
def test_occluders_from_a_large_enough_source_photo_still_come_from_it(shape):
    """About half the patches are cut from the source photo when it is larger than the patch."""
    img = np.full(shape, 128, np.uint8)                  # after brightness >= 36 everywhere
    src = np.full((224, 224, 3), 7, np.uint8)
    cfg = AugmentConfig(**{**ONLY_COLOUR, "occlusion_p": 1.0})
    from_src = sum(bool((photometric(img, cfg, np.random.default_rng(seed), occluder_src=src) == 7).all(2).any())
                   for seed in range(60))
    assert 25 <= from_src <= 55, from_src                # 1 or 2 patches, each from the source with p 0.5


def _blob_hand(shape, centre, radius, down=False):
    """A ``shape`` photo (not square) with a Gaussian blob (sigma radius / 10) at keypoint 3 of a
    hand of 17 points on a circle; ``down``: wrist above the middle MCP, a hand pointing down, so
    the runtime's crop is turned by 180 degrees."""
    from train.data import LEFT, HandRecord
    ang = np.linspace(0, 2 * np.pi, 17, endpoint=False)
    kps = np.stack([centre[0] + radius * np.cos(ang), centre[1] + radius * np.sin(ang)], 1)
    kps[3] = centre[0] + 0.23 * radius, centre[1] - 0.17 * radius      # off the pixel grid
    if down:
        kps[0], kps[8] = (centre[0], centre[1] - radius), (centre[0], centre[1] + 0.3 * radius)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    v = 255 * np.exp(-((xx - kps[3, 0]) ** 2 + (yy - kps[3, 1]) ** 2) / (2 * (radius / 10) ** 2))
    img = np.repeat(np.rint(v).astype(np.uint8)[..., None], 3, 2)
    return img, HandRecord(image=None, keypoints=kps.astype(np.float32), visible=np.ones(17, np.float32),
                           handedness=LEFT)


@pytest.mark.parametrize("case", ["upright", "flip", "full_rotation", "pointing_down", "zoomed_in",
                                  "huge_hand_area_averaged", "tiny_hand", "lowres"])
def test_keypoint_stays_on_its_blob_to_a_tenth_of_a_pixel(case):
    """Sub-pixel check of the geometric steps on a landscape photo (the drawn-square tests see
    whole pixels): the blob's centroid in the crop is where the keypoint's crop coordinates say."""
    from dataclasses import replace

    from tracker.geometry import hand_angle
    from train.augment import sample_crop
    cfg = AugmentConfig(photometric=False, negative_p=0.0, flip_p=0.0, full_rotation_p=0.0)
    shape, centre, radius = (300, 520, 3), (300.0, 150.0), 60.0
    cfg = {"upright": cfg, "flip": replace(cfg, flip_p=1.0), "full_rotation": replace(cfg, full_rotation_p=1.0),
           "pointing_down": replace(cfg, angle_sigma_deg=1.0), "zoomed_in": replace(cfg, scale_range=(0.6, 0.6)),
           "huge_hand_area_averaged": replace(cfg, scale_range=(1.35, 1.35)),     # crop shrinks the photo > 2.5x
           "tiny_hand": replace(cfg, scale_range=(0.8, 0.8)), "lowres": replace(cfg, lowres_p=1.0)}[case]
    if case == "huge_hand_area_averaged":
        shape, centre, radius = (700, 1000, 3), (520.0, 330.0), 200.0
    if case == "tiny_hand":
        radius = 16.0
    img, rec = _blob_hand(shape, centre, radius, down=case == "pointing_down")
    if case == "pointing_down":
        assert abs(abs(hand_angle(rec.keypoints)) - np.pi) < 1e-6
    rng = np.random.default_rng(0)
    for _ in range(12):
        s = sample_crop(img, rec, 128, cfg, rng)
        x, y = s["keypoints"][3]
        assert s["visible"][3] and 16 <= x <= 111 and 16 <= y <= 111
        c = s["crop"][..., 1].astype(float)
        x0, y0 = int(round(x)), int(round(y))
        win = c[y0 - 15:y0 + 16, x0 - 15:x0 + 16]
        gy, gx = np.mgrid[y0 - 15:y0 + 16, x0 - 15:x0 + 16]
        cx, cy = (win * gx).sum() / win.sum(), (win * gy).sum() / win.sum()
        assert abs(cx - x) < 0.1 and abs(cy - y) < 0.1, (cx - x, cy - y)
