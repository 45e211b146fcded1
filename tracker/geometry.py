"""Rotated square crops: the one definition shared by training and the runtime.

A crop is ``(center, size, angle)``: ``center`` (x, y) and ``size`` (side of the square) in
pixels of the full image, ``angle`` in radians. The crop's "up" direction is the image direction
``(sin a, -cos a)``, so ``angle = 0`` is an ordinary axis-aligned crop and a hand whose
wrist -> middle-MCP axis points along ``(dx, dy)`` is upright in the crop for
``angle = atan2(dx, -dy)``.
"""
from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from .keypoints import HandKeypoint

#: :func:`area_resize` splits a resize of an image with at least this many pixels into two bands
#: of rows, the second on a worker thread (below it the handoff, ~0.05 ms, is most of the gain)
BAND_MIN_PIXELS = 250_000

_band_pool: ThreadPoolExecutor | None = None
_band_lock = threading.Lock()


def _band_worker() -> ThreadPoolExecutor:
    """The one worker thread of :func:`area_resize`'s second bands, started on first use."""
    global _band_pool
    with _band_lock:
        if _band_pool is None:
            _band_pool = ThreadPoolExecutor(1, thread_name_prefix="handtrack-resize")
        return _band_pool


def _forget_band_worker() -> None:
    # a forked child has the parent's pool object but not its thread: a band handed to it would
    # wait for ever (workers forked from a process that tracked already); the child starts its own
    global _band_pool, _band_lock
    _band_pool, _band_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):     # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_forget_band_worker)


@dataclass(frozen=True)
class Roi:
    """A rotated square region of an image; all values in pixels / radians of that image."""

    cx: float
    cy: float
    size: float
    angle: float = 0.0

    def corners(self) -> np.ndarray:
        """(4, 2) image-pixel corners, clockwise from top-left of the crop."""
        n = 1.0
        m = crop_matrix(self, n)
        inv = invert_affine(m)
        pts = np.array([[0, 0], [n, 0], [n, n], [0, n]], np.float32)
        return transform_points(pts, inv)


def crop_matrix(roi: Roi, out_size: float) -> np.ndarray:
    """2x3 affine matrix mapping image pixels to crop pixels of a ``out_size`` square crop.

    Raises:
        ValueError: ``roi.size`` not > 0, or a ``roi`` value that is not finite (a NaN or infinite
            matrix cuts no crop: :func:`warp_crop` divided by zero or failed converting NaN to int),
            or a scale ``out_size / roi.size`` outside [1e-100, 1e100] (its square, the matrix's
            determinant, left float64: the inverse came out zeros or inf without a word).
    """
    if not np.all(np.isfinite([roi.cx, roi.cy, roi.size, roi.angle])):
        raise ValueError(f"roi values must be finite, got {roi}")
    if roi.size <= 0:
        raise ValueError(f"roi.size must be > 0, got {roi.size}")
    c, s = np.cos(roi.angle), np.sin(roi.angle)
    k = out_size / roi.size
    if not 1e-100 <= k <= 1e100:
        raise ValueError(f"roi.size {roi.size:g} for a {out_size:g} px crop: the scale {k:g} is out of range")
    u = np.array([c, s])
    v = np.array([-s, c])
    ctr = np.array([roi.cx, roi.cy])
    m = np.zeros((2, 3), np.float64)
    m[0, :2] = k * u
    m[1, :2] = k * v
    m[0, 2] = out_size / 2 - k * u @ ctr
    m[1, 2] = out_size / 2 - k * v @ ctr
    return m


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix."""
    return cv2.invertAffineTransform(np.asarray(m, np.float64))


def transform_points(pts: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine ``m`` to (..., 2) points; returns float32 of the same shape."""
    p = np.asarray(pts, np.float64)
    out = p @ np.asarray(m)[:, :2].T + np.asarray(m)[:, 2]
    return out.astype(np.float32)


_ROTATE_CODES = {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_COUNTERCLOCKWISE}


def quarter_turn_matrix(quarter_turns: int, width: int, height: int) -> np.ndarray:
    """2x3 affine mapping pixels of a ``width`` x ``height`` image to those of the same image
    turned clockwise by ``quarter_turns`` x 90 degrees (pixel centres on integers, as
    ``cv2.rotate`` moves them)."""
    w, h = width, height
    return np.array({0: [[1, 0, 0], [0, 1, 0]],
                     1: [[0, -1, h - 1], [1, 0, 0]],
                     2: [[-1, 0, w - 1], [0, -1, h - 1]],
                     3: [[0, 1, 0], [-1, 0, w - 1]]}[quarter_turns % 4], np.float64)


def quarter_turn(image: np.ndarray, quarter_turns: int) -> tuple[np.ndarray, np.ndarray]:
    """``image`` turned clockwise by ``quarter_turns`` x 90 degrees, and the 2x3 affine mapping
    its pixels to the turned image's (:func:`quarter_turn_matrix`); 0 turns return ``image``."""
    k = quarter_turns % 4
    h, w = image.shape[:2]
    turned = image if k == 0 else cv2.rotate(image, _ROTATE_CODES[k])
    return turned, quarter_turn_matrix(k, w, h)


#: a crop that shrinks the image by more than 1 / this is cut from an area-averaged copy of its
#: region (see :func:`warp_crop`)
ANTIALIAS_BELOW = 0.4


def warp_crop(image: np.ndarray, roi: Roi, out_size: int,
              border_value: tuple[int, int, int] = (0, 0, 0), antialias: bool = True
              ) -> tuple[np.ndarray, np.ndarray]:
    """Cut the rotated crop ``roi`` out of ``image`` as an ``out_size`` square.

    Returns (crop HxWx3 uint8, 2x3 matrix image->crop pixels). Pixels outside the image are
    filled with ``border_value``.

    Bilinear sampling alone keeps only the pixels next to each sample, so a crop that shrinks the
    image a lot (a hand close to a 1080p camera: 1,000 image pixels into 160) aliases fine texture
    and sensor noise into the crop. With ``antialias`` (the default), when the crop shrinks the
    image by more than 1 / :data:`ANTIALIAS_BELOW`, the region under it is first halved (2x2
    means) until the warp itself shrinks by a factor in (0.5, 1], as for most training crops; the
    matrix returned is the same either way.
    """
    m = crop_matrix(roi, out_size)
    k = out_size / roi.size
    if antialias and k < ANTIALIAS_BELOW:
        h, w = image.shape[:2]
        corners = transform_points(np.array([[0, 0], [out_size, 0], [out_size, out_size], [0, out_size]],
                                            np.float64), invert_affine(m))
        # halvings (2x2 means, OpenCV's fast path) until the warp shrinks by a factor in (0.5, 1]
        halvings = int(np.floor(np.log2(1.0 / k)))
        d = 2 ** halvings
        # the region under the crop (a pixel of margin for the bilinear taps) in whole d x d
        # blocks, a view of the frame (no copy). Blocks that would run past the frame's right or
        # bottom edge start up to d - 1 pixels earlier to end on it, as they start on its top and
        # left edges: a partial block left out put that edge up to d - 1 pixels inward, so crops
        # of turned frames disagreed. Only a region as wide (tall) as the frame, whose size is no
        # multiple of d, is copied with that block padded by the border value, as the warp sees it
        x0, y0 = (max(int(v), 0) for v in np.floor(corners.min(0)) - 1)
        x1, y1 = (int(v) for v in np.ceil(corners.max(0)) + 2)
        bw = -(-(x1 - x0) // d) * d
        if x0 + bw > w:
            bw = -(-(w - x0) // d) * d
            x0 = max(w - bw, 0)
        bh = -(-(y1 - y0) // d) * d
        if y0 + bh > h:
            bh = -(-(h - y0) // d) * d
            y0 = max(h - bh, 0)
        if bw > 0 and bh > 0:
            region = image[y0:y0 + bh, x0:x0 + bw]
            if region.shape[:2] != (bh, bw):
                region = cv2.copyMakeBorder(region, 0, bh - region.shape[0], 0, bw - region.shape[1],
                                            cv2.BORDER_CONSTANT, value=border_value)
            region = shrink_area(region, bw // d, bh // d)       # ``halvings`` halvings: d = 2 ** halvings
            # small pixel (u, v) has its centre at image (x0 + (u + 0.5) * d - 0.5, ...)
            to_image = np.array([[d, 0, x0 + 0.5 * d - 0.5], [0, d, y0 + 0.5 * d - 0.5], [0, 0, 1]], np.float64)
            crop = cv2.warpAffine(region, m @ to_image, (out_size, out_size), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)
            return crop, m
    crop = cv2.warpAffine(image, m, (out_size, out_size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)
    return crop, m


def shrink_area(image: np.ndarray, width: int, height: int, threads: int = 1) -> np.ndarray:
    """``image`` resized to ``width`` x ``height`` pixels (each at most the image's) by area
    averaging, as ``cv2.resize(..., interpolation=cv2.INTER_AREA)``, in less time on large frames.

    While both sides shrink by an even whole factor (the image's width a multiple of 2 x
    ``width``, its height of 2 x ``height``) the image is halved (2x2 means, OpenCV's fast path);
    then one area resize by the factor left. OpenCV's area resize by any factor other than 2 runs a
    general path over every pixel of the image (2-core Intel VM, 16:9 frames to 320x180: 1280x720
    0.91 ms, here 0.23; 1920x1080 1.72 ms, here 1.02; 3840x2160 6.4 ms, here 2.3). The pixels are
    the direct resize's up to uint8 rounding (1 level), pixel centres map the same. Other factors
    (portrait clips such as 480x852 into the detector's 320x240 canvas, 1366x768) are resized
    directly: halving those too, down to a last factor below 2, was faster still but averaged over
    2-pixel blocks at the edges of each pixel's area (up to 58 levels from the direct resize on
    noise, 480x852 -> 180x320) and moved the tracker on a portrait clip (session 49). The last
    resize is :func:`area_resize`'s (``threads``: two bands on two threads where that pays, the
    same pixels). May return ``image`` itself (no copy) when it already has that size.
    """
    while (image.shape[1] % (2 * width) == 0 and image.shape[0] % (2 * height) == 0
           and image.shape[1] > width):        # (an empty image would loop forever)
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if image.shape[1] == width and image.shape[0] == height:
        return image
    return area_resize(image, width, height, threads)


def band_row(src_rows: int, dst_rows: int) -> int | None:
    """The output row nearest the middle of ``dst_rows`` at which an area resize from
    ``src_rows`` rows can be cut in two: one whose first source row is a whole row (``r *
    src_rows / dst_rows`` an integer), within the middle half; None when there is none (say 851
    rows into 240)."""
    if src_rows < 1 or dst_rows < 2:
        return None
    step = dst_rows // math.gcd(src_rows, dst_rows)     # the rows that start on a whole source row
    r = round(dst_rows / 2 / step) * step
    # within step / 2 of the middle: with a step up to half the rows that is the middle half; a
    # larger step is all the rows (no common divisor), and r is then 0
    return r if 0 < r < dst_rows else None


def area_resize(image: np.ndarray, width: int, height: int, threads: int = 1) -> np.ndarray:
    """``cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)``, the same pixels bit
    for bit, on two threads where it pays.

    OpenCV runs an area resize on one thread when its output has fewer than 65,536 pixels (its
    ``resizeArea_`` asks for output pixels / 65,536 stripes), as the detector's canvases have. With
    ``threads`` >= 2 and an image of at least :data:`BAND_MIN_PIXELS` pixels, the output's rows
    are cut in two at :func:`band_row` and the second band resized on a worker thread: each band
    is the resize of the source rows its output rows cover, by the same factor (session 50, 2-core
    VM: a 12 MP photo into the 320x240 canvas 24-25 ms -> 12-13 ms, 480x852 -> 135x240 1.15 ->
    0.68 ms, 1366x768 -> 320x180 2.8 -> 1.5 ms). One worker thread serves every caller in the
    process; ``threads`` 1 never uses it.
    """
    h = image.shape[0]
    r = band_row(h, height) if threads >= 2 and h * image.shape[1] >= BAND_MIN_PIXELS else None
    if r is None:
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    s = r * h // height
    lower = _band_worker().submit(cv2.resize, image[s:], (width, height - r), interpolation=cv2.INTER_AREA)
    try:
        upper = cv2.resize(image[:s], (width, r), interpolation=cv2.INTER_AREA)
    finally:
        below = lower.result()        # waited for even when the first band failed
    return np.concatenate([upper, below])


def hand_angle(kps17: np.ndarray) -> float:
    """Crop angle (radians) that makes the wrist -> middle-MCP axis point up in the crop."""
    d = kps17[HandKeypoint.MIDDLE_MCP] - kps17[HandKeypoint.WRIST]
    if not np.all(np.isfinite(d)) or float(np.hypot(*d)) < 1e-6:
        return 0.0
    return float(np.arctan2(d[0], -d[1]))


def roi_from_keypoints(kps17: np.ndarray, visible: np.ndarray | None = None, scale: float = 1.6,
                       angle: float | None = None) -> Roi:
    """Square crop around a hand's keypoints, rotated to the hand's axis.

    The visible points are rotated into the hand frame, their bounding box is taken there and the
    crop is its centre with side ``scale * max(width, height)``.

    Args:
        kps17: (17, 2) pixels. visible: (17,) mask (all when None). scale: margin factor.
        angle: crop angle; from the hand axis when None.

    Raises:
        ValueError: fewer than 2 visible finite keypoints, ``scale`` not finite and > 0, or an
            ``angle`` that is not finite (either made a crop that no matrix can cut).
    """
    if not (np.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    if angle is not None and not np.isfinite(angle):
        raise ValueError(f"angle must be finite or None, got {angle!r}")
    k = np.asarray(kps17, np.float64)
    vis = np.ones(len(k), bool) if visible is None else np.asarray(visible) > 0
    vis &= np.all(np.isfinite(k), axis=1)
    if vis.sum() < 2:
        raise ValueError("roi_from_keypoints needs at least 2 visible keypoints")
    if angle is None:
        angle = hand_angle(k) if vis[HandKeypoint.WRIST] and vis[HandKeypoint.MIDDLE_MCP] else 0.0
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, s], [-s, c]])  # image -> hand frame (crop axes)
    p = k[vis] @ rot.T
    lo, hi = p.min(0), p.max(0)
    mid = (lo + hi) / 2
    side = max(float((hi - lo).max()), 1.0) * scale
    ctr = mid @ rot  # back to image frame
    return Roi(float(ctr[0]), float(ctr[1]), side, float(angle))


def grow_roi(roi: Roi, min_size: float, toward_up: float = 1.0) -> Roi:
    """``roi`` with its side raised to at least ``min_size`` pixels, its angle kept.

    The centre moves along the crop's up axis (image direction ``(sin angle, -cos angle)``: the
    fingers, for a crop from :func:`roi_from_keypoints`) by ``toward_up`` times half the growth:
    with 1 the crop's bottom edge (the wrist's side) stays where it was and all the growth goes
    toward the top; with 0 it grows evenly about its centre. A crop already that large is returned
    as it is.

    Raises:
        ValueError: ``min_size`` not finite, or ``toward_up`` outside [0, 1].
    """
    if not np.isfinite(min_size):
        raise ValueError(f"min_size must be a finite number of pixels, got {min_size!r}")
    if not (np.isfinite(toward_up) and 0.0 <= toward_up <= 1.0):
        raise ValueError(f"toward_up must be in [0, 1], got {toward_up!r}")
    if roi.size >= min_size:
        return roi
    d = (float(min_size) - roi.size) / 2 * float(toward_up)
    return Roi(roi.cx + d * float(np.sin(roi.angle)), roi.cy - d * float(np.cos(roi.angle)),
               float(min_size), roi.angle)
