"""Session 43 mutation audit of the training losses, the detector targets and the convergence
guards: ``landmark_loss``, ``focal_loss`` / ``detector_loss``, ``scene_targets``' ignore mask,
``CenterCodec`` / ``nms`` / ``iou_matrix`` / ``hand_box_and_cues``, the overfit checks' figures
and ``check_loss``.

Each test runs the code on small hand-built tensors whose expected value follows from the
loss's definition (KL divergence of a spatial softmax, CenterNet's focal loss, smooth-L1, BCE),
not from the current output, so that a collapse the loss should punish (all-zero or mean-pose
heatmaps), a dropped weight or a swapped argument shows at once, without a training run. Each
kills hand-made mutants the rest of the suite let through (docs/model_history.md, Session 43).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tracker.codec import HeatmapCodec  # noqa: E402
from tracker.detector_codec import CenterCodec, hand_box_and_cues, iou_matrix, nms  # noqa: E402
from train.data import LEFT, RIGHT, UNKNOWN, HandRecord  # noqa: E402

K = 17


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


# --- landmark_loss --------------------------------------------------------------------------------

LM_CODEC = HeatmapCodec((64, 64), (16, 16), 1.5)


def _pose(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(8, 56, (K, 2)).astype(np.float32)


def _targets(poses):
    """(B, K, 16, 16) targets (each visible point's map sums to 1) and (B, K) weights."""
    t, w = zip(*(LM_CODEC.encode(p, np.ones(K, np.float32)) for p in poses))
    return torch.from_numpy(np.stack(t)), torch.from_numpy(np.stack(w))


def _perfect_logits(target):
    """Logits whose spatial softmax is ``target`` (up to 1e-30 per empty cell)."""
    return torch.log(target.clamp_min(1e-30))


def _lm_loss(heat, target, weight, logits=None, presence=None, side=None, side_score=None, **kw):
    from train.train_landmarks import landmark_loss
    b = heat.shape[0]
    logits = torch.zeros(b, 2) if logits is None else logits
    presence = torch.ones(b) if presence is None else presence
    side = torch.full((b,), float(RIGHT)) if side is None else side
    side_score = torch.ones(b) if side_score is None else side_score
    return landmark_loss(heat, logits, target, weight, presence, side, side_score, **kw)


@pytest.mark.parametrize("collapse", ["zeros", "constant", "mean_pose", "other_hand"])
def test_the_target_scores_zero_and_every_collapse_scores_worse(collapse):
    """The heat term is a KL divergence: the target itself scores 0, while an all-zero or constant
    output (a uniform softmax), the batch's mean pose or another hand's pose score clearly above
    it, so none of the classic collapses is a minimum."""
    poses = [_pose(0), _pose(1)]
    target, weight = _targets(poses)
    loss, parts = _lm_loss(_perfect_logits(target), target, weight)
    assert parts["heat"] == pytest.approx(0.0, abs=1e-4)
    if collapse == "zeros":
        heat = torch.zeros_like(target)
    elif collapse == "constant":
        heat = torch.full_like(target, 3.0)
    elif collapse == "mean_pose":
        mean, _ = _targets([np.mean(poses, 0)] * 2)
        heat = _perfect_logits(mean)
    else:
        heat = _perfect_logits(target.flip(0))
    worse, wparts = _lm_loss(heat, target, weight)
    assert wparts["heat"] > 0.5 + parts["heat"], wparts
    assert worse.item() > loss.item() + 0.5


def test_uniform_heat_loss_is_log_cells_minus_target_entropy():
    """On a 2x2 map: a uniform prediction against a target (1/2, 1/2, 0, 0) is KL = log 2,
    against a one-hot target log 4; the loss is their weighted mean (weights 1 and 0.5), and a
    point of weight 0 adds nothing however wrong its prediction."""
    target = torch.tensor([[[0.5, 0.5, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]]).reshape(1, 3, 2, 2)
    weight = torch.tensor([[1.0, 0.5, 0.0]])
    heat = torch.zeros(1, 3, 2, 2)
    heat[0, 2, 0, 0] = 50.0              # the weight-0 point: all mass on the wrong cell
    _, parts = _lm_loss(heat, target, weight)
    expected = (1.0 * math.log(2) + 0.5 * math.log(4)) / 1.5
    assert parts["heat"] == pytest.approx(expected, rel=1e-5)
    heat[0, 2] = 0.0
    _, again = _lm_loss(heat, target, weight)
    assert again["heat"] == pytest.approx(expected, rel=1e-5)


def test_a_negative_crop_with_zero_weights_does_not_dilute_the_heat_loss():
    """The heat loss is normalised by the summed weights, not by the number of points: adding a
    negative crop (all weights 0, as CropDataset gives it) leaves it unchanged."""
    target, weight = _targets([_pose(3)])
    heat = torch.zeros_like(target)
    _, one = _lm_loss(heat, target, weight)
    t2, w2 = torch.cat([target, torch.zeros_like(target)]), torch.cat([weight, torch.zeros_like(weight)])
    _, two = _lm_loss(torch.zeros_like(t2), t2, w2, presence=torch.tensor([1.0, 0.0]))
    assert two["heat"] == pytest.approx(one["heat"], rel=1e-6)


def test_presence_term_is_the_bce_of_the_first_logit():
    """presence = mean BCE(logit 0, presence); logit 1 (the side) plays no part in it."""
    target, weight = _targets([_pose(0), _pose(1)])
    logits = torch.tensor([[2.0, -3.0], [-1.0, 4.0]])
    _, parts = _lm_loss(_perfect_logits(target), target, weight, logits=logits, presence=torch.tensor([1.0, 0.0]))
    assert parts["presence"] == pytest.approx((_softplus(-2.0) + _softplus(-1.0)) / 2, rel=1e-5)


def test_side_term_counts_only_present_hands_with_a_known_side_weighted_by_their_score():
    """side = mean over the present hands with a known side of clamp(score, 0.3, 1) x BCE(logit 1,
    side): a negative crop (presence 0) and a hand of unknown side add nothing, and a low-score
    label is weighted 0.3, not 0 and not 1."""
    b = 4
    target, weight = _targets([_pose(i) for i in range(b)])
    logits = torch.tensor([[0.0, 0.5], [0.0, 0.5], [0.0, 3.0], [0.0, -5.0]])
    presence = torch.tensor([1.0, 1.0, 1.0, 0.0])
    side = torch.tensor([float(RIGHT), float(LEFT), float(UNKNOWN), float(RIGHT)])
    score = torch.tensor([1.0, 0.1, 1.0, 1.0])
    _, parts = _lm_loss(_perfect_logits(target), target, weight, logits=logits, presence=presence, side=side,
                        side_score=score)
    expected = (1.0 * _softplus(-0.5) + 0.3 * _softplus(0.5)) / 2
    assert parts["side"] == pytest.approx(expected, rel=1e-5)


def test_total_is_heat_plus_the_weighted_presence_and_side_terms():
    target, weight = _targets([_pose(0), _pose(1)])
    logits = torch.tensor([[1.0, -2.0], [0.5, 1.5]])
    total, parts = _lm_loss(torch.zeros_like(target), target, weight, logits=logits,
                            side=torch.tensor([float(LEFT), float(RIGHT)]), w_presence=0.2, w_handedness=0.7)
    assert parts["heat"] > 0 and parts["presence"] > 0 and parts["side"] > 0
    assert total.item() == pytest.approx(parts["heat"] + 0.2 * parts["presence"] + 0.7 * parts["side"], rel=1e-5)


def test_an_edge_negative_crop_teaches_no_keypoints():
    """CropDataset: a negative crop (a hand leaving the frame, presence 0) whose points are still
    partly in view has every keypoint weight 0, so the heat loss does not teach keypoints on it."""
    from train.augment import AugmentConfig
    from train.train_landmarks import CropDataset
    rec = _upright_record()
    aug = AugmentConfig(photometric=False, negative_p=1.0, edge_negative_p=1.0)
    ds = CropDataset([rec], {rec.image: np.full((224, 224, 3), 90, np.uint8)},
                     HeatmapCodec((64, 64), (16, 16), 1.5), aug, seed=0)
    in_view = 0
    for _ in range(12):
        _, target, weight, presence, _, _ = ds[0]
        assert presence.item() == 0.0
        assert float(weight.sum()) == 0.0
        in_view += float(target.sum()) > 0
    assert in_view >= 3        # the crops did show points the loss could have been taught


def _upright_record(name: str = "hand.png", wave: float = 20.0) -> HandRecord:
    """A hand pointing up in a 224x224 photo, its points ``wave`` px left and right of its axis."""
    kp = np.stack([np.full(K, 112.0), np.linspace(170, 60, K)], 1).astype(np.float32)
    kp[:, 0] += wave * np.sin(np.arange(K))
    return HandRecord(Path(name), kp, np.ones(K, np.float32), RIGHT, 1.0, 0)


def _spy(monkeypatch, module, name):
    """Replace ``module.name`` by a pass-through that records each call's bound arguments."""
    import inspect
    fn, calls = getattr(module, name), []

    def spy(*a, **kw):
        calls.append(inspect.signature(fn).bind(*a, **kw).arguments)
        return fn(*a, **kw)
    monkeypatch.setattr(module, name, spy)
    return calls


TINY = ["--batch-size", "2", "--workers", "0", "--threads", "1", "--max-steps", "1", "--warmup-steps", "1",
        "--minutes", "5"]


def test_the_landmark_loop_passes_its_presence_and_handedness_weights(tmp_path, monkeypatch, restore_training_state):
    """--w-presence and --w-handedness reach landmark_loss as themselves, not swapped."""
    import train.train_landmarks as tl
    from tests.train.test_train_cli import tiny_coco
    calls = _spy(monkeypatch, tl, "landmark_loss")
    tl.main(["--data", str(tiny_coco(tmp_path / "data", n=4)), "--out", str(tmp_path / "run"), *TINY,
             "--input-size", "32", "--eval-hands", "2", "--w-presence", "0.2", "--w-handedness", "0.7"])
    assert calls and (calls[0]["w_presence"], calls[0]["w_handedness"]) == (0.2, 0.7)


def test_the_detector_loop_passes_its_regression_and_giou_weights(tmp_path, monkeypatch, restore_training_state):
    """--w-regress and --w-giou reach detector_loss as themselves, not swapped."""
    import train.train_detector as td
    from tests.train.test_train_cli import tiny_coco
    calls = _spy(monkeypatch, td, "detector_loss")
    td.main(["--data", str(tiny_coco(tmp_path / "data", n=4)), "--out", str(tmp_path / "run"), *TINY,
             "--input-width", "32", "--input-height", "32", "--eval-scenes", "2", "--epoch-scenes", "4",
             "--w-regress", "0.3", "--w-giou", "0.6"])
    assert calls and (calls[0]["w_regress"], calls[0]["w_giou"]) == (0.3, 0.6)


# --- focal_loss / detector_loss ------------------------------------------------------------------

def _focal_ref(logit: float, target: float, weight: float) -> float:
    """CenterNet's penalty-reduced focal loss of one cell (alpha 2, beta 4), before normalising."""
    p = min(max(1 / (1 + math.exp(-logit)), 1e-4), 1 - 1e-4)
    if target >= 0.999:
        return -math.log(p) * (1 - p) ** 2
    return -math.log(1 - p) * p ** 2 * (1 - target) ** 4 * weight


# a 2x3 map: (logit, target, ignore weight) per cell
FOCAL_CASES = {
    "one_centre": [(1.0, 1.0, 1.0), (0.3, 0.5, 1.0), (2.0, 0.2, 1.0),
                   (-1.0, 0.0, 1.0), (1.5, 0.0, 0.0), (0.0, 0.6, 1.0)],
    "two_centres": [(1.0, 1.0, 1.0), (-0.5, 1.0, 1.0), (0.7, 0.7, 1.0),
                    (2.5, 0.0, 1.0), (3.0, 0.1, 0.0), (-2.0, 0.4, 1.0)],
    "no_centre": [(0.2, 0.0, 1.0), (1.0, 0.3, 1.0), (-0.4, 0.9, 1.0),
                  (2.0, 0.0, 0.0), (0.5, 0.5, 1.0), (1.2, 0.0, 1.0)],
}


@pytest.mark.parametrize("case", sorted(FOCAL_CASES))
def test_focal_loss_matches_centernet_on_hand_made_cells(case):
    """focal_loss = (sum over centres of -(1-p)^2 log p + sum over the other cells of
    -(1-y)^4 p^2 log(1-p) x ignore weight) / max(1, number of centres): alpha 2 on p, beta 4 on
    the target, the ignore mask on the negatives, only target-1 cells as centres."""
    from train.train_detector import focal_loss
    cells = FOCAL_CASES[case]
    logits, target, weight = (torch.tensor([c[i] for c in cells]).reshape(1, 1, 2, 3) for i in range(3))
    n_pos = max(1, sum(c[1] >= 0.999 for c in cells))
    expected = sum(_focal_ref(*c) for c in cells) / n_pos
    assert focal_loss(logits, target, weight).item() == pytest.approx(expected, rel=1e-5)


def test_focal_loss_stays_finite_for_saturated_logits():
    """A confident wrong output (logit +-100) is a large but finite loss, not inf (log 0)."""
    from train.train_detector import focal_loss
    target = torch.tensor([1.0, 0.0]).reshape(1, 1, 1, 2)
    loss = focal_loss(torch.tensor([-100.0, 100.0]).reshape(1, 1, 1, 2), target, torch.ones_like(target))
    assert torch.isfinite(loss) and loss.item() > 5


def _smooth_l1(d: float, beta: float = 0.1) -> float:
    d = abs(d)
    return 0.5 * d * d / beta if d < beta else d - 0.5 * beta


def test_regression_loss_is_the_mask_weighted_smooth_l1_over_the_mask_sum():
    """l1 = sum(mask x smooth-L1(beta 0.1)) / sum(mask): two regression cells (weights 1 and 0.5),
    every other cell, however far off, adds nothing; the total is heat + w_regress x l1."""
    from train.train_detector import detector_loss
    t_reg = torch.zeros(1, 8, 3, 4)
    reg = torch.zeros(1, 8, 3, 4)
    mask = torch.zeros(1, 1, 3, 4)
    mask[0, 0, 1, 1], mask[0, 0, 2, 3] = 1.0, 0.5
    reg[0, :, 1, 1] = 1.0                 # every channel 1 off: 8 x (1 - 0.05)
    reg[0, 0, 2, 3] = 0.05                # inside beta: 0.5 x 0.05^2 / 0.1
    reg[0, :, 0, 0] = 7.0                 # no target here
    heat_t = torch.zeros(1, 1, 3, 4)
    heat_t[0, 0, 1, 1] = 1.0
    logits = torch.zeros(1, 1, 3, 4)
    loss, parts = detector_loss(logits, reg, heat_t, t_reg, mask, torch.ones_like(heat_t), w_regress=0.3)
    expected = (1.0 * 8 * _smooth_l1(1.0) + 0.5 * _smooth_l1(0.05)) / 1.5
    assert parts["reg"] == pytest.approx(expected, rel=1e-5)
    assert loss.item() == pytest.approx(parts["heat"] + 0.3 * parts["reg"], rel=1e-5)


def test_giou_term_counts_only_the_regression_cells():
    """With the masked cells' boxes exact, GIoU is 0 whatever the unmasked cells predict."""
    from train.train_detector import detector_loss
    t_reg = torch.zeros(1, 8, 3, 3)
    t_reg[0, 2:4] = 1.0
    reg = t_reg.clone()
    reg[0, 0, 0, 0], reg[0, 2, 0, 0] = 4.0, -2.0      # an unmasked cell far off
    mask = torch.zeros(1, 1, 3, 3)
    mask[0, 0, 1, 1] = 1.0
    heat = torch.zeros(1, 1, 3, 3)
    _, parts = detector_loss(heat, reg, heat, t_reg, mask, torch.ones_like(heat), w_regress=0.0, w_giou=1.0)
    assert parts["giou"] == pytest.approx(0.0, abs=1e-6)


# --- scene_targets: the ignore mask -------------------------------------------------------------

def _hand_at(x0: float, y0: float, side: float = 24.0):
    """17 visible points spread over a side x side square at (x0, y0)."""
    g = np.linspace(0, side, 5)
    pts = np.array([(x, y) for y in g for x in g][:K], np.float32) + [x0, y0]
    return pts, np.ones(K, np.float32)


def test_ignore_mask_is_zero_exactly_over_an_ignore_box_cells():
    """An unlabelled-hand box (8, 4, 18, 30) px on a 64x48 scene of 4 px cells covers columns
    floor(8/4)..ceil(18/4) = [2, 5) and rows floor(4/4)..ceil(30/4) = [1, 8): there the mask is 0
    (neither rewarded nor punished), everywhere else 1."""
    from train.train_detector import scene_targets
    codec = CenterCodec((64, 48), 4)
    _, _, _, ign, boxes, ignore = scene_targets([], codec, 64, 48, np.array([[8, 4, 18, 30]], np.float32))
    assert len(boxes) == 0 and len(ignore) == 1
    want = np.ones((1, 12, 16), np.float32)
    want[0, 1:8, 2:5] = 0
    np.testing.assert_array_equal(ign, want)


def test_a_hand_inside_an_ignore_box_still_counts():
    """A labelled hand overlapped by an ignore box: its heatmap cells above 0.3 keep weight 1."""
    from train.train_detector import scene_targets
    codec = CenterCodec((64, 48), 4)
    heat, _, mask, ign, boxes, _ = scene_targets([_hand_at(20, 12)], codec, 64, 48,
                                                 np.array([[0, 0, 64, 48]], np.float32))
    assert len(boxes) == 1 and heat.max() == 1.0
    np.testing.assert_array_equal(ign[heat > 0.3], 1.0)
    assert (ign[heat <= 0.3] == 0).all()


# --- CenterCodec, nms, iou_matrix, hand_box_and_cues ---------------------------------------------

def test_each_hand_has_exactly_one_centre_cell_of_value_one():
    """A box centre off its cell's centre still gets a target-1 cell (the only "positive" of the
    focal loss), at floor(centre / stride); nearby overlapping hands keep the map within [0, 1]."""
    codec = CenterCodec((64, 48), 4)
    boxes = np.array([[30, 20, 52, 40], [34, 18, 54, 42]], np.float32)   # centres (41, 30) and (44, 30)
    heat, _, _ = codec.encode(boxes[:1], np.zeros((1, 2)), np.zeros((1, 2)))
    assert np.argwhere(heat[0] == 1.0).tolist() == [[7, 10]]
    heat, _, _ = codec.encode(boxes, np.zeros((2, 2)), np.zeros((2, 2)))
    assert heat.min() >= 0.0 and heat.max() == 1.0
    assert sorted(np.argwhere(heat[0] == 1.0).tolist()) == [[7, 10], [7, 11]]


def test_decode_keeps_a_peak_scored_exactly_the_threshold():
    """A score equal to the threshold is a detection, as the validation counts it
    (``evaluate_scenes``: sc >= threshold)."""
    codec = CenterCodec((64, 48), 4)
    heat = np.zeros((1, 12, 16), np.float32)
    heat[0, 5, 5] = 0.5
    assert len(codec.decode(heat, np.zeros((8, 12, 16), np.float32), threshold=0.5)) == 1


def test_decode_keeps_the_best_scored_peaks():
    """With more peaks than max_detections, the highest scores are kept, best first."""
    codec = CenterCodec((128, 128), 4)
    heat = np.zeros((1, 32, 32), np.float32)
    scores = np.linspace(0.3, 0.99, 40).astype(np.float32)
    cells = [(3 * (n // 8) + 1, 3 * (n % 8) + 1) for n in range(40)]    # isolated peaks, 3 cells apart
    for (j, i), s in zip(cells, np.random.default_rng(0).permutation(scores)):
        heat[0, j, i] = s
    reg = np.full((8, 32, 32), -1.0, np.float32)    # small boxes: no two overlap
    d = codec.decode(heat, reg, threshold=0.1, max_detections=10)
    np.testing.assert_allclose(d.scores, np.sort(scores)[::-1][:10])


def test_nms_keeps_a_box_whose_iou_equals_the_threshold():
    """Suppression is IoU > threshold: two boxes of IoU exactly 0.5 both survive at 0.5."""
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5]], np.float32)
    assert iou_matrix(boxes[:1], boxes[1:])[0, 0] == 0.5
    assert nms(boxes, np.array([0.9, 0.8]), 0.5).tolist() == [0, 1]
    assert nms(boxes, np.array([0.9, 0.8]), 0.49).tolist() == [0]


def test_hand_box_spans_the_visible_points_and_cues_are_wrist_and_middle_mcp():
    kp = np.array([[10.0 + i, 20.0 + 2 * i] for i in range(K)], np.float32)
    vis = np.ones(K, np.float32)
    kp[5], vis[5] = (200.0, -50.0), 0.0                    # a point without label far away
    box, wrist, mid = hand_box_and_cues(kp, vis)
    np.testing.assert_array_equal(box, [10, 20, 26, 52])
    np.testing.assert_array_equal(wrist, kp[0])
    np.testing.assert_array_equal(mid, kp[8])
    box, _, _ = hand_box_and_cues(kp, np.zeros(K))          # none visible: every point
    np.testing.assert_array_equal(box, [10, -50, 200, 52])


# --- the overfit checks' figures, check_loss --------------------------------------------------

@pytest.mark.parametrize("first, last, pck10, drop, converged", [
    (10.0, 1.0, 0.95, 10.0, True),
    (10.0, 1.0, 0.5, 10.0, False),      # the loss fell, the points are wrong: a collapse
    (10.0, 2.0, 0.95, 5.0, False),      # right points, too little drop
    (0.0, 0.0, 1.0, None, False),       # --broken zero: 0/0 has no drop
])
def test_overfit_converged_needs_both_the_loss_drop_and_the_pck(first, last, pck10, drop, converged):
    from train.sanity import OverfitResult
    r = OverfitResult(first, last, pck10, pck10, 1.0)
    if drop is None:
        assert math.isnan(r.loss_drop)
    else:
        assert r.loss_drop == pytest.approx(drop)
    assert r.converged is converged


def test_overfit_detector_recall_is_found_hands_over_labelled_hands(monkeypatch):
    """overfit_detector's recall counts true positives over labelled hands; false positives go
    to fp_per_frame only. The matcher is replaced: every scene has one labelled hand found and
    one false positive, so recall is 1 and fp_per_frame 1, whatever the one-step net predicts."""
    import tracker.metrics
    from train.sanity import overfit_detector
    rec = _upright_record()
    monkeypatch.setattr(tracker.metrics, "match_detections",
                        lambda *a, **k: (np.array([True, False]), np.array([0.9, 0.8]), 1))
    threads = torch.get_num_threads()
    try:
        r = overfit_detector([rec], {rec.image: np.full((224, 224, 3), 90, np.uint8)}, scenes=2, steps=1,
                             size=(64, 64), threads=1)
    finally:
        torch.set_num_threads(threads)
    assert r.recall == 1.0 and r.fp_per_frame == 1.0


def _overfit_quick(monkeypatch, broken):
    """train.sanity.overfit for 2 steps on two differently posed hands; returns the result and
    the ground truth its PCK was scored against."""
    import train.sanity as sanity
    recs = [_upright_record("a.png", 20.0), _upright_record("b.png", -20.0)]
    cache = {r.image: np.full((224, 224, 3), 90, np.uint8) for r in recs}
    scored = []
    pck = sanity.pck
    monkeypatch.setattr(sanity, "pck", lambda pred, gt, vis, *a, **k: scored.append(gt.copy()) or pck(pred, gt, vis,
                                                                                                     *a, **k))
    threads = torch.get_num_threads()
    try:
        r = sanity.overfit(recs, cache, steps=2, batch=2, input_size=64, broken=broken, threads=1)
    finally:
        torch.set_num_threads(threads)
    return r, scored[0]


def test_overfit_broken_zero_trains_on_all_zero_targets(monkeypatch):
    """--broken zero: every target map is zero, so the loss is 0 from the first step (nothing to
    learn) and the drop is undefined (NaN): the check cannot pass."""
    r, _ = _overfit_quick(monkeypatch, "zero")
    assert r.first_loss == 0.0 and r.last_loss == 0.0 and math.isnan(r.loss_drop) and not r.converged


def test_overfit_scores_the_crops_true_points_not_the_broken_targets(monkeypatch):
    """--broken mean_pose trains toward the mean pose, but the PCK is still against each crop's own
    points (two different poses), else a collapse to the mean would score as learned."""
    _, gt = _overfit_quick(monkeypatch, "mean_pose")
    assert gt.shape == (2, K, 2) and np.abs(gt[0] - gt[1]).max() > 5


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_check_loss_stops_on_nan_and_inf(value):
    from train.common import check_loss
    with pytest.raises(FloatingPointError, match="at step 7"):
        check_loss(value, 7)


def test_check_loss_lets_a_finite_loss_through():
    from train.common import check_loss
    check_loss(0.0, 1)
    check_loss(1e30, 1)
