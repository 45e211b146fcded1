"""Assign predicted hands to ground-truth hands (numpy only).

Cost of a (prediction, ground truth) pair: mean distance over the ground truth's visible keypoints
divided by the ground truth's size (longest side of its keypoint box). Pairs are chosen to minimise
the total cost (exhaustive for the few hands of a frame, greedy beyond that) and kept only when
their cost is below ``max_cost``.
"""
from __future__ import annotations

from itertools import permutations

import numpy as np

#: a prediction further than this (mean keypoint distance / GT hand size) is not that hand
MAX_COST = 0.5


def hand_size(kps: np.ndarray, visible: np.ndarray | None = None) -> float:
    """Longest side of the box of the (visible) keypoints, pixels; at least 1."""
    k = np.asarray(kps, np.float64)
    if visible is not None:
        k = k[np.asarray(visible) > 0]
    k = k[np.all(np.isfinite(k), axis=1)]
    if len(k) < 2:
        return 1.0
    return max(float((k.max(0) - k.min(0)).max()), 1.0)


def cost_matrix(pred: list[np.ndarray], gt: list[np.ndarray],
                gt_visible: list[np.ndarray] | None = None,
                gt_size: list[float] | None = None) -> np.ndarray:
    """(n_pred, n_gt) normalised mean keypoint distance; inf where nothing can be compared."""
    c = np.full((len(pred), len(gt)), np.inf)
    for j, g in enumerate(gt):
        g = np.asarray(g, np.float64)
        v = np.ones(len(g), bool) if gt_visible is None else np.asarray(gt_visible[j]) > 0
        v = v & np.all(np.isfinite(g), axis=1)
        if not v.any():
            continue
        size = gt_size[j] if gt_size is not None else hand_size(g, v)
        for i, p in enumerate(pred):
            d = np.linalg.norm(np.asarray(p, np.float64)[v] - g[v], axis=1)
            d = d[np.isfinite(d)]
            if d.size:
                c[i, j] = float(d.mean()) / max(size, 1e-9)
    return c


def assign(cost: np.ndarray, max_cost: float = MAX_COST) -> list[tuple[int, int]]:
    """(pred index, gt index) pairs of least total cost, each below ``max_cost``."""
    cost = np.asarray(cost, np.float64)
    n_p, n_g = cost.shape
    if n_p == 0 or n_g == 0:
        return []
    c = np.where(cost < max_cost, cost, np.inf)
    if max(n_p, n_g) <= 6:
        best, best_pairs = (-1, np.inf), []
        # choose which gt each prediction gets (or none): enumerate injective maps of the smaller side
        if n_p <= n_g:
            for perm in permutations(range(n_g), n_p):
                pairs = [(i, j) for i, j in enumerate(perm) if np.isfinite(c[i, j])]
                key = (len(pairs), -sum(c[i, j] for i, j in pairs))
                if key > best:
                    best, best_pairs = key, pairs
        else:
            for perm in permutations(range(n_p), n_g):
                pairs = [(i, j) for j, i in enumerate(perm) if np.isfinite(c[i, j])]
                key = (len(pairs), -sum(c[i, j] for i, j in pairs))
                if key > best:
                    best, best_pairs = key, pairs
        return sorted(best_pairs)
    pairs, used_p, used_g = [], set(), set()
    for flat in np.argsort(c, axis=None):
        i, j = divmod(int(flat), n_g)
        if not np.isfinite(c[i, j]):
            break
        if i not in used_p and j not in used_g:
            pairs.append((i, j))
            used_p.add(i)
            used_g.add(j)
    return sorted(pairs)


def greedy_pairs(pairs) -> list[tuple]:
    """Nearest first: of ``(cost, i, j, ...)`` tuples, those whose ``i`` and ``j`` are both still
    free when their turn comes, lowest cost first (a one-to-one matching that keeps the close pairs;
    how the clip benchmarks link a hand to a track or to the clean run's hand)."""
    out, used_i, used_j = [], set(), set()
    for p in sorted(pairs):
        if p[1] not in used_i and p[2] not in used_j:
            used_i.add(p[1])
            used_j.add(p[2])
            out.append(p)
    return out


def match_hands(pred: list[np.ndarray], gt: list[np.ndarray],
                gt_visible: list[np.ndarray] | None = None, gt_size: list[float] | None = None,
                max_cost: float = MAX_COST) -> list[tuple[int, int]]:
    """Match predicted (17,2) hands to ground-truth (17,2) hands; returns (pred, gt) index pairs."""
    return assign(cost_matrix(pred, gt, gt_visible, gt_size), max_cost)
