"""Robustness: the accuracy benchmark (hands21/val photos, static mode) on degraded photos.

    python -m bench robustness --images 300 --out docs/bench
    python -m bench robustness --no-photos --videos all --out docs/bench   # the shared clips, clean and turned

Each condition changes every photo the same way before the method sees it: exposure (dark,
dark with sensor noise, over-exposed, low contrast), noise, blur (Gaussian, horizontal motion),
JPEG compression, half resolution, grey, rotations by 90 and 180 degrees (hands pointing
sideways and down; hands21's photos are mostly upright), and a mirror image (a selfie view). For a
rotation or the mirror the predicted keypoints are mapped back to the photo's pixels, and under the
mirror the predicted sides are swapped back (a mirrored right hand looks like a left one), so every
condition is scored against the same labels with :mod:`bench.accuracy`: a method whose handedness
follows the mirror keeps its side accuracy there. Noise is seeded per photo: every method sees
the same pixels. A condition that moves pixels out of the frame (``zoom2``: all but the centre half) takes the hands it moves
out with it: a labelled hand with more than half its labelled keypoints outside the frame the
method sees (:func:`in_view`) is not scored under that condition, for every method alike (a
prediction that matches it is not a false hand either); each row says how many were scored
(``hands``) and left out (``hands_out_of_view``).

The labels were made by MediaPipe on the clean photos, so MediaPipe's clean row is agreement with
itself; what the table shows is how much each method loses as the photos get worse.

The video part (:func:`video_run`, ``--videos``) plays the shared clips (no labels) through the
same conditions (default: clean and turned by 180 degrees), each method in video mode, keypoints
mapped back to the clip's pixels, and counts what :mod:`bench.videos` counts: hands per frame,
linked tracks, side changes. Turning a frame does not mirror it, so every hand keeps its side: a
side change is an error on a turned clip as on an upright one. Against the method's own clean run
it also counts, with no labels, the share of the kept hands reported on the clean run's side
(under the mirror, its sides swapped back): left and right that a condition, or a mirror, moves.
Without labels, hands per frame counts false hands as well as real ones; compare a condition
with the same clip clean. Against the method's clean run, the share of clean hand-frames kept
leaves out the clean hands that the condition moved out of the frame (zoom2), as the photo part
does; hands per frame does not.
"""
from __future__ import annotations

import dataclasses
import logging
import zlib
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from tracker.geometry import invert_affine, quarter_turn
from tracker.keypoints import mirror_side
from train.augment import jpeg_roundtrip

from . import accuracy
from .run import fmt_figure

log = logging.getLogger(__name__)

#: a condition: (photo HxWx3 uint8 BGR, rng) -> (degraded photo, 2x3 affine photo px -> degraded
#: px, or None when the pixels stay where they are)
Condition = Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray | None]]


def _u8(x) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _noise(img, rng, sigma):
    return _u8(img.astype(np.float32) + rng.normal(0, sigma, img.shape).astype(np.float32))


def _half_res(img):
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(w // 2, 1), max(h // 2, 1)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _motion_blur(img, length):
    k = np.zeros((length, length), np.float32)
    k[length // 2] = 1.0 / length
    return cv2.filter2D(img, -1, k)


def rotation(quarter_turns: int) -> Condition:
    """Rotate clockwise by ``quarter_turns`` x 90 degrees; the affine maps photo px to rotated px."""
    return lambda img, rng: quarter_turn(img, quarter_turns)


def mirror() -> Condition:
    """Mirror left to right, as a selfie view shows the scene; the affine maps photo px to mirrored
    px. A mirror image of a left hand is a right hand: :class:`Perturbed` swaps the sides a method
    reports back, so a method whose handedness follows the mirror keeps its clean sides."""
    def fn(img, rng):
        w = img.shape[1]
        return np.ascontiguousarray(img[:, ::-1]), np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0]], np.float64)
    return fn


def zoom(factor: float) -> Condition:
    """The frame's centre 1/``factor`` scaled up ``factor`` x to the frame's size (hands that much
    larger, as if closer to the camera; what lies outside the centre leaves the frame); the affine
    maps photo px to zoomed px."""
    def fn(img, rng):
        h, w = img.shape[:2]
        a = np.array([[factor, 0.0, (1 - factor) * (w - 1) / 2],
                      [0.0, factor, (1 - factor) * (h - 1) / 2]], np.float64)
        return cv2.warpAffine(img, a, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), a
    return fn


def _pixels(fn) -> Condition:
    return lambda img, rng: (fn(img, rng), None)


#: name -> (what it does, condition)
CONDITIONS: dict[str, tuple[str, Condition]] = {
    "clean": ("the photo as it is", _pixels(lambda i, r: i)),
    "dark": ("pixels x0.25 (under-exposed)", _pixels(lambda i, r: _u8(i * 0.25))),
    "dark-noise": ("pixels x0.25, then Gaussian noise sigma 3 (a dim room's sensor)",
                   _pixels(lambda i, r: _noise(_u8(i * 0.25), r, 3.0))),
    "bright": ("pixels x1.8, clipped (over-exposed)", _pixels(lambda i, r: _u8(i * 1.8))),
    "low-contrast": ("contrast x0.4 about grey 128", _pixels(lambda i, r: _u8(128 + (i.astype(np.float32) - 128) * 0.4))),
    "noise": ("Gaussian noise sigma 15", _pixels(lambda i, r: _noise(i, r, 15.0))),
    "blur": ("Gaussian blur sigma 2 px", _pixels(lambda i, r: cv2.GaussianBlur(i, (0, 0), 2.0))),
    "motion-blur": ("horizontal motion blur over 9 px", _pixels(lambda i, r: _motion_blur(i, 9))),
    "jpeg": ("JPEG quality 10", _pixels(lambda i, r: jpeg_roundtrip(i, 10))),
    "half-res": ("half resolution, scaled back up", _pixels(lambda i, r: _half_res(i))),
    "grey": ("greyscale", _pixels(lambda i, r: cv2.cvtColor(cv2.cvtColor(i, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR))),
    "rot90": ("rotated 90 degrees clockwise (hands pointing sideways)", rotation(1)),
    "rot180": ("rotated 180 degrees (hands pointing down)", rotation(2)),
    "mirror": ("mirrored left to right (a selfie view; every hand's side swaps, and the sides reported are "
               "swapped back before scoring)", mirror()),
    "zoom2": ("the centre half scaled up 2x (hands twice as large, as if closer; the rest leaves the frame)",
              zoom(2.0)),
}


#: a labelled (or clean-run) hand counts under a condition while at least this share of its
#: labelled keypoints lies inside the frame the method sees
MIN_IN_VIEW = 0.5


def in_view(keypoints, visible, a, shape, min_share: float = MIN_IN_VIEW) -> bool:
    """Whether a hand stays in view under a condition.

    Args:
        keypoints: (17, 2) pixels of the undegraded frame. visible: (17,) > 0 where labelled, or
            None (all). a: the condition's 2x3 affine (undegraded px -> degraded px), None when the
            pixels stay where they are. shape: (height, width) of the degraded frame.

    Returns:
        True when at least ``min_share`` of the labelled, finite keypoints fall inside the degraded
        frame (pixel centres at integers: -0.5 to width - 0.5), or when there is none to judge by.
    """
    if a is None:
        return True
    k = np.asarray(keypoints, np.float64)
    v = np.all(np.isfinite(k), axis=1)
    if visible is not None:
        v &= np.asarray(visible) > 0
    if not v.any():
        return True
    m = k[v] @ np.asarray(a, np.float64)[:, :2].T + np.asarray(a, np.float64)[:, 2]
    h, w = shape[:2]
    inside = (m[:, 0] >= -0.5) & (m[:, 0] <= w - 0.5) & (m[:, 1] >= -0.5) & (m[:, 1] <= h - 0.5)
    return bool(inside.mean() >= min_share)


_IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

class Perturbed:
    """``method`` (a :mod:`bench.methods` callable) seeing every frame through ``condition``; the
    keypoints it reports are mapped back to the undegraded frame's pixels (and, under a mirror, its
    sides swapped back: a mirrored left hand is a right one). ``geometry`` lists, per
    call in order, the degraded frame's (height, width) and the condition's affine (or None): what
    :func:`in_view` needs."""

    def __init__(self, method, condition: Condition, seed: int = 0):
        self.method, self.condition, self.seed = method, condition, seed
        self.geometry: list[tuple[tuple[int, int], np.ndarray | None]] = []
        self.source_shapes: list[tuple[int, int]] = []   # (height, width) of each frame before the condition

    def reset(self):
        """A new clip: the method's reset (video mode), when it has one."""
        if hasattr(self.method, "reset"):
            self.method.reset()

    def __call__(self, frame, timestamp_ms=None):
        # the same noise for every method: seeded by the photo's pixels, not by call order
        rng = np.random.default_rng([self.seed, zlib.crc32(np.ascontiguousarray(frame).data)])
        img, a = self.condition(frame, rng)
        self.geometry.append((img.shape[:2], a))
        self.source_shapes.append(frame.shape[:2])
        out = self.method(np.ascontiguousarray(img), timestamp_ms)
        if a is None:
            return out
        inv = invert_affine(a)
        # a reflection (negative determinant) turns every left hand into a right one and back
        mirrored = np.linalg.det(np.asarray(a, np.float64)[:, :2]) < 0
        views = {k: [dataclasses.replace(h, keypoints=(np.asarray(h.keypoints, np.float64) @ inv[:, :2].T
                                                       + inv[:, 2]).astype(np.float32),
                                         side=mirror_side(h.side) if mirrored and h.side else h.side)
                     for h in v]
                 for k, v in out.views.items()}
        return dataclasses.replace(out, views=views)


def check_conditions(names) -> list[str]:
    """``names`` as a list, each once in the order given (one named twice ran twice); ValueError
    naming the unknown ones."""
    names = list(dict.fromkeys(names))
    bad = [n for n in names if n not in CONDITIONS]
    if bad or not names:
        raise ValueError(f"unknown condition(s) {bad or names}; choose from {', '.join(CONDITIONS)}")
    return names


def run(methods: dict, images: list, conditions=tuple(CONDITIONS), seed: int = 0) -> dict:
    """``methods``: name -> (method, view). Returns {condition: {name: summary row}} with PCK@0.1,
    PCK@0.05, found rate, handedness accuracy and false hands per photo per method, and ``hands``
    / ``hands_out_of_view``: the labelled hands scored and those left out because the condition
    moved them out of the frame (:func:`in_view`; the same for every method)."""
    out = {}
    for c in check_conditions(conditions):
        out[c] = {}
        for name, (method, view) in methods.items():
            wrapped = Perturbed(method, CONDITIONS[c][1], seed)
            r = accuracy.run(wrapped, images, view, progress_every=0)
            # every labelled hand was matched (so a prediction on a hand cut by the frame's edge is
            # no false hand); only those in view are scored: no method could find the others
            keep = _in_view_mask(images, wrapped.geometry)
            s = accuracy.summarize(_subset(r, keep))
            out[c][name] = {k: s[k] for k in ("pck@0.1", "pck@0.05", "found_rate", "handedness_acc",
                                              "false_pos_per_image")}
            out[c][name].update(hands=int(keep.sum()), hands_out_of_view=int((~keep).sum()))
            log.info("robustness %s %s: PCK@0.1 %.3f found %.3f over %d hands (%d out of view)", c, name,
                     s["pck@0.1"], s["found_rate"], keep.sum(), (~keep).sum())
    return out


def _in_view_mask(images: list, geometry: list) -> np.ndarray:
    """(N,) bool over the labelled hands of ``images`` in :func:`bench.accuracy.run`'s order."""
    if len(geometry) != len(images):
        raise RuntimeError(f"the method saw {len(geometry)} frames for {len(images)} photos")
    return np.array([in_view(k, v, a, shape) for im, (shape, a) in zip(images, geometry)
                     for k, v in zip(im.keypoints, im.visible)], bool)


def _subset(r: accuracy.AccuracyRun, keep: np.ndarray) -> accuracy.AccuracyRun:
    """``r`` with only the labelled hands where ``keep`` (false hands and photos as they are)."""
    if keep.all():
        return r
    return dataclasses.replace(r, gt=r.gt[keep], visible=r.visible[keep], gt_side=r.gt_side[keep],
                               side_score=r.side_score[keep], pred=r.pred[keep], found=r.found[keep],
                               pred_side=r.pred_side[keep], norm=None if r.norm is None else r.norm[keep])


def table(res: dict) -> str:
    """Markdown: one row per condition, PCK@0.1 / found / side accuracy per method, and each
    method's PCK@0.1 as a share of its clean one."""
    names = list(next(iter(res.values()), {}))
    head = ["condition", "what"]
    for n in names:
        head += [f"{n} PCK@0.1", "found", "side acc", "vs clean"]
    rows = []
    for c, per in res.items():
        row = [c, CONDITIONS[c][0] if c in CONDITIONS else ""]
        for n in names:
            s = per.get(n)
            clean = res.get("clean", {}).get(n, {}).get("pck@0.1")
            if s is None:
                row += ["-"] * 4
                continue
            rel = fmt_figure(s['pck@0.1'] / clean, 2) if clean else "-"
            # n/a, not nan, where a condition found no hand (side accuracy of none)
            row += [fmt_figure(s['pck@0.1']), fmt_figure(s['found_rate']), fmt_figure(s['handedness_acc']), rel]
        rows.append(row)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    notes = []
    for c, per in res.items():
        s = next(iter(per.values()), {})
        if s.get("hands_out_of_view"):
            notes.append(f"{c}: {s['hands']} of {s['hands'] + s['hands_out_of_view']} labelled hands scored")
    if notes:
        lines += ["", "; ".join(notes) + f" (the others had more than {1 - MIN_IN_VIEW:.0%} of their labelled "
                  "keypoints outside the frame after the condition: left out for every method)."]
    return "\n".join(lines)


def video_run(methods: dict, paths: list[Path], conditions=("clean", "rot180"),
              max_frames: int | None = None, seed: int = 0) -> dict:
    """The clips ``paths`` seen through each of ``conditions`` (names of :data:`CONDITIONS`).

    Args:
        methods: name -> method in video mode (a :mod:`bench.methods` callable with ``reset()``).
        max_frames: first frames of each clip (None: all).

    Returns:
        ``{condition: bench.videos.run result}``: per clip and view, hands per frame, tracks and
        side changes of the keypoints mapped back to the clip's own pixels; every condition but
        clean (when clean is among ``conditions``) also has ``vs_clean`` (per clip) and
        ``vs_clean_total``: :func:`combine_agreement` against the method's clean run.
    """
    from . import videos
    out, clean = {}, None
    conditions = check_conditions(conditions)
    # clean first: every other condition is also compared with the method's own clean run
    for c in sorted(conditions, key=lambda c: c != "clean"):
        wrapped = {n: Perturbed(m, CONDITIONS[c][1], seed) for n, m in methods.items()}
        preds: dict = {}
        out[c] = videos.run(list(paths), wrapped, max_frames, preds_out=preds)
        if c == "clean":
            clean = preds
        elif clean is not None:
            first = next(iter(wrapped.values()), None)
            geometry = _geometry_per_clip(preds, first.geometry if first else [])
            sources = _geometry_per_clip(preds, first.source_shapes if first else [])
            # a clean hand the condition moved out of the frame (zoom2) is no hand to keep; one
            # already outside its own frame (MediaPipe places the keypoints of a hand cut by the
            # edge beyond it) was not moved out by the condition: still counted
            raw = {v: {view: agreement(clean[v][view], p,
                                       counted=[[in_view(h.keypoints, None, a, shape)
                                                 or not in_view(h.keypoints, None, _IDENTITY, src)
                                                 for h in hands]
                                                for hands, (shape, a), src in zip(clean[v][view], geometry[v],
                                                                                  sources[v])])
                       for view, p in d.items() if view in clean[v]}
                   for v, d in preds.items() if v in clean}
            out[c]["vs_clean"] = {v: combine_agreement({v: d}) for v, d in raw.items()}
            out[c]["vs_clean_total"] = combine_agreement(raw)
        for view, s in out[c]["total"].items():
            log.info("robustness videos %s %s: %.2f hands per frame, %d tracks, %d side changes (%d young)",
                     c, view, s["hands_per_frame"], s["tracks"], s["side_changes"], s["young_side_changes"])
    return {c: out[c] for c in conditions}


def _geometry_per_clip(preds: dict, geometry: list) -> dict:
    """A :class:`Perturbed` wrapper's ``geometry`` (one entry per frame over all clips, in order)
    cut per clip: ``{clip: [per frame (shape, affine)]}``, the frame counts read from ``preds``."""
    out, i = {}, 0
    for v, d in preds.items():
        n = max((len(p) for p in d.values()), default=0)
        out[v] = geometry[i:i + n]
        i += n
    return out


def agreement(clean: list, other: list, max_dist: float = 1.0, counted: list | None = None) -> dict:
    """How much of a method's clean run a condition keeps, frame by frame (no labels needed).

    Args:
        clean, other: per frame, the hands (:class:`bench.temporal.PredHand`, keypoints (17, 2)
            pixels) the method reported on the clean clip and under the condition.
        max_dist: a hand under the condition is the clean hand when its palm centre is within this
            many clean hand sizes (keypoint extent), nearest pairs first.
        counted: per frame, per clean hand, False for a hand left out (one the condition moved out
            of the frame: :func:`in_view`); None: all count. A hand left out is still matched (a
            hand found on it is not extra) but is neither a clean hand to keep nor kept.

    Returns:
        ``kept`` clean hand-frames also found, ``extra`` condition hand-frames with no clean hand,
        ``moved`` per matched pair the mean keypoint distance in clean hand sizes (the accuracy
        benchmark's matching cost, :func:`bench.matching.cost_matrix`, with the clean hand as the
        reference; a list, see :func:`combine_agreement`), ``sided`` the kept ones with a side in
        both runs and ``same_side`` those of them on the clean run's side (the condition's sides as
        :class:`Perturbed` maps them back: a mirror's swapped back), and the counts (``left_out``:
        clean hand-frames not counted).
    """
    from .matching import cost_matrix, greedy_pairs
    from .videos import PALM, _size
    kept = extra = n_clean = left_out = sided = same_side = 0
    moved: list[float] = []
    for f, (a, b) in enumerate(zip(clean, other)):
        counts = [True] * len(a) if counted is None or f >= len(counted) else list(counted[f])
        n_clean += sum(counts)
        left_out += len(a) - sum(counts)
        cost = cost_matrix([g.keypoints for g in b], [h.keypoints for h in a])   # (len(b), len(a))
        pairs = []
        for i, h in enumerate(a):
            ka = np.asarray(h.keypoints, np.float64)
            size = _size(ka)
            for j, g in enumerate(b):
                d = float(np.hypot(*(ka[PALM] - np.asarray(g.keypoints, np.float64)[PALM]))) / size
                if d <= max_dist:
                    pairs.append((d, i, j, float(cost[j, i])))
        matched = greedy_pairs(pairs)
        moved += [m for _, i, _, m in matched if counts[i]]
        kept += sum(1 for _, i, _, _ in matched if counts[i])
        extra += len(b) - len(matched)
        for _, i, j, _ in matched:
            x, y = getattr(a[i], "side", None), getattr(b[j], "side", None)
            if counts[i] and x is not None and y is not None:
                sided += 1
                same_side += x == y
    return {"clean_hands": n_clean, "kept": kept, "extra": extra, "frames": len(clean), "moved": moved,
            "left_out": left_out, "sided": sided, "same_side": same_side}


def combine_agreement(per_video: dict) -> dict:
    """Per view over the clips: share of clean hand-frames kept, extra hands per frame, median
    keypoint move of the kept ones (clean hand sizes), the share moved by more than 0.2, the share
    of the kept ones (with a side in both runs) on the clean run's side (``same_side``), and the
    clean hand-frames left out (moved out of the frame by the condition)."""
    out = {}
    for view in sorted({v for d in per_video.values() for v in d}):
        rows = [d[view] for d in per_video.values() if view in d]
        n = sum(r["clean_hands"] for r in rows)
        frames = sum(r["frames"] for r in rows)
        moved = np.array([m for r in rows for m in r["moved"]], np.float64)
        sided = sum(r.get("sided", 0) for r in rows)
        out[view] = {"kept": sum(r["kept"] for r in rows) / n if n else float("nan"),
                     "extra_per_frame": sum(r["extra"] for r in rows) / frames if frames else float("nan"),
                     "moved_median": float(np.median(moved)) if len(moved) else float("nan"),
                     "moved_over_0.2": float((moved > 0.2).mean()) if len(moved) else float("nan"),
                     "same_side": sum(r.get("same_side", 0) for r in rows) / sided if sided else float("nan"),
                     "left_out": sum(r.get("left_out", 0) for r in rows)}
    return out


#: view names of bench.methods -> the method's name in tables
VIEW_NAMES = {"smoothed": "handtrack", "mediapipe": "mediapipe"}


def video_table(res: dict) -> str:
    """Markdown: one row per clip and condition (and an "all clips" row per condition), hands per
    frame / tracks / side changes per method."""
    views = sorted({v for r in res.values() for v in r["total"]}, key=lambda v: (v != "smoothed", v))   # handtrack first
    head = ["clip", "condition"] + [f"{VIEW_NAMES.get(v, v)} hands/frame / tracks / side changes" for v in views]

    def cells(d):
        return [f"{d[v]['hands_per_frame']:.2f} / {d[v]['tracks']} / {d[v]['side_changes']}" if v in d else "-"
                for v in views]
    clips = list(dict.fromkeys(c for r in res.values() for c in r["videos"]))
    rows = [[c, t, *cells(r["videos"][c])] for c in clips for t, r in res.items() if c in r["videos"]]
    rows += [["all clips", t, *cells(r["total"])] for t, r in res.items()]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    vs = {t: r["vs_clean_total"] for t, r in res.items() if "vs_clean_total" in r}
    if vs:
        lines += ["", "Against the same method's clean run (all clips): share of its clean hand-frames kept / "
                  "extra hands per frame / median keypoint move of the kept ones in hand sizes / share moved "
                  "by more than 0.2 hand sizes / share of the kept ones on the clean run's side (under mirror: "
                  "the mirrored side, swapped back).", "",
                  "| condition | " + " | ".join(VIEW_NAMES.get(v, v) for v in views) + " |",
                  "|" + "---|" * (len(views) + 1)]
        for t, d in vs.items():
            lines.append(f"| {t} | " + " | ".join(
                " / ".join(fmt_figure(d[v][k]) for k in ("kept", "extra_per_frame", "moved_median", "moved_over_0.2",
                                                          "same_side"))
                if v in d else "-" for v in views) + " |")
        notes = [f"{t}: {', '.join(str(d[v].get('left_out', 0)) for v in views if v in d)} clean hand-frames"
                 for t, d in vs.items() if any(d[v].get("left_out") for v in views if v in d)]
        if notes:
            lines += ["", "Left out of the share kept (" + "; ".join(notes) + f", per method as above): clean "
                      f"hands with more than {1 - MIN_IN_VIEW:.0%} of their keypoints outside the frame after "
                      "the condition, which no method could keep."]
    return "\n".join(lines)
