"""Synthetic clips with ground truth, made from labelled hands21/val photos.

A clip is a 2-D scene seen by a moving camera: a smooth random texture as the background plane and
one or two "hand sprites" (a rotated square cut around a labelled hand, with a soft mask around the
hand's keypoints) that move on it. Every frame is rendered with the sprite-to-frame affine maps, so
the ground truth is simply the sprite keypoints mapped by the same matrices.

The timeline is a sequence of segments: ``still`` (nothing moves), ``slow``/``medium``/``fast``
(camera and hands move to new poses; translation, rotation and zoom), ``exit`` / ``away`` /
``return`` (one hand leaves the frame and comes back) and ``cross`` (two hands swap places, one
passing over the other). Poses are interpolated by a cubic Hermite spline that stops at still
segments. Frames get motion blur along each object's motion, Gaussian sensor noise and JPEG
compression. Everything is deterministic given the seed; frames are rendered on demand.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from tracker.geometry import roi_from_keypoints, transform_points, warp_crop
from tracker.keypoints import NUM_KEYPOINTS, mirror_side, palm_size
from tracker.video import read_image_file

log = logging.getLogger(__name__)

SIDE_NAMES = {0: "left", 1: "right"}
#: mean speed of a moving segment's hands, px/frame at 640x480 (scaled with the frame width)
SPEEDS = {"slow": 1.5, "medium": 5.0, "fast": 14.0}
SPRITE = 256  # sprite side, px


@dataclass
class Sprite:
    """A hand cut out of a photo: BGR image, soft alpha (0..1), keypoints in sprite pixels."""

    image: np.ndarray
    alpha: np.ndarray
    keypoints: np.ndarray  # (17, 2)
    side: str  # as seen in the sprite
    source: str = ""

    @property
    def size(self) -> float:
        k = self.keypoints
        return float((k.max(0) - k.min(0)).max())


def make_sprite(image: np.ndarray, kps17: np.ndarray, side: str, rng: np.random.Generator,
                flip: bool = False, source: str = "") -> Sprite:
    """Cut the hand of ``kps17`` out of ``image`` (upright, 1.6x its size) with a soft mask."""
    roi = roi_from_keypoints(kps17, scale=1.6)
    crop, m = warp_crop(image, roi, SPRITE)
    inside = cv2.warpAffine(np.ones(image.shape[:2], np.uint8) * 255, m, (SPRITE, SPRITE),
                            flags=cv2.INTER_NEAREST, borderValue=0)
    k = transform_points(kps17, m)
    if flip:
        crop = crop[:, ::-1].copy()
        inside = inside[:, ::-1].copy()
        k = k.copy()
        k[:, 0] = SPRITE - 1 - k[:, 0]
        side = mirror_side(side)
    palm = float(palm_size(k))
    mask = np.zeros((SPRITE, SPRITE), np.uint8)
    hull = cv2.convexHull(np.round(k).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255)
    r = max(int(round(palm * rng.uniform(0.08, 0.2))), 2)
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    mask = cv2.GaussianBlur(mask, (0, 0), max(palm * 0.06, 1.0))
    alpha = (mask.astype(np.float32) / 255.0) * (inside > 0)
    return Sprite(crop, alpha, k.astype(np.float32), side, source)


def smooth_texture(w: int, h: int, rng: np.random.Generator) -> np.ndarray:
    """A background: low-frequency colour noise plus a few soft shapes and edges (uint8 BGR)."""
    base = rng.uniform(40, 215, 3)
    img = np.empty((h, w, 3), np.float32)
    img[:] = base
    for cells, amp in ((3, 60), (8, 30), (24, 12)):
        noise = rng.normal(0, amp, (cells, max(int(cells * w / h), 2), 3)).astype(np.float32)
        img += cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(4, 10))):
        color = tuple(float(c) for c in rng.uniform(0, 255, 3))
        p0 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        if rng.random() < 0.5:
            p1 = (int(p0[0] + rng.integers(-w // 3, w // 3)), int(p0[1] + rng.integers(-h // 3, h // 3)))
            cv2.rectangle(img, p0, p1, color, -1)
        else:
            p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
            cv2.line(img, p0, p1, color, int(rng.integers(2, 12)))
    img = cv2.GaussianBlur(img, (0, 0), 2.0)
    return np.clip(img, 0, 255).astype(np.uint8)


def similarity(x: float, y: float, angle: float, scale: float, cx: float = 0.0, cy: float = 0.0):
    """2x3 matrix: rotate by ``angle`` and scale about (cx, cy), then move (cx, cy) to (x, y)."""
    c, s = np.cos(angle) * scale, np.sin(angle) * scale
    return np.array([[c, -s, x - c * cx + s * cy], [s, c, y - s * cx - c * cy]], np.float64)


def compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """2x3 matrix of ``a`` after ``b``."""
    a3 = np.vstack([a, [0, 0, 1]])
    b3 = np.vstack([b, [0, 0, 1]])
    return (a3 @ b3)[:2]


class Path4:
    """Poses (x, y, angle, log-scale) at keyframes, cubic Hermite in between.

    Tangents are zero at keyframes that border a still segment (and at the ends), Catmull-Rom
    elsewhere, so motion starts and stops smoothly and does not stop between moving segments.
    """

    def __init__(self, times: list[int], poses: list[np.ndarray], stops: list[bool]):
        self.t = np.asarray(times, np.float64)
        self.p = np.asarray(poses, np.float64)
        n = len(self.t)
        self.m = np.zeros_like(self.p)
        for i in range(1, n - 1):
            if not stops[i]:
                self.m[i] = (self.p[i + 1] - self.p[i - 1]) / (self.t[i + 1] - self.t[i - 1])

    def __call__(self, t: float) -> np.ndarray:
        i = int(np.clip(np.searchsorted(self.t, t, side="right") - 1, 0, len(self.t) - 2))
        t0, t1 = self.t[i], self.t[i + 1]
        d = t1 - t0
        u = float(np.clip((t - t0) / d, 0.0, 1.0))
        h00 = 2 * u**3 - 3 * u**2 + 1
        h10 = u**3 - 2 * u**2 + u
        h01 = -2 * u**3 + 3 * u**2
        h11 = u**3 - u**2
        return h00 * self.p[i] + h10 * d * self.m[i] + h01 * self.p[i + 1] + h11 * d * self.m[i + 1]


@dataclass
class Clip:
    """A synthetic clip: ground truth arrays plus what is needed to render any frame.

    Attributes:
        keypoints: (T, H, 17, 2) float32 ground truth in frame pixels (also outside the frame).
        visible: (T, H, 17) bool, inside the frame and not covered by the other hand.
        present: (T, H) bool, at least ``present_min`` keypoints visible (the hand should be found).
        sides: side of each hand as seen.
        segments: (start, end, kind) frame ranges of the timeline.
    """

    width: int
    height: int
    fps: float
    seed: int
    sprites: list[Sprite]
    background: np.ndarray
    cam: Path4
    hands: list[Path4]
    bg_offset: np.ndarray
    noise_sigma: float
    jpeg_quality: int
    blur_exposure: float
    keypoints: np.ndarray = None
    visible: np.ndarray = None
    present: np.ndarray = None
    segments: list = field(default_factory=list)
    present_min: int = 12
    n_frames: int = 0

    @property
    def sides(self) -> list[str]:
        return [s.side for s in self.sprites]

    def __len__(self) -> int:
        return self.n_frames

    # ---- geometry
    def camera_matrix(self, t: float) -> np.ndarray:
        """world -> frame: the world point at the camera pose goes to the frame centre."""
        x, y, a, ls = self.cam(t)
        return similarity(self.width / 2, self.height / 2, a, float(np.exp(ls)), x, y)

    def hand_matrix(self, j: int, t: float) -> np.ndarray:
        """sprite -> frame for hand ``j`` at time ``t``."""
        x, y, a, ls = self.hands[j](t)
        c = SPRITE / 2
        return compose(self.camera_matrix(t), similarity(x, y, a, float(np.exp(ls)), c, c))

    def _ground_truth(self):
        t_len, h = self.n_frames, len(self.sprites)
        kp = np.zeros((t_len, h, NUM_KEYPOINTS, 2), np.float32)
        for t in range(t_len):
            for j in range(h):
                kp[t, j] = transform_points(self.sprites[j].keypoints, self.hand_matrix(j, t))
        inside = ((kp[..., 0] >= 0) & (kp[..., 0] <= self.width - 1)
                  & (kp[..., 1] >= 0) & (kp[..., 1] <= self.height - 1))
        vis = inside.copy()
        # hands are drawn in order: a later hand covers the earlier ones
        for t in range(t_len):
            for top in range(1, h):
                inv = cv2.invertAffineTransform(self.hand_matrix(top, t))
                a = self.sprites[top].alpha
                for j in range(top):
                    sp = transform_points(kp[t, j], inv)
                    xi = np.round(sp[:, 0]).astype(int)
                    yi = np.round(sp[:, 1]).astype(int)
                    ok = (xi >= 0) & (xi < SPRITE) & (yi >= 0) & (yi < SPRITE)
                    cov = np.zeros(NUM_KEYPOINTS, bool)
                    cov[ok] = a[yi[ok], xi[ok]] > 0.5
                    vis[t, j] &= ~cov
        self.keypoints, self.visible = kp, vis
        self.present = vis.sum(-1) >= self.present_min

    # ---- rendering
    def render(self, t: int) -> np.ndarray:
        """Frame ``t`` (uint8 BGR, height x width)."""
        w, h = self.width, self.height
        rng = np.random.default_rng([self.seed, 7919, t])
        cam = compose(self.camera_matrix(t), self.bg_offset)
        frame = cv2.warpAffine(self.background, cam, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT101).astype(np.float32)
        # camera motion blur on the background
        cprev = compose(self.camera_matrix(t - 1), self.bg_offset) if t > 0 else cam
        ctr = np.array([w / 2, h / 2])
        v = (transform_points(ctr, cam) - transform_points(ctr, cprev)).astype(np.float64)
        frame = _motion_blur(frame, v * self.blur_exposure)
        for j, sp in enumerate(self.sprites):
            m = self.hand_matrix(j, t)
            mp = self.hand_matrix(j, t - 1) if t > 0 else m
            corners = np.array([[0, 0], [SPRITE, 0], [SPRITE, SPRITE], [0, SPRITE]], np.float32)
            c = transform_points(corners, m)
            pad = 4 + int(np.ceil(np.abs(v).max() * self.blur_exposure)) + 32
            x0 = int(max(np.floor(c[:, 0].min()) - pad, 0))
            y0 = int(max(np.floor(c[:, 1].min()) - pad, 0))
            x1 = int(min(np.ceil(c[:, 0].max()) + pad, w))
            y1 = int(min(np.ceil(c[:, 1].max()) + pad, h))
            if x1 <= x0 or y1 <= y0:
                continue
            mo = m.copy()
            mo[:, 2] -= (x0, y0)
            size = (x1 - x0, y1 - y0)
            img = cv2.warpAffine(sp.image, mo, size, flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
            al = cv2.warpAffine(sp.alpha, mo, size, flags=cv2.INTER_LINEAR, borderValue=0)
            palm = transform_points(sp.keypoints[1], m) - transform_points(sp.keypoints[1], mp)
            k = palm.astype(np.float64) * self.blur_exposure
            img = _motion_blur(img * al[..., None], k)
            al = _motion_blur(al, k)
            roi = frame[y0:y1, x0:x1]
            frame[y0:y1, x0:x1] = roi * (1 - al[..., None]) + img
        frame += rng.normal(0, self.noise_sigma, frame.shape).astype(np.float32)
        out = np.clip(frame, 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(self.jpeg_quality)])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)

    def frames(self, start: int = 0, stop: int | None = None):
        """Yield frames ``start .. stop-1``."""
        for t in range(start, len(self) if stop is None else stop):
            yield self.render(t)


def _motion_blur(img: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Average along the displacement ``v`` (pixels) centred on each pixel; no-op below 1 px."""
    length = float(np.hypot(*v))
    if length < 1.0:
        return img
    n = int(np.ceil(length)) | 1
    kern = np.zeros((n, n), np.float32)
    c = n // 2
    d = np.asarray(v, np.float64) / length
    for s in np.linspace(-length / 2, length / 2, 2 * n + 1):
        x, y = c + s * d[0], c + s * d[1]
        xi, yi = int(round(x)), int(round(y))
        if 0 <= xi < n and 0 <= yi < n:
            kern[yi, xi] += 1
    kern /= kern.sum()
    return cv2.filter2D(img, -1, kern, borderType=cv2.BORDER_REPLICATE)


# ---------------------------------------------------------------------------------------------


def pick_records(records, n: int, rng: np.random.Generator, sides: list[str] | None = None,
                 min_size: float = 60.0, min_score: float = 0.9):
    """Choose ``n`` well-labelled single-hand val records (all 17 points, confident side)."""
    ok = [r for r in records
          if r.visible.min() > 0 and not r.others and r.handedness in (0, 1)
          and r.handedness_score >= min_score
          and float((r.keypoints.max(0) - r.keypoints.min(0)).max()) >= min_size]
    if not ok:
        raise ValueError("no usable hand records for synthetic clips")
    out = []
    for i in range(n):
        want = None if sides is None else sides[i]
        pool = [r for r in ok if want is None or SIDE_NAMES[r.handedness] == want] or ok
        out.append(pool[int(rng.integers(len(pool)))])
    return out


def motion_bytes(clips: int, frames: int, width: int = 640, height: int = 480) -> int:
    """Bytes the motion part holds at once, rounded up (``python -m bench`` refuses a run where
    they exceed the memory): every clip is built before the first is tracked (a background 1.6x the
    frame, two sprites, the ground truth of every frame) and its traces are kept for the plots;
    predictions are kept for the clip being tracked and for the example (five views, two hands)."""
    per_clip = int(1.6 * width) * int(1.6 * height) * 3 + 2 * SPRITE * SPRITE * 7
    per_frame = 2 * NUM_KEYPOINTS * 9 + 8 * 32            # points, visibility; trace floats
    per_tracked_frame = 5 * 2 * 1024                        # a PredHand with its arrays, per view and hand
    return clips * (per_clip + frames * per_frame) + 2 * frames * per_tracked_frame


def make_clip(records, seed: int, n_frames: int = 300, n_hands: int = 1, width: int = 640,
              height: int = 480, fps: float = 30.0, exits: bool = True, cross: bool = True,
              image_reader=None) -> Clip:
    """Build a deterministic synthetic clip (see the module docstring).

    Args:
        records: labelled hands (``train.data.HandRecord``-like: image, keypoints, visible,
            handedness, handedness_score, others) to choose sprites from.
        seed: everything (sprites, timeline, noise) follows from it.
        n_hands: 1 or 2; two hands get one left and one right hand.
        exits / cross: include hands leaving and re-entering / two hands crossing.
        image_reader: path -> BGR image or None (default tracker.video.read_image_file).
    """
    if n_hands not in (1, 2):
        raise ValueError("n_hands must be 1 or 2")
    rng = np.random.default_rng(seed)
    read = image_reader or read_image_file
    want = ["left", "right"] if n_hands == 2 else None
    if want is not None and rng.random() < 0.5:
        want = want[::-1]
    recs = pick_records(records, n_hands, rng, want)
    sprites = []
    for r in recs:
        img = read(r.image)
        if img is None:
            raise FileNotFoundError(f"cannot read {r.image}")
        sprites.append(make_sprite(img, r.keypoints, SIDE_NAMES[r.handedness], rng,
                                   source=str(Path(r.image).name)))
    scale_px = width / 640.0
    # on-screen hand size (longest side of the keypoint box) at zoom 1
    target = [rng.uniform(0.22, 0.36) * height for _ in sprites]
    base_ls = [float(np.log(tg / sp.size)) for tg, sp in zip(target, sprites)]
    margin = 0.5 * max(target)

    def rand_pos(j):
        # hand j keeps to its half of the frame when there are two
        if n_hands == 2:
            lo = margin if j == 0 else width / 2
            hi = width / 2 if j == 0 else width - margin
        else:
            lo, hi = margin, width - margin
        return np.array([rng.uniform(lo, max(hi, lo + 1)), rng.uniform(margin, height - margin)])

    # initial poses
    cam0 = np.array([width / 2, height / 2, 0.0, 0.0])
    hand0 = []
    for j in range(n_hands):
        xy = rand_pos(j)
        hand0.append(np.array([xy[0], xy[1], rng.uniform(-0.6, 0.6), base_ls[j]]))
    cam_keys, hand_keys = [cam0], [[h.copy()] for h in hand0]
    times, stops, segments = [0], [True], []
    t = 0
    kinds = ["still", "slow", "medium", "fast"]
    plan = []
    while t < n_frames:
        k = kinds[int(rng.integers(len(kinds)))]
        r = rng.random()
        if exits and r < 0.15:
            k = "exit"
        elif cross and n_hands == 2 and r < 0.27:
            k = "cross"
        plan.append(k)
        t += 40
    plan.insert(0, "still")
    if exits and "exit" not in plan and len(plan) > 3:
        plan[len(plan) // 2] = "exit"
    if cross and n_hands == 2 and "cross" not in plan and len(plan) > 4:
        plan[len(plan) // 3] = "cross"
    t = 0
    for k in plan:
        if t >= n_frames:
            break
        cam = cam_keys[-1].copy()
        hands = [hk[-1].copy() for hk in hand_keys]
        steps = []  # (kind, duration, cam pose, hand poses)
        if k == "still":
            steps.append(("still", int(rng.integers(20, 45)), cam, hands))
        elif k in SPEEDS:
            dur = int(rng.integers(12, 25)) if k == "fast" else int(rng.integers(20, 45))
            spd = SPEEDS[k] * scale_px
            new = []
            for j, hp in enumerate(hands):
                target_xy = rand_pos(j)
                d = target_xy - hp[:2]
                dist = spd * dur
                d = d / max(np.hypot(*d), 1e-6) * dist
                xy = np.clip(hp[:2] + d, [margin, margin], [width - margin, height - margin])
                ang = hp[2] + rng.normal(0, 0.15 * (1 + list(SPEEDS).index(k)))
                ang = float(np.clip(ang, -1.2, 1.2))
                ls = float(np.clip(hp[3] + rng.normal(0, 0.08), base_ls[j] - 0.3, base_ls[j] + 0.3))
                new.append(np.array([xy[0], xy[1], ang, ls]))
            cam = np.array([width / 2 + rng.normal(0, 25) * scale_px,
                            height / 2 + rng.normal(0, 20) * scale_px,
                            float(np.clip(cam[2] + rng.normal(0, 0.08), -0.3, 0.3)),
                            float(np.clip(cam[3] + rng.normal(0, 0.06), -0.15, 0.2))])
            steps.append((k, dur, cam, new))
        elif k == "exit":
            j = int(rng.integers(n_hands))
            out = [h.copy() for h in hands]
            away = float(np.exp(hands[j][3]) * SPRITE * 0.75) + 150 * scale_px
            if hands[j][0] < width / 2:
                out[j][0] = -away
            else:
                out[j][0] = width + away
            steps.append(("exit", int(rng.integers(15, 30)), cam, out))
            steps.append(("away", int(rng.integers(15, 35)), cam, [h.copy() for h in out]))
            back = [h.copy() for h in out]
            back[j][:2] = rand_pos(j)
            steps.append(("return", int(rng.integers(15, 30)), cam, back))
        elif k == "cross":
            out = [h.copy() for h in hands]
            out[0][:2], out[1][:2] = hands[1][:2].copy(), hands[0][:2].copy()
            out[0][1] += rng.normal(0, 20)
            steps.append(("cross", int(rng.integers(30, 50)), cam, out))
            steps.append(("uncross", int(rng.integers(30, 50)), cam, [h.copy() for h in hands]))
        for kind, dur, c, hs in steps:
            segments.append((t, t + dur, kind))
            t += dur
            times.append(t)
            stops[-1] = stops[-1] or kind in ("still", "away")
            stops.append(kind in ("still", "away"))
            cam_keys.append(c)
            for j in range(n_hands):
                hand_keys[j].append(hs[j])
    stops[-1] = True
    bg = smooth_texture(int(width * 1.6), int(height * 1.6), rng)
    bg_offset = np.array([[1, 0, -0.3 * width], [0, 1, -0.3 * height]], np.float64)
    clip = Clip(width, height, fps, seed, sprites, bg, Path4(times, cam_keys, stops),
                [Path4(times, hk, stops) for hk in hand_keys], bg_offset,
                noise_sigma=float(rng.uniform(2.0, 6.0)), jpeg_quality=int(rng.integers(55, 90)),
                blur_exposure=float(rng.uniform(0.3, 0.7)), n_frames=n_frames)
    clip.segments = [(a, min(b, n_frames), k) for a, b, k in segments if a < n_frames]
    clip._ground_truth()
    log.debug("clip seed %d: %d frames, %d hands, segments %s", seed, n_frames, n_hands,
              [s[2] for s in clip.segments])
    return clip
