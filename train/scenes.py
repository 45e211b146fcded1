"""Composed detector training scenes: hand photos pasted at random scales on backgrounds.

Every labelled hand in a pasted photo is a positive (the extra ``source: "mediapipe"`` hands
too). Backgrounds are photo regions away from their hands, upscaled, or smooth synthetic
textures, so that the detector sees faces, arms, rooms and tables without hand labels.

Many photos show a hand that nobody labelled (the person's other hand, cut by the frame edge or
blurred). Optional ``unlabelled`` boxes (mined by ``python -m train.mine``) keep background
regions away from them and turn them into ignore regions where their photo is pasted, so the
detector is not taught that such hands are background.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from tracker.detector_codec import hand_box_and_cues
from tracker.geometry import invert_affine, transform_points

from .augment import AugmentConfig, photometric
from .data import HandRecord, ImageCache

#: the most composed val scenes one run takes (evaluate --scenes, --calibration-scenes, the detector
#: loop's --eval-scenes): they are all made up front and held in memory, width x height x 3 bytes
#: each (500 of 640x480: 0.46 GB)
MAX_SCENES = 100_000


@dataclass
class SceneConfig:
    width: int = 256
    height: int = 192
    hand_frac: tuple[float, float] = (0.05, 0.6)   # hand extent / canvas side (longest)
    count_p: tuple[float, float, float, float, float] = (0.1, 0.4, 0.35, 0.1, 0.05)  # 0..4 photos
    rotate_deg: float = 30.0
    # share of photos turned to a uniformly random angle instead of N(0, rotate_deg): hands that
    # point down or sideways (hands21's photos are mostly upright). 0 draws no extra random
    # number, so the scenes of a seed stay those of earlier versions
    full_rotation_p: float = 0.0
    flip_p: float = 0.5
    covered_alpha: float = 0.5    # a keypoint under later pasted photos with more alpha is hidden
    hidden_share: float = 0.5     # a hand with a larger share of its points hidden is ignored


def overlaps_any(x0: float, y0: float, x1: float, y1: float, boxes: np.ndarray, grow: float) -> bool:
    """Whether the region meets any of ``boxes`` (M, 4), each grown by ``grow`` x its side."""
    for b in np.asarray(boxes, np.float32).reshape(-1, 4):
        g = grow * max(b[2] - b[0], b[3] - b[1])
        if x0 < b[2] + g and x1 > b[0] - g and y0 < b[3] + g and y1 > b[1] - g:
            return True
    return False


def _transform_boxes(boxes: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Axis-aligned hulls (M, 4) of boxes (M, 4) mapped by the 2x3 affine ``m``."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    corners = np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]]], 1)  # (M, 4, 2)
    t = corners @ m[:, :2].T + m[:, 2]
    return np.concatenate([t.min(1), t.max(1)], 1).astype(np.float32)


def _background(images: list[np.ndarray], boxes: list[np.ndarray], w: int, h: int,
                rng: np.random.Generator) -> np.ndarray:
    """``boxes[k]``: (M, 4) boxes of every hand in ``images[k]`` (labelled or mined)."""
    if rng.random() < 0.75:
        for _ in range(6):
            k = int(rng.integers(len(images)))
            img = images[k]
            ih, iw = img.shape[:2]
            cw = int(rng.uniform(0.25, 0.6) * iw)
            ch = max(8, int(cw * h / w))
            x0, y0 = int(rng.integers(0, iw - cw + 1)), int(rng.integers(0, max(ih - ch, 0) + 1))
            # reject regions that meet a hand box (grown: flesh reaches past the keypoints)
            if overlaps_any(x0, y0, x0 + cw, y0 + ch, boxes[k], 0.3):
                continue
            patch = img[y0:y0 + ch, x0:x0 + cw]
            bg = cv2.resize(patch, (w, h), interpolation=cv2.INTER_LINEAR)
            return cv2.GaussianBlur(bg, (0, 0), rng.uniform(0.5, 2.0))
    # smooth synthetic texture
    small = rng.integers(0, 256, (int(rng.integers(2, 6)), int(rng.integers(2, 6)), 3)).astype(np.uint8)
    bg = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    noise = rng.normal(0, rng.uniform(0, 10), bg.shape)
    return np.clip(bg + noise, 0, 255).astype(np.uint8)


def compose_scene(records_by_image: list[list[HandRecord]], cache: ImageCache, cfg: SceneConfig,
                  rng: np.random.Generator, aug: AugmentConfig | None = None, photometric_aug: bool = True,
                  unlabelled: dict | None = None):
    """One scene.

    Args:
        records_by_image: the hands of each photo (one list per photo).
        unlabelled: image path -> (M, 4) boxes, photo px, of hands the labels miss (optional).

    Returns:
        (image HxWx3 uint8 BGR, hands: list of (17, 2) keypoints and (17,) visibility, scene px
        (NaN for a point its label does not give: hands21 stores one outside its photo as (0, 0)),
        ignore: (M, 4) scene-px boxes of pasted unlabelled hands and of hands hidden under photos
        pasted after their own, clipped to the canvas).

    A photo pasted later can cover a hand pasted before it (its photo is larger than the hand):
    positions that cover fewer earlier keypoints are preferred, keypoints still covered (alpha >
    ``cfg.covered_alpha``) lose their visibility, and a hand with more than ``cfg.hidden_share``
    of its points covered becomes an ignore box instead of a positive. Without this, 66 of 793
    hands pasted into 500 val scenes (8%) were mostly hidden yet counted as positives. Points that
    the feathered margin of their own photo fades into the background count as covered the same
    way (4% of the visible points of positives in 200 default val scenes showed background).
    """
    w, h = cfg.width, cfg.height
    if not len(records_by_image):   # numpy's "high <= 0" named neither the cause nor the argument
        raise ValueError("compose_scene: records_by_image is empty: no hand photos to compose scenes from")
    unlabelled = unlabelled or {}
    n_photos = int(rng.choice(len(cfg.count_p), p=np.asarray(cfg.count_p) / sum(cfg.count_p)))
    picks = [records_by_image[int(rng.integers(len(records_by_image)))] for _ in range(max(n_photos, 3))]
    if not all(picks):
        raise ValueError("compose_scene: records_by_image holds a photo with no hands (an empty list): "
                         "each photo needs at least one HandRecord")
    imgs = [cache[p[0].image] for p in picks]
    extra = [np.asarray(unlabelled.get(str(p[0].image), np.zeros((0, 4))), np.float32).reshape(-1, 4)
             for p in picks]
    all_boxes = [np.concatenate([np.stack([hand_box_and_cues(r.keypoints, r.visible)[0] for r in p]), e])
                 for p, e in zip(picks, extra)]
    canvas = _background(imgs, all_boxes, w, h, rng)
    hands = []
    owner = []    # photo index of each hand
    alphas = []   # each paste's alpha (h, w)
    ignore = []
    occupied = []
    for k in range(n_photos):
        recs, img = picks[k], imgs[k]
        box = all_boxes[k][0]
        extent = float(max(box[2] - box[0], box[3] - box[1], 1.0))
        target = rng.uniform(*cfg.hand_frac) * max(w, h)
        s = target / extent
        if cfg.full_rotation_p > 0 and rng.random() < cfg.full_rotation_p:
            ang = rng.uniform(-180.0, 180.0)
        else:
            ang = rng.normal(0, cfg.rotate_deg)
        flip = rng.random() < cfg.flip_p
        cx_img, cy_img = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        ih, iw = img.shape[:2]
        mrg = int(rng.uniform(0.0, 0.15) * iw)
        earlier = np.concatenate([kp[v > 0] for kp, v in hands] + [np.zeros((0, 2))]).astype(np.float64)
        # place the hand centre anywhere (it may be partly outside the canvas), away from the
        # other hands, and preferably with the photo covering none of their keypoints
        best = None
        for _ in range(8):
            tx, ty = rng.uniform(-0.05, 1.05) * w, rng.uniform(-0.05, 1.05) * h
            m = _paste_matrix(cx_img, cy_img, ang, s, tx, ty, flip, iw)
            apart = all(np.hypot(tx - ox, ty - oy) > 0.5 * (target + os_) for ox, oy, os_ in occupied)
            covered = _inside_photo(earlier, m, iw, ih, mrg)
            cost = (0 if apart else 1000) + covered
            if best is None or cost < best[0]:
                best = (cost, tx, ty, m)
            if cost == 0:
                break
        _, tx, ty, m = best
        occupied.append((tx, ty, target))
        # soft-edged paste of the photo (feathered alpha) so its border is not a hand cue
        alpha = np.zeros((ih, iw), np.float32)
        alpha[mrg:ih - mrg, mrg:iw - mrg] = 1.0
        alpha = cv2.GaussianBlur(alpha, (0, 0), max(1.0, iw * 0.05))
        warped = cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        a = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
        canvas = (canvas * (1 - a) + warped * a).astype(np.uint8)
        alphas.append(a[..., 0])
        for r in recs:
            kp = r.keypoints.astype(np.float64) @ m[:, :2].T + m[:, 2]
            # an unlabelled point's stored coordinates are no place: (0, 0) of hands21 became a
            # wrist cue at the photo's corner for the detector (12.5% of its hands)
            kp[r.visible <= 0] = np.nan
            hands.append((kp.astype(np.float32), r.visible.copy()))
            owner.append(k)
        if len(extra[k]):
            ignore.append(_transform_boxes(extra[k], m))
    hands, hidden = _hide_covered(hands, owner, alphas, cfg)
    if len(hidden):
        ignore.append(hidden)
    if photometric_aug:
        canvas = photometric(canvas, aug or AugmentConfig(occlusion_p=0.0), rng)
    ign = np.concatenate(ignore) if ignore else np.zeros((0, 4), np.float32)
    ign = np.clip(ign, 0, [w, h, w, h]).astype(np.float32)
    ign = ign[(ign[:, 2] > ign[:, 0] + 1) & (ign[:, 3] > ign[:, 1] + 1)]
    return canvas, hands, ign


def _paste_matrix(cx, cy, ang, s, tx, ty, flip, iw) -> np.ndarray:
    """2x3 photo->scene affine: rotate by ``ang`` deg and scale by ``s`` about the hand centre
    (cx, cy), move it to (tx, ty); ``flip`` mirrors the photo (width ``iw``) first.

    The hand centre lands on (tx, ty) flipped or not: the turn is about the mirrored centre
    (turning about the unmirrored one put a flipped hand (iw - 1 - 2 cx) x ``s`` px away from its
    drawn place, often off the canvas or onto the hands it was kept apart from)."""
    if flip:
        cx = iw - 1 - cx
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), ang, s)
    m[:, 2] += np.array([tx - cx, ty - cy])
    if flip:
        m = m @ np.array([[-1, 0, iw - 1], [0, 1, 0], [0, 0, 1]], np.float64)
    return m


def _inside_photo(points: np.ndarray, m: np.ndarray, iw: int, ih: int, mrg: int) -> int:
    """How many scene points (N, 2) the photo pasted by ``m`` (its opaque part, ``mrg`` px in
    from its sides) covers."""
    if not len(points):
        return 0
    p = transform_points(points, invert_affine(m))
    return int(((p[:, 0] >= mrg) & (p[:, 0] < iw - mrg) & (p[:, 1] >= mrg) & (p[:, 1] < ih - mrg)).sum())


def _hide_covered(hands, owner, alphas, cfg: SceneConfig):
    """Visibility of each hand's keypoints under the photos pasted after its own, and in its own
    photo's faded margin (up to 15% of its side, and many hands reach their photo's border: the
    background shows there, not the hand).

    Returns (hands with covered points invisible (hands mostly covered left out), (M, 4) boxes
    of the left-out hands: the scene region where their labelled points were)."""
    h, w = alphas[0].shape if alphas else (0, 0)
    out, hidden = [], []
    for (kp, vis), k in zip(hands, owner):
        labelled = vis > 0
        xy = np.round(np.nan_to_num(kp, nan=-1.0)).astype(int)   # unlabelled (NaN): not inside
        inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
        clear = np.ones(len(kp), np.float32)
        clear[inside] = alphas[k][xy[inside, 1], xy[inside, 0]]
        for a in alphas[k + 1:]:
            clear[inside] *= 1.0 - a[xy[inside, 1], xy[inside, 0]]
        covered = labelled & (1.0 - clear > cfg.covered_alpha)
        if labelled.any() and covered.sum() > cfg.hidden_share * labelled.sum():
            hidden.append(_grown_box(kp[labelled]))
            continue
        out.append((kp, np.where(covered, 0.0, vis).astype(vis.dtype)))
    return out, np.array(hidden, np.float32).reshape(-1, 4)


def _grown_box(points: np.ndarray) -> np.ndarray:
    """(4,) box around keypoints (N, 2), grown by 20% of its longest side (flesh reaches past
    the keypoints): the ignore region of a hand that is neither positive nor background."""
    ext = 0.2 * float((points.max(0) - points.min(0)).max())
    return np.concatenate([points.min(0) - ext, points.max(0) + ext])


def visible_hands(hands, w: int, h: int, min_inside: float = 0.5):
    """Split hands into positives and ignored ones.

    Returns (positives, ignore_boxes): positives are (kps, vis) with enough keypoints inside the
    canvas (vis=0 for points outside); ignore_boxes (M, 4) are the canvas-clipped boxes of hands
    that are only partly inside, where the detector is neither rewarded nor punished.
    """
    out, ignore = [], []
    for kp, vis in hands:
        inside = (kp[:, 0] >= 0) & (kp[:, 0] < w) & (kp[:, 1] >= 0) & (kp[:, 1] < h)
        v = (vis > 0) & inside
        if v.sum() >= max(3, min_inside * (vis > 0).sum()):
            out.append((kp, v.astype(np.float32)))
        elif v.any():
            ignore.append(np.clip(_grown_box(kp[vis > 0]), 0, [w, h, w, h]))
    return out, np.array(ignore, np.float32).reshape(-1, 4)
