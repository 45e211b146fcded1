"""Live latency: how old the scene is when its hands come out, on a simulated camera.

    python -m bench live --fps 30,60 --seconds 15

A real camera cannot be used here, so :class:`SimulatedCamera` plays a video's frames in real
time at ``fps`` with a driver queue of ``buffers`` frames (V4L2 keeps about four: when the queue
is full a newly captured frame is lost, and ``read()`` returns the oldest queued one). The
tracker reads it the two ways ``handtrack webcam`` can: ``every frame`` (``--every-frame``: each
queued frame in order) and ``newest`` (the default: :class:`tracker.video.LatestFrameReader`).

Rows, per camera rate and mode: frames tracked per second; the share of captured frames tracked;
**latency** p50/p95 (ms from a frame's capture to its result: what a user sees as lag); and the
tracker's own time per frame p50. When tracking is faster than the camera both modes read alike;
when it is slower, in-order reading lags by the queue (``buffers`` frame intervals plus the
tracking time) while the newest-frame reader stays at about one tracking time. Machine-dependent
like ``bench models``: run it on an otherwise idle machine.
"""
from __future__ import annotations

import logging
import time
from collections import deque
from pathlib import Path

import numpy as np

from .soak import LOOP_FRAMES      # the frames decoded once, held and looped, as the soak's

log = logging.getLogger(__name__)


class SimulatedCamera:
    """``frames`` (looped) captured in real time at ``fps`` into a queue of ``buffers`` frames.

    ``read() -> (ok, frame)`` like ``cv2.VideoCapture``: the oldest queued frame, waiting for the
    next capture when the queue is empty; ``(False, None)`` after ``duration_s``. Capture times
    (seconds on ``clock``) of the frames handed out, in order, are in ``capture_times``; frames
    captured while the queue was full are counted in ``lost``. Frames are copies (the consumer
    may draw on them). ``clock``/``sleep`` are injectable for tests.
    """

    def __init__(self, frames: list[np.ndarray], fps: float, buffers: int = 4, duration_s: float = 10.0,
                 clock=time.perf_counter, sleep=time.sleep) -> None:
        if not frames:
            raise ValueError("SimulatedCamera: no frames")
        if fps <= 0 or buffers < 1:
            raise ValueError(f"SimulatedCamera: fps {fps} and buffers {buffers} must be > 0")
        self.frames, self.fps, self.buffers, self.duration_s = frames, float(fps), int(buffers), float(duration_s)
        self._clock, self._sleep = clock, sleep
        self._t0: float | None = None
        self._next = 0                      # index of the next frame to be captured
        self._queue: deque[int] = deque()
        self.capture_times: list[float] = []
        self.lost = 0
        self.captured = 0

    def _t(self, k: int) -> float:
        return self._t0 + k / self.fps

    def _capture_until(self, now: float) -> None:
        last = int(self.duration_s * self.fps)          # frames 0 .. last-1 exist
        while self._next < last and self._t(self._next) <= now:
            if len(self._queue) < self.buffers:
                self._queue.append(self._next)
            else:
                self.lost += 1
            self._next += 1
            self.captured += 1

    def read(self):
        if self._t0 is None:
            self._t0 = self._clock()
        self._capture_until(self._clock())
        if not self._queue:
            if self._next >= int(self.duration_s * self.fps):
                return False, None
            self._sleep(max(0.0, self._t(self._next) - self._clock()))
            self._capture_until(max(self._clock(), self._t(self._next)))
        k = self._queue.popleft()
        self.capture_times.append(self._t(k))
        return True, self.frames[k % len(self.frames)].copy()

    def isOpened(self) -> bool:  # noqa: N802 - cv2.VideoCapture's name
        return True

    def release(self) -> None:
        pass


def run_once(tracker, camera: SimulatedCamera, mode: str, clock=time.perf_counter) -> dict:
    """Track ``camera`` until it ends, reading it in ``mode`` ("every frame" or "newest").

    Returns {mode, tracked, captured, lost (queue full), dropped (by the newest-frame reader),
    latency_ms: per tracked frame, capture -> result; tracker_ms: per tracked frame}.
    """
    from tracker.video import LatestFrameReader, frames_in_order
    if mode not in ("every frame", "newest"):
        raise ValueError(f"mode {mode!r}: 'every frame' or 'newest'")
    reader = LatestFrameReader(camera, name="simulated camera", clock=clock) if mode == "newest" else None
    frames = iter(reader) if reader is not None else frames_in_order(camera, clock)
    latency, own = [], []
    try:
        for index, t_ms, frame in frames:
            t = clock()
            tracker.process(frame, t_ms)
            done = clock()
            own.append(1000.0 * (done - t))
            # index counts the frames read from the camera, in the order it handed them out
            latency.append(1000.0 * (done - camera.capture_times[index]))
    finally:
        if reader is not None:
            reader.close()
    return {"mode": mode, "tracked": len(latency), "captured": camera.captured, "lost": camera.lost,
            "dropped": reader.dropped if reader is not None else 0,
            "latency_ms": np.asarray(latency), "tracker_ms": np.asarray(own)}


def load_frames(video: Path | None, size: tuple[int, int], max_frames: int = LOOP_FRAMES) -> list[np.ndarray]:
    """Up to ``max_frames`` frames of ``video`` resized to ``size`` (w, h); a grey frame when None."""
    import cv2

    from tracker.video import FrameSource
    w, h = size
    if video is None:
        return [np.full((h, w, 3), 127, np.uint8)]
    out = []
    for _, _, f in FrameSource(video):
        out.append(cv2.resize(f, (w, h)))
        if len(out) >= max_frames:
            break
    return out


def run(video: Path | None, fps_list=(30.0, 60.0), seconds: float = 15.0, size=(640, 480), buffers: int = 4,
        threads: int = 2, tracker_options: dict | None = None) -> list[dict]:
    """Rows {fps, mode, tracked_fps, tracked_share, latency_p50, latency_p95, tracker_p50, lost, dropped}."""
    if not seconds > 0:    # checked before any row runs: tracked fps divides by it
        raise ValueError(f"seconds must be > 0, got {seconds!r}")
    from tracker import HandTracker
    frames = load_frames(video, size)
    rows = []
    for fps in fps_list:
        for mode in ("every frame", "newest"):
            with HandTracker(threads=threads, **(tracker_options or {})) as tracker:
                tracker.process(frames[0], 0.0)                 # sessions warmed up before the clock runs
                tracker.reset()
                cam = SimulatedCamera(frames, fps, buffers=buffers, duration_s=seconds)
                r = run_once(tracker, cam, mode)
            lat, own = r["latency_ms"], r["tracker_ms"]
            rows.append({"fps": fps, "mode": mode, "tracked_fps": round(r["tracked"] / seconds, 1),
                         "tracked_share": round(r["tracked"] / max(r["captured"], 1), 3),
                         "latency_p50": round(float(np.percentile(lat, 50)), 1) if lat.size else float("nan"),
                         "latency_p95": round(float(np.percentile(lat, 95)), 1) if lat.size else float("nan"),
                         "tracker_p50": round(float(np.percentile(own, 50)), 1) if own.size else float("nan"),
                         "lost": r["lost"], "dropped": r["dropped"]})
            log.info("%s", rows[-1])
    return rows
