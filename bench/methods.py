"""Methods under test behind one small interface, plus per-stage timing of the tracker.

A *method* is a callable ``frame_bgr, timestamp_ms -> FrameOutput``. The tracker gives two views
of the same run (smoothed keypoints and the landmark model's raw keypoints); MediaPipe gives one.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from .temporal import PredHand

log = logging.getLogger(__name__)


@dataclass
class FrameOutput:
    """One frame of one method: hands per view ("smoothed", "raw" or "mediapipe"), timing."""

    views: dict[str, list[PredHand]]
    ms: float
    detector_ran: bool | None = None
    stages: dict[str, float] = field(default_factory=dict)


def import_hand_tracker():
    """The HandTracker class (``tracker.HandTracker``, or its module while the package does not
    export it yet)."""
    try:
        from tracker import HandTracker  # type: ignore[attr-defined]
    except ImportError:
        from tracker.hand_tracker import HandTracker
    return HandTracker


def model_options(landmark=None, detector=None) -> dict:
    """Tracker options that select model files, under whichever names the tracker uses
    (``landmark_model_path`` / ``detector_model_path``, or ``landmark_model`` / ``detector_model``)."""
    import dataclasses
    names: set[str] = set()
    try:
        from tracker.hand_tracker import HandTrackerOptions
        names = {f.name for f in dataclasses.fields(HandTrackerOptions)}
    except (ImportError, TypeError):
        pass
    out = {}
    for kind, path in (("landmark", landmark), ("detector", detector)):
        if path is None:
            continue
        key = next((k for k in (f"{kind}_model_path", f"{kind}_model") if k in names), f"{kind}_model_path")
        out[key] = str(path)
    return out


class StageTimer:
    """Times the stages of a tracker by wrapping its models' preprocess / inference / postprocess.

    Works on any tracker whose ``detector`` and ``landmarks`` objects call these methods through
    ``self`` (as :class:`tracker.detector.HandDetector` and
    :class:`tracker.landmarks.LandmarkModel` do); missing ones are simply not timed.
    Stages: ``detector`` (the whole look at a frame: letterbox, network and decode of each pass),
    ``landmarks`` (crop + network), ``decode`` (heatmap decode and mapping back), ``rest``
    (end-to-end minus those: association, smoothing, crops of the next frame).
    :class:`tracker.detector.HandDetector` letterboxes in ``_canvas`` inside ``_detect_turned``
    (never through ``preprocess``), so ``_detect_turned`` is timed as a whole; a timed method
    called inside another of the same stage adds nothing more (no double count).
    """

    PARTS = {("detector", "_detect_turned"): "detector", ("detector", "preprocess"): "detector",
             ("detector", "inference"): "detector", ("detector", "postprocess"): "detector",
             ("landmarks", "preprocess"): "landmarks", ("landmarks", "inference"): "landmarks",
             ("landmarks", "postprocess"): "decode"}

    def __init__(self, tracker):
        self.acc: dict[str, float] = {}
        self._running: set[str] = set()   # stages inside a timed call now
        self.installed = []
        for (obj_name, meth), stage in self.PARTS.items():
            obj = getattr(tracker, obj_name, None)
            fn = getattr(obj, meth, None) if obj is not None else None
            if fn is None or not callable(fn):
                continue
            setattr(obj, meth, self._wrap(fn, stage))
            self.installed.append((obj, meth))

    def _wrap(self, fn, stage):
        def timed(*a, **k):
            if stage in self._running:  # inside a timed call of the same stage: counted there
                return fn(*a, **k)
            self._running.add(stage)
            t0 = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                self._running.discard(stage)
                self.acc[stage] = self.acc.get(stage, 0.0) + (time.perf_counter() - t0) * 1000.0
        return timed

    def pop(self, total_ms: float) -> dict[str, float]:
        """Stage times (ms) since the last call; ``rest`` = total - the timed stages."""
        out = {s: self.acc.get(s, 0.0) for s in ("detector", "landmarks", "decode")}
        out["rest"] = max(total_ms - sum(out.values()), 0.0)
        self.acc = {}
        return out

    def remove(self):
        for obj, meth in self.installed:
            try:
                delattr(obj, meth)
            except AttributeError:
                pass
        self.installed = []


class TrackerMethod:
    """handtrack's HandTracker as a method (views "smoothed" and "raw")."""

    name = "handtrack"

    def __init__(self, tracker=None, time_stages: bool = False, prefix: str = "", **options):
        self.prefix = prefix
        if tracker is None:
            tracker = import_hand_tracker()(**options)
            self._own = True
        else:
            self._own = False
        self.tracker = tracker
        self.timer = StageTimer(tracker) if time_stages else None

    def __call__(self, frame, timestamp_ms=None) -> FrameOutput:
        if self.timer is not None:
            self.timer.pop(0.0)
        t0 = time.perf_counter()
        res = self.tracker.process(frame, timestamp_ms)
        ms = (time.perf_counter() - t0) * 1000.0
        sm, raw = [], []
        for h in res.hands:
            tid = getattr(h, "track_id", None)
            tid = None if tid is None or tid < 0 else int(tid)
            sm.append(PredHand(np.asarray(h.keypoints, np.float32), h.side, tid, float(h.score)))
            rk = getattr(h, "raw_keypoints", None)
            raw.append(PredHand(np.asarray(h.keypoints if rk is None else rk, np.float32), h.side,
                                tid, float(h.score)))
        stages = self.timer.pop(ms) if self.timer is not None else {}
        p = self.prefix
        return FrameOutput({p + "smoothed": sm, p + "raw": raw}, ms, getattr(res, "detector_ran", None),
                           stages)

    def reset(self):
        if hasattr(self.tracker, "reset"):
            self.tracker.reset()

    def close(self):
        if self.timer is not None:
            self.timer.remove()
        if self._own:
            self.tracker.close()


class MediaPipeMethod:
    """MediaPipe Hands in its subprocess as a method (view "mediapipe")."""

    name = "mediapipe"

    def __init__(self, venv, static_image_mode=False, max_hands=2, **kw):
        from .mediapipe_runner import MediaPipeHands
        self.args = dict(venv=venv, static_image_mode=static_image_mode, max_hands=max_hands, **kw)
        self.mp = MediaPipeHands(**self.args)

    def __call__(self, frame, timestamp_ms=None) -> FrameOutput:
        hands, ms = self.mp.process(frame, timestamp_ms)
        return FrameOutput({"mediapipe": hands}, ms)

    def reset(self):
        """A fresh MediaPipe graph (new video): restart the runner."""
        self.mp.close()
        from .mediapipe_runner import MediaPipeHands
        self.mp = MediaPipeHands(**self.args)

    def warm_up(self, frame) -> None:
        """One untimed call on a black frame of ``frame``'s shape: a fresh runner's first call
        loads MediaPipe's models (~70 ms more than a frame's work on the 2-core VM), which is no
        frame's cost. A frame without hands leaves nothing to track in video mode."""
        self.mp.process(np.zeros_like(frame), None)

    def close(self):
        self.mp.close()
