"""Real videos without labels: how steady the reported left/right sides are.

A physical hand has one side for as long as it stays in view, so a side change inside a
continuous track of one hand is an error, whatever the truth is. Each method's hands are linked
into tracks by the same rule (:func:`link_tracks`: the palm centre within ``max_dist`` hand sizes
of a track's last position, at most ``max_gap`` frames later, nearest pairs first), so methods
with and without track ids (MediaPipe's legacy API has none) are counted alike. Two hands that
cross each other can be linked the wrong way round, which then counts as side changes for every
method; the shared clips have few such crossings.

Per video and method: frames, hands per frame, linked tracks, side changes, side changes per
minute of video, and side consistency (share of hand-frames on the majority side of their track).
Where each change happened, to look at: ``side_change_frames``, per change the frame index and
how many frames its track had been reported before it; a change within a track's first
:data:`YOUNG_FRAMES` reported frames (a hand just found, its side still settling) is also counted
in ``young_side_changes``, the others (a hand followed for a while) are what the side lock is for.

How steady a still hand's keypoints are (:func:`still_jitter`, since session 69): on the hand-frames
of a linked track whose palm centre moved less than :data:`STILL_SPEED` palm sizes per frame over
:data:`STILL_WINDOW` frames either side (a window long enough that the keypoints' own jitter hardly
moves it), the mean over the 17 points of ``|x(t+1) - 2 x(t) + x(t-1)|`` in palm sizes, as the
motion benchmark measures still hands on its synthetic clips. Real hands held still are never quite
still, so this is an upper bound on the noise. The tracker's raw view (the landmark model's own
keypoints) is measured on the hand-frames its smoothed view picked (``still_jitter_raw``): same
hands, same frames, so their ratio is the smoothing's effect on real video.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from tracker.keypoints import palm_size
from tracker.video import FrameSource

from .matching import greedy_pairs
from .temporal import PredHand, count_swaps, hand_size_full, jitter_per_frame, per_minute

log = logging.getLogger(__name__)

PALM = 1  # tracker.keypoints.HandKeypoint.PALM
#: a side change within this many reported frames of its track's start counts as a young one
YOUNG_FRAMES = 10
#: a hand-frame is still when its palm centre moved less than this many palm sizes per frame
#: (0.3 palm sizes per second at 30 fps), measured from STILL_WINDOW frames before to as many after
STILL_SPEED = 0.01
STILL_WINDOW = 3


def _size(k: np.ndarray) -> float:
    """Longest side of the finite keypoints' extent (pixels); 1 for a degenerate hand."""
    k = np.asarray(k, np.float64)
    k = k[np.isfinite(k).all(1)]
    return hand_size_full(k) if len(k) else 1.0


def link_tracks(frames: list[list[PredHand]], max_dist: float = 1.0, max_gap: int = 5) -> list[list[int]]:
    """Track labels for the hands of a clip, method-independent.

    Args:
        frames: per frame, the hands a method reported (keypoints (17, 2) pixels).
        max_dist: largest palm-centre move, in hand sizes (keypoint extent) of the track's last
            hand, for a hand to continue a track.
        max_gap: frames a track may go unseen and still be continued.

    Returns:
        Per frame, one label (int >= 0) per hand, in the order of ``frames``.
    """
    last: dict[int, tuple[int, np.ndarray, float]] = {}  # label -> (frame, palm xy, size)
    out: list[list[int]] = []
    next_label = 0
    for t, hands in enumerate(frames):
        labels = [-1] * len(hands)
        pairs = []
        for i, h in enumerate(hands):
            p = np.asarray(h.keypoints, np.float64)[PALM]
            for lab, (tf, q, size) in last.items():
                # t - tf - 1 frames went by without it: max_gap counts those (0: the next frame only)
                if t - tf - 1 > max_gap or not np.isfinite(p).all():
                    continue
                d = float(np.hypot(*(p - q))) / size
                if d <= max_dist:
                    pairs.append((d, i, lab))
        for d, i, lab in greedy_pairs(pairs):
            labels[i] = lab
        for i, h in enumerate(hands):
            if labels[i] < 0:
                labels[i] = next_label
                next_label += 1
            k = np.asarray(h.keypoints, np.float64)
            last[labels[i]] = (t, k[PALM], _size(k))
        out.append(labels)
    return out


def side_stability(frames: list[list[PredHand]], fps: float, labels: list[list[int]] | None = None,
                   **link_kw) -> dict:
    """Side changes of the linked tracks of one clip (see the module docstring); ``labels``: the
    hands' track labels when already linked (:func:`link_tracks` with ``link_kw``)."""
    labels = link_tracks(frames, **link_kw) if labels is None else labels
    sides: dict[int, list[str | None]] = {}
    at: dict[int, list[int]] = {}           # per track, the frame index of each of its hands
    for t, (hands, labs) in enumerate(zip(frames, labels)):
        for h, lab in zip(hands, labs):
            sides.setdefault(lab, []).append(h.side)
            at.setdefault(lab, []).append(t)
    # each change's frame, and its index in its track's hands: how many were reported before it
    where = sorted((at[lab][i], i) for lab, s in sides.items() for i in count_swaps(s).side_at)
    changes = len(where)
    on_major = total = 0
    for s in sides.values():
        known = [x for x in s if x in ("left", "right")]
        if known:
            on_major += max(known.count("left"), known.count("right"))
            total += len(known)
    n = len(frames)
    return {"frames": n, "hands_per_frame": float(sum(len(h) for h in frames) / n) if n else float("nan"),
            "tracks": len(sides), "side_changes": int(changes),
            "side_changes_per_min": per_minute(changes, n, fps),
            "side_consistency": float(on_major / total) if total else float("nan"),
            "young_side_changes": sum(age < YOUNG_FRAMES for _, age in where),
            "side_change_frames": [[frame, age] for frame, age in where]}


def still_frames(frames: list[list[PredHand]], labels: list[list[int]], window: int = STILL_WINDOW,
                 speed: float = STILL_SPEED) -> list[tuple[int, int, int, int]]:
    """The still hand-frames of a clip (see the module docstring): ``(t, i_prev, i, i_next)``, the
    frame and the indexes of the track's hand in frames t-1, t and t+1.

    Args:
        frames: per frame, the hands reported (keypoints (17, 2) pixels). labels: per frame,
            each hand's track label (:func:`link_tracks`).
        window: frames either side (>= 1) over which the palm centre's move is measured; the
            track must be in every one of them.
        speed: largest move, in palm sizes (of the hand at t) per frame, of a still hand-frame.
    """
    where: dict[int, dict[int, int]] = {}          # label -> {frame: index of its hand}
    for t, labs in enumerate(labels):
        for i, lab in enumerate(labs):
            where.setdefault(lab, {})[t] = i
    out = []
    for at in where.values():
        for t, i in sorted(at.items()):
            if not all(t + d in at for d in range(-window, window + 1)):
                continue
            k = np.asarray(frames[t][i].keypoints, np.float64)
            palm = float(palm_size(k))
            a = np.asarray(frames[t - window][at[t - window]].keypoints, np.float64)[PALM]
            b = np.asarray(frames[t + window][at[t + window]].keypoints, np.float64)[PALM]
            move = float(np.hypot(*(b - a))) / (2 * window)
            if palm > 0 and np.isfinite(move) and move < speed * palm:
                out.append((t, at[t - 1], i, at[t + 1]))
    return out


def still_jitter(frames: list[list[PredHand]], picked: list[tuple[int, int, int, int]]) -> float:
    """Mean over ``picked`` (:func:`still_frames`) of the motion benchmark's jitter
    (:func:`bench.temporal.jitter_per_frame`: ``|x(t+1) - 2 x(t) + x(t-1)|`` averaged over the
    finite points, in palm sizes of the hand at t); NaN when nothing is picked. ``frames`` may be
    another view of the same hands (the tracker's raw keypoints)."""
    vals = []
    for t, ia, i, ib in picked:
        x = np.stack([np.asarray(frames[u][j].keypoints, np.float64) for u, j in ((t - 1, ia), (t, i), (t + 1, ib))])
        v = jitter_per_frame(x, np.ones(3, bool), np.full(3, float(palm_size(x[1]))))[1]
        if np.isfinite(v):
            vals.append(float(v))
    return float(np.mean(vals)) if vals else float("nan")


def _steadiness(views: dict[str, list[list[PredHand]]], view: str, labels: list[list[int]]) -> dict:
    """still_jitter of ``view`` (its track ``labels``, :func:`link_tracks`) on its own still
    hand-frames, and of its raw twin (the same method's view named with "raw" for "smoothed") on
    the same hand-frames when there is one."""
    frames = views[view]
    picked = still_frames(frames, labels)
    out = {"still_hand_frames": len(picked), "still_jitter": still_jitter(frames, picked)}
    twin = view[:-len("smoothed")] + "raw" if view.endswith("smoothed") else None
    if twin in views:
        out["still_jitter_raw"] = still_jitter(views[twin], picked)
    return out


def run(videos: list[Path], methods: dict, max_frames: int | None = None, preds_out: dict | None = None) -> dict:
    """Run each method (``name -> callable(frame, ms) -> FrameOutput`` with ``reset()``) over each
    video in video mode; returns ``{"videos": {video: {view: summary}}, "total": {view: summary}}``
    where a view is one of the methods' outputs ("smoothed", "mediapipe"; the tracker's "raw"
    view is left out: its sides are the smoothed view's). ``preds_out``, when given, receives
    ``{video: {view: [per frame, the hands reported]}}``."""
    per_video: dict[str, dict[str, dict]] = {}
    for path in videos:
        t0 = time.perf_counter()
        frames = FrameSource(path)     # OpenCV applies the rotation metadata; missing file: FileNotFoundError
        fps = frames.fps
        for m in methods.values():
            m.reset()
        preds: dict[str, list] = {}
        raws: dict[str, list] = {}
        for index, t_ms, frame in frames:
            if max_frames is not None and index >= max_frames:
                break
            for m in methods.values():
                # the container's timestamps, as `handtrack video` passes them (until session 14 the
                # frame index / fps, which moved the tracker's smoothing a little: 4 side changes,
                # consistency 0.991, against 2 and 0.998 with these)
                for view, hands in m(frame, t_ms).views.items():
                    (raws if view.endswith("raw") else preds).setdefault(view, []).append(hands)
        per_video[path.name] = {}
        views = {**preds, **raws}
        for view, p in preds.items():
            labels = link_tracks(p)
            per_video[path.name][view] = {**side_stability(p, fps, labels=labels), **_steadiness(views, view, labels),
                                          "fps": fps}
        if preds_out is not None:
            preds_out[path.name] = preds
        log.info("video %s (%.1f s): %s", path.name, time.perf_counter() - t0,
                 ", ".join(f"{v} {s['side_changes']} side changes in {s['tracks']} tracks"
                           + (f" (frames {', '.join(str(f) for f, _ in s['side_change_frames'])})"
                              if s["side_changes"] else "")
                           for v, s in per_video[path.name].items()))
    return {"videos": per_video, "total": combine(per_video)}


def combine(per_video: dict[str, dict[str, dict]]) -> dict[str, dict]:
    """Totals over the videos per view: frames, side changes (and the young ones among them),
    changes per minute, consistency (hand-frame weighted), still hand-frames and their jitter
    (weighted by each clip's still hand-frames; NaN when no clip has one)."""
    out: dict[str, dict] = {}
    views = sorted({v for d in per_video.values() for v in d})
    for view in views:
        rows = [d[view] for d in per_video.values() if view in d]
        frames = sum(r["frames"] for r in rows)
        minutes = sum(r["frames"] / r["fps"] for r in rows) / 60.0
        changes = sum(r["side_changes"] for r in rows)
        young = sum(r["young_side_changes"] for r in rows)
        hand_frames = [r["hands_per_frame"] * r["frames"] for r in rows]
        cons = [r["side_consistency"] for r in rows]
        w = sum(hf for hf, c in zip(hand_frames, cons) if np.isfinite(c))
        still = {}
        for key in ("still_jitter", "still_jitter_raw"):
            # weighted by each clip's still hand-frames; clips with none (or without the key) left out
            pairs = [(r.get("still_hand_frames", 0), r[key]) for r in rows if key in r and np.isfinite(r[key])]
            n = sum(c for c, _ in pairs)
            if any(key in r for r in rows):
                still[key] = sum(c * j for c, j in pairs) / n if n else float("nan")
        out[view] = {
            "videos": len(rows), "frames": frames, "minutes": minutes,
            "hands_per_frame": sum(hand_frames) / frames if frames else float("nan"),
            "tracks": sum(r["tracks"] for r in rows), "side_changes": changes, "young_side_changes": young,
            "side_changes_per_min": changes / minutes if minutes else float("nan"),
            "side_consistency": (sum(hf * c for hf, c in zip(hand_frames, cons) if np.isfinite(c)) / w
                                 if w else float("nan")),
            "videos_with_changes": sum(1 for r in rows if r["side_changes"]),
            "still_hand_frames": sum(r.get("still_hand_frames", 0) for r in rows), **still,
        }
    return out
