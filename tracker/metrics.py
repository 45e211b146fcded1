"""Accuracy metrics of ``../shared/keypoints.md`` (numpy only), shared by training and bench.

All arrays are in the same pixel units. ``found`` marks hands the method reported; a hand not
found counts as wrong at every keypoint.
"""
from __future__ import annotations

import warnings

import numpy as np

from .keypoints import palm_size

PCK_THRESHOLDS = (0.05, 0.1, 0.2)
AUC_THRESHOLDS = np.round(np.arange(0, 0.2001, 0.01), 4)


def box_size(gt: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """Longest side (pixels) of the tight box of each hand's visible GT keypoints. (N,17,2)->(N,)

    For hands21 prefer the annotation's own ``bbox`` (tight box of all 21 visible points, see
    ``HandRecord.box_side``) and pass it as ``norm`` to :func:`pck`: the 17-point box is a little
    smaller for ~12% of hands, which would make PCK stricter than keypoints.md defines it.
    """
    gt = np.asarray(gt, np.float64)
    v = np.asarray(visible) > 0
    big = np.where(v[..., None], gt, np.nan)
    with warnings.catch_warnings():   # a hand without visible points: NaN, which the callers expect
        warnings.simplefilter("ignore", RuntimeWarning)
        lo, hi = np.nanmin(big, axis=1), np.nanmax(big, axis=1)
        return np.nanmax(hi - lo, axis=1)


def normalized_errors(pred, gt, visible, norm, found=None) -> np.ndarray:
    """Per-keypoint error / norm, (N, 17); inf where the hand was not found, nan where invisible."""
    pred = np.asarray(pred, np.float64)
    gt = np.asarray(gt, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):   # a zero or NaN norm: inf/NaN, handled below
        err = np.linalg.norm(pred - gt, axis=-1) / np.asarray(norm, np.float64)[:, None]
    err = np.where(np.isfinite(err), err, np.inf)
    if found is not None:
        err = np.where(np.asarray(found, bool)[:, None], err, np.inf)
    return np.where(np.asarray(visible) > 0, err, np.nan)


def pck(pred, gt, visible, thresholds=PCK_THRESHOLDS, found=None, norm=None) -> dict[float, float]:
    """PCK@t: share of visible GT keypoints with error < t x longest side of the GT hand box.

    NaN at every t when there is no visible GT keypoint (no hands): a share of nothing is
    undefined, as for :func:`nme_palm` and :func:`per_keypoint_pck`, not 0 ("all wrong").
    """
    norm = box_size(gt, visible) if norm is None else norm
    e = normalized_errors(pred, gt, visible, norm, found)
    valid = ~np.isnan(e)
    n = int(valid.sum())
    return {float(t): float((e[valid] < t).sum() / n) if n else float("nan") for t in thresholds}


def per_keypoint_pck(pred, gt, visible, t=0.1, found=None, norm=None) -> np.ndarray:
    """(17,) PCK@t for each keypoint."""
    norm = box_size(gt, visible) if norm is None else norm
    e = normalized_errors(pred, gt, visible, norm, found)
    valid = ~np.isnan(e)
    return np.array([(e[valid[:, k], k] < t).mean() if valid[:, k].any() else np.nan
                     for k in range(e.shape[1])])


def auc(pred, gt, visible, found=None, thresholds=AUC_THRESHOLDS, norm=None) -> float:
    """AUC@0.2: mean PCK over t = 0, 0.01, ..., 0.2 (21 values; NaN with no visible keypoint)."""
    return float(np.mean(list(pck(pred, gt, visible, thresholds, found, norm).values())))


def nme_palm(pred, gt, visible, found=None) -> float:
    """Mean keypoint error / palm size over found hands' visible keypoints.

    Palm size uses visible GT points only; hands whose palm triangle has no visible pair are left
    out (their palm size is unknown). A found hand's non-finite prediction at a visible point is
    infinitely wrong, as in :func:`pck` (inf), not left out.
    """
    norm = palm_size(gt, visible)
    ok = nme_hands(gt, visible, found, norm)
    if not ok.any():
        return float("nan")
    e = normalized_errors(np.asarray(pred)[ok], np.asarray(gt)[ok], np.asarray(visible)[ok], norm[ok])
    e = e[~np.isnan(e)]     # invisible points; inf (a NaN prediction) stays: it is an error
    return float(e.mean()) if e.size else float("nan")


def nme_hands(gt, visible, found=None, norm=None) -> np.ndarray:
    """(N,) bool: the hands :func:`nme_palm` averages over (found, with a known palm size > 0);
    ``norm``: their palm sizes when already computed."""
    norm = palm_size(gt, visible) if norm is None else norm
    ok = np.isfinite(norm) & (norm > 0)
    if found is not None:
        ok &= np.asarray(found, bool)
    return ok


def handedness_accuracy(pred_side, gt_side, mask=None) -> float:
    """Share of hands whose predicted side equals the label; ``mask`` selects hands to count."""
    p = np.asarray(pred_side)
    g = np.asarray(gt_side)
    m = np.ones(len(p), bool) if mask is None else np.asarray(mask, bool)
    return float((p[m] == g[m]).mean()) if m.any() else float("nan")


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve (probability a positive outranks a negative; a tie counts one
    half). NaN when one class is missing or a score is NaN (it has no rank)."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels, bool)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0 or np.isnan(s).any():
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    allv = np.concatenate([pos, neg])[order]
    # average ranks for ties
    i = 0
    r = np.arange(1, len(order) + 1, dtype=np.float64)
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        r[i:j + 1] = (i + j + 2) / 2
        i = j + 1
    ranks[order] = r
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def match_detections(pred_boxes, pred_scores, gt_boxes, iou_threshold=0.5, ignore_boxes=None):
    """Greedy (by score) matching of one image's detections to GT boxes at IoU >= threshold.

    Returns (tp (N,) bool in score order, scores sorted (N,), n_gt). Detections that match no GT
    but overlap an ignore box (IoU >= threshold or mostly inside it) are dropped, not counted.
    """
    _, tp, ps, n = match_detection_boxes(pred_boxes, pred_scores, gt_boxes, iou_threshold, ignore_boxes)
    return tp, ps, n


def match_detection_boxes(pred_boxes, pred_scores, gt_boxes, iou_threshold=0.5, ignore_boxes=None):
    """:func:`match_detections` that also returns the kept boxes: (boxes (N, 4) in score order,
    tp (N,), scores (N,), n_gt)."""
    from .detector_codec import iou_matrix
    pb = np.asarray(pred_boxes, np.float64).reshape(-1, 4)
    ps = np.asarray(pred_scores, np.float64).reshape(-1)
    gb = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    order = np.argsort(-ps, kind="stable")
    pb, ps = pb[order], ps[order]
    ious = iou_matrix(pb, gb) if len(gb) else np.zeros((len(pb), 0))
    used = np.zeros(len(gb), bool)
    tp = np.zeros(len(pb), bool)
    keep = np.ones(len(pb), bool)
    for i in range(len(pb)):
        if len(gb):
            cand = np.where(~used & (ious[i] >= iou_threshold))[0]
            if cand.size:
                j = cand[np.argmax(ious[i, cand])]
                used[j] = True
                tp[i] = True
                continue
        if ignore_boxes is not None and len(ignore_boxes):
            ib = np.asarray(ignore_boxes, np.float64).reshape(-1, 4)
            x0 = np.maximum(pb[i, 0], ib[:, 0]); y0 = np.maximum(pb[i, 1], ib[:, 1])
            x1 = np.minimum(pb[i, 2], ib[:, 2]); y1 = np.minimum(pb[i, 3], ib[:, 3])
            inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
            area = max((pb[i, 2] - pb[i, 0]) * (pb[i, 3] - pb[i, 1]), 1e-9)
            # mostly inside (a share of its own area), or a match at the threshold: below 0.5 one
            # does not imply the other (a loose box around a small ignored hand)
            if np.any(inter / area >= 0.5) or np.any(iou_matrix(pb[i:i + 1], ib)[0] >= iou_threshold):
                keep[i] = False
    return pb[keep], tp[keep], ps[keep], len(gb)


def average_precision(per_image: list[tuple[np.ndarray, np.ndarray, int]]) -> float:
    """VOC-style (all-point interpolated) AP from ``match_detections`` results of many images."""
    tp = np.concatenate([t for t, _, _ in per_image]) if per_image else np.zeros(0, bool)
    sc = np.concatenate([s for _, s, _ in per_image]) if per_image else np.zeros(0)
    n_gt = sum(n for _, _, n in per_image)
    if n_gt == 0:
        return float("nan")
    order = np.argsort(-sc, kind="stable")
    tp = tp[order]
    ctp = np.cumsum(tp)
    cfp = np.cumsum(~tp)
    recall = ctp / n_gt
    precision = ctp / np.maximum(ctp + cfp, 1)
    r = np.concatenate([[0], recall, [recall[-1] if len(recall) else 0]])
    p = np.concatenate([[1], precision, [0]])
    for i in range(len(p) - 2, -1, -1):
        p[i] = max(p[i], p[i + 1])
    return float(np.sum((r[1:] - r[:-1]) * p[1:]))
