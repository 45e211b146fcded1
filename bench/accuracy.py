"""Accuracy on hands21/val full photos: the whole method (detector + landmarks) in static mode.

Every labelled hand of a chosen photo is a ground-truth hand. Predicted hands are matched to them
(:mod:`bench.matching`: mean visible-keypoint distance / GT box size below 0.5, least total cost);
an unmatched ground-truth hand is "not found" and counts as wrong at every keypoint. Metrics are
those of ``../shared/keypoints.md``, computed by :mod:`tracker.metrics`.

Note: hands21 labels were produced by MediaPipe (see ../shared/data/README.md), so MediaPipe's own
figures here measure agreement with itself, not ground-truth accuracy.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from tracker import metrics
from tracker.video import read_image_file

from .matching import MAX_COST, match_hands

log = logging.getLogger(__name__)

CURVE_T = np.round(np.arange(0, 0.3001, 0.01), 4)


@dataclass
class GtImage:
    path: Path
    keypoints: list[np.ndarray]  # (17, 2) each
    visible: list[np.ndarray]
    sides: list[int]  # 0 left, 1 right, -1 unknown
    side_scores: list[float]
    norm_sides: list[float] = field(default_factory=list)  # PCK normaliser per hand (GT box side)


def select_images(records, n: int | None, seed: int = 0, option: str = "n") -> list[GtImage]:
    """Group records by photo and choose ``n`` photos (all when None), deterministically. More
    than there are: all of them, with a warning naming ``option`` (the command line's)."""
    by: dict[int, list] = {}
    for r in records:
        by.setdefault(r.image_id, []).append(r)
    ids = sorted(by)
    if n is not None and n > len(ids):
        log.warning("%s %d: there are %d photos; all of them are used", option, n, len(ids))
    if n is not None and n < len(ids):
        rng = np.random.default_rng(seed)
        ids = sorted(rng.choice(ids, n, replace=False).tolist())
    out = []
    for i in ids:
        rs = by[i]
        out.append(GtImage(Path(rs[0].image), [r.keypoints for r in rs], [r.visible for r in rs],
                           [int(r.handedness) for r in rs], [float(r.handedness_score) for r in rs],
                           [float(r.norm_side) if hasattr(r, "norm_side") else float("nan") for r in rs]))
    return out


@dataclass
class AccuracyRun:
    """Per ground-truth hand arrays of one method (N hands over all chosen photos)."""

    gt: np.ndarray  # (N, 17, 2)
    visible: np.ndarray  # (N, 17)
    gt_side: np.ndarray  # (N,) 0/1/-1
    side_score: np.ndarray  # (N,)
    pred: np.ndarray  # (N, 17, 2), NaN where not found
    found: np.ndarray  # (N,) bool
    pred_side: np.ndarray  # (N,) object "left"/"right"/None
    norm: np.ndarray | None = None  # (N,) PCK normaliser (GT box side), None: 17-point box
    false_pos: int = 0
    images: int = 0
    ms: list[float] = field(default_factory=list)


def run(method, images: list[GtImage], view: str, max_cost: float = MAX_COST,
        progress_every: int = 200, label: str = "") -> AccuracyRun:
    """Run ``method`` (a :mod:`bench.methods` callable in static mode) on each photo."""
    gts, vis, gsd, gsc, preds, found, psd, norms = [], [], [], [], [], [], [], []
    fp, ms = 0, []
    t_start = time.perf_counter()
    for n, im in enumerate(images):
        frame = read_image_file(im.path, cv2.IMREAD_COLOR)
        if frame is None:
            raise FileNotFoundError(f"cannot read {im.path}")
        out = method(frame)
        ms.append(out.ms)
        hands = out.views[view]
        sizes = [float(metrics.box_size(k[None], v[None])[0]) for k, v in zip(im.keypoints, im.visible)]
        pairs = dict((j, i) for i, j in match_hands([h.keypoints for h in hands], im.keypoints,
                                                     im.visible, sizes, max_cost))
        fp += len(hands) - len(pairs)
        for j in range(len(im.keypoints)):
            gts.append(im.keypoints[j])
            vis.append(im.visible[j])
            gsd.append(im.sides[j])
            gsc.append(im.side_scores[j])
            ns = im.norm_sides[j] if j < len(im.norm_sides) else float("nan")
            norms.append(ns if np.isfinite(ns) and ns > 0 else sizes[j])
            if j in pairs:
                h = hands[pairs[j]]
                preds.append(np.asarray(h.keypoints, np.float32))
                found.append(True)
                psd.append(h.side)
            else:
                preds.append(np.full((17, 2), np.nan, np.float32))
                found.append(False)
                psd.append(None)
        if progress_every and (n + 1) % progress_every == 0:
            log.info("accuracy %s: %d/%d photos, found %.3f, %.1f s", label or view, n + 1,
                     len(images), np.mean(found), time.perf_counter() - t_start)
    return AccuracyRun(np.array(gts, np.float32).reshape(-1, 17, 2), np.array(vis, np.float32).reshape(-1, 17),
                       np.array(gsd), np.array(gsc, np.float64), np.array(preds, np.float32).reshape(-1, 17, 2),
                       np.array(found, bool), np.array(psd, object),
                       np.array(norms, np.float64), fp, len(images), ms)


def summarize(r: AccuracyRun) -> dict:
    """The metrics of keypoints.md for one run (+ PCK curve and per-keypoint PCK@0.1)."""
    pred = np.where(r.found[:, None, None], r.pred, 0.0)  # values of unfound hands are ignored
    p = metrics.pck(pred, r.gt, r.visible, found=r.found, norm=r.norm)
    curve = metrics.pck(pred, r.gt, r.visible, CURVE_T, found=r.found, norm=r.norm)
    side_names = np.array(["left", "right"])
    known = (r.gt_side >= 0) & r.found
    # as ints: an empty run's gt_side is a float array, which cannot index
    gt_names = np.where(r.gt_side >= 0, side_names[np.clip(r.gt_side, 0, 1).astype(int)], "")
    pred_names = np.array([s if s is not None else "" for s in r.pred_side], object)
    return {
        "images": r.images,
        "hands": int(len(r.found)),
        "pck@0.05": p[0.05], "pck@0.1": p[0.1], "pck@0.2": p[0.2],
        "auc@0.2": metrics.auc(pred, r.gt, r.visible, found=r.found, norm=r.norm),
        "nme_palm": metrics.nme_palm(pred, r.gt, r.visible, found=r.found),
        "found_rate": float(r.found.mean()) if len(r.found) else float("nan"),
        "handedness_acc": metrics.handedness_accuracy(pred_names, gt_names, known),
        "handedness_acc_conf": metrics.handedness_accuracy(pred_names, gt_names,
                                                           known & (r.side_score >= 0.9)),
        "false_pos_per_image": r.false_pos / max(r.images, 1),
        "ms_p50": float(np.percentile(r.ms, 50)) if r.ms else float("nan"),
        "pck_curve": {float(t): v for t, v in curve.items()},
        "per_keypoint_pck@0.1": metrics.per_keypoint_pck(pred, r.gt, r.visible, 0.1, r.found, r.norm).tolist(),
    }
