"""Keypoint names, skeleton connections and the 21 -> 17 point mapping.

This is the one place that defines the 17-point hand layout of ``../shared/keypoints.md``.
Everything else (codec, training, drawing, output files) refers to it.
"""
from __future__ import annotations

from enum import IntEnum

import numpy as np

NUM_KEYPOINTS = 17


class HandKeypoint(IntEnum):
    """Index of each of the 17 keypoints of one hand."""

    WRIST = 0
    PALM = 1
    THUMB_MCP = 2
    THUMB_IP = 3
    THUMB_TIP = 4
    INDEX_MCP = 5
    INDEX_PIP = 6
    INDEX_TIP = 7
    MIDDLE_MCP = 8
    MIDDLE_PIP = 9
    MIDDLE_TIP = 10
    RING_MCP = 11
    RING_PIP = 12
    RING_TIP = 13
    PINKY_MCP = 14
    PINKY_PIP = 15
    PINKY_TIP = 16


KEYPOINT_NAMES: list[str] = [k.name.lower() for k in HandKeypoint]

K = HandKeypoint
#: Skeleton edges (pairs of indices) used for drawing; the palm centre hangs off the wrist.
CONNECTIONS: list[tuple[int, int]] = [
    (K.WRIST, K.THUMB_MCP), (K.THUMB_MCP, K.THUMB_IP), (K.THUMB_IP, K.THUMB_TIP),
    (K.WRIST, K.INDEX_MCP), (K.INDEX_MCP, K.INDEX_PIP), (K.INDEX_PIP, K.INDEX_TIP),
    (K.MIDDLE_MCP, K.MIDDLE_PIP), (K.MIDDLE_PIP, K.MIDDLE_TIP),
    (K.RING_MCP, K.RING_PIP), (K.RING_PIP, K.RING_TIP),
    (K.WRIST, K.PINKY_MCP), (K.PINKY_MCP, K.PINKY_PIP), (K.PINKY_PIP, K.PINKY_TIP),
    (K.INDEX_MCP, K.MIDDLE_MCP), (K.MIDDLE_MCP, K.RING_MCP), (K.RING_MCP, K.PINKY_MCP),
    (K.WRIST, K.PALM),
]
del K

#: Horizontal flip keeps every index (a flipped left hand is a right hand).
FLIP_INDEX: list[int] = list(range(NUM_KEYPOINTS))

#: 21-point source index for every 17-point index; -1 marks the palm centre (a mean).
FROM_21: list[int] = [0, -1, 2, 3, 4, 5, 6, 8, 9, 10, 12, 13, 14, 16, 17, 18, 20]
PALM_FROM_21: list[int] = [0, 5, 9, 13, 17]

#: Points that define palm size (NME normaliser) in the 17-point layout.
PALM_TRIANGLE = (HandKeypoint.WRIST, HandKeypoint.INDEX_MCP, HandKeypoint.PINKY_MCP)

SIDES = ("left", "right")


def mirror_side(side: str) -> str:
    """The side a hand shows in a mirror image: "left" for "right" and back (any other string as
    it is)."""
    return {"left": "right", "right": "left"}.get(side, side)


def from_21(kps21: np.ndarray, vis21: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Map 21-point keypoints to the 17-point layout.

    Args:
        kps21: (21, 2) or (N, 21, 2) pixel coordinates.
        vis21: (21,) or (N, 21) visibility (>0 visible); all visible when None.

    Returns:
        (kps17, vis17): (..., 17, 2) float32 pixels and (..., 17) float32 in {0, 1}. The palm
        centre is the mean of the wrist and the four finger MCPs, visible only when all five are.
    """
    kps21 = np.asarray(kps21, dtype=np.float32)
    if kps21.shape[-2:] != (21, 2):
        raise ValueError(f"kps21 must have shape (..., 21, 2), got {kps21.shape}")
    if vis21 is None:
        vis21 = np.ones(kps21.shape[:-1], np.float32)
    vis21 = (np.asarray(vis21) > 0).astype(np.float32)
    idx = np.array([i if i >= 0 else 0 for i in FROM_21])
    kps = kps21[..., idx, :].copy()
    vis = vis21[..., idx].copy()
    kps[..., HandKeypoint.PALM, :] = kps21[..., PALM_FROM_21, :].mean(axis=-2)
    vis[..., HandKeypoint.PALM] = vis21[..., PALM_FROM_21].min(axis=-1)
    return kps, vis


def palm_size(kps17: np.ndarray, visible: np.ndarray | None = None) -> np.ndarray:
    """Palm size in pixels: max(|wrist-index_mcp|, |index_mcp-pinky_mcp|, |pinky_mcp-wrist|).

    Args:
        kps17: (..., 17, 2) pixels. visible: (..., 17) mask; when given, only pairs of visible
            points count (a point outside the image is often stored as (0, 0)), and a hand with
            no visible pair gets NaN.

    Returns (...,) pixels.
    """
    k = np.asarray(kps17, np.float32)
    corners, ends = list(PALM_TRIANGLE), [1, 2, 0]      # sides w-i, i-p, p-w
    tri = k[..., corners, :]
    # the three sides in one array: the same numbers as three norms stacked, for a third of the
    # calls (it runs several times per tracked hand and frame)
    d = np.linalg.norm(tri - tri[..., ends, :], axis=-1)
    if visible is not None:
        seen = (np.asarray(visible) > 0)[..., corners]
        ok = seen & seen[..., ends]             # both ends of a side visible
        d = np.where(ok, d, -np.inf)
        out = d.max(-1)
        return np.where(np.isfinite(out), out, np.nan).astype(np.float32)
    return d.max(-1)


def spread_ratio(kps: np.ndarray) -> float:
    """sqrt(minor / major eigenvalue) of the (17, 2) keypoints' covariance: ~0 for points on a line,
    1 for an isotropic spread (0 for degenerate or non-finite input)."""
    k = np.asarray(kps, np.float64)
    k = k[np.isfinite(k).all(1)]
    n = len(k)
    if n < 3:
        return 0.0
    # np.cov((k - k.mean(0)).T) in its own steps (the same operations on the same memory layout,
    # so the same numbers) without its argument handling, which was most of the time of this
    # check that runs for every tracked hand on every frame
    x = (k - k.sum(0) / n).T.copy(order="F")
    x -= (x.sum(1) / n)[:, None]
    cov = np.dot(x, x.T)
    cov *= 1.0 / (n - 1)
    ev = np.linalg.eigvalsh(cov)
    return float(np.sqrt(max(ev[0], 0.0) / ev[1])) if ev[1] > 0 else 0.0
