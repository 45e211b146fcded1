"""Session 44 mutation audit of the training-scene composition: train/scenes.py's compose_scene and
its helpers beyond the per-hand targets (audited in Session 43, test_augment_scenes_mutants.py),
and train/train_detector.py's group_by_image, SceneDataset, make_val_scenes and the train / val
photos of train().

Each test kills at least one hand-made mutant that the existing tests let through, or caught
only by accident (a shifted random stream, a figure that moved). The contracts checked (assets/MODEL_CARD.md "Training scenes", the docstrings and option help):

* a default scene pastes 0-4 photos, each hand at 5%-60% of the scene's longest side, turned by
  N(0, 30 deg) and flipped (a flip mirrors the hand: its keypoint polygon changes orientation);
* the photos of a scene are drawn at random from all of them, each as often;
* hands are placed anywhere on the canvas, partly outside too; photos fade at their border and
  are opaque inside;
* positions that cover fewer keypoints of earlier hands are preferred;
* ``full_rotation_p`` 0 draws no extra random number (the scenes of a seed stay those of before);
* background regions stay away from the hands of the photo they are cut from, and are scaled
  up, not stretched;
* the default photometric change is the tracker preset without occluders;
* the same seed composes the same scenes (compose_scene, SceneDataset, make_val_scenes: seed 321);
* group_by_image gives each photo (its path) all its hands;
* SceneDataset zeroes the loss weight where a mined unlabelled hand is pasted;
* make_val_scenes' boxes are those of the positives' in-canvas labelled points, and its ignore
  regions include compose_scene's (hands hidden under later photos);
* train() composes the val scenes from the val photos only, upright, and trains on the train photos.
"""
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

import train.scenes as S
from train.augment import AUGMENT_PRESETS, AugmentConfig
from train.data import RIGHT, HandRecord
from train.scenes import SceneConfig, _background, compose_scene

GREEN = (0, 255, 0)
W, H = 256, 192


def _ring(centre=(112.0, 112.0), radius=40.0):
    """17 points on a ring, in order of increasing angle (image coordinates); the wrist (0) at its
    bottom and the middle MCP (8) straight above it, at its top: the hand points up, 2 x radius tall."""
    ang = np.pi / 2 + np.linspace(0, 2 * np.pi, 17, endpoint=False)
    kp = np.stack([centre[0] + radius * np.cos(ang), centre[1] + radius * np.sin(ang)], 1)
    kp[8] = centre[0], centre[1] - radius
    return kp.astype(np.float32)


def _rec(name, kp=None, vis=None, image_id=0):
    kp = _ring() if kp is None else kp
    vis = np.ones(17, np.float32) if vis is None else vis
    return HandRecord(Path(name), kp, vis, RIGHT, 1.0, image_id)


def _signed_area(kp):
    """Shoelace area of the keypoint polygon: its sign is kept by turns and scaling, changed by a mirror."""
    x, y = kp[:, 0].astype(np.float64), kp[:, 1].astype(np.float64)
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def _green(img):
    return (img[..., 1] > 200) & (img[..., 0] < 50) & (img[..., 2] < 50)


# every pasted hand is kept with all its points: nothing hidden by later photos or faded margins
KEEP_ALL = dict(covered_alpha=1.0, hidden_share=1.0)


def _default_scene_hands(n, seed, **changes):
    """The hands of ``n`` scenes with SceneConfig's defaults (except ``changes``), of three grey
    photos whose upright ring hand is 80 px tall."""
    cfg = replace(SceneConfig(), **KEEP_ALL, **changes)
    photos = [[_rec(f"p{i}.png", image_id=i)] for i in range(3)]
    cache = {p[0].image: np.full((224, 224, 3), 90, np.uint8) for p in photos}
    rng = np.random.default_rng(seed)
    return [compose_scene(photos, cache, cfg, rng, photometric_aug=False)[1] for _ in range(n)]


# ---------------------------------------------------------------- defaults: count, size, turn, flip

def test_default_scenes_paste_0_to_4_photos_with_hands_at_5_to_60_percent_of_the_side():
    """MODEL_CARD: "0-4 ... photos per scene, each pasted ... at a random scale (hand extent 5%-60%
    of the scene side)" (SceneConfig.hand_frac: of the longest side). With no turn, a hand's extent
    in the scene is its drawn size: over 160 default scenes every count 0..4 occurs, none more,
    and the sizes fill [0.05, 0.6] of 256 px up to both ends."""
    assert (SceneConfig().width, SceneConfig().height) == (W, H)
    scenes = _default_scene_hands(160, seed=0, rotate_deg=0.0)
    counts = Counter(len(h) for h in scenes)
    assert set(counts) == {0, 1, 2, 3, 4}, counts
    frac = np.array([float((kp.max(0) - kp.min(0)).max()) / W for hands in scenes for kp, _ in hands])
    assert len(frac) > 200
    assert frac.min() >= 0.05 - 1e-4 and frac.max() <= 0.6 + 1e-4, (frac.min(), frac.max())
    assert frac.min() < 0.08 and frac.max() > 0.57, (frac.min(), frac.max())


def test_default_scenes_turn_hands_by_30_degrees_and_flip_about_half():
    """MODEL_CARD: "rotation N(0, 30 deg) and flip". The photo's hand points straight up, so the
    wrist -> middle MCP direction in the scene is the turn (a mirror keeps "up"); a flipped hand's
    keypoint polygon runs the other way round (a turn or a scale never changes that)."""
    scenes = _default_scene_hands(160, seed=1)
    kps = [kp for hands in scenes for kp, _ in hands]
    v = np.array([kp[8] - kp[0] for kp in kps], np.float64)
    ang = np.degrees(np.arctan2(v[:, 0], -v[:, 1]))
    assert abs(ang.mean()) < 5.0 and 25.0 < ang.std() < 35.0, (ang.mean(), ang.std())
    mirrored = np.mean([_signed_area(kp) < 0 for kp in kps])
    assert 0.3 < mirrored < 0.7, mirrored
    # flip_p 0 / 1: never / always mirrored
    for flip_p, want in ((0.0, False), (1.0, True)):
        hands = [kp for h in _default_scene_hands(12, seed=2, flip_p=flip_p) for kp, _ in h]
        assert hands and all((_signed_area(kp) < 0) == want for kp in hands), flip_p


# ---------------------------------------------------------------- which photos

def test_scene_photos_are_drawn_from_all_photos_alike_and_mixed():
    """Every pasted photo is drawn at random from all of them (``records_by_image``): with three
    photos and 4 per scene each is pasted about as often, and most scenes mix photos. Each photo's
    hand leaves a different point unlabelled (NaN in the scene), which tells them apart."""
    photos = []
    for i in range(3):
        vis = np.ones(17, np.float32)
        vis[16 - i] = 0.0
        photos.append([_rec(f"p{i}.png", vis=vis, image_id=i)])
    cache = {p[0].image: np.full((224, 224, 3), 90, np.uint8) for p in photos}
    cfg = SceneConfig(W, H, hand_frac=(0.1, 0.2), count_p=(0, 0, 0, 0, 1), **KEEP_ALL)
    rng = np.random.default_rng(3)
    per_photo, mixed = Counter(), 0
    for _ in range(60):
        _, hands, _ = compose_scene(photos, cache, cfg, rng, photometric_aug=False)
        assert len(hands) == 4
        ids = [next(i for i in range(3) if np.isnan(kp[16 - i, 0])) for kp, _ in hands]
        per_photo.update(ids)
        mixed += len(set(ids)) > 1
    assert all(50 <= per_photo[i] <= 110 for i in range(3)), per_photo   # 80 each expected
    assert mixed >= 48, mixed                                             # 1 - 3 / 81 mix


# ---------------------------------------------------------------- placement and paste

def test_hands_are_placed_anywhere_on_the_canvas_some_partly_outside():
    """compose_scene: "place the hand centre anywhere (it may be partly outside the canvas)";
    MODEL_CARD: "position (possibly partly outside)". Small hands (5% of the side), one per scene,
    not turned: their centres spread over the whole 256 x 192 canvas, to within 3% of each side
    and over its four quarters alike, and some hands have points past its sides."""
    cfg = SceneConfig(W, H, hand_frac=(0.05, 0.05), count_p=(0, 1, 0, 0, 0), rotate_deg=0.0, **KEEP_ALL)
    rec = _rec("p.png")
    cache = {rec.image: np.full((224, 224, 3), 90, np.uint8)}
    rng = np.random.default_rng(7)
    centres, cut = [], 0
    for _ in range(200):
        _, hands, _ = compose_scene([[rec]], cache, cfg, rng, photometric_aug=False)
        kp = hands[0][0]
        centres.append((kp.min(0) + kp.max(0)) / 2)
        cut += bool(((kp < 0) | (kp >= [W, H])).any())
    c = np.array(centres)
    assert c[:, 0].min() < 0.03 * W and c[:, 0].max() > 0.97 * W, (c[:, 0].min(), c[:, 0].max())
    assert c[:, 1].min() < 0.03 * H and c[:, 1].max() > 0.97 * H, (c[:, 1].min(), c[:, 1].max())
    quarters = Counter(zip(c[:, 0] < W / 2, c[:, 1] < H / 2))
    assert all(28 <= quarters[q] <= 72 for q in ((0, 0), (0, 1), (1, 0), (1, 1))), quarters
    assert cut >= 15, cut


def test_pasted_photos_fade_at_their_border_and_are_opaque_inside(monkeypatch):
    """The photo is pasted with a feathered edge "so its border is not a hand cue" (compose_scene;
    MODEL_CARD: "pasted with a feathered edge"), its faded margin "up to 15% of its side"
    (_hide_covered). A white photo on a black background, not turned: the scene's brightness is the
    paste's opacity. Along the photo's middle row, its pixels at the border are mostly faded (median
    opacity under 0.5), and everything further than 30% of the side inside (twice the margin: its
    blur) is opaque in every scene."""
    monkeypatch.setattr(S, "_background", lambda imgs, boxes, w, h, rng: np.zeros((h, w, 3), np.uint8))
    rec = _rec("white.png", kp=_ring(radius=56.0))          # 112 px tall: rows 56..168
    img = np.full((224, 224, 3), 255, np.uint8)
    cfg = SceneConfig(W, H, hand_frac=(0.4, 0.4), count_p=(0, 1, 0, 0, 0), rotate_deg=0.0, flip_p=0.0,
                      **KEEP_ALL)
    rng = np.random.default_rng(6)
    edge, inner = [], []
    for _ in range(40):
        scene, hands, _ = compose_scene([[rec]], {rec.image: img}, cfg, rng, photometric_aug=False)
        kp = hands[0][0]
        s = float(kp[:, 1].max() - kp[:, 1].min()) / 112.0   # photo -> scene: p * s + t
        t = kp[0] - s * rec.keypoints[0]
        y = int(round(112 * s + t[1]))                       # the photo's middle row
        if not 0 <= y < H:
            continue
        xp = (np.arange(W) - t[0]) / s                       # photo x of each scene column
        opacity = scene[y, :, 0].astype(float) / 255
        at_edge = ((xp >= 0) & (xp <= 2)) | ((xp >= 221) & (xp <= 223))
        inside = (xp >= 0.3 * 224) & (xp <= 0.7 * 224)
        if at_edge.any():
            edge.append(opacity[at_edge].mean())
        if inside.any():
            inner.append(opacity[inside].min())
    assert len(edge) >= 20 and len(inner) >= 20, (len(edge), len(inner))
    assert np.median(edge) < 0.5, np.round(edge, 2)
    assert min(inner) > 0.97, np.round(inner, 3)


# ---------------------------------------------------------------- placement prefers uncovered points

def _photo_with_green_points():
    img = np.full((224, 224, 3), 128, np.uint8)
    kp = _ring(radius=35.0)
    for x, y in kp.round().astype(int):
        img[y - 3:y + 4, x - 3:x + 4] = GREEN
    return img, kp


def _covered_points(seed=4, n=40):
    """(points not showing their green, points checked): labelled in-canvas points of all pasted
    hands (none hidden) that a later photo covers, 4 photos per scene."""
    img, kp = _photo_with_green_points()
    photos = [[_rec(f"g{i}.png", kp=kp, image_id=i)] for i in range(4)]
    cache = {p[0].image: img for p in photos}
    cfg = SceneConfig(W, H, hand_frac=(0.15, 0.2), count_p=(0, 0, 0, 0, 1), rotate_deg=0.0, **KEEP_ALL)
    rng = np.random.default_rng(seed)
    bad = checked = 0
    for _ in range(n):
        scene, hands, _ = compose_scene(photos, cache, cfg, rng, photometric_aug=False)
        for k, v in hands:
            for x, y in np.round(k[v > 0]).astype(int):
                if 0 <= x < W and 0 <= y < H:
                    checked += 1
                    bad += not _green(scene[y:y + 1, x:x + 1])[0, 0]
    return bad, checked


def test_placement_prefers_positions_covering_fewer_earlier_keypoints(monkeypatch):
    """compose_scene: "positions that cover fewer earlier keypoints are preferred". With the
    hiding rules off, a composer that only keeps hands apart (its count of covered points made
    0) lets later photos cover more than twice as many earlier points as the real one."""
    bad, checked = _covered_points()
    monkeypatch.setattr(S, "_inside_photo", lambda *a: 0)
    blind_bad, blind_checked = _covered_points()
    assert checked > 400 and blind_checked > 400
    assert blind_bad > 0.05 * blind_checked, (blind_bad, blind_checked)
    assert bad / checked < 0.5 * blind_bad / blind_checked, (bad, checked, blind_bad, blind_checked)


# ---------------------------------------------------------------- random draws

class _CountingRng:
    """A numpy Generator that counts the draws made through it."""

    def __init__(self, seed):
        self._g, self.draws = np.random.default_rng(seed), 0

    def __getattr__(self, name):
        f = getattr(self._g, name)

        def draw(*a, **k):
            self.draws += 1
            return f(*a, **k)
        return draw


def test_full_rotation_p_zero_draws_no_extra_random_number():
    """SceneConfig.full_rotation_p: "0 draws no extra random number, so the scenes of a seed stay
    those of earlier versions". With one photo per scene (one placement try: nothing to keep
    apart from), a scene with full_rotation_p 1 makes exactly one draw more than with 0 (whether
    to turn fully; the angle itself replaces the N(0, rotate_deg) draw), and 0 gives the same
    scene as a composer without the option."""
    photos = [[_rec("p.png")]]
    cache = {photos[0][0].image: np.full((224, 224, 3), 90, np.uint8)}
    for seed in range(5):
        n = {}
        for p in (0.0, 1.0):
            rng = _CountingRng(seed)
            compose_scene(photos, cache, SceneConfig(W, H, count_p=(0, 1, 0, 0, 0), full_rotation_p=p), rng,
                          photometric_aug=False)
            n[p] = rng.draws
        assert n[1.0] == n[0.0] + 1, (seed, n)


def test_the_same_seed_composes_the_same_scenes():
    """"The same command with the same --seed draws the same crops and scenes" (docs/training.md):
    compose_scene draws everything from the generator it is given, background blur included (small
    hands in a corner of noisy photos: most backgrounds are photo regions, blurred)."""
    photos = [[_rec(f"p{i}.png", kp=_ring((50.0, 50.0), 20.0), image_id=i)] for i in range(3)]
    rng0 = np.random.default_rng(0)
    cache = {p[0].image: rng0.integers(0, 256, (224, 224, 3), dtype=np.uint8) for p in photos}
    runs = []
    for _ in range(2):
        rng = np.random.default_rng(11)
        runs.append([compose_scene(photos, cache, SceneConfig(), rng) for _ in range(8)])
    for (a_img, a_hands, a_ign), (b_img, b_hands, b_ign) in zip(*runs):
        np.testing.assert_array_equal(a_img, b_img)
        np.testing.assert_array_equal(a_ign, b_ign)
        assert len(a_hands) == len(b_hands)
        for (ka, va), (kb, vb) in zip(a_hands, b_hands):
            np.testing.assert_array_equal(ka, kb)
            np.testing.assert_array_equal(va, vb)


# ---------------------------------------------------------------- backgrounds

def test_background_regions_avoid_the_hands_of_the_photo_they_are_cut_from():
    """``boxes[k]`` are the hands of ``images[k]``: a region of photo 1 is checked against photo 1's
    hands (a green block), not photo 0's (elsewhere)."""
    img0 = np.full((224, 224, 3), 128, np.uint8)
    img1 = img0.copy()
    img1[150:200, 150:200] = GREEN
    boxes = [np.array([[20, 20, 80, 80]], np.float32), np.array([[150, 150, 200, 200]], np.float32)]
    rng = np.random.default_rng(1)
    from_photo = with_green = 0
    for _ in range(80):
        bg = _background([img0, img1], boxes, W, H, rng)
        photo = (np.abs(bg.astype(int) - 128).max(-1) <= 3).mean() > 0.3
        from_photo += photo
        with_green += photo and _green(bg).mean() > 0.01
    assert from_photo >= 20 and with_green == 0, (from_photo, with_green)


def test_background_regions_are_scaled_up_not_stretched():
    """Backgrounds are "photo regions ... upscaled": a region is cut at the scene's aspect and
    resized by one factor on both axes. The photo stores each pixel's x (blue) and y (green), so
    the background's gradients tell its scale along each axis."""
    yy, xx = np.mgrid[:224, :224]
    img = np.stack([xx, yy, np.full_like(xx, 128)], -1).astype(np.uint8)
    rng = np.random.default_rng(2)
    ratios = []
    for _ in range(40):
        bg = _background([img], [np.array([[0, 0, 1, 1]], np.float32)], W, H, rng).astype(float)
        if np.abs(bg[..., 2] - 128).max() > 2:
            continue                                        # a synthetic texture
        dx = (bg[96, 200, 0] - bg[96, 56, 0]) / 144         # photo px per scene px along x
        dy = (bg[150, 128, 1] - bg[42, 128, 1]) / 108       # and along y
        ratios.append(dx / dy)
    assert len(ratios) >= 15
    np.testing.assert_allclose(ratios, 1.0, atol=0.1)


def test_default_photometric_change_is_the_tracker_preset_without_occluders(monkeypatch):
    """SceneDataset's aug None is "compose_scene's default (the tracker preset without occluders)";
    an ``aug`` given is used as it is."""
    seen = []
    monkeypatch.setattr(S, "photometric", lambda img, cfg, rng: seen.append(cfg) or img)
    photos = [[_rec("p.png")]]
    cache = {photos[0][0].image: np.full((224, 224, 3), 90, np.uint8)}
    compose_scene(photos, cache, SceneConfig(W, H), np.random.default_rng(0))
    assert seen == [replace(AUGMENT_PRESETS["tracker"], occlusion_p=0.0)]
    mine = AugmentConfig(grey_p=1.0)
    compose_scene(photos, cache, SceneConfig(W, H), np.random.default_rng(0), aug=mine)
    assert seen[1] is mine


# ---------------------------------------------------------------- train_detector: groups, dataset

def test_group_by_image_gives_each_photo_all_its_hands():
    """One group per photo (its path): a photo's hands together (every labelled hand of a pasted
    photo is a positive), photos of the same file name in other folders apart."""
    from train.train_detector import group_by_image
    recs = [_rec("a/x.png", image_id=1), _rec("b/x.png", image_id=2), _rec("a/x.png", image_id=1),
            _rec("c/y.png", image_id=3)]
    groups = group_by_image(recs)
    assert sorted(sorted(id(r) for r in g) for g in groups) == sorted(
        [sorted([id(recs[0]), id(recs[2])]), [id(recs[1])], [id(recs[3])]])
    assert all(len({r.image for r in g}) == 1 for g in groups)


def _dataset_photos():
    """Three grey photos with a ring hand at the top left and, each, a green block no one labelled
    (mined box) at the bottom right."""
    img = np.full((224, 224, 3), 128, np.uint8)
    img[130:180, 110:170] = GREEN
    photos = [[_rec(f"d{i}.png", kp=_ring((60.0, 60.0), 30.0), image_id=i)] for i in range(3)]
    cache = {p[0].image: img for p in photos}
    unl = {str(p[0].image): np.array([[110, 130, 170, 180]], np.float32) for p in photos}
    return photos, cache, unl


def test_scene_dataset_repeats_with_its_seed():
    """SceneDataset draws its scenes from a generator seeded by ``seed`` (--seed, rank and start
    step): the same seed gives the same items, another seed others."""
    pytest.importorskip("torch")
    from tracker.detector_codec import CenterCodec
    from train.train_detector import SceneDataset
    photos, cache, _ = _dataset_photos()
    codec, cfg = CenterCodec((64, 48), 4), SceneConfig(64, 48)
    items = {s: [SceneDataset(photos, cache, codec, cfg, 3, seed=s)[i] for i in range(3)] for s in (5, 6)}
    again = [SceneDataset(photos, cache, codec, cfg, 3, seed=5)[i] for i in range(3)]
    for a, b in zip(items[5], again):
        for x, y in zip(a, b):
            assert x.shape == y.shape and bool((x == y).all())
    assert any(not bool((a[0] == b[0]).all()) for a, b in zip(items[5], items[6]))


def test_scene_dataset_gives_no_loss_weight_where_an_unlabelled_hand_is_pasted(monkeypatch):
    """SceneDataset with ``unlabelled``: "ignores them in the loss where their photo is pasted"
    (MODEL_CARD): every stride-4 cell showing the mined hand's green has heatmap loss weight 0."""
    pytest.importorskip("torch")
    from tracker.detector_codec import CenterCodec
    from train.train_detector import SceneDataset
    monkeypatch.setattr(S, "photometric", lambda img, cfg, rng: img)   # keep the green green
    monkeypatch.setattr(S, "_background", lambda imgs, boxes, w, h, rng: np.full((h, w, 3), 60, np.uint8))  # not green
    photos, cache, unl = _dataset_photos()
    cfg = SceneConfig(W, H, hand_frac=(0.2, 0.3), count_p=(0, 1, 0, 0, 0))
    ds = SceneDataset(photos, cache, CenterCodec((W, H), 4), cfg, 30, seed=0, unlabelled=unl)
    seen = 0
    for i in range(30):
        img, _, _, _, ign = ds[i]
        # the block's pixels, less its 1-px rim (the resampling blurs the box edge by a pixel)
        g = cv2.erode(_green(img.numpy()).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        if g.sum() < 30:
            continue
        seen += 1
        ys, xs = np.nonzero(g)
        assert (ign[0].numpy()[ys // 4, xs // 4] == 0).all(), i
    assert seen >= 8, seen


# ---------------------------------------------------------------- make_val_scenes

def _val_photos():
    img, kp = _photo_with_green_points()
    photos = [[_rec(f"v{i}.png", kp=kp, image_id=i)] for i in range(4)]
    return photos, {p[0].image: img for p in photos}


def test_val_scenes_repeat_with_seed_321():
    """"training validates on --eval-scenes (300) scenes of seed 321" (evaluate_scenes): the same
    scenes at every call, those of seed=321, others with another seed."""
    from train.train_detector import make_val_scenes
    photos, cache = _val_photos()
    cfg = SceneConfig(W, H)
    a, b = make_val_scenes(photos, cache, cfg, 4), make_val_scenes(photos, cache, cfg, 4, seed=321)
    c = make_val_scenes(photos, cache, cfg, 4, seed=322)
    for (ia, ba, ga), (ib, bb, gb) in zip(a, b):
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(ba, bb)
        np.testing.assert_array_equal(ga, gb)
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(a, c))


def test_val_scene_boxes_are_the_positives_in_canvas_points_and_hidden_hands_are_ignored():
    """make_val_scenes composes its scenes as compose_scene does from ``seed``'s generator; a
    scene's boxes are those of its positives (>= max(3, half) of the labelled points inside the
    canvas: visible_hands), around the labelled points inside the canvas only, and its ignore
    regions hold compose_scene's (hands hidden under later photos) besides the hands cut by the
    canvas edge. A dense layout (4 photos at 30-35%) hides and cuts hands."""
    from train.train_detector import make_val_scenes
    photos, cache = _val_photos()
    cfg = SceneConfig(W, H, hand_frac=(0.3, 0.35), count_p=(0, 0, 0, 0, 1))
    scenes = make_val_scenes(photos, cache, cfg, 20, seed=9)
    rng = np.random.default_rng(9)
    cut = hidden = 0
    for img, boxes, ignore in scenes:
        c_img, hands, c_ign = compose_scene(photos, cache, cfg, rng)
        np.testing.assert_array_equal(img, c_img)
        want = []
        for kp, v in hands:
            lab = v > 0
            inside = lab & (kp[:, 0] >= 0) & (kp[:, 0] < W) & (kp[:, 1] >= 0) & (kp[:, 1] < H)
            if inside.sum() >= max(3, 0.5 * lab.sum()):
                want.append(np.concatenate([kp[inside].min(0), kp[inside].max(0)]))
                cut += inside.sum() < lab.sum()
        want = np.array(want, np.float32).reshape(-1, 4)
        np.testing.assert_allclose(boxes[np.lexsort(boxes.T[::-1])], want[np.lexsort(want.T[::-1])], atol=1e-4)
        hidden += len(c_ign)
        for b in c_ign:
            assert np.isclose(ignore, b, atol=1e-4).all(1).any(), (b, ignore)
    assert cut >= 3 and hidden >= 3, (cut, hidden)


# ---------------------------------------------------------------- train(): which photos, which config

def test_training_composes_val_scenes_from_val_photos_upright_and_trains_on_train_photos(tmp_path, monkeypatch):
    """MODEL_CARD: val scenes are composed "from val photos only"; --full-rotation-p: "share of
    training photos pasted at any angle ...; val stays upright". A data folder whose train and
    val splits hold different photos: the val scenes see only the val photos with
    full_rotation_p 0, the training scenes only the train photos with the option's share."""
    pytest.importorskip("torch")
    import train.train_detector as td
    from .test_train_cli import tiny_coco
    data = tiny_coco(tmp_path / "data", n=8)
    for split, keep in (("train", range(5)), ("val", range(5, 8))):
        d = json.loads((data / f"{split}.json").read_text())
        d["images"] = [i for i in d["images"] if i["id"] in keep]
        d["annotations"] = [a for a in d["annotations"] if a["image_id"] in keep]
        (data / f"{split}.json").write_text(json.dumps(d))

    class Stop(Exception):
        pass
    seen = {}

    def val_scenes(groups, cache, scfg, n, seed=321):
        seen["val"] = groups, scfg
        return []

    def dataset(groups, cache, codec, scfg, n, **kw):
        seen["train"] = groups, scfg
        raise Stop

    monkeypatch.setattr(td, "make_val_scenes", val_scenes)
    monkeypatch.setattr(td, "SceneDataset", dataset)
    with pytest.raises(Stop):
        td.train(td.DetTrainConfig(data=str(data), out=str(tmp_path / "run"), input_width=64, input_height=48,
                                   batch_size=2, workers=0, threads=1, eval_scenes=2, epoch_scenes=4, minutes=5,
                                   full_rotation_p=0.5))
    names = {k: {r.image.name for g in seen[k][0] for r in g} for k in ("val", "train")}
    assert names == {"val": {"5.png", "6.png", "7.png"}, "train": {f"{i}.png" for i in range(5)}}, names
    assert seen["val"][1].full_rotation_p == 0.0 and seen["train"][1].full_rotation_p == 0.5
    assert (seen["val"][1].width, seen["val"][1].height) == (64, 48) == (seen["train"][1].width,
                                                                         seen["train"][1].height)
