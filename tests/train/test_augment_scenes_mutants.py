"""Session 43 mutation audit of the training crops, scenes, targets and loaders.

Each test here kills at least one hand-made mutant of train/augment.py, train/scenes.py,
train/train_detector.py's ``scene_targets``, train/train_landmarks.py's ``CropDataset`` or
train/data.py that the existing tests let through (docs/model_history.md, Session 43). The
contracts: augmentations keep keypoints on their pixels and labels follow the pixels (a flip
swaps the side), the crop's presence label and frame-edge cuts follow their documented rules,
scene positives / ignore regions / loss weights are built where the hands are, and the loaders
read the fields the formats define.
"""
from pathlib import Path

import numpy as np
import pytest

from tracker.detector_codec import CenterCodec
from train.augment import AugmentConfig, cut_photo_at_edge, frame_edge, presence_label, sample_crop
from train.data import LEFT, RIGHT, UNKNOWN, HandRecord, load_coco, load_csv

COLORS = np.array([[40 + 12 * i, 255 - 12 * i, (80 * i) % 256] for i in range(17)], np.uint8)

#: every random change off: the training crop is then the runtime's crop of the hand
NO_JITTER = AugmentConfig(photometric=False, negative_p=0.0, flip_p=0.0, full_rotation_p=0.0, angle_sigma_deg=0.0,
                          scale_range=(1.0, 1.0), shift_sigma=0.0)


def _drawn_hand(centre=(112.0, 112.0), radius=45.0, side=LEFT, shape=(224, 224, 3)):
    """A grey photo with a 5x5 coloured square at each of 17 keypoints on a ring, the wrist (0)
    and middle MCP (8) placed so that the hand points to the right (the runtime crop turns it)."""
    img = np.full(shape, 128, np.uint8)
    ang = np.linspace(0, 2 * np.pi, 17, endpoint=False) + 0.3
    kps = np.stack([centre[0] + radius * np.cos(ang), centre[1] + radius * np.sin(ang)], 1)
    kps[0] = centre[0] - radius, centre[1]              # wrist left of the centre
    kps[8] = centre[0] + 0.4 * radius, centre[1] + 3.0  # middle MCP right of it
    kps = kps.round().astype(np.float32)
    for k, c in zip(kps.astype(int), COLORS):
        img[k[1] - 2:k[1] + 3, k[0] - 2:k[0] + 3] = c
    return img, HandRecord(image=Path("hand.png"), keypoints=kps, visible=np.ones(17, np.float32), handedness=side)


def _pairwise(k):
    return np.linalg.norm(k[:, None] - k[None], axis=-1)


# ---------------------------------------------------------------- presence label (augment.py)

@pytest.mark.parametrize("n_visible, n_inside, extent, min_inside, label", [
    (4, 3, 60.0, 0.75, 1),    # exactly 3 of 4 inside: a share >= min_inside is a hand
    (4, 2, 60.0, 0.5, 1),     # exactly half, with the edge positives' 0.5
    (4, 2, 60.0, 0.75, 0),
    (17, 17, 25.0, 0.75, 0),  # all inside but 25 px < 0.2 x 128 = 25.6: too small to be the hand
    (17, 17, 26.0, 0.75, 1),
])
def test_presence_label_boundaries(n_visible, n_inside, extent, min_inside, label):
    """presence_label: 1 when a share >= min_inside of the VISIBLE points is inside the crop and
    their extent is >= 0.2 x the crop side. Unlabelled points (vis 0) do not count either way."""
    kps = np.full((17, 2), 64.0)                       # unlabelled points sit inside: they must not help
    vis = np.zeros(17)
    vis[:n_visible] = 1
    xs = np.linspace(10.0, 10.0 + extent, n_inside)    # inside, spanning ``extent`` px
    kps[:n_inside] = np.stack([xs, np.full(n_inside, 50.0)], 1)
    kps[n_inside:n_visible] = (-20.0, 50.0)            # past the crop's left side
    assert presence_label(kps, vis, 128, min_inside) == label


# ---------------------------------------------------------------- sample_crop geometry

def test_training_crop_without_jitter_is_the_runtime_crop_and_scale_jitter_zooms():
    """With every jitter off, the training crop is the runtime's (roi_from_keypoints: turned so
    the hand points up); a scale s of ``scale_range`` makes the crop side s times the hand's crop
    size, so distances between keypoints in the crop shrink by exactly 1/s."""
    img, rec = _drawn_hand()
    runtime = sample_crop(img, rec, 128, NO_JITTER, np.random.default_rng(0), train=False)
    plain = sample_crop(img, rec, 128, NO_JITTER, np.random.default_rng(0))
    np.testing.assert_allclose(plain["keypoints"], runtime["keypoints"], atol=1e-4)
    # the runtime crop turns the hand upright: its middle MCP straight above its wrist
    d = runtime["keypoints"][8] - runtime["keypoints"][0]
    assert d[1] < -10 and abs(d[0]) < 1e-3 * abs(d[1]) + 1e-3, d
    for s in (0.8, 1.3):
        cfg = AugmentConfig(**{**NO_JITTER.__dict__, "scale_range": (s, s)})
        zoomed = sample_crop(img, rec, 128, cfg, np.random.default_rng(0))
        np.testing.assert_allclose(_pairwise(zoomed["keypoints"]), _pairwise(runtime["keypoints"]) / s,
                                   rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("side, flipped", [(LEFT, RIGHT), (RIGHT, LEFT), (UNKNOWN, UNKNOWN)])
def test_flip_in_sample_crop_mirrors_pixels_and_points_and_swaps_the_side(side, flipped):
    """A mirrored left hand looks like a right hand: the flip in sample_crop (the same draws with
    flip_p 0 and 1) mirrors the crop, maps x -> size - 1 - x with every index kept, and returns the
    swapped side (unknown stays unknown); without the flip the side is the label's."""
    img, rec = _drawn_hand(side=side)
    base = AugmentConfig(photometric=False, negative_p=0.0)
    for seed in range(3):
        a = sample_crop(img, rec, 96, AugmentConfig(**{**base.__dict__, "flip_p": 0.0}), np.random.default_rng(seed))
        b = sample_crop(img, rec, 96, AugmentConfig(**{**base.__dict__, "flip_p": 1.0}), np.random.default_rng(seed))
        assert a["handedness"] == side and b["handedness"] == flipped
        np.testing.assert_array_equal(b["crop"], a["crop"][:, ::-1])
        np.testing.assert_allclose(b["keypoints"][:, 0], 95 - a["keypoints"][:, 0], atol=1e-4)
        np.testing.assert_allclose(b["keypoints"][:, 1], a["keypoints"][:, 1], atol=1e-4)
        np.testing.assert_array_equal(a["visible"], b["visible"])


def test_unlabelled_points_stay_invisible_in_the_crop():
    """``visible`` is "label visible AND inside the crop": a point without a label (hands21 stores
    it as some coordinate with v = 0) that lands inside the crop has no heatmap weight."""
    img, rec = _drawn_hand()
    rec.visible[[3, 9, 14]] = 0.0
    for cfg in (NO_JITTER, AugmentConfig(photometric=False, negative_p=0.0)):
        s = sample_crop(img, rec, 128, cfg, np.random.default_rng(1))
        inside = ((s["keypoints"] >= 0) & (s["keypoints"] <= 127)).all(1)
        assert inside[[3, 9, 14]].all()                  # the stored coordinates do fall in the crop
        np.testing.assert_array_equal(s["visible"], (rec.visible > 0) & inside)


def test_lowres_leaves_the_crop_of_a_small_hand_as_it_is():
    """lowres_p: the crop is resampled to s photo pixels only when it covers more than s photo
    pixels (``covered``: the ROI side in the PHOTO). A small hand's crop (ROI under 64 photo px,
    blown up to 128) is left as it is at s = 64; a large hand's is resampled."""
    for radius, changed in ((12.0, False), (60.0, True)):
        img, rec = _drawn_hand(radius=radius)
        off = sample_crop(img, rec, 128, NO_JITTER, np.random.default_rng(2))
        on = sample_crop(img, rec, 128, AugmentConfig(**{**NO_JITTER.__dict__, "lowres_p": 1.0,
                                                         "lowres_side": (64.0, 64.0)}), np.random.default_rng(2))
        assert (not np.array_equal(on["crop"], off["crop"])) == changed, radius


# ---------------------------------------------------------------- frame-edge cuts

@pytest.mark.parametrize("gone_range", [(0.1, 0.45), (0.6, 1.0)])
def test_frame_edge_lies_halfway_and_takes_at_least_the_share_asked(gone_range):
    """frame_edge: the points past the edge are those with sign * p[axis] > cut, at least
    gone_range[0] of the visible ones (never fewer: a negative keeps under 40% of its hand) and
    at most ceil(gone_range[1] x n); the edge lies halfway between the last point kept and the
    first one gone (no point on it)."""
    i = np.arange(17)
    kps = np.stack([40 + 9 * i, 40 + 9 * ((5 * i) % 17)], 1).astype(np.float32)
    rec = HandRecord(image=None, keypoints=kps, visible=np.ones(17, np.float32), handedness=LEFT)
    rng = np.random.default_rng(8)
    for _ in range(200):
        axis, sign, cut, gone = frame_edge(rec, rng, gone_range)
        proj = sign * kps[:, axis]
        np.testing.assert_array_equal(gone, proj > cut)
        assert gone_range[0] * 17 <= gone.sum() <= np.ceil(gone_range[1] * 17)
        if not gone.all():
            assert cut - proj[~gone].max() == pytest.approx(proj[gone].min() - cut)


@pytest.mark.parametrize("gone_range", [(0.1, 0.45), (0.6, 1.0)])
def test_cut_photo_keeps_exactly_the_pixels_whose_centre_is_before_the_edge(gone_range):
    """cut_photo_at_edge slices the photo at frame_edge's line: a pixel stays when its centre
    (integer coordinate) is not past the edge (sign * p <= cut), and goes otherwise. The photo
    stores each pixel's own x and y, so the slice's content tells which ones were kept."""
    yy, xx = np.mgrid[:224, :224]
    img = np.stack([xx, yy, np.zeros_like(xx)], -1).astype(np.uint8)
    i = np.arange(17)
    kps = np.stack([40 + 9 * i, 40 + 9 * ((5 * i) % 17)], 1).astype(np.float32) + 0.3
    rec = HandRecord(image=None, keypoints=kps, visible=np.ones(17, np.float32), handedness=LEFT)
    for seed in range(24):
        axis, sign, cut, gone = frame_edge(rec, np.random.default_rng(seed), gone_range)
        out, hand = cut_photo_at_edge(img, rec, np.random.default_rng(seed), gone_range)
        kept = np.unique(out[..., axis])
        p = np.arange(224)
        np.testing.assert_array_equal(kept, p[sign * p <= cut], err_msg=f"seed {seed} axis {axis} sign {sign}")
        np.testing.assert_array_equal(hand.visible, (~gone).astype(np.float32))


# ---------------------------------------------------------------- scenes (scenes.py)

def test_hide_covered_turns_a_hand_into_an_ignore_box_only_past_half():
    """A hand with MORE than hidden_share (0.5) of its labelled points covered is left out; one
    with exactly half covered stays a positive with the covered points invisible. 16 labelled
    points (one unlabelled), 8 or 9 of them under a later photo."""
    from train.scenes import SceneConfig, _hide_covered
    kp = np.stack([np.arange(10, 27, dtype=np.float32), np.full(17, 20, np.float32)], 1)   # x = 10..26
    vis = np.ones(17, np.float32)
    vis[16] = 0.0
    own = np.ones((40, 40), np.float32)
    for n_covered, kept in ((8, True), (9, False)):
        cover = np.zeros((40, 40), np.float32)
        cover[:, :10 + n_covered] = 0.9                  # points x = 10 .. 9 + n_covered
        out, hidden = _hide_covered([(kp, vis)], [0], [own, cover], SceneConfig(40, 40))
        if kept:
            assert len(out) == 1 and hidden.shape == (0, 4)
            np.testing.assert_array_equal(out[0][1], ((kp[:, 0] >= 10 + n_covered) & (vis > 0)).astype(np.float32))
        else:
            assert out == [] and hidden.shape == (1, 4)


def _line_hand(x0, step=10.0, y=100.0, n_labelled=17):
    kp = np.stack([x0 + step * np.arange(17), np.full(17, y)], 1).astype(np.float32)
    vis = np.zeros(17, np.float32)
    vis[:n_labelled] = 1.0
    return kp, vis


@pytest.mark.parametrize("x0, n_labelled, positive, ignore_box", [
    # 9 of 17 labelled points inside (x = 0..80): >= half, a positive
    (-80.0, 17, True, None),
    # 5 of 17 inside (x = 0..40): an ignore box, the grown (20% of 160 px) box of ALL labelled
    # points (-120..40), clipped to the canvas
    (-120.0, 17, False, [0.0, 68.0, 72.0, 132.0]),
    # 3 of 3 labelled inside: the minimum of 3 points
    (0.0, 3, True, None),
    # 2 of 4 labelled inside: half, but under 3 points; its box: -20..10 grown by 6
    (-20.0, 4, False, [0.0, 94.0, 16.0, 106.0]),
    # the whole hand at x = 90..250 (past the canvas height 192, within its width 256)
    (90.0, 17, True, None),
])
def test_visible_hands_positives_and_ignore_boxes(x0, n_labelled, positive, ignore_box):
    """visible_hands on a 256 x 192 canvas: a positive has >= max(3, half of its LABELLED points)
    inside, with vis 0 for the points outside; a hand with fewer inside (but some) is an ignore
    box around all its labelled points, grown by 20% of its side and clipped to the canvas."""
    from train.scenes import visible_hands
    kp, vis = _line_hand(x0, n_labelled=n_labelled)
    pos, ign = visible_hands([(kp, vis)], 256, 192)
    inside = (kp[:, 0] >= 0) & (kp[:, 0] < 256) & (vis > 0)
    if positive:
        assert len(pos) == 1 and ign.shape == (0, 4)
        np.testing.assert_array_equal(pos[0][1], inside.astype(np.float32))
    else:
        assert pos == []
        np.testing.assert_allclose(ign, [ignore_box], atol=1e-4)


def test_scene_hand_size_is_hand_frac_of_the_canvas_on_the_longest_side():
    """SceneConfig.hand_frac is "hand extent / canvas side (longest)": a tall, thin hand pasted
    upright with hand_frac (0.3, 0.3) on a 256 x 192 canvas is 0.3 x 256 = 76.8 px tall."""
    from train.scenes import SceneConfig, compose_scene
    kp = np.stack([100 + 5 * np.sin(np.arange(17)), np.linspace(60, 160, 17)], 1).astype(np.float32)  # ~10 x 100
    rec = HandRecord(Path("tall.png"), kp, np.ones(17, np.float32), RIGHT, 1.0, 0)
    cfg = SceneConfig(256, 192, hand_frac=(0.3, 0.3), count_p=(0, 1, 0, 0, 0), rotate_deg=0.0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        _, hands, _ = compose_scene([[rec]], {rec.image: np.full((224, 224, 3), 90, np.uint8)}, cfg, rng,
                                    photometric_aug=False)
        k = hands[0][0]
        ext = k.max(0) - k.min(0)
        # scale 76.8 / 100 (the photo hand's longest side) on both axes
        assert ext[1] == pytest.approx(76.8, abs=1e-3), ext
        assert ext[0] == pytest.approx(0.768 * float(np.ptp(kp[:, 0])), abs=1e-3), ext


def test_pasted_hands_are_placed_apart():
    """compose_scene places each hand's centre away from the hands pasted before it: more than
    half the sum of their sizes (hand_frac x the canvas side) apart, when one of its 8 tries finds
    such a place (always, for two hands this small on 256 x 192). The hands here are two labelled
    points at opposite corners of their photo, in its faded margin, so a later photo covers none
    of them and only the distance rule keeps the hands apart."""
    from train.scenes import SceneConfig, compose_scene
    kp = np.full((17, 2), 112.0, np.float32)
    kp[0], kp[8] = (0.0, 0.0), (223.0, 223.0)
    vis = np.zeros(17, np.float32)
    vis[[0, 8]] = 1.0
    photos = [[HandRecord(Path(f"corner{i}.png"), kp, vis, RIGHT, 1.0, i)] for i in range(2)]
    cache = {p[0].image: np.full((224, 224, 3), 90, np.uint8) for p in photos}
    cfg = SceneConfig(256, 192, hand_frac=(0.2, 0.3), count_p=(0, 0, 1, 0, 0), rotate_deg=0.0,
                      covered_alpha=1.0, hidden_share=1.0)
    rng = np.random.default_rng(0)
    for _ in range(150):
        _, hands, _ = compose_scene(photos, cache, cfg, rng, photometric_aug=False)
        (a, _), (b, _) = hands
        lo_a, hi_a, lo_b, hi_b = np.nanmin(a, 0), np.nanmax(a, 0), np.nanmin(b, 0), np.nanmax(b, 0)
        gap = np.hypot(*((lo_a + hi_a) / 2 - (lo_b + hi_b) / 2))
        assert gap > 0.5 * ((hi_a - lo_a).max() + (hi_b - lo_b).max()), gap


# ---------------------------------------------------------------- detector targets (scene_targets)

@pytest.mark.parametrize("box, cols, rows", [
    ([10.0, 14.0, 21.0, 30.0], (2, 6), (3, 8)),      # cells [4i, 4i + 4) it meets: x 2..5, y 3..7
    ([8.0, 40.0, 24.0, 44.0], (2, 6), (10, 11)),     # on cell borders: no cell it only touches
    ([-9.0, 180.0, 300.0, 250.0], (0, 64), (45, 48)),  # past the canvas: clipped to the grid
])
def test_scene_targets_zero_the_loss_weight_on_every_cell_an_ignore_box_meets(box, cols, rows):
    """scene_targets: an ``extra_ignore`` box (a mined unlabelled hand) zeroes the heatmap loss
    weight of exactly the stride-4 cells it overlaps, rows from y and columns from x; all others
    keep weight 1."""
    from train.train_detector import scene_targets
    codec = CenterCodec((256, 192), 4)
    _, _, _, ign, boxes, ignore = scene_targets([], codec, 256, 192, np.array([box], np.float32))
    expected = np.ones((1, 48, 64), np.float32)
    expected[0, rows[0]:rows[1], cols[0]:cols[1]] = 0.0
    np.testing.assert_array_equal(ign, expected)
    assert boxes.shape == (0, 4) and len(ignore) == 1


def test_scene_targets_a_positive_inside_an_ignore_box_still_counts():
    """"positives always count": a labelled hand lying inside an unlabelled-hand box keeps loss
    weight 1 on its heatmap peak (heat > 0.3), the rest of the box is 0."""
    from train.train_detector import scene_targets
    codec = CenterCodec((256, 192), 4)
    kp, vis = _line_hand(100.0, step=3.0, y=80.0)                      # x 100..148 at y 80
    kp[:, 1] += 10 * np.sin(np.arange(17))
    heat, _, _, ign, boxes, _ = scene_targets([(kp, vis)], codec, 256, 192,
                                              np.array([[60.0, 40.0, 200.0, 120.0]], np.float32))
    assert len(boxes) == 1
    peak = heat[0] > 0.3
    assert peak.sum() >= 1 and (ign[0][peak] == 1.0).all()
    assert ign[0, 12, 20] == 0.0                                        # a cell of the box away from the hand


def test_crop_dataset_gives_no_heatmap_weight_to_crops_without_a_hand():
    """CropDataset: a crop labelled "no hand" (presence 0) teaches no keypoints (all weights 0),
    though some of the hand's points may lie in it; crops with a hand keep their weights."""
    pytest.importorskip("torch")
    from tracker.codec import HeatmapCodec
    from train.train_landmarks import CropDataset
    img, rec = _drawn_hand()
    cfg = AugmentConfig(photometric=False, negative_p=0.5)
    ds = CropDataset([rec], {rec.image: img}, HeatmapCodec((64, 64), (16, 16)), cfg, seed=0)
    seen = {0: 0, 1: 0}
    for _ in range(40):
        _, _, weight, presence, _, _ = ds[0]
        p = int(presence.item())
        seen[p] += 1
        if p == 0:
            assert float(weight.sum()) == 0.0
        else:
            assert float(weight.sum()) > 0.0
    assert seen[0] >= 5 and seen[1] >= 5


# ---------------------------------------------------------------- loaders (data.py)

def _coco_file(tmp_path, ann_extra=None, vis21=None):
    import json
    kp = []
    for j in range(21):
        kp += [10.0 + j, 20.0 + 3 * j, 2 if vis21 is None else vis21[j]]
    ann = {"id": 1, "image_id": 1, "keypoints": kp, "handedness": "left", **(ann_extra or {})}
    p = tmp_path / "train.json"
    p.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [ann]}))
    return p


@pytest.mark.parametrize("visible21, loaded", [([8], False), ([4, 8], True), ([0, 5, 9, 13, 17], True)])
def test_coco_hand_needs_two_visible_points_of_the_17(tmp_path, visible21, loaded):
    """A COCO hand with fewer than 2 visible points of the 17-point layout is refused (one point
    gives no box, no crop); 2 are enough. The 5 palm points give 6 (with the palm centre)."""
    v = [0] * 21
    for j in visible21:
        v[j] = 2
    p = _coco_file(tmp_path, vis21=v)
    if not loaded:
        with pytest.raises(ValueError, match="fewer than 2 visible keypoints"):
            load_coco(p)
        return
    (rec,) = load_coco(p)
    assert rec.visible.sum() == (6 if len(visible21) == 5 else 2)


@pytest.mark.parametrize("bbox, side", [
    ([5.0, 7.0, 30.0, 50.0], 50.0),     # COCO bbox is x, y, width, height: the side is max(w, h)
    ([300.0, 400.0, 40.0, 12.0], 40.0),
    (None, 60.0),                        # no bbox: the visible points' box, 20 x 60 (y = 20 + 3j)
])
def test_coco_norm_side_is_the_longest_side_of_the_hand_box(tmp_path, bbox, side):
    """HandRecord.norm_side (the PCK normaliser): the source's bbox side when given (width and
    height, not its x, y corner), else the longest side of the visible keypoints' box."""
    p = _coco_file(tmp_path, {"bbox": bbox} if bbox is not None else None)
    (rec,) = load_coco(p)
    assert rec.norm_side == pytest.approx(side)


def test_csv_hands_of_one_image_on_several_rows_share_its_id(tmp_path):
    """An image named on several rows (one hand per row) is one photo: every hand gets the
    ``image_id`` of its first row (photo-level metrics group by it) and knows the other hands."""
    a = np.arange(34, dtype=np.float32)
    rows = ["image,x0,y0"] + [",".join(["a.png"] + [f"{v:g}" for v in a + 50 * i]) for i in range(3)]
    rows.append(",".join(["b.png"] + [f"{v:g}" for v in a]))
    for n in ("a.png", "b.png"):
        (tmp_path / n).touch()
    p = tmp_path / "labels.csv"
    p.write_text("\n".join(rows) + "\n")
    recs = load_csv(p)
    assert [r.image.name for r in recs] == ["a.png"] * 3 + ["b.png"]
    assert [r.image_id for r in recs] == [2, 2, 2, 5]      # 1-based rows: a.png first on row 2
    assert [len(r.others) for r in recs] == [2, 2, 2, 0]
