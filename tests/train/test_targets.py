"""Audit of the training targets: what the detector is taught about a hand is what its codec
decodes, also for hands whose labels miss a point."""
from pathlib import Path

import numpy as np
import pytest

from train.data import RIGHT, HandRecord
from train.scenes import SceneConfig, compose_scene
from tracker.detector_codec import CenterCodec


def _upright_hand(wrist_labelled: bool = True):
    """A hand pointing up in a 224x224 photo; without ``wrist_labelled`` its wrist has no label,
    stored as hands21 stores a point outside the photo: (0, 0) with v = 0."""
    kp = np.stack([np.full(17, 112.0), np.linspace(170, 60, 17)], 1).astype(np.float32)
    kp[:, 0] += 20 * np.sin(np.arange(17))   # some width
    vis = np.ones(17, np.float32)
    if not wrist_labelled:
        kp[0], vis[0] = 0.0, 0.0
    return HandRecord(Path("up.webp"), kp, vis, RIGHT, 1.0, 0)


def _regression_wrists(rec, seed=0, n=12, **scene):
    """For ``n`` scenes of ``rec``'s photo: the scene-px wrist each regression cell with weight
    teaches (as CenterCodec.decode reads it) and the hand's other points in the scene."""
    from train.train_detector import scene_targets
    codec = CenterCodec((256, 192), 4)
    cfg = SceneConfig(256, 192, count_p=(0, 1, 0, 0, 0), **scene)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        img, hands, extra = compose_scene([[rec]], {rec.image: np.full((224, 224, 3), 90, np.uint8)}, cfg, rng,
                                          photometric_aug=False)
        heat, reg, mask, _, boxes, _ = scene_targets(hands, codec, 256, 192, extra)
        js, is_ = np.nonzero(mask[0])
        cues = []
        for j, i in zip(js, is_):
            r = reg[:, j, i]
            c = np.array([(i + 0.5 + r[0]) * 4, (j + 0.5 + r[1]) * 4])
            side = max(np.exp(r[2]), np.exp(r[3])) * 4
            cues.append(c + r[4:6] * side)
        out.append((len(boxes), np.array(cues).reshape(-1, 2), hands[0][0]))
    return out


@pytest.mark.filterwarnings("error")   # NaN points: no "invalid value encountered in cast"
def test_a_wrist_without_label_teaches_no_orientation_cue():
    """12.5% of hands21's hands have no wrist label (it lies outside the photo: stored as (0, 0),
    v = 0). Their scenes taught the detector a "wrist" at the photo's top-left corner, an
    orientation cue pointing anywhere (often down); now their wrist target is NaN (left out of
    the loss) while their box is still taught."""
    hands = 0
    for n_pos, cues, kp in _regression_wrists(_upright_hand(wrist_labelled=False), hand_frac=(0.2, 0.4)):
        hands += n_pos
        if n_pos:
            assert len(cues) >= 4 and np.isnan(cues).all(), cues
    assert hands >= 8


def test_the_loss_leaves_an_unknown_cue_out_and_teaches_the_box():
    """detector_loss: a NaN cue target adds nothing (no gradient on those channels, a finite loss),
    the box channels of the same cell are still taught."""
    import torch
    from train.train_detector import detector_loss
    t_reg = torch.zeros(1, 8, 4, 4)
    t_reg[0, 0:4, 1, 1] = torch.tensor([0.1, -0.2, 1.0, 1.2])
    t_reg[0, 4:6, 1, 1] = float("nan")
    t_reg[0, 6:8, 1, 1] = torch.tensor([0.0, -0.4])
    mask = torch.zeros(1, 1, 4, 4)
    mask[0, 0, 1, 1] = 1.0
    reg = torch.full((1, 8, 4, 4), 0.5, requires_grad=True)
    heat = torch.zeros(1, 1, 4, 4)
    heat[0, 0, 1, 1] = 1.0
    loss, parts = detector_loss(torch.zeros(1, 1, 4, 4), reg, heat, t_reg, mask, torch.ones(1, 1, 4, 4), 1.0, 1.0)
    loss.backward()
    assert torch.isfinite(loss) and np.isfinite(parts["reg"])
    g = reg.grad[0, :, 1, 1]
    assert (g[4:6] == 0).all() and (g[0:4] != 0).all() and (g[6:8] != 0).all()


def test_a_labelled_wrist_off_the_canvas_still_teaches_its_cue():
    """A wrist that is labelled but past the scene's edge (not visible there) is still the true
    cue: every weighted cell decodes it."""
    taught = 0
    for n_pos, cues, kp in _regression_wrists(_upright_hand(), seed=3, n=30, hand_frac=(0.4, 0.6)):
        if not n_pos:
            continue
        assert len(cues) >= 4
        np.testing.assert_allclose(cues, np.broadcast_to(kp[0], cues.shape), atol=1e-2)
        taught += not (0 <= kp[0, 0] < 256 and 0 <= kp[0, 1] < 192)
    assert taught >= 2


def test_codec_hand_without_cue_keeps_its_peak_and_box_and_a_nan_cue():
    """CenterCodec.encode: a hand with a non-finite wrist is a heatmap peak whose cells teach its
    box with the usual weight and a NaN wrist target (the loss leaves it out); its middle-MCP cue
    and the neighbour's targets are as usual."""
    codec = CenterCodec((256, 192), 4)
    boxes = np.array([[42, 40, 82, 100], [50, 46, 82, 94]], np.float32)   # centre cells (15, 17), (16, 17)
    ctr = (boxes[:, :2] + boxes[:, 2:]) / 2
    wr = ctr + [0, 20]
    wr[0] = np.nan
    heat, reg, mask = codec.encode(boxes, wr, ctr - [0, 20])
    assert heat[0, 17, 15] == 1.0 and heat[0, 17, 16] == 1.0
    own = mask[0] > 0
    assert mask[0, 17, 15] == 1.0 and mask[0, 17, 16] == 1.0
    cells = np.isnan(reg[4]) & own
    assert cells[17, 15] and not cells[17, 16]     # hand 0's cells: NaN wrist; hand 1's: its own
    assert np.isfinite(reg[[0, 1, 2, 3, 6, 7]]).all() and np.isfinite(mask).all()
    for peak, k in (((17, 15), 0), ((17, 16), 1)):
        only = np.zeros_like(heat)
        only[0, peak[0], peak[1]] = 1.0
        d = codec.decode(only, np.nan_to_num(reg))
        np.testing.assert_allclose(d.boxes[0], boxes[k], atol=1e-3)
    only = np.zeros_like(heat)
    only[0, 17, 16] = 1.0
    np.testing.assert_allclose(codec.decode(only, reg).wrist[0], wr[1], atol=1e-3)


def test_sample_crop_matrix_maps_the_photo_onto_the_crop_it_returns_also_when_flipped():
    """``matrix`` is the image->crop map of the crop returned: after a flip it mirrors too, so the
    photo's keypoints land on the crop's (evaluate_crops maps predictions back with its inverse)."""
    from train.augment import AugmentConfig, sample_crop
    from tracker.geometry import transform_points
    rec = _upright_hand()
    img = np.full((224, 224, 3), 90, np.uint8)
    rng = np.random.default_rng(0)
    for flip_p in (0.0, 1.0):
        s = sample_crop(img, rec, 128, AugmentConfig(photometric=False, negative_p=0.0, flip_p=flip_p), rng)
        np.testing.assert_allclose(transform_points(rec.keypoints, s["matrix"]), s["keypoints"], atol=1e-3)
