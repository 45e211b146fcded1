"""Drawing helpers: hand skeletons (from ``keypoints.CONNECTIONS``), side labels, FPS text.

All functions draw in place on an HxWx3 uint8 BGR image and return it, except
:func:`tile_grid`, which assembles pictures into one. Grey (HxW, HxWx1) images get each colour's
grey value, BGRA ones opaque colours; views of a frame (``frame[:, ::-1]``) are drawn into. Any
other image: ValueError. RGB frames: ``draw_hands(..., color_order="rgb")``.
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


def _canvas(image) -> np.ndarray:
    """``image`` itself, or a contiguous copy of a view OpenCV cannot draw into (negative strides:
    ``frame[:, ::-1]``, ``frame[..., ::-1]``), which the caller copies back. ValueError for an image
    that cannot be drawn on."""
    ok = isinstance(image, np.ndarray) and image.dtype == np.uint8 and (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4)))
    if not ok:
        got = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"image must be HxWx3 uint8 BGR (or HxW / HxWx1 grey, HxWx4 BGRA), got {got}")
    if not image.flags.writeable:
        raise ValueError("image is read-only: draw on a copy (image.copy())")
    return image if image.flags.c_contiguous else np.ascontiguousarray(image)


def _done(image: np.ndarray, canvas: np.ndarray) -> np.ndarray:
    if canvas is not image:
        image[...] = canvas
    return image


def _ink(image: np.ndarray, color) -> tuple:
    """A BGR ``color`` in the image's channels: on grey its luminance (as ``COLOR_BGR2GRAY``; OpenCV
    would keep the blue value alone, drawing the orange left hand black), on BGRA opaque (OpenCV
    would write alpha 0, a hole in a saved PNG). Colours of other lengths are passed as given."""
    c = tuple(np.atleast_1d(color).tolist())
    channels = 1 if image.ndim == 2 else image.shape[2]
    if len(c) != 3 or channels == 3:
        return c
    if channels == 1:
        return (round(0.114 * c[0] + 0.587 * c[1] + 0.299 * c[2]),)
    return (*c, 255)


def draw_skeleton(image: np.ndarray, keypoints: np.ndarray, scores: np.ndarray | None = None,
                  color: tuple[int, int, int] = (0, 255, 0), min_score: float = 0.3,
                  thickness: int | None = None) -> np.ndarray:
    """Draw one hand: bones between keypoints of ``CONNECTIONS``, then the joints.

    Args:
        keypoints: (17, 2) pixels. scores: (17,) (points below ``min_score`` are not drawn).
        thickness: line width in pixels (default from the image size).
    """
    canvas = _canvas(image)
    color, white = _ink(canvas, color), _ink(canvas, (255, 255, 255))
    k = np.asarray(keypoints, np.float64)
    # OpenCV takes int32 points: one further out than _FAR_PX would not fit (cast, it became
    # -2**31 and its bones went off the wrong way), and no picture shows it; left out as NaN is
    # (asarray: numpy's stubs type all(1) as maybe a scalar; on (N, 2) it is an (N,) array)
    ok = np.asarray(np.isfinite(k).all(1) & (np.abs(k) < _FAR_PX).all(1))
    if scores is not None:
        ok &= np.asarray(scores) >= min_score
    if thickness is None:
        thickness = max(1, round(max(image.shape[:2]) / 400))
    pts = np.round(np.where(ok[:, None], k, 0)).astype(np.int32)
    for a, b in CONNECTIONS:
        if ok[a] and ok[b]:
            cv2.line(canvas, tuple(map(int, pts[a])), tuple(map(int, pts[b])), color, thickness, cv2.LINE_AA)
    r = thickness + 2
    for i in np.flatnonzero(ok):
        cv2.circle(canvas, tuple(map(int, pts[i])), r, white, -1, cv2.LINE_AA)
        cv2.circle(canvas, tuple(map(int, pts[i])), r, color, max(1, thickness // 2), cv2.LINE_AA)
    return _done(image, canvas)


def draw_label(image: np.ndarray, text: str, org: tuple[int, int], color: tuple[int, int, int],
               scale: float | None = None) -> np.ndarray:
    """Text with a dark background box, top-left corner at ``org`` (clamped into the image)."""
    canvas = _canvas(image)
    if scale is None:
        scale = max(0.4, max(image.shape[:2]) / 1200)
    th = max(1, round(scale * 2))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, th)
    # the box below is drawn inclusive to x + w + 4 and y + base + 2: its last column / row must
    # be the image's last (one pixel more cut the box of a label clamped at the edge)
    x = int(min(max(org[0], 0), max(image.shape[1] - w - 5, 0)))
    y = int(min(max(org[1], h + 4), image.shape[0] - base - 3))
    cv2.rectangle(canvas, (x, y - h - 4), (x + w + 4, y + base + 2), _ink(canvas, (0, 0, 0)), -1)
    # OpenCV 5's putText writes the glyphs' coverage into the alpha channel whatever the colour's
    # alpha: on BGRA the text became see-through holes in its box; keep the more opaque of the two
    alpha = canvas[..., 3].copy() if canvas.ndim == 3 and canvas.shape[2] == 4 else None
    cv2.putText(canvas, text, (x + 2, y), cv2.FONT_HERSHEY_SIMPLEX, scale, _ink(canvas, color), th, cv2.LINE_AA)
    if alpha is not None:
        np.maximum(canvas[..., 3], alpha, out=canvas[..., 3])
    return _done(image, canvas)


def draw_hands(image: np.ndarray, hands: Iterable, show_labels: bool = True, min_score: float = 0.3,
               color_order: str = "bgr") -> np.ndarray:
    """Draw every hand of a result (objects with ``side``, ``keypoints``, ``scores``, ``score``,
    ``track_id`` and ``box``): a skeleton in the side's colour and a label above the hand.
    ``color_order``: "bgr" or "rgb", the image's channel order (as ``HandTracker``'s option), so
    that left stays orange and right blue on RGB frames too."""
    order = color_order.lower() if isinstance(color_order, str) else color_order
    if order not in ("bgr", "rgb"):
        raise ValueError(f"color_order must be one of ['bgr', 'rgb'], got {color_order!r}")
    canvas = _canvas(image)
    for h in hands:
        color = SIDE_COLORS.get(h.side, SIDE_COLORS[None])
        if order == "rgb":
            color = color[::-1]
        draw_skeleton(canvas, h.keypoints, h.scores, color, min_score)
        if show_labels:
            box = np.asarray(h.box, np.float64)
            if np.isfinite(box).all():
                tid = "" if h.track_id is None or h.track_id < 0 else f" #{h.track_id}"
                draw_label(canvas, f"{h.side}{tid} {h.score:.2f}", (int(box[0]), int(box[1]) - 6), color)
    return _done(image, canvas)


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
