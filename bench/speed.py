"""Speed: per stage and end to end on the shared videos, per input size and thread count.

Each video is scaled to cover the input size and centre-cropped (aspect kept), then fed in order
to a fresh tracker in video mode, so frames are a mix of detector frames, tracking-only frames and
idle frames (no hand tracked, between the detector's runs: neither model ran); every frame is
tagged with its type, with the number of hands reported (0, 1, 2) and with its clip and index. A few frames
of plain background (no hands) are added for the 0-hand case. Decoding and scaling are not timed;
the first ``warmup`` frames of each configuration are dropped. Figures are reported, never
asserted: the machine may be busy (the load average is recorded beside them).

Each method's "1 hand" figures are over the frames where it reported one hand, which are not the
same frames for two methods (one misses a hand another finds). The handtrack / MediaPipe
comparison is therefore on the frames where both reported exactly one hand (the clips have no
labels to say where one hand is): :func:`summarize`'s :data:`BOTH_ONE_HAND` rows.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from tracker.timing import percentiles

log = logging.getLogger(__name__)

SIZES = ((640, 480), (1280, 720))
THREADS = (1, 2)


def fit(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover width x height and crop the centre (aspect ratio kept)."""
    h, w = frame.shape[:2]
    s = max(width / w, height / h)
    nw, nh = max(width, int(round(w * s))), max(height, int(round(h * s)))
    img = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    x0, y0 = (nw - width) // 2, (nh - height) // 2
    return np.ascontiguousarray(img[y0:y0 + height, x0:x0 + width])


def read_video(path: Path, n: int, width: int, height: int, step: int = 1,
               start: float = 0.0) -> tuple[list[np.ndarray], float]:
    """``n`` consecutive frames (every ``step``-th) of a video from ``start`` (a fraction of its
    length, moved back so that ``n`` frames fit), fitted to the size; and its fps."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open video {path}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    first = int(min(start * total, max(total - n * step, 0))) if total > 0 else 0
    i = 0
    while i < first:  # decode instead of seeking: exact on every container
        if not cap.grab():
            break
        i += 1
    out, i = [], 0
    while len(out) < n:
        ok, f = cap.read()
        if not ok:
            break
        if i % step == 0:
            out.append(fit(f, width, height))
        i += 1
    cap.release()
    return out, float(fps)


def background_frames(n: int, width: int, height: int, seed: int = 0) -> list[np.ndarray]:
    """``n`` hand-free frames (smooth texture with noise) for the 0-hand case."""
    from .motion import smooth_texture
    rng = np.random.default_rng(seed)
    bg = smooth_texture(width, height, rng)
    return [np.clip(bg + rng.normal(0, 3, bg.shape), 0, 255).astype(np.uint8) for _ in range(n)]


@dataclass
class SpeedRecord:
    method: str
    size: tuple[int, int]
    threads: int | None
    source: str
    ms: float
    hands: int
    detector_ran: bool | None
    stages: dict[str, float] = field(default_factory=dict)
    frame: int | None = None  # index in its clip (source); None: unknown, paired by position


#: the ``hands`` of :func:`summarize`'s rows over the frames where handtrack (that size and thread
#: count) and MediaPipe (that size) both reported exactly one hand
BOTH_ONE_HAND = "1 (both)"


def load_average() -> float:
    try:
        return float(os.getloadavg()[0])
    except OSError:  # pragma: no cover
        return float("nan")


def time_method(method, name: str, clips: dict[str, tuple[list[np.ndarray], float]],
                size: tuple[int, int], threads: int | None, warmup: int = 5) -> list[SpeedRecord]:
    """Run ``method`` over each clip (reset between clips); one record per frame after warm-up.

    The first ``warmup`` frames are not recorded (first runs of the sessions): those of the first
    clip, and of the next ones where the first is shorter.
    A method that restarts on ``reset`` (MediaPipe: a fresh process per clip) is warmed by its
    ``warm_up(frame)`` after every reset, so its model loading is never timed as a frame.
    """
    recs = []
    skipped = 0
    for src, (frames, fps) in clips.items():
        if hasattr(method, "reset"):
            method.reset()
            warm = getattr(method, "warm_up", None)
            if warm is not None and frames:
                warm(frames[0])
        for i, f in enumerate(frames):
            out = method(f, i * 1000.0 / fps)
            # counted over the clips: a first clip shorter than the warm-up (or empty) would
            # otherwise leave the sessions' first runs timed
            if skipped < warmup:
                skipped += 1
                continue
            views = out.views
            v = views.get("smoothed", views.get("mediapipe", []))
            recs.append(SpeedRecord(name, size, threads, src, out.ms, len(v), out.detector_ran,
                                    dict(out.stages), i))
    return recs


def summarize(records: list[SpeedRecord]) -> list[dict]:
    """Rows per (method, size, threads, frame type, hands): n, p50, p95 and stage p50s; and for
    handtrack with MediaPipe beside it, :data:`BOTH_ONE_HAND` rows (:func:`_both_one_hand`).

    Frame types: "all"; for the tracker also "detector" (the detector ran), "tracking" (only the
    landmark model ran) and "idle" (neither ran: told apart by the stage timing only, without it
    such frames count as tracking frames). Times in ms."""
    groups: dict[tuple, list[SpeedRecord]] = {}
    for r in records:
        types = ["all"]
        if r.detector_ran:
            types.append("detector")
        elif r.detector_ran is not None:
            # neither model ran (no hand tracked, the detector's back-off skipped the frame):
            # ~0.05 ms frames that would pull the tracking frames' p50 down. A frame with a hand
            # reported was tracked, whatever a stage timer that missed the landmark model says.
            idle = r.hands == 0 and r.stages.get("landmarks", 1.0) == 0.0
            types.append("idle" if idle else "tracking")
        for ft in types:
            for hands in ("all", r.hands):
                groups.setdefault((r.method, r.size, r.threads, ft, hands), []).append(r)
    rows = []
    for (m, size, th, ftype, hands), rs in groups.items():
        p50, p95 = percentiles([r.ms for r in rs])
        row = {"method": m, "size": f"{size[0]}x{size[1]}", "threads": th, "frames": ftype,
               "hands": hands, "n": len(rs), "p50": p50, "p95": p95}
        for st in ("detector", "landmarks", "decode", "rest"):
            vals = [r.stages[st] for r in rs if st in r.stages]
            if vals:
                row[f"{st}_p50"] = float(np.percentile(vals, 50))
                row[f"{st}_mean"] = float(np.mean(vals))
        rows.append(row)
    rows += _both_one_hand(records)
    order = {"all": 0, "detector": 1, "tracking": 2, "idle": 3}
    rows.sort(key=lambda r: (r["method"], r["size"], r["threads"] or 0, order.get(r["frames"], 3),
                             str(r["hands"])))
    return rows


def _both_one_hand(records: list[SpeedRecord]) -> list[dict]:
    """One :data:`BOTH_ONE_HAND` row per handtrack (size, threads) with MediaPipe records of that
    size: n frames where both reported exactly one hand, handtrack's p50 / p95 on them and
    MediaPipe's (``mediapipe_p50`` / ``mediapipe_p95``), ms. Frames are paired by clip and index."""
    keyed: dict[tuple, dict] = {}
    seen: dict[tuple, int] = {}
    for r in records:
        conf = (r.method, r.size, r.threads)
        # records without an index (hand-made) are paired by their position in their clip
        pos = seen[conf + (r.source,)] = seen.get(conf + (r.source,), -1) + 1
        keyed.setdefault(conf, {})[(r.source, r.frame if r.frame is not None else pos)] = r
    rows = []
    for (m, size, th), recs in keyed.items():
        mp = keyed.get(("mediapipe", size, None))
        if m != "handtrack" or mp is None:
            continue
        both = [(r.ms, mp[k].ms) for k, r in recs.items() if r.hands == 1 and k in mp and mp[k].hands == 1]
        p50, p95 = percentiles([h for h, _ in both])
        m50, m95 = percentiles([x for _, x in both])
        rows.append({"method": m, "size": f"{size[0]}x{size[1]}", "threads": th, "frames": "all",
                     "hands": BOTH_ONE_HAND, "n": len(both), "p50": p50, "p95": p95,
                     "mediapipe_p50": m50, "mediapipe_p95": m95})
    return rows


def stage_bench(tracker, frames: list[np.ndarray], reps: int = 30) -> dict[str, list[float]]:
    """The model stages alone, whatever the detector finds: ``detector`` on whole frames and
    ``landmarks_1`` / ``landmarks_2`` on one / two crops (a third of the frame height, slightly
    rotated, around the centre), each including its pre- and post-processing. ms per call."""
    from tracker.geometry import Roi
    out: dict[str, list[float]] = {}
    det = getattr(tracker, "detector", None)
    lm = getattr(tracker, "landmarks", None)
    if not frames:
        return out
    failed: set[str] = set()
    for i in range(reps + 2):
        f = frames[i % len(frames)]
        h, w = f.shape[:2]
        rois = [Roi(w * 0.35, h * 0.5, h / 3, 0.3), Roi(w * 0.65, h * 0.5, h / 3, -0.3)]
        calls = []
        if det is not None:
            calls.append(("detector", lambda: det(f)))
        if lm is not None:
            calls.append(("landmarks_1", lambda: lm(f, rois[:1])))
            calls.append(("landmarks_2", lambda: lm(f, rois)))
        for name, fn in calls:
            if name in failed:
                continue
            t0 = time.perf_counter()
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - a stage with another interface: skip it
                log.warning("stage benchmark %s skipped: %s", name, e)
                failed.add(name)
                out.pop(name, None)
                continue
            ms = (time.perf_counter() - t0) * 1000.0
            if i >= 2:  # warm-up
                out.setdefault(name, []).append(ms)
    return out


def run(videos: list[Path], make_tracker, mediapipe=None, sizes=SIZES, threads=THREADS,
        frames_per_video: int = 40, background: int = 20, warmup: int = 5,
        stages: list | None = None) -> list[SpeedRecord]:
    """Time the tracker (each size x thread count) and MediaPipe (each size) on the same frames.

    Args:
        make_tracker: threads -> a :mod:`bench.methods` tracker method with stage timing, or None
            to skip the tracker. mediapipe: a MediaPipe method in video mode, or None.
        stages: a list that receives the :func:`stage_bench` rows (dicts), when given.
    """
    records = []
    stages = stages if stages is not None else []
    for size in sizes:
        clips = {}
        for v in videos:
            clips[v.stem] = read_video(v, frames_per_video, *size, start=0.3)
        if background:
            clips["background"] = (background_frames(background, *size), 30.0)
        nf = sum(len(f) for f, _ in clips.values())
        if make_tracker is not None:
            for th in threads:
                m = make_tracker(th)
                try:
                    t0 = time.perf_counter()
                    rs = time_method(m, "handtrack", clips, size, th, warmup)
                    frames = [f for fs, _ in clips.values() for f in fs[:3]]
                    for name, ms in stage_bench(getattr(m, "tracker", m), frames).items():
                        stages.append({"size": f"{size[0]}x{size[1]}", "threads": th, "stage": name,
                                       "n": len(ms), "p50": percentiles(ms)[0], "p95": percentiles(ms)[1]})
                        log.info("stage %s %dx%d %d thread(s): p50 %.1f ms, p95 %.1f ms", name, size[0],
                                 size[1], th, *percentiles(ms))
                finally:
                    m.close()
                records += rs
                p50, p95 = percentiles([r.ms for r in rs])
                log.info("speed handtrack %dx%d %d thread(s): p50 %.1f ms, p95 %.1f ms over %d frames "
                         "(%.0f s, load %.1f)", size[0], size[1], th, p50, p95, len(rs),
                         time.perf_counter() - t0, load_average())
        if mediapipe is not None:
            rs = time_method(mediapipe, "mediapipe", clips, size, None, warmup)
            records += rs
            p50, p95 = percentiles([r.ms for r in rs])
            log.info("speed mediapipe %dx%d: p50 %.1f ms, p95 %.1f ms over %d frames", size[0], size[1],
                     p50, p95, len(rs))
        del clips
        log.debug("size %s done (%d frames per configuration)", size, nf)
    return records
