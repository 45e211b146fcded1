"""Evaluate the exported (ONNX) models on the val split, exactly as they ship.

    python -m train.evaluate landmarks --data ../shared/data/hands21 --out runs/eval_landmarks.json
    python -m train.evaluate detector  --data ../shared/data/hands21 --out runs/eval_detector.json

landmarks: every val hand, cropped from its ground-truth keypoints the way the tracker crops
(rotated to the hand axis, ``roi_scale`` margin) with realistic jitter (scale, shift, angle);
PCK@0.05/0.1/0.2, AUC@0.2, NME(palm), per-keypoint PCK@0.1, handedness accuracy (all labelled
hands and those with label score >= 0.9) and presence AUC (against crops that cut the hand off).
``--full-rotation`` crops at uniformly random angles instead (robustness, not the headline figures);
for detector and acquisition it pastes the scenes' photos at any angle (hands pointing down).
``--edge-cut 0.1,0.45`` ends each photo at a frame edge through its hand (that share of its points
outside): PCK on the points in view and ``presence_rate@0.5``, the share of such hands the tracker
keeps (``--edge-cut 0.6,0.99``: hands that have mostly left, which it should let go).
``--condition grey`` (jpeg, noise, dark, ...) degrades the detector and acquisition scenes as
``python -m bench robustness`` degrades photos, to compare detectors on damaged frames.

detector: composed val scenes (val photos only): AP@0.5, recall and false positives per frame at
the shipped threshold; recall on the single val photos. ``--calibrate`` also picks the lowest
threshold with <= 0.05 false positives per frame on a second, disjoint set of scenes
(``--calibration-scenes N``, default as many as ``--scenes``). The false
positives are counted by kind (a second box on a found hand, a loose box on a labelled hand,
elsewhere) and ``--fp-grid PATH`` draws the highest-scored ones. ``--match-iou 0.2`` counts a
loosely boxed hand as found: the figures a perfect box regression would reach with the same scores.

acquisition: how the tracker finds hands it does not track yet, on composed val scenes at the
size of a camera frame (``--scene-size``, default 640x480): ``HandTracker`` in static mode, i.e.
the detector at its threshold, then the landmark model on each detection's crop; a hand is
reported when its presence passes ``--presence`` (the tracker's ``min_tracking_confidence``) and
its box is the extent of its 17 keypoints, clipped to the scene (as the labelled boxes are).
Recall and false positives per frame with the same matching as the detector's figures, beside the
detector alone on the same scenes.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from tracker.checks import is_positive_int
from tracker.cli import check_output_path, int_at_least, output_clash, thread_count, unit_float, unit_float_or_none
from tracker.detector import HandDetector
from tracker.detector_codec import hand_box_and_cues
from tracker.keypoints import KEYPOINT_NAMES
from tracker.landmarks import LandmarkModel
from tracker.metrics import (auc, average_precision, handedness_accuracy, match_detection_boxes, match_detections,
                             nme_hands, nme_palm, normalized_errors, per_keypoint_pck, pck, roc_auc)

from .augment import AugmentConfig, cut_photo_at_edge, sample_roi
from .data import (LEFT, RIGHT, UNKNOWN, ImageCache, check_fits_in_memory, check_val_fraction_applies, label_files,
                   load_records, load_train_val, val_fraction_arg)
from .scenes import MAX_SCENES

log = logging.getLogger("evaluate")

EVAL_JITTER = AugmentConfig(full_rotation_p=0.0, angle_sigma_deg=10.0, scale_range=(0.9, 1.15),
                            shift_sigma=0.05, photometric=False, flip_p=0.0, negative_p=0.0)


# what each landmark figure is a share or ratio of (keypoints.md); the counts beside them say of how many
EVAL_UNITS = {
    "pck, auc": "share (0-1) of the visible GT keypoints ('keypoints') whose error is below t x pck_box; "
                "auc@0.2: mean PCK over t = 0, 0.01, ..., 0.2; null when nothing is counted",
    "nme_palm": "mean keypoint error / palm size, max(|wrist-index_mcp|, |index_mcp-pinky_mcp|, "
                "|pinky_mcp-wrist|) over visible pairs, on the 'nme_palm_hands' hands whose palm size is known",
    "handedness_acc": "share (0-1) of the hands with a left/right label ('handedness_hands'); null when "
                      "none has one (a CSV of single hands); '_by_side': of the hands labelled left, "
                      "and of those labelled right",
    "presence": "presence_auc: ROC AUC of hand crops against crops that cut the hand off; "
                "presence_rate@0.5: share of hands with presence >= 0.5",
}


def finite_figures(figures):
    """``figures`` (nested dicts, lists and tuples) with every NaN or infinite float as None.

    A figure with nothing counted is NaN in :mod:`tracker.metrics` (a handedness accuracy with no
    side labelled, AP over scenes without hands); ``json.dump`` writes it ``NaN``, which JavaScript
    and many JSON readers refuse, while the empty size buckets beside it were already ``null``."""
    if isinstance(figures, dict):
        return {k: finite_figures(v) for k, v in figures.items()}
    if isinstance(figures, (list, tuple)):
        return type(figures)(finite_figures(v) for v in figures)
    if isinstance(figures, (float, np.floating)) and not np.isfinite(figures):
        return None
    return figures


def figures_json(figures) -> str:
    """``figures`` as the JSON text the commands print and write: strict JSON (no NaN or Infinity;
    :func:`finite_figures`)."""
    return json.dumps(finite_figures(figures), indent=1, allow_nan=False)


#: the longest --scene-size side: far past a camera frame, and within what OpenCV's warps take
MAX_SCENE_SIDE = 8192


def data_inputs(data: str) -> list[tuple[str, str]]:
    """``--data`` and the label files it stands for (:func:`train.data.label_files`: a dataset
    folder's every split), as :func:`tracker.cli.output_clash` inputs: an output named like
    ``<data>/val.json`` would replace the labels."""
    return [("--data", data)] + [(f"--data's {f.name}", str(f)) for f in label_files(data)]


def photo_clash(outputs: list[tuple[str, str | None]], records) -> str | None:
    """:func:`tracker.cli.output_clash` of ``outputs`` (option, path) with the photos ``records``
    read: the complaint about an output that would replace one of them, or None."""
    if not any(v for _, v in outputs):
        return None
    return output_clash(outputs, [("a photo of --data", p) for p in sorted({str(r.image) for r in records})])


HAND_PX_BINS = (0, 64, 96, 128, 160, np.inf)  # PCK box side (longest side of the hand's box), pixels


def pck_by_hand_size(pred, gt, vis, norm, thr: float = 0.1, bins=HAND_PX_BINS) -> dict:
    """PCK@``thr`` per hand-size bin: {"0-64": {"pck": p, "hands": n}, ...}; ``norm`` (N,) is the
    PCK box side of each hand in pixels (small hands are where a 224 px photo holds least)."""
    out = {}
    for lo, hi in zip(bins[:-1], bins[1:]):
        sel = (norm >= lo) & (norm < hi)
        key = f"{lo:.0f}-{hi:.0f}" if np.isfinite(hi) else f">={lo:.0f}"
        out[key] = {"pck": pck(pred[sel], gt[sel], vis[sel], norm=norm[sel], thresholds=(thr,))[thr]
                    if sel.any() else None, "hands": int(sel.sum())}
    return out


def pck_box_name(records) -> str:
    """What the PCK figures of ``records`` are normalised by (``HandRecord.norm_side``): the
    source's hand box (a COCO ``bbox``: hands21's is the box of its 21 visible points) or, for a
    CSV of one's own labels, which has none, the box of the 17 labelled points."""
    boxed = sum(r.box_side is not None for r in records)
    if boxed == len(records):
        return "annotation bbox (21 visible points), longest side"
    if boxed == 0:
        return "box of the 17 labelled points, longest side"
    return "annotation bbox where given, else the box of the 17 labelled points; longest side"


def draw_worst_hands(path, records, cache, pred, gt, vis, norm, n: int = 24, cols: int = 6, tile: int = 320):
    """A grid PNG/JPEG of the ``n`` hands with the lowest per-hand PCK@0.1 (ties: smaller hands
    first): ground truth green, prediction red, per-hand PCK and box side (px) written on each."""
    import cv2
    from tracker.draw import draw_skeleton, tile_grid
    per_hand = (normalized_errors(pred, gt, vis, norm) < 0.1).sum(1) / np.maximum((vis > 0).sum(1), 1)
    order = np.lexsort((norm, per_hand))[:n]
    tiles = []
    for i in order:
        img = cache[records[i].image]
        f = tile / max(img.shape[:2])
        img = cv2.resize(img, None, fx=f, fy=f)  # BGR, as cached
        canvas = np.zeros((tile, tile, 3), np.uint8)
        canvas[:img.shape[0], :img.shape[1]] = img
        # a point the label leaves out is written (0, 0): drawn, its bones would run to the corner
        draw_skeleton(canvas, gt[i] * f, vis[i], color=(0, 255, 0), min_score=0.5, thickness=1)
        draw_skeleton(canvas, pred[i] * f, color=(0, 0, 255), thickness=1)
        cv2.putText(canvas, f"PCK {per_hand[i]:.2f}  {norm[i]:.0f}px", (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (255, 255, 0), 1, cv2.LINE_AA)
        tiles.append(canvas)
    _write_picture(path, tile_grid(tiles, cols) if tiles else None, "--worst-grid")


def _write_picture(path, image, option: str) -> None:
    """Write ``image`` (JPEG quality 80 when .jpg); ValueError naming ``option`` and the path if
    it cannot be written (no image, an unknown extension, an unwritable folder)."""
    import cv2

    from tracker.video import write_image_file
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        # the quality only for JPEG: OpenCV warns of a key the format does not take
        params = [cv2.IMWRITE_JPEG_QUALITY, 80] if Path(path).suffix.lower() in (".jpg", ".jpeg") else []
        ok = image is not None and write_image_file(path, image, params)
    except cv2.error:
        ok = False
    if not ok:
        raise ValueError(f"{option}: could not write {path}")


def evaluate_landmarks(model: LandmarkModel, records, cache, seed: int = 0, batch: int = 64,
                       worst_grid: str | Path | None = None, full_rotation: bool = False,
                       edge_cut: tuple[float, float] | None = None) -> dict:
    """Figures of the module docstring (a dict, see ``assets/eval_landmarks.json``; None for a
    figure with nothing counted, e.g. ``handedness_acc`` when no hand has a side label); with
    ``worst_grid`` also a picture of the worst-predicted labelled hands (:func:`draw_worst_hands`).
    ``full_rotation``: every crop at a uniformly random angle instead of near upright, the
    crops the tracker makes when its last landmarks were badly oriented (a robustness figure; the
    headline figures use upright crops). ``edge_cut`` (low, high): each photo ends at a frame edge
    through its hand that leaves a share U(low, high) of the visible points outside
    (:func:`train.augment.cut_photo_at_edge`): a hand at the side of the frame. The crop still
    comes from all the points (as from the tracker's last landmarks), PCK counts the points in
    view (normalised by the whole hand's box), and ``presence_rate@0.5`` is the share of hands
    the tracker would keep at its default presence threshold. ``seed``: the jitter's random
    draws (the figures repeat for a seed; ``batch``, hands per chunk >= 1, does not change them:
    each hand's two crops are one network call)."""
    if not is_positive_int(batch):
        raise ValueError(f"batch must be an integer >= 1, got {batch!r}")
    if not records:
        raise ValueError("no labelled hands to evaluate (the --data split has none)")
    if edge_cut is not None and worst_grid:
        # the grid draws the uncut photos: the keypoints of a photo cut at its left or top would be off
        raise ValueError(f"--worst-grid {worst_grid}: not available with --edge-cut")
    rng = np.random.default_rng(seed)
    cfg = replace(EVAL_JITTER, full_rotation_p=1.0) if full_rotation else EVAL_JITTER
    preds, sides, pres_pos, pres_neg, gts, viss, norms = [], [], [], [], [], [], []
    for s in range(0, len(records), batch):
        chunk = records[s:s + batch]
        for rec in chunk:
            img, norm_side, whole = cache[rec.image], rec.norm_side, rec.visible
            if edge_cut is not None:
                img, rec = cut_photo_at_edge(img, rec, rng, edge_cut)
            framed = replace(rec, visible=whole)      # crops framed by the whole hand, cut or not
            pos = sample_roi(framed, cfg, rng)
            neg = sample_roi(framed, cfg, rng, negative=True)
            r_pos, r_neg = model(img, [pos, neg])
            preds.append(r_pos.keypoints)
            sides.append(r_pos.right_prob)
            pres_pos.append(r_pos.presence)
            pres_neg.append(r_neg.presence)
            gts.append(rec.keypoints)
            viss.append(rec.visible)
            norms.append(norm_side)
    pred = np.stack(preds)
    gt, vis, norm = np.stack(gts), np.stack(viss), np.array(norms)
    # headline figures on the labelled hand of each photo (hands21 val: 7,992); the extra
    # ``source: "mediapipe"`` hands are reported beside them
    main = np.array([r.source == "dataset" for r in records])
    if not main.any():
        main[:] = True
    extra = {}
    if not main.all():
        pa = pck(pred, gt, vis, norm=norm)
        extra = {"all_hands": {"hands": len(records), "pck@0.05": pa[0.05], "pck@0.1": pa[0.1],
                               "pck@0.2": pa[0.2]}}
    pred, gt, vis, norm = pred[main], gt[main], vis[main], norm[main]
    if worst_grid:
        draw_worst_hands(worst_grid, [r for r, m in zip(records, main) if m], cache, pred, gt, vis, norm)
    p = pck(pred, gt, vis, norm=norm)
    side_gt = np.array([r.handedness for r in records])[main]
    side_sc = np.array([r.handedness_score for r in records])[main]
    side_pred = (np.array(sides)[main] > 0.5).astype(int)
    known = side_gt != UNKNOWN
    sure = known & (side_sc >= 0.9)
    # hands21's labels are 71% right hands: a model can read well overall and still miss left ones
    sure_by_side = {name: sure & (side_gt == side) for name, side in (("left", LEFT), ("right", RIGHT))}
    pres_pos, pres_neg = np.array(pres_pos)[main], np.array(pres_neg)[main]
    return finite_figures({
        "hands": int(main.sum()),
        "keypoints": int((vis > 0).sum()),
        "pck@0.05": p[0.05], "pck@0.1": p[0.1], "pck@0.2": p[0.2],
        "auc@0.2": auc(pred, gt, vis, norm=norm),
        "nme_palm": nme_palm(pred, gt, vis),
        "nme_palm_hands": int(nme_hands(gt, vis).sum()),
        "pck@0.1_by_hand_px": pck_by_hand_size(pred, gt, vis, norm),
        "per_keypoint_pck@0.1": dict(zip(KEYPOINT_NAMES, np.round(per_keypoint_pck(pred, gt, vis, norm=norm), 4).tolist())),
        "handedness_acc": handedness_accuracy(side_pred, side_gt, known),
        "handedness_hands": int(known.sum()),
        "handedness_acc_score>=0.9": handedness_accuracy(side_pred, side_gt, sure),
        "handedness_hands_score>=0.9": int(sure.sum()),
        "handedness_acc_score>=0.9_by_side": {
            name: handedness_accuracy(side_pred, side_gt, m) for name, m in sure_by_side.items()},
        "handedness_hands_score>=0.9_by_side": {name: int(m.sum()) for name, m in sure_by_side.items()},
        "presence_auc": roc_auc(np.r_[pres_pos, pres_neg], np.r_[np.ones(len(pres_pos)), np.zeros(len(pres_neg))]),
        "presence_rate@0.5": float(np.mean(pres_pos >= 0.5)),
        **extra,
        "pck_box": pck_box_name([r for r, m in zip(records, main) if m]),
        "units": EVAL_UNITS,
        "crops": "GT keypoints -> roi_from_keypoints, jitter: scale x U(0.9,1.15), shift N(0,0.05), "
                 + ("angle U(-180,180deg)" if full_rotation else "angle N(0,10deg)"),
        "full_rotation": full_rotation,
        "edge_cut": list(edge_cut) if edge_cut is not None else None,
        "model_version": model.meta.get("model_version"),
        "seed": seed,
    })


def _scenes(records, cache, n, seed, width, height, full_rotation: bool = False, condition: str = "clean",
            hand_frac: tuple[float, float] | None = None):
    """Composed val scenes; ``full_rotation``: every photo pasted at a uniformly random angle
    (hands pointing any way) instead of N(0, 30 deg) around upright; ``condition``: see
    :func:`degrade_scenes`; ``hand_frac``: (low, high) hand size / scene's longer side (None: the
    training scenes' range, ``SceneConfig.hand_frac``)."""
    from .scenes import SceneConfig
    from .train_detector import group_by_image, make_val_scenes
    check_scene_condition(condition)  # before composing: a bad name fails at once
    if not records:
        raise ValueError("no labelled hands to evaluate (the --data split has none)")
    cfg = SceneConfig(width, height, full_rotation_p=1.0 if full_rotation else 0.0,
                      **({} if hand_frac is None else {"hand_frac": tuple(hand_frac)}))
    return degrade_scenes(make_val_scenes(group_by_image(records), cache, cfg, n, seed), condition, seed)


def check_scene_condition(condition: str) -> str:
    """``condition`` if it is one of :data:`bench.robustness.CONDITIONS` that leaves pixels where
    they are (the scenes' boxes stay valid); ValueError naming the choices otherwise (turned
    hands: ``--full-rotation``)."""
    from bench.robustness import CONDITIONS
    probe = np.zeros((4, 4, 3), np.uint8)
    ok = [k for k, (_, fn) in CONDITIONS.items() if fn(probe, np.random.default_rng(0))[1] is None]
    if condition not in ok:
        raise ValueError(f"--condition {condition!r}: expected one of {', '.join(ok)} (conditions that "
                         "move pixels do not apply to scenes; for turned hands use --full-rotation)")
    return condition


def scene_condition(condition: str):
    """``condition`` (checked by :func:`check_scene_condition`) as ``(image, rng) -> image``, or
    None for "clean"."""
    if check_scene_condition(condition) == "clean":
        return None
    from bench.robustness import CONDITIONS
    fn = CONDITIONS[condition][1]
    return lambda img, rng: np.ascontiguousarray(fn(img, rng)[0])


def degrade_scenes(scenes, condition: str = "clean", seed: int = 0) -> list:
    """``scenes`` ((image, boxes, ignore) each) with every image seen through ``condition`` (a
    :data:`bench.robustness.CONDITIONS` name that keeps pixels in place: grey, jpeg, noise, ...),
    the same noise for a given ``seed`` and scene index; boxes and ignore regions unchanged."""
    degrade = scene_condition(condition)
    if degrade is None:
        return scenes
    return [(degrade(img, np.random.default_rng([seed, i])), boxes, ign) for i, (img, boxes, ign) in enumerate(scenes)]


SIZE_BINS = (0.0, 0.1, 0.2, 0.4, 1.01)  # hand box longest side / frame longest side


MISS_KINDS = ("found", "box_off", "below_threshold", "below_threshold_box_ok", "nothing")
LOOSE_IOU = 0.2  # a box overlapping a labelled hand at least this much was a try at it


def _loose_iou(match_iou: float) -> float:
    """Lowest IoU at which a box counts as a (possibly loose) try at a hand; never above a hit."""
    return min(LOOSE_IOU, match_iou)


def _scene_stats(det: HandDetector, scenes, threshold: float, match_iou: float = 0.5):
    """Per-scene matches (for AP), recall (NaN without a labelled hand) and false positives per
    frame at ``threshold``, recall per hand-size bin (:data:`SIZE_BINS`): {"0.00-0.10": (found,
    hands), ...}, and what became of each hand (:data:`MISS_KINDS`, counts): ``found`` (a detection
    at the threshold with IoU >= ``match_iou``, 0.5 as the issue's AP@0.5), ``box_off`` (one at the
    threshold overlaps it, 0.2 <= IoU < ``match_iou``), ``below_threshold`` (only detections scored
    0.05..threshold overlap it; ``below_threshold_box_ok`` counts those of them with IoU >=
    ``match_iou``), ``nothing`` (no detection >= 0.05 with IoU >= 0.2: a box around another, larger
    hand does not count as a try at this one).

    Sixth value: the false positives at ``threshold``, a list of (score, scene index, box (4,)
    scene px, best IoU with a labelled hand), highest score first (:func:`false_positive_kinds`)."""
    from tracker.detector_codec import iou_matrix
    per_image, tp_at, n_gt, false_pos = [], 0, 0, []
    by_size = np.zeros((len(SIZE_BINS) - 1, 2), int)
    kinds = dict.fromkeys(MISS_KINDS, 0)
    for k, (img, gt, ign) in enumerate(scenes):
        dets = det(img, score_threshold=0.05, max_detections=10)
        boxes = np.array([d.box for d in dets], np.float32).reshape(-1, 4)
        scores = np.array([d.score for d in dets], np.float32)
        kept, tp, sc, n = match_detection_boxes(boxes, scores, gt, match_iou, ign)
        per_image.append((tp, sc, n))
        sel = sc >= threshold
        tp_at += int(tp[sel].sum())
        n_gt += n
        g = np.asarray(gt, np.float64).reshape(-1, 4)
        bad = sel & ~tp
        if bad.any():
            best = iou_matrix(kept[bad], g).max(1) if len(g) else np.zeros(int(bad.sum()))
            false_pos += [(float(s_), k, b, float(i)) for s_, b, i in zip(sc[bad], kept[bad], best)]
        if len(g):
            iou = iou_matrix(g, boxes) if len(boxes) else np.zeros((len(g), 0))
            at = scores >= threshold
            best_at = np.where(at[None], iou, 0.0).max(1, initial=0.0)
            best_any = iou.max(1, initial=0.0)
            found = best_at >= match_iou
            kinds["found"] += int(found.sum())
            tried_at, tried = best_at >= _loose_iou(match_iou), best_any >= _loose_iou(match_iou)
            kinds["box_off"] += int((tried_at & ~found).sum())
            below = ~tried_at & tried
            kinds["below_threshold"] += int(below.sum())
            kinds["below_threshold_box_ok"] += int((below & (best_any >= match_iou)).sum())
            kinds["nothing"] += int((~tried).sum())
            size = np.maximum(g[:, 2] - g[:, 0], g[:, 3] - g[:, 1]) / max(img.shape[:2])
            b = np.clip(np.digitize(size, SIZE_BINS) - 1, 0, len(SIZE_BINS) - 2)
            np.add.at(by_size, (b, 0), found.astype(int))
            np.add.at(by_size, (b, 1), 1)
    sizes = {f"{lo:.2f}-{min(hi, 1):.2f}": (int(f), int(n)) for (lo, hi), (f, n)
             in zip(zip(SIZE_BINS[:-1], SIZE_BINS[1:]), by_size)}
    false_pos.sort(key=lambda f: -f[0])
    # recall over no labelled hand is undefined (NaN, null in the JSON, as AP), not 0: "all missed"
    recall = tp_at / n_gt if n_gt else float("nan")
    return per_image, recall, len(false_pos) / max(len(scenes), 1), sizes, kinds, false_pos


def false_positive_kinds(false_pos, match_iou: float = 0.5) -> dict:
    """Counts of false positives (from :func:`_scene_stats`) by their best IoU with a labelled
    hand: ``duplicate`` (>= ``match_iou``: a second box on a hand another detection matched),
    ``loose_box`` (0.2..``match_iou``: the hand found, the box too large, small or shifted; it is a
    miss of that hand too), ``elsewhere`` (below both: background, a face, or a hand the labels miss)."""
    iou = np.array([f[3] for f in false_pos], np.float64)
    lo = _loose_iou(match_iou)
    return {"duplicate": int((iou >= match_iou).sum()), "loose_box": int(((iou >= lo) & (iou < match_iou)).sum()),
            "elsewhere": int((iou < lo).sum())}


def draw_false_positives(path, scenes, false_pos, n: int = 24, cols: int = 8, tile: int = 200) -> None:
    """A grid picture of the ``n`` highest-scored false positives: each tile a square of the
    scene around the box (1.2x its side plus 20 px each way), labelled hands green, the false box
    red, its score, best IoU with a labelled hand and scene index written on it (one black tile
    when there are none)."""
    import cv2
    from tracker.draw import tile_grid
    tiles = []
    for score, k, box, best in false_pos[:n]:
        img, gt = scenes[k][0].copy(), np.asarray(scenes[k][1], np.float64).reshape(-1, 4)
        for g in gt:
            cv2.rectangle(img, (int(g[0]), int(g[1])), (int(g[2]), int(g[3])), (0, 255, 0), 2)
        cv2.rectangle(img, (int(box[0]), int(box[1])), (int(box[2]), int(box[3])), (0, 0, 255), 2)
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        r = max(box[2] - box[0], box[3] - box[1]) * 1.2 + 20
        x0, y0 = int(max(cx - r, 0)), int(max(cy - r, 0))
        x1, y1 = int(min(cx + r, img.shape[1])), int(min(cy + r, img.shape[0]))
        t = cv2.resize(img[y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)], (tile, tile))
        cv2.putText(t, f"{score:.2f} IoU {best:.2f} #{k}", (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                    (255, 255, 0), 1, cv2.LINE_AA)
        tiles.append(t)
    _write_picture(path, tile_grid(tiles or [np.zeros((tile, tile, 3), np.uint8)], cols), "--fp-grid")


def calibrate_threshold(det: HandDetector, scenes, max_fp: float = 0.05, match_iou: float = 0.5) -> float:
    """Lowest threshold (0.05 steps from 0.1) with <= max_fp false positives per frame (a box
    counts as a hit at IoU >= ``match_iou``)."""
    per_image = _scene_stats(det, scenes, 1.0, match_iou)[0]
    fps = np.concatenate([s[~t] for t, s, _ in per_image]) if per_image else np.zeros(0)
    for thr in np.round(np.arange(0.1, 0.96, 0.05), 2):   # the threshold it reports, not 0.5000000000000001
        if (fps >= thr).sum() / len(scenes) <= max_fp:
            return float(thr)
    return 0.95


def evaluate_detector(det: HandDetector, records, cache, n_scenes: int = 500, seed: int = 7,
                      threshold: float | None = None, fp_grid: str | Path | None = None,
                      match_iou: float = 0.5, scene_size: tuple[int, int] | None = None,
                      photos: int | None = None, full_rotation: bool = False, condition: str = "clean",
                      hand_frac: tuple[float, float] | None = None) -> dict:
    """Figures on composed val scenes (``scene_size`` (width, height) pixels, default the detector's
    input size) (strict: a hand the labels miss counts as a false positive);
    with ``fp_grid`` also a picture of the highest-scored false positives (:func:`draw_false_positives`).

    ``match_iou``: IoU with a labelled hand's box at which a detection is a hit (0.5: the issue's
    AP@0.5). A lower one, e.g. 0.2, tells what better boxes alone could give: a hand boxed
    loosely then counts as found instead of as a miss plus a false positive.

    ``photos``: the single-photo recall on the first N photos of ``records`` (None: all; 0: none,
    ``photo_recall`` is then None): the share of their annotated hands (``photo_hands``, every
    hand of a photo) that a detection at the threshold matches. ``full_rotation``: scenes of hands
    at any angle (robustness; the photos stay as they are). ``condition``: the scenes and photos degraded by a
    :data:`bench.robustness.CONDITIONS` entry that keeps pixels in place (grey, jpeg, noise...).
    ``hand_frac``: the scenes' hand sizes (see :func:`_scenes`), e.g. (0.6, 1.0) for hands close
    to the camera. A figure with nothing counted is None (AP when the scenes hold no labelled hand)."""
    if not 0.0 < match_iou <= 1.0:
        raise ValueError(f"match_iou must be in (0, 1], got {match_iou}")
    thr = det.default_threshold if threshold is None else threshold
    w, h = scene_size or (det.width, det.height)
    scenes = _scenes(records, cache, n_scenes, seed, w, h, full_rotation, condition, hand_frac)
    per_image, recall, fpf, sizes, kinds, false_pos = _scene_stats(det, scenes, thr, match_iou)
    if fp_grid:
        draw_false_positives(fp_grid, scenes, false_pos)
    # single photos: every annotated hand of each photo is a positive (the extra `source:
    # "mediapipe"` hands too, as in the scenes; hands21/val lists them before the labelled hand)
    found = n_hands = 0
    by_photo = {}
    for r in records if photos != 0 else ():
        by_photo.setdefault(r.image, []).append(r)
    n_main = 0
    degrade = scene_condition(condition)
    for i, (path, recs) in enumerate(list(by_photo.items())[:photos]):
        # photo i's noise seeded [i, 0], as the figures in assets/eval_detector_conditions.json were made
        photo = cache[path] if degrade is None else degrade(cache[path], np.random.default_rng([i, 0]))
        dets = det(photo, score_threshold=thr)
        boxes = np.array([d.box for d in dets], np.float32).reshape(-1, 4)
        gt = np.stack([hand_box_and_cues(r.keypoints, r.visible)[0] for r in recs])
        tp, _, n = match_detections(boxes, np.array([d.score for d in dets]), gt, match_iou)
        found += int(tp.sum())
        n_hands += n
        n_main += 1
    return finite_figures({"scenes": len(scenes), "seed": seed, "hands_in_scenes": sum(n for _, _, n in per_image),
            f"ap@{match_iou:g}": average_precision(per_image), "match_iou": match_iou, "threshold": thr, "recall": recall,
            "fp_per_frame": fpf, "false_positives_by_kind": false_positive_kinds(false_pos, match_iou),
            "recall_by_size": {k: {"recall": f / n if n else None, "hands": n} for k, (f, n) in sizes.items()},
            "size": "hand box longest side / scene longest side",
            "hands_by_outcome": kinds, "outcome": "each hand's best detection, see train.evaluate._scene_stats",
            "photo_recall": found / n_hands if n_hands else None, "photos": n_main, "photo_hands": n_hands,
            "scene_size": [w, h],
            "full_rotation": full_rotation, "condition": condition, "hand_frac": _frac(hand_frac),
            "model_version": det.meta.get("model_version")})


def evaluate_acquisition(tracker, records, cache, n_scenes: int = 500, seed: int = 7,
                         width: int = 640, height: int = 480, full_rotation: bool = False,
                         condition: str = "clean", hand_frac: tuple[float, float] | None = None) -> dict:
    """Figures of the tracker's acquisition step on composed val scenes (``width`` x ``height``
    pixels): ``tracker`` is a :class:`tracker.hand_tracker.HandTracker` in static mode whose
    ``max_hands`` is at least the most hands a scene holds (8). Each reported hand is a detection
    with its keypoint box (pixels, clipped to the scene as the labelled boxes are) and presence as
    score; a labelled hand is found at IoU >= 0.5, hands in the scenes' ignore regions count
    neither way; ``recall`` is None for scenes without a labelled hand. ``detector_alone``: the
    tracker's detector on the same scenes at the same threshold (:func:`_scene_stats`). ``full_rotation``:
    scenes of hands at any angle; ``condition``: degraded scenes (:func:`degrade_scenes`);
    ``hand_frac``: their hand sizes (:func:`_scenes`)."""
    if not tracker.options.static_image_mode:
        raise ValueError("evaluate_acquisition needs a HandTracker with static_image_mode=True")
    scenes = _scenes(records, cache, n_scenes, seed, width, height, full_rotation, condition, hand_frac)
    thr = tracker.options.min_detection_confidence
    if thr is None:
        thr = tracker.detector.default_threshold
    per_image, tp_at, n_gt, n_fp = [], 0, 0, 0
    for img, gt, ign in scenes:
        hands = tracker.process(img).hands
        boxes = np.array([h.box for h in hands], np.float32).reshape(-1, 4)
        # a labelled box holds only the points inside the scene (train.scenes.visible_hands), a
        # keypoint box also those the landmark model places past the edge: unclipped, a hand found
        # at the edge read as a miss plus a false hand
        h_img, w_img = img.shape[:2]
        boxes = np.clip(boxes, 0.0, np.array([w_img, h_img, w_img, h_img], np.float32))
        scores = np.array([h.score for h in hands], np.float32)
        tp, sc, n = match_detections(boxes, scores, gt, 0.5, ign)
        per_image.append((tp, sc, n))
        tp_at += int(tp.sum())
        n_fp += int((~tp).sum())
        n_gt += n
    alone = _scene_stats(tracker.detector, scenes, thr)
    return finite_figures({
            "scenes": len(scenes), "seed": seed, "scene_size": [width, height], "full_rotation": full_rotation,
            "condition": condition, "hand_frac": _frac(hand_frac), "hands_in_scenes": n_gt,
            "detector_threshold": float(thr), "presence_threshold": tracker.options.min_tracking_confidence,
            "low_detection_confidence": getattr(tracker.options, "low_detection_confidence", None),
            "low_detection_keypoint_score": getattr(tracker.options, "low_detection_keypoint_score", None),
            "recall": tp_at / n_gt if n_gt else None, "fp_per_frame": n_fp / max(len(scenes), 1),
            "ap@0.5_by_presence": average_precision(per_image),
            "detector_alone": {"recall": alone[1] if n_gt else None, "fp_per_frame": alone[2],
                               "ap@0.5": average_precision(alone[0]),
                               "false_positives_by_kind": false_positive_kinds(alone[5]),
                               "hands_by_outcome": alone[4]}})


def _frac(hand_frac) -> list[float]:
    """The scenes' hand-size range as written in the figures (the default one when None)."""
    from .scenes import SceneConfig
    return [float(v) for v in (SceneConfig.hand_frac if hand_frac is None else hand_frac)]


def _low_high(text: str, example: str) -> tuple[float, float]:
    """Two numbers written ``LOW,HIGH`` (an argparse type's parsing; the caller checks the range)."""
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH such as {example}, got {text!r}") from None
    return lo, hi


def _hand_frac(text: str) -> tuple[float, float]:
    """``--hand-frac LOW,HIGH``: hand size / scene's longer side, 0 < LOW < HIGH <= 1.5."""
    lo, hi = _low_high(text, "0.6,1.0")
    if not 0.0 < lo < hi <= 1.5:
        raise argparse.ArgumentTypeError(f"need 0 < LOW < HIGH <= 1.5, got {text!r}")
    return lo, hi


def _edge_cut(text: str) -> tuple[float, float]:
    """``--edge-cut LOW,HIGH``: share of a hand's points past the frame edge, 0 <= LOW < HIGH < 1."""
    lo, hi = _low_high(text, "0.1,0.45")
    if not 0.0 <= lo < hi < 1.0:
        raise argparse.ArgumentTypeError(f"need 0 <= LOW < HIGH < 1, got {text!r}")
    return lo, hi


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--scene-size must be WIDTHxHEIGHT, got {text!r}") from None
    if w < 32 or h < 32:
        raise argparse.ArgumentTypeError(f"--scene-size must be at least 32x32, got {text!r}")
    if w > MAX_SCENE_SIDE or h > MAX_SCENE_SIDE:
        raise argparse.ArgumentTypeError(f"--scene-size must be at most {MAX_SCENE_SIDE}x{MAX_SCENE_SIDE}, "
                                         f"got {text!r}")
    return w, h


def _match_iou(text: str) -> float:
    v = unit_float("--match-iou")(text)
    if v <= 0.0:
        raise argparse.ArgumentTypeError(f"--match-iou must be in (0, 1], got {v}")
    return v


def eval_records(data: str, split: str, val_fraction: float = 0.1):
    """The records to evaluate: a dataset folder's ``split``; for a single file (a CSV of one's own
    labels, a COCO JSON) the images training held out for validation (``split`` "val", the same
    hash split with the same ``val_fraction``: :func:`train.data.load_train_val`), the others
    ("train") or every row ("all")."""
    if Path(data).is_dir() or split == "all":
        return load_records(data, split)
    if split not in ("train", "val"):
        raise ValueError(f"--split {split!r}: a single --data file has the splits 'val' (held out by "
                         f"training), 'train' and 'all'")
    train, val = load_train_val(data, val_fraction=val_fraction)
    return val if split == "val" else train


# options that only one or two kinds read (the others ignored them without a word)
_KIND_OPTIONS = {
    "--flip-test": ("landmarks",), "--worst-grid": ("landmarks",),
    "--fp-grid": ("detector",), "--calibrate": ("detector",), "--match-iou": ("detector",),
    "--landmark-model": ("acquisition",), "--presence": ("acquisition",), "--refine-score": ("acquisition",),
    "--turn-retry": ("acquisition",), "--detector-turns": ("acquisition",), "--turn-fallback": ("acquisition",),
    "--low-detection-confidence": ("acquisition",), "--low-detection-keypoint-score": ("acquisition",),
    "--scenes": ("detector", "acquisition"), "--threshold": ("detector", "acquisition"),
    "--scene-size": ("detector", "acquisition"), "--small-hands": ("detector", "acquisition"),
    "--no-large-hands": ("detector", "acquisition"), "--hand-frac": ("detector", "acquisition"),
}


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["landmarks", "detector", "acquisition"])
    ap.add_argument("--data", default="../shared/data/hands21")
    ap.add_argument("--split", default="val",
                    help="a dataset folder's split (its <split>.json/.csv); for a single --data file: 'val' "
                    "the images training held out (--val-fraction), 'train' the others, 'all' every row")
    ap.add_argument("--val-fraction", type=val_fraction_arg, default=0.1,
                    help="single --data file: the share of images training held out (its default 0.1)")
    ap.add_argument("--model", default=None, help="ONNX file (default: the shipped one; acquisition: the detector)")
    ap.add_argument("--landmark-model", default=None, help="acquisition: landmark ONNX file (default: the shipped one)")
    ap.add_argument("--limit", type=int_at_least("--limit", 0), default=0, help="first N hands/photos only (0: all)")
    ap.add_argument("--scenes", type=int_at_least("--scenes", 1, MAX_SCENES), default=500,
                    help=f"detector, acquisition: composed val scenes (at most {MAX_SCENES}; all are made first and "
                         "held in memory, width x height x 3 bytes each: more than the machine's memory is refused)")
    ap.add_argument("--threshold", type=unit_float("--threshold"), default=None, help="detector score threshold (default: the shipped one)")
    ap.add_argument("--presence", type=unit_float("--presence"), default=0.5, help="acquisition: landmark presence threshold")
    ap.add_argument("--scene-size", type=_size, default=None,
                    help="detector, acquisition: WIDTHxHEIGHT of the composed scenes, 32 to "
                         f"{MAX_SCENE_SIDE} a side (default: acquisition 640x480, "
                         "detector its input size; --small-hands needs scenes larger than that)")
    ap.add_argument("--refine-score", type=unit_float("--refine-score"), default=None, metavar="P",
                    help="acquisition: the tracker's refine_score (default: the tracker's, 0.6; 0 = the "
                    "tracker before session 19)")
    ap.add_argument("--turn-retry", action="store_true",
                    help="acquisition: a detector crop with no hand measured again turned by 180 degrees "
                         "(tracker option turn_retry)")
    ap.add_argument("--small-hands", action="store_true",
                    help="detector, acquisition: with the detector's small-hand pass (tracker option small_hands)")
    ap.add_argument("--no-large-hands", action="store_true",
                    help="detector, acquisition: without the detector's half-size pass for hands close to the "
                         "camera (tracker option large_hands; on by default since session 26)")
    ap.add_argument("--hand-frac", type=_hand_frac, default=None, metavar="LOW,HIGH",
                    help="detector, acquisition: hand sizes of the composed scenes, as a fraction of their longer "
                         "side (default: the training scenes' 0.05,0.6; 0.6,1.0: hands close to the camera)")
    ap.add_argument("--detector-turns", type=int, choices=(1, 2, 4), default=1,
                    help="acquisition: the tracker's detector_turns (static mode: the detector looks at every "
                         "scene upright and turned; default 1, upright only); the detector_alone figures stay "
                         "those of the upright look")
    ap.add_argument("--turn-fallback", action="store_true",
                    help="acquisition: with --detector-turns 2 or 4, the turned looks only on scenes where the "
                         "upright look finds no hand (tracker option turn_fallback)")
    from tracker.hand_tracker import HandTrackerOptions
    ap.add_argument("--low-detection-confidence", type=unit_float_or_none("--low-detection-confidence"),
                    default=HandTrackerOptions.low_detection_confidence, metavar="P|none",
                    help="acquisition: the tracker's low_detection_confidence (default "
                         f"{HandTrackerOptions.low_detection_confidence:g}; none: the threshold alone, as before session 15)")
    ap.add_argument("--low-detection-keypoint-score", type=unit_float("--low-detection-keypoint-score"),
                    default=HandTrackerOptions.low_detection_keypoint_score, metavar="Q",
                    help="acquisition: the tracker's low_detection_keypoint_score (default "
                         f"{HandTrackerOptions.low_detection_keypoint_score:g})")
    ap.add_argument("--calibrate", action="store_true",
                    help="detector: set the threshold on other scenes first (lowest with <= 0.05 FP/frame; "
                         "not with --threshold)")
    ap.add_argument("--calibration-scenes", type=int_at_least("--calibration-scenes", 1, MAX_SCENES), default=None,
                    help="detector: scenes for --calibrate (default: --scenes; at most "
                         f"{MAX_SCENES}). 500 scenes hold ~25 false "
                         "positives, so the FP rate the threshold gives elsewhere varies by +-0.03; more are steadier")
    ap.add_argument("--match-iou", type=_match_iou, default=0.5,
                    help="detector: IoU with a labelled box that makes a hit (default 0.5, the issue's AP@0.5; "
                         "0.2 shows what better boxes alone would give)")
    ap.add_argument("--threads", type=thread_count(), default=2)
    ap.add_argument("--flip-test", action="store_true", help="landmarks: average each crop with its mirror")
    ap.add_argument("--full-rotation", action="store_true",
                    help="landmarks: crops at uniformly random angles (robustness), not near upright; "
                         "detector, acquisition: scenes whose photos are pasted at any angle (hands pointing "
                         "down or sideways), not N(0, 30 deg); --calibrate still uses upright scenes")
    ap.add_argument("--edge-cut", type=_edge_cut, default=None, metavar="LOW,HIGH",
                    help="landmarks: each photo ends at a frame edge through its hand, leaving that share of its "
                         "points outside (e.g. 0.1,0.45: a hand at the side of the frame; not with --worst-grid)")
    ap.add_argument("--condition", default="clean",
                    help="detector, acquisition: degrade the scenes (and photos) as bench robustness does: grey, "
                         "jpeg (quality 10), noise (sigma 15), dark, blur, ... (default clean); --calibrate "
                         "still uses clean scenes")
    ap.add_argument("--out", default=None, help="JSON file for the figures (not one of the inputs: --data's label "
                    "files and photos, the models)")
    ap.add_argument("--worst-grid", default=None, help="landmarks: picture (.jpg/.png) of the 24 worst hands")
    ap.add_argument("--fp-grid", default=None, help="detector: picture (.jpg/.png) of the 24 highest-scored false positives")
    a = ap.parse_args(argv)
    if a.calibration_scenes is not None and not a.calibrate:
        ap.error("--calibration-scenes needs --calibrate (it sets how many scenes the threshold is picked on)")
    if a.val_fraction != ap.get_default("val_fraction"):
        # only a single --data file is split by it (eval_records), with --split val or train: it
        # was ignored without a word
        try:
            check_val_fraction_applies(a.data, a.val_fraction)
        except ValueError as e:
            ap.error(str(e))
        if a.split == "all":
            ap.error(f"--val-fraction {a.val_fraction:g}: does nothing with --split all (every row)")
    if a.edge_cut is not None and a.kind != "landmarks":
        ap.error("--edge-cut applies to landmarks (the tracker at the frame's edge: python -m bench robustness "
                 "--video-conditions zoom2)")
    if a.condition != "clean":
        if a.kind == "landmarks":
            ap.error("--condition applies to detector and acquisition (landmarks under damaged photos: "
                     "python -m bench robustness)")
        try:
            check_scene_condition(a.condition)
        except ValueError as e:
            ap.error(str(e))
    for option, kinds in _KIND_OPTIONS.items():
        dest = option.lstrip("-").replace("-", "_")
        if a.kind not in kinds and getattr(a, dest) != ap.get_default(dest):   # silently ignored before
            ap.error(f"{option} applies to {' and '.join(kinds)}, not {a.kind}")
    if a.edge_cut is not None and a.worst_grid is not None:
        # the grid draws the uncut photos: the keypoints of a photo cut at its left or top would be off
        ap.error(f"--worst-grid {a.worst_grid}: not available with --edge-cut")
    if a.calibrate and a.threshold is not None:   # the calibrated threshold replaced it without a word
        ap.error(f"--threshold {a.threshold:g}: not with --calibrate, which picks the threshold itself")
    outputs = [("--out", a.out), ("--worst-grid", a.worst_grid), ("--fp-grid", a.fp_grid)]
    clash = output_clash(outputs, [("--model", a.model), ("--landmark-model", a.landmark_model)]
                         + data_inputs(a.data))
    if clash:
        ap.error(clash)
    for option, path in outputs:
        if path is not None:
            try:       # found only when writing, after the whole evaluation
                check_output_path(option, path)
            except ValueError as e:
                ap.error(str(e))
    import cv2
    for option, picture in (("--worst-grid", a.worst_grid), ("--fp-grid", a.fp_grid)):
        if picture and not cv2.haveImageWriter(picture):   # known before the run, not after it (its figures lost)
            ap.error(f"{option} {picture}: not a picture file OpenCV can write (.jpg, .png)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    t0 = time.time()
    try:
        with contextlib.ExitStack() as held:
            # the models first: a mistyped --model, a model of the other kind or a bad --threads is
            # said before every image is decoded
            if a.kind == "landmarks":
                lm = LandmarkModel(a.model, threads=a.threads, flip_test=a.flip_test)
            elif a.kind == "acquisition":
                from tracker.hand_tracker import HandTracker
                tr = held.enter_context(HandTracker(
                    static_image_mode=True, max_hands=8, threads=a.threads, detector=a.model,
                    small_hands=a.small_hands, large_hands=not a.no_large_hands, turn_retry=a.turn_retry,
                    detector_turns=a.detector_turns, turn_fallback=a.turn_fallback,
                    **({} if a.refine_score is None else {"refine_score": a.refine_score}),
                    landmark_model=a.landmark_model, min_detection_confidence=a.threshold,
                    min_tracking_confidence=a.presence, low_detection_confidence=a.low_detection_confidence,
                    low_detection_keypoint_score=a.low_detection_keypoint_score))
                w, h = a.scene_size or (640, 480)
            else:
                det = HandDetector(a.model, threads=a.threads, small_hands=a.small_hands,
                                   large_hands=False if a.no_large_hands else None)
                w, h = a.scene_size or (det.width, det.height)
            recs = eval_records(a.data, a.split, a.val_fraction)
            if a.limit:
                recs = recs[:a.limit]
            clash = photo_clash(outputs, recs)
            if clash:
                raise ValueError(clash)
            n_cal = (a.calibration_scenes or a.scenes) if a.calibrate else None
            if a.kind != "landmarks":
                # all scenes are made first and held, 3 bytes a pixel
                check_fits_in_memory(f"--scenes {a.scenes} ({w}x{h})", a.scenes * w * h * 3)
                if n_cal:
                    option = "--calibration-scenes" if a.calibration_scenes else "--scenes"
                    check_fits_in_memory(f"{option} {n_cal} ({w}x{h})", n_cal * w * h * 3)
            cache = ImageCache(recs)
            if a.kind == "landmarks":
                res = evaluate_landmarks(lm, recs, cache, worst_grid=a.worst_grid, full_rotation=a.full_rotation,
                                         edge_cut=a.edge_cut)
                res["flip_test"] = a.flip_test
                res["model"] = str(lm.model_path)
            elif a.kind == "acquisition":
                res = evaluate_acquisition(tr, recs, cache, a.scenes, width=w, height=h,
                                           full_rotation=a.full_rotation, condition=a.condition,
                                           hand_frac=a.hand_frac)
                res["small_hands"] = a.small_hands
                res["large_hands"] = tr.detector.large_hands
                res["turn_retry"] = tr.options.turn_retry
                res["detector_turns"] = tr.options.detector_turns
                res["turn_fallback"] = tr.options.turn_fallback
                res["refine_score"] = tr.options.refine_score
                res.update(model=str(tr.detector.model_path), landmark_model=str(tr.landmarks.model_path))
            else:
                if n_cal:
                    a.threshold = calibrate_threshold(det, _scenes(recs, cache, n_cal, 1234, w, h),
                                                      match_iou=a.match_iou)
                    log.info("calibrated threshold on %d scenes: %.2f", n_cal, a.threshold)
                res = evaluate_detector(det, recs, cache, a.scenes, threshold=a.threshold, fp_grid=a.fp_grid,
                                        match_iou=a.match_iou, scene_size=(w, h), full_rotation=a.full_rotation,
                                        condition=a.condition, hand_frac=a.hand_frac)
                res["calibration_scenes"] = n_cal
                res["small_hands"] = a.small_hands
                res["large_hands"] = det.large_hands
                res["model"] = str(det.model_path)
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}")
    # what to run again for the same figures (the seed of the crops or scenes is in ``res``)
    res.update(data=a.data, split=a.split, limit=a.limit)
    if not Path(a.data).is_dir() and a.split != "all":
        res["val_fraction"] = a.val_fraction
    res["seconds"] = round(time.time() - t0, 1)
    text = figures_json(res)
    print(text)  # first: an --out that cannot be written must not lose the evaluation
    if a.out:
        try:
            Path(a.out).parent.mkdir(parents=True, exist_ok=True)
            Path(a.out).write_text(text, encoding="utf-8")
        except OSError as e:  # a folder of that name, a full disk, no permission
            raise SystemExit(f"error: cannot write --out {a.out} ({e.strerror or e}); the figures are above")


if __name__ == "__main__":
    main()
