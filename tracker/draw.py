"""Drawing helpers: hand skeletons (from ``keypoints.CONNECTIONS``), side labels, FPS text.

All functions draw in place on an HxWx3 uint8 BGR image and return it, except
:func:`tile_grid`, which assembles pictures into one.
"""
from __future__ import annotations

from typing import Iterable

import cv2
import numpy as np

from .checks import is_int
from .keypoints import CONNECTIONS

#: BGR colour per side: left orange, right cyan-blue; unknown grey.
SIDE_COLORS: dict[str | None, tuple[int, int, int]] = {
    "left": (0, 140, 255),
    "right": (255, 180, 0),
    None: (200, 200, 200),
}


#: keypoints further than this from the image origin (pixels, along either axis) are not drawn
_FAR_PX = 2.0 ** 24


def draw_skeleton(image: np.ndarray, keypoints: np.ndarray, scores: np.ndarray | None = None,
                  color: tuple[int, int, int] = (0, 255, 0), min_score: float = 0.3,
                  thickness: int | None = None) -> np.ndarray:
    """Draw one hand: bones between keypoints of ``CONNECTIONS``, then the joints.

    Args:
        keypoints: (17, 2) pixels. scores: (17,) (points below ``min_score`` are not drawn).
        thickness: line width in pixels (default from the image size).
    """
    k = np.asarray(keypoints, np.float64)
    # OpenCV takes int32 points: one further out than _FAR_PX would not fit (cast, it became
    # -2**31 and its bones went off the wrong way), and no picture shows it; left out as NaN is
    ok = np.isfinite(k).all(1) & (np.abs(k) < _FAR_PX).all(1)
    if scores is not None:
        ok &= np.asarray(scores) >= min_score
    if thickness is None:
        thickness = max(1, round(max(image.shape[:2]) / 400))
    pts = np.round(np.where(ok[:, None], k, 0)).astype(np.int32)
    for a, b in CONNECTIONS:
        if ok[a] and ok[b]:
            cv2.line(image, tuple(map(int, pts[a])), tuple(map(int, pts[b])), color, thickness, cv2.LINE_AA)
    r = thickness + 2
    for i in np.flatnonzero(ok):
        cv2.circle(image, tuple(map(int, pts[i])), r, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(image, tuple(map(int, pts[i])), r, color, max(1, thickness // 2), cv2.LINE_AA)
    return image


def draw_label(image: np.ndarray, text: str, org: tuple[int, int], color: tuple[int, int, int],
               scale: float | None = None) -> np.ndarray:
    """Text with a dark background box, top-left corner at ``org`` (clamped into the image)."""
    if scale is None:
        scale = max(0.4, max(image.shape[:2]) / 1200)
    th = max(1, round(scale * 2))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, th)
    x = int(min(max(org[0], 0), max(image.shape[1] - w - 4, 0)))
    y = int(min(max(org[1], h + 4), image.shape[0] - base - 2))
    cv2.rectangle(image, (x, y - h - 4), (x + w + 4, y + base + 2), (0, 0, 0), -1)
    cv2.putText(image, text, (x + 2, y), cv2.FONT_HERSHEY_SIMPLEX, scale, color, th, cv2.LINE_AA)
    return image


def draw_hands(image: np.ndarray, hands: Iterable, show_labels: bool = True, min_score: float = 0.3) -> np.ndarray:
    """Draw every hand of a result (objects with ``side``, ``keypoints``, ``scores``, ``score``,
    ``track_id`` and ``box``): a skeleton in the side's colour and a label above the hand."""
    for h in hands:
        color = SIDE_COLORS.get(h.side, SIDE_COLORS[None])
        draw_skeleton(image, h.keypoints, h.scores, color, min_score)
        if show_labels:
            box = np.asarray(h.box, np.float64)
            if np.isfinite(box).all():
                tid = "" if h.track_id is None or h.track_id < 0 else f" #{h.track_id}"
                draw_label(image, f"{h.side}{tid} {h.score:.2f}", (int(box[0]), int(box[1]) - 6), color)
    return image


def draw_fps(image: np.ndarray, fps: float, org: tuple[int, int] = (8, 8)) -> np.ndarray:
    """FPS counter in the top-left corner."""
    return draw_label(image, f"{fps:.1f} fps", org, (255, 255, 255))


def tile_grid(tiles: list[np.ndarray], cols: int) -> np.ndarray:
    """One picture of equal-sized HxWx3 tiles, ``cols`` per row, the last row padded with black
    tiles (debug grids of training, evaluation and the benchmark). ValueError when there are none
    or ``cols`` is not an integer >= 1."""
    if not is_int(cols) or cols < 1:
        raise ValueError(f"tile_grid: cols must be an integer >= 1, got {cols!r}")
    if not tiles:
        raise ValueError("tile_grid: no tiles")
    tiles = list(tiles) + [np.zeros_like(tiles[0])] * (-len(tiles) % cols)
    return np.vstack([np.hstack(tiles[i:i + cols]) for i in range(0, len(tiles), cols)])
