"""Crop sampling and photometric augmentation that imitate the tracker's crops (numpy + OpenCV).

``sample_crop`` takes one labelled hand in a full image and returns the model-input crop with its
keypoints in crop pixels, the presence label and the (possibly flipped) handedness.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from tracker.geometry import Roi, invert_affine, roi_from_keypoints, transform_points, warp_crop

from .data import LEFT, RIGHT, UNKNOWN, HandRecord


@dataclass
class AugmentConfig:
    """Augmentation strengths. Scales and shifts are relative to the hand's crop size."""

    roi_scale: float = 1.6          # crop side / hand extent in the hand frame (as the runtime)
    scale_range: tuple[float, float] = (0.8, 1.35)
    shift_sigma: float = 0.08
    angle_sigma_deg: float = 15.0
    full_rotation_p: float = 0.3    # share of crops rotated uniformly over the full circle
    flip_p: float = 0.5
    negative_p: float = 0.12
    edge_negative_p: float = 0.3    # share of the negatives that are a hand leaving the frame
    # share of the positive crops that show a hand partly past a frame edge (a hand at the side of
    # the frame, or close to the camera): the tracker keeps such a hand when enough of it is in
    # view. The edge leaves U(edge_positive_gone) of its visible points outside; the negatives'
    # edge takes 60-100%, so the two never meet. 0 (every preset): the crops and their random
    # draws are those of the models trained before the option existed.
    edge_positive_p: float = 0.0
    edge_positive_gone: tuple[float, float] = (0.1, 0.45)
    photometric: bool = True
    occlusion_p: float = 0.3
    blur_p: float = 0.2
    motion_blur_p: float = 0.15
    noise_p: float = 0.2
    jpeg_p: float = 0.2
    grey_p: float = 0.05
    noise_sigma: tuple[float, float] = (3.0, 12.0)   # Gaussian noise sigma, pixel levels
    jpeg_quality: tuple[int, int] = (25, 90)          # JPEG quality drawn from [lo, hi)
    # JPEG is applied to the crop enlarged by a factor from this range and shrunk back: a frame
    # compressed before the crop is cut has its 8x8 blocks at the frame's scale, usually finer
    # than the crop's (a 300-px hand region shrunk into a 160-px crop). (1, 1): on the crop as is.
    jpeg_upscale: tuple[float, float] = (1.0, 1.0)
    lowres_p: float = 0.0           # share of crops resampled as if the hand were small in the photo
    lowres_side: tuple[float, float] = (48.0, 112.0)  # photo pixels the crop then covers (see lowres)


# Named augmentation settings for ``train_landmarks --augment``. "tracker" (the default, every
# shipped model) is the full mix above. "light" roughly halves the rare, hard cases (full-circle
# rotations, negatives, occluders, blur, noise, JPEG) and narrows the scale and shift jitter: a
# small net trained for a short budget underfits, and spends less of it on crops the tracker
# seldom makes. It is for short runs (the 90-minute CPU recipe), not for models the tracker ships.
AUGMENT_PRESETS = {
    "tracker": AugmentConfig(),
    "light": AugmentConfig(scale_range=(0.85, 1.25), shift_sigma=0.06, full_rotation_p=0.1, negative_p=0.06,
                           occlusion_p=0.15, blur_p=0.1, motion_blur_p=0.08, noise_p=0.1, jpeg_p=0.1),
    # "degraded": the tracker mix with harder and more frequent image damage (greyscale cameras,
    # strong sensor noise, low-quality JPEG as in a compressed stream), for fine-tuning toward
    # `python -m bench robustness`'s conditions (JPEG quality 10, noise sigma 15, grey).
    "degraded": AugmentConfig(grey_p=0.15, noise_p=0.3, noise_sigma=(3.0, 20.0), jpeg_p=0.35,
                              jpeg_quality=(8, 90), jpeg_upscale=(1.0, 2.5)),
}


def augment_preset(name: str) -> AugmentConfig:
    """A copy of the :data:`AUGMENT_PRESETS` entry ``name`` (callers may change it); ValueError
    naming the known ones otherwise."""
    try:
        return replace(AUGMENT_PRESETS[name])
    except KeyError:
        raise ValueError(f"--augment {name!r}: unknown, expected one of {sorted(AUGMENT_PRESETS)}") from None


def presence_label(kps: np.ndarray, vis: np.ndarray, size: int, min_inside: float = 0.75) -> int:
    """1 when a share >= ``min_inside`` of the visible points lie inside the crop and the hand is
    not tiny (extent >= 0.2 ``size``). ``kps``: (17, 2) crop pixels; ``vis``: (17,); ``size``: crop
    side, pixels. The default asks most of the hand (a crop placed off the hand is no hand); a hand cut
    by the frame edge (``AugmentConfig.edge_positive_p``) is labelled with 0.5: what is in view is
    in the right place, only the frame ends."""
    v = vis > 0
    if v.sum() == 0:
        return 0
    p = kps[v]
    inside = ((p >= 0) & (p < size)).all(1).mean()
    extent = float((p.max(0) - p.min(0)).max())
    return int(inside >= min_inside and extent >= 0.2 * size)


def sample_roi(rec: HandRecord, cfg: AugmentConfig, rng: np.random.Generator,
               negative: bool = False) -> Roi:
    """A jittered crop around ``rec``'s hand; far off or zoomed-in when ``negative``."""
    base = roi_from_keypoints(rec.keypoints, rec.visible, cfg.roi_scale)
    if rng.random() < cfg.full_rotation_p:
        angle = rng.uniform(-np.pi, np.pi)
    else:
        angle = base.angle + np.deg2rad(rng.normal(0, cfg.angle_sigma_deg))
    size = base.size * rng.uniform(*cfg.scale_range)
    shift = np.clip(rng.normal(0, cfg.shift_sigma, 2), -0.2, 0.2) * size
    if negative:
        if rng.random() < 0.7:  # hand mostly cut off
            d = rng.uniform(0.75, 1.3) * size
            a = rng.uniform(0, 2 * np.pi)
            shift = np.array([np.cos(a), np.sin(a)]) * d
        else:  # a close-up of part of the hand
            size = base.size * rng.uniform(0.25, 0.45)
            shift = rng.uniform(-0.5, 0.5, 2) * base.size
    return Roi(base.cx + float(shift[0]), base.cy + float(shift[1]), float(size), float(angle))


#: share of a hand's visible points past the frame edge in an edge negative (a hand that has left)
EDGE_NEGATIVE_GONE = (0.6, 1.0)


def frame_edge(rec: HandRecord, rng: np.random.Generator, gone_range: tuple[float, float]):
    """A frame edge through ``rec``'s hand: a line parallel to an image side that leaves a share
    ``U(gone_range)`` of the visible keypoints past it. The edge lies halfway between the last
    point kept and the first one gone (no point on it).

    Returns (axis, sign, cut, gone): image pixels p with ``sign * p[axis] > cut`` are past the
    edge (axis 0: x, 1: y); ``gone``: (17,) bool keypoints past it. None when fewer than 2 points
    are visible (no edge to draw)."""
    v = rec.visible > 0
    if v.sum() < 2:
        return None
    axis, sign = int(rng.integers(2)), (1.0 if rng.random() < 0.5 else -1.0)
    proj = sign * rec.keypoints[:, axis]          # larger = further out of the frame
    order = np.sort(proj[v])[::-1]
    g = int(np.clip(np.ceil(rng.uniform(*gone_range) * len(order)), 1, len(order)))
    cut = float(order[g - 1] + order[g]) / 2 if g < len(order) else float(order[-1]) - 1.0
    return axis, sign, cut, proj > cut


def cut_at_frame_edge(crop: np.ndarray, m: np.ndarray, rec: HandRecord, border: tuple,
                      rng: np.random.Generator, gone_range: tuple[float, float] = EDGE_NEGATIVE_GONE):
    """The crop of a hand at the frame's edge, as the tracker sees it: a frame edge
    (:func:`frame_edge`) cuts through the hand, and everything past it becomes ``border``.

    With the default ``gone_range`` most of the hand has left (``crop`` shows border, background,
    a sliver of hand): the negatives that stopped the v0.4 presence head keeping "ghost" tracks at
    the edge of the frame; ``AugmentConfig.edge_positive_gone`` makes the positives. Returns (new
    crop, (17,) bool keypoints past the edge). ``m``: the 2x3 image->crop matrix of ``crop``."""
    edge = frame_edge(rec, rng, gone_range)
    if edge is None:
        return crop, np.zeros(len(rec.keypoints), bool)
    axis, sign, cut, gone = edge
    n = crop.shape[0]
    # image coordinate along ``axis`` of every crop pixel (inverse of the image->crop affine)
    grid = np.stack(np.meshgrid(np.arange(n), np.arange(n)), -1)            # (n, n, 2) x, y
    along = sign * transform_points(grid, invert_affine(m))[..., axis]
    out = crop.copy()
    out[along > cut] = border
    return out, gone


def cut_photo_at_edge(image: np.ndarray, rec: HandRecord, rng: np.random.Generator,
                      gone_range: tuple[float, float]):
    """The photo itself ending at a frame edge through the hand (:func:`frame_edge`): the part past
    the edge is sliced off, as a camera frame ends, so the runtime's crop pads it as it pads any
    frame edge. Returns (photo, hand): ``hand`` is ``rec`` in the new photo's pixels with the
    points past the edge not visible; (image, rec) unchanged when no edge can be drawn."""
    edge = frame_edge(rec, rng, gone_range)
    if edge is None:
        return image, rec
    axis, sign, cut, gone = edge
    n = image.shape[1 - axis]
    if sign > 0:                                   # pixels whose centre is past x (or y) = cut go
        lo, hi = 0, int(np.clip(np.floor(cut) + 1, 1, n))
    else:
        lo, hi = int(np.clip(np.ceil(-cut), 0, n - 1)), n
    out = image[:, lo:hi] if axis == 0 else image[lo:hi]
    kps = rec.keypoints.copy()
    kps[:, axis] -= lo
    return np.ascontiguousarray(out), replace(rec, keypoints=kps,
                                              visible=(rec.visible * ~gone).astype(np.float32))


_NOISE_FIELD: np.ndarray | None = None  # per process, from a fixed seed (see gaussian_noise)


def gaussian_noise(shape: tuple, rng: np.random.Generator, field: int = 512) -> np.ndarray:
    """Standard-normal float32 noise of ``shape`` (H, W, C): a window at a random offset of a
    ``field`` x ``field`` field drawn once per process (the same in every process: the windows
    differ), flipped at random. Drawing 77k normals per
    crop cost 1.4 ms, the largest single cost of an augmented crop; a window costs ~0.05 ms and
    neighbouring pixels stay independent."""
    global _NOISE_FIELD
    h, w, c = shape
    if h > field or w > field:
        return rng.standard_normal(shape, dtype=np.float32)
    if _NOISE_FIELD is None or _NOISE_FIELD.shape[2] < c:
        # its own generator: drawing the field from ``rng`` would make what ``rng`` yields next
        # depend on whether this process had drawn it before (val scenes differed between calls)
        _NOISE_FIELD = np.random.default_rng(0x5EED).standard_normal((field, field, max(c, 3)), dtype=np.float32)
    y, x = int(rng.integers(0, field - h + 1)), int(rng.integers(0, field - w + 1))
    win = _NOISE_FIELD[y:y + h, x:x + w, :c]
    if rng.random() < 0.5:
        win = win[::-1]
    if rng.random() < 0.5:
        win = win[:, ::-1]
    return win


def photometric(img: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator,
                occluder_src: np.ndarray | None = None) -> np.ndarray:
    """Colour, blur, noise, JPEG and occlusion changes; keeps geometry. uint8 HxWx3 in and out."""
    out = img
    height, width = img.shape[:2]   # crops are square; calibration photos (export.quantize) need not be
    # brightness / contrast, clipped to [0, 255] (cv2.convertScaleAbs took |alpha * x + beta|: a
    # darkened crop's darkest pixels, and the runtime's black border, turned brighter again)
    alpha = rng.uniform(0.6, 1.4)
    beta = rng.uniform(-40, 40)
    out = cv2.addWeighted(out, alpha, out, 0.0, beta)   # alpha * x + beta, saturated
    if rng.random() < 0.5:  # hue / saturation
        hsv = cv2.cvtColor(out, cv2.COLOR_BGR2HSV)
        h = hsv[..., 0].astype(np.int16) + int(rng.integers(-12, 13))
        hsv[..., 0] = (h % 180).astype(np.uint8)
        hsv[..., 1] = cv2.convertScaleAbs(hsv[..., 1], alpha=rng.uniform(0.6, 1.4))
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    if rng.random() < cfg.grey_p:
        out = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    if rng.random() < cfg.occlusion_p:
        for _ in range(int(rng.integers(1, 3))):
            w, h = (rng.uniform(0.1, 0.35, 2) * (width, height)).astype(int)
            x, y = rng.integers(0, width - w + 1), rng.integers(0, height - h + 1)
            if (occluder_src is not None and rng.random() < 0.5
                    and occluder_src.shape[0] >= h and occluder_src.shape[1] >= w):
                sy = rng.integers(0, occluder_src.shape[0] - h + 1)
                sx = rng.integers(0, occluder_src.shape[1] - w + 1)
                patch = occluder_src[sy:sy + h, sx:sx + w]
            else:
                patch = np.full((h, w, 3), rng.integers(0, 256, 3), np.uint8)
            out = out.copy() if out is img else out
            out[y:y + h, x:x + w] = patch
    if rng.random() < cfg.blur_p:
        k = int(rng.choice([3, 5]))
        out = cv2.GaussianBlur(out, (k, k), 0)
    if rng.random() < cfg.motion_blur_p:
        k = int(rng.integers(3, 9))     # blur length, pixels
        # an odd n x n kernel, the line centred on its centre pixel, which filter2D takes as the
        # anchor (an even length gets half-weight ends): a line centred elsewhere moves the crop
        # off its keypoints (by up to a pixel for k x k kernels of even k)
        n = k | 1
        kern = np.zeros((n, n), np.float32)
        kern[n // 2] = 1.0
        if n > k:
            kern[n // 2, [0, -1]] = 0.5
        rot = cv2.getRotationMatrix2D(((n - 1) / 2, (n - 1) / 2), rng.uniform(0, 180), 1.0)
        kern = cv2.warpAffine(kern, rot, (n, n))
        kern /= max(kern.sum(), 1e-6)
        out = cv2.filter2D(out, -1, kern)
    if rng.random() < cfg.noise_p:
        noise = gaussian_noise(out.shape, rng) * rng.uniform(*cfg.noise_sigma)
        out = np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    if rng.random() < cfg.jpeg_p:
        # no draw for the default (1, 1): the tracker preset's crops stay those of earlier versions
        out = jpeg_roundtrip(out, int(rng.integers(*cfg.jpeg_quality)),
                             rng.uniform(*cfg.jpeg_upscale) if cfg.jpeg_upscale != (1.0, 1.0) else 1.0)
    return out


def jpeg_roundtrip(img: np.ndarray, quality: int, upscale: float = 1.0) -> np.ndarray:
    """``img`` (uint8 HxWx3) encoded as JPEG at ``quality`` and decoded, same shape. With
    ``upscale`` > 1 it is enlarged by that factor first and shrunk back after (area average), so
    the compression blocks are ``8 / upscale`` pixels of ``img``."""
    h, w = img.shape[:2]
    big = img if upscale <= 1.0 else cv2.resize(img, (round(w * upscale), round(h * upscale)),
                                                interpolation=cv2.INTER_LINEAR)
    ok, buf = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # OpenCV encodes any uint8 HxWx3; kept so a failure leaves the crop unharmed
        return img
    out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out if big is img else cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA)


def lowres(crop: np.ndarray, covered: float, rng: np.random.Generator,
           side_range: tuple[float, float] = (48.0, 112.0)) -> np.ndarray:
    """The crop as it looks when the hand is small in the photo: down to ``s ~ U(side_range)``
    pixels (area average) and back up (bilinear), so it holds the detail of an ``s``-pixel crop.

    Why: the misses of the landmark model are on hands under 64 px (PCK@0.1 0.78 against 0.99
    above 128 px), whose crop comes from 50-110 photo pixels blown up to the input size; large
    hands, whose labels are the reliable ones, become such crops this way. ``covered``: photo
    pixels the crop spans now; nothing changes when it is already at most ``s``. Same size out;
    keypoints keep their pixels (both resizes map pixel centres to pixel centres).
    """
    n = crop.shape[0]
    s = int(round(rng.uniform(*side_range)))
    if s >= min(covered, n):
        return crop
    small = cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (n, n), interpolation=cv2.INTER_LINEAR)


def flip_crop(crop: np.ndarray, kps: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Mirror a crop left-right: keypoint indices stay, x -> W-1-x, handedness swaps."""
    w = crop.shape[1]
    k = kps.copy()
    k[:, 0] = w - 1 - k[:, 0]
    side = {LEFT: RIGHT, RIGHT: LEFT}.get(side, UNKNOWN)
    return cv2.flip(crop, 1), k, side  # cv2.flip: ~10x faster than a numpy copy of crop[:, ::-1]


def sample_crop(image: np.ndarray, rec: HandRecord, size: int, cfg: AugmentConfig,
                rng: np.random.Generator, train: bool = True, occluder_src: np.ndarray | None = None):
    """One training (or evaluation) crop.

    Args:
        image: HxWx3 uint8 BGR full image. rec: the hand. size: crop side in pixels.
        train: random jitter/flip/photometric; otherwise the runtime's crop from the keypoints
            (still jittered by the caller through ``cfg`` if wanted).

    Returns:
        dict with crop (size x size x 3 uint8 BGR), keypoints (17, 2) crop pixels, visible (17,)
        (label visible and inside the crop), presence (0/1), handedness (LEFT/RIGHT/UNKNOWN),
        handedness_score and the 2x3 image->crop matrix (of the crop returned: mirrored when flipped).
    """
    negative = train and rng.random() < cfg.negative_p
    edge = negative and rng.random() < cfg.edge_negative_p  # the usual crop, then the frame edge
    # (drawn only when asked for, so that runs without it take the same random numbers as before)
    edge_pos = train and not negative and cfg.edge_positive_p > 0 and rng.random() < cfg.edge_positive_p
    roi = sample_roi(rec, cfg, rng, negative and not edge) if train else roi_from_keypoints(
        rec.keypoints, rec.visible, cfg.roi_scale)
    border = (0, 0, 0)
    if train and rng.random() < 0.3:
        border = tuple(int(v) for v in rng.integers(0, 256, 3))
    crop, m = warp_crop(image, roi, size, border)
    kps = transform_points(rec.keypoints, m)
    gone = np.zeros(len(kps), bool)
    if edge or edge_pos:
        crop, gone = cut_at_frame_edge(crop, m, rec, border, rng,
                                       cfg.edge_positive_gone if edge_pos else EDGE_NEGATIVE_GONE)
    side = rec.handedness
    if train and cfg.lowres_p and rng.random() < cfg.lowres_p:
        crop = lowres(crop, roi.size, rng, cfg.lowres_side)
    if train and rng.random() < cfg.flip_p:
        crop, kps, side = flip_crop(crop, kps, side)
        m = np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0.0, 0.0, 1.0]])  # mirrored too
    inside = ((kps >= 0) & (kps <= size - 1)).all(1) & ~gone
    vis = (rec.visible > 0) & inside
    presence = presence_label(np.where(gone[:, None], -1.0, kps), rec.visible, size,
                              0.5 if edge_pos else 0.75)
    if train and cfg.photometric:
        crop = photometric(crop, cfg, rng, occluder_src)
    return {"crop": crop, "keypoints": kps, "visible": vis.astype(np.float32),
            "presence": presence, "handedness": side, "handedness_score": rec.handedness_score,
            "matrix": m}
