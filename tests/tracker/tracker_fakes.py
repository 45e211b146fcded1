"""Synthetic hands and fake models for the tracker tests (no ONNX files needed).

A :class:`Scene` holds the true hands of the current frame; the fake detector reports them as
boxes, the fake landmark model answers each crop with the true hand whose palm centre lies in it
(plus noise), or with a low presence when the crop is empty.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tracker.geometry import Roi
from tracker.keypoints import HandKeypoint as K
from tracker.landmarks import LandmarkResult

# A right hand as seen in the image, palm towards the camera, fingers up, wrist at (0, 0),
# palm size ~1: thumb on the image's right side (the table is written for a left hand and
# mirrored below).
_LEFT = np.array([
    [0.0, 0.0],      # wrist
    [0.0, -0.55],    # palm centre
    [-0.45, -0.25], [-0.75, -0.5], [-0.95, -0.75],   # thumb mcp, ip, tip
    [-0.35, -0.9], [-0.4, -1.35], [-0.45, -1.75],    # index mcp, pip, tip
    [-0.05, -0.95], [-0.05, -1.45], [-0.05, -1.9],   # middle
    [0.22, -0.9], [0.25, -1.35], [0.28, -1.7],       # ring
    [0.45, -0.8], [0.55, -1.15], [0.62, -1.45],      # pinky
], np.float32)
_RIGHT = _LEFT * np.array([-1.0, 1.0], np.float32)


def p_right(log_odds: float) -> float:
    """The right-hand probability whose log-odds are ``log_odds`` (a fake model's handedness)."""
    return 1.0 / (1.0 + math.exp(-log_odds))


def hand_keypoints(cx: float, cy: float, palm: float = 60.0, right: bool = True) -> np.ndarray:
    """(17, 2) keypoints of a synthetic upright hand whose palm centre is at (cx, cy)."""
    k = _RIGHT.copy()
    if not right:
        k[:, 0] *= -1
    k = k - k[K.PALM]
    return (k * palm + np.array([cx, cy], np.float32)).astype(np.float32)


@dataclass
class SceneHand:
    """A true hand; ``det_score`` / ``keypoint_score`` override the fake models' common values
    for this hand (a weakly detected part of a hand, say)."""

    keypoints: np.ndarray
    right: bool
    det_score: float | None = None
    keypoint_score: float | None = None


@dataclass
class Scene:
    """The true hands of the frame being processed; tests set ``hands`` before each call."""

    hands: list[SceneHand] = field(default_factory=list)
    noise_px: float = 0.0
    right_prob: float = 0.95        # landmark model's confidence in the true side
    keypoint_score: float = 0.9     # landmark model's per-keypoint confidence on a true hand
    seed: int = 0
    #: detections with no hand in them: (box x0, y0, x1, y1, score), reported by the fake detector
    false_boxes: list[tuple[float, float, float, float, float]] = field(default_factory=list)

    def __post_init__(self):
        self.rng = np.random.default_rng(self.seed)


@dataclass
class FakeDetection:
    box: np.ndarray
    score: float
    wrist: np.ndarray
    middle_mcp: np.ndarray

    def roi(self, scale: float) -> Roi:
        cx, cy = (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2
        side = max(self.box[2] - self.box[0], self.box[3] - self.box[1]) * scale
        d = self.middle_mcp - self.wrist
        return Roi(float(cx), float(cy), float(side), float(np.arctan2(d[0], -d[1])))


class FakeDetector:
    """Reports every hand of the scene (box around its keypoints); counts its calls."""

    def __init__(self, scene: Scene, score: float = 0.9) -> None:
        self.scene, self.score, self.calls, self.closed = scene, score, 0, False

    def __call__(self, frame_bgr, score_threshold: float | None = None, max_detections: int = 4):
        self.calls += 1
        score_threshold = 0.5 if score_threshold is None else score_threshold
        out = []
        for h in self.scene.hands:
            k = h.keypoints
            box = np.array([*k.min(0), *k.max(0)], np.float32)
            score = self.score if h.det_score is None else h.det_score
            if score >= score_threshold:
                out.append(FakeDetection(box, score, k[K.WRIST].copy(), k[K.MIDDLE_MCP].copy()))
        for x0, y0, x1, y1, score in self.scene.false_boxes:
            if score >= score_threshold:
                box = np.array([x0, y0, x1, y1], np.float32)
                out.append(FakeDetection(box, score, np.array([(x0 + x1) / 2, y1], np.float32),
                                         np.array([(x0 + x1) / 2, (y0 + y1) / 2], np.float32)))
        out.sort(key=lambda d: -d.score)
        return out[:max_detections]

    def close(self) -> None:
        self.closed = True


class FakeLandmarks:
    """Answers each crop with the scene hand whose palm centre is inside it (closest first)."""

    roi_scale = 1.6
    input_size = 128

    def __init__(self, scene: Scene) -> None:
        self.scene, self.calls, self.crops, self.closed = scene, 0, 0, False

    def __call__(self, frame_bgr, rois: list[Roi]) -> list[LandmarkResult]:
        self.calls += 1
        self.crops += len(rois)
        out = []
        for roi in rois:
            best, best_d = None, np.inf
            for h in self.scene.hands:
                d = float(np.hypot(*(h.keypoints[K.PALM] - (roi.cx, roi.cy))))
                if d < roi.size / 2 and d < best_d:
                    best, best_d = h, d
            if best is None:
                k = np.full((17, 2), (roi.cx, roi.cy), np.float32)
                out.append(LandmarkResult(k, np.full(17, 0.1, np.float32), 0.02, 0.5, roi))
                continue
            k = best.keypoints + self.scene.rng.normal(0, self.scene.noise_px, best.keypoints.shape)
            p = self.scene.right_prob if best.right else 1 - self.scene.right_prob
            sc = self.scene.keypoint_score if best.keypoint_score is None else best.keypoint_score
            out.append(LandmarkResult(k.astype(np.float32), np.full(17, sc, np.float32),
                                      0.97, p, roi))
        return out

    def close(self) -> None:
        self.closed = True


def fake_tracker(scene: Scene | None = None, **options):
    """A HandTracker on fake models; returns (tracker, scene, detector, landmarks)."""
    from tracker import HandTracker
    scene = scene or Scene()
    det, lm = FakeDetector(scene), FakeLandmarks(scene)
    return HandTracker(detector=det, landmark_model=lm, **options), scene, det, lm


def blank(w: int = 320, h: int = 240) -> np.ndarray:
    return np.zeros((h, w, 3), np.uint8)


def interrupt_process_at(monkeypatch, n: int) -> None:
    """Make ``HandTracker.process`` raise KeyboardInterrupt (a Ctrl-C) on its ``n``-th call in the
    test, every tracker alike; the calls before it run as they would."""
    from tracker.hand_tracker import HandTracker
    orig = HandTracker.process
    calls = {"n": 0}

    def process(self, frame, ts=None):
        calls["n"] += 1
        if calls["n"] == n:
            raise KeyboardInterrupt
        return orig(self, frame, ts)

    monkeypatch.setattr(HandTracker, "process", process)
