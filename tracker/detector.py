"""Detector stage: a full frame in, hand boxes with an orientation cue out.

ONNX contract (written by export/, checked here on load):
    input  ``image``   (1, 3, H, W) float32, RGB, (pixel - mean_rgb) / std_rgb; the frame is
                       letterboxed: scaled by min(W / frame_w, H / frame_h), placed top-left,
                       the rest black
    output ``heatmap`` (1, 1, H/4, W/4) centre probabilities
    output ``regress`` (1, 8, H/4, W/4) see tracker.detector_codec
    metadata: kind="detector", input_width, input_height, mean_rgb, std_rgb, codec, threshold
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .backend import OnnxStage
from .detector_codec import CenterCodec
from .geometry import Roi, hand_angle
from .keypoints import HandKeypoint
from .landmarks import normalize_image

log = logging.getLogger(__name__)

_REQUIRED = ["kind", "input_width", "input_height", "mean_rgb", "std_rgb", "codec", "threshold"]


@dataclass
class Detection:
    """One detected hand, in frame pixels.

    Attributes:
        box: (4,) float32 x0, y0, x1, y1. score: centre probability.
        wrist, middle_mcp: (2,) float32 estimated points that give the hand's orientation.
    """

    box: np.ndarray
    score: float
    wrist: np.ndarray
    middle_mcp: np.ndarray

    @property
    def angle(self) -> float:
        """Crop angle (radians) that makes this hand upright; see tracker.geometry."""
        k = np.zeros((17, 2), np.float32)
        k[HandKeypoint.WRIST] = self.wrist
        k[HandKeypoint.MIDDLE_MCP] = self.middle_mcp
        return hand_angle(k)

    def roi(self, scale: float = 1.6) -> Roi:
        """Upright square crop for the landmark model.

        The side is ``scale`` x the box's longest side: the box is axis-aligned, so for a rotated
        hand it is larger than the hand's extent along its own axis, which only adds margin.
        """
        b = self.box
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        side = float(max(b[2] - b[0], b[3] - b[1], 1.0)) * scale
        return Roi(float(cx), float(cy), side, self.angle)


def letterbox(frame: np.ndarray, width: int, height: int) -> tuple[np.ndarray, float]:
    """Resize keeping the aspect ratio into a ``width`` x ``height`` black canvas, top-left.

    Returns (canvas HxWx3 uint8, scale): input pixel = frame pixel * scale.
    """
    h, w = frame.shape[:2]
    s = min(width / w, height / h)
    nw, nh = max(1, int(round(w * s))), max(1, int(round(h * s)))
    canvas = np.zeros((height, width, 3), np.uint8)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    canvas[:nh, :nw] = cv2.resize(frame, (nw, nh), interpolation=interp)
    return canvas, s


class HandDetector(OnnxStage):
    """The hand detector behind onnxruntime.

    Args:
        model_path: ONNX file (default: the shipped assets/detector.onnx).
        device: "cpu" or "cuda". threads: onnxruntime intra-op threads.
    """

    default_file = "detector.onnx"
    kind = "detector"
    required = _REQUIRED
    spin = False  # runs now and then: its idle workers must not hold the cores afterwards

    def __init__(self, model_path: str | Path | None = None, device: str = "cpu", threads: int = 2):
        super().__init__(model_path, device, threads)
        meta = self.meta
        self.width, self.height = int(meta["input_width"]), int(meta["input_height"])
        self.codec = CenterCodec.from_dict(meta["codec"])
        self.default_threshold = float(meta["threshold"])
        inp = self.session.get_inputs()[0]
        if inp.name != "image" or list(inp.shape[1:]) != [3, self.height, self.width]:
            raise ValueError(f"model file {self.model_path}: input {inp.name} {inp.shape} does not match "
                             f"(1, 3, {self.height}, {self.width})")
        outs = {o.name for o in self.session.get_outputs()}
        if outs != {"heatmap", "regress"}:
            raise ValueError(f"model file {self.model_path}: unexpected outputs {sorted(outs)}")

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, float]:
        """Letterbox + normalise: ((1, 3, H, W) float32, scale frame px -> input px)."""
        canvas, s = letterbox(frame_bgr, self.width, self.height)
        return normalize_image(canvas[None], self.mean_rgb, self.std_rgb), s

    def inference(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(heatmap (1, h, w), regress (8, h, w))."""
        heat, reg = self.session.run(None, {"image": batch})
        return heat[0], reg[0]

    def postprocess(self, outputs, scale: float, score_threshold: float, max_detections: int
                    ) -> list[Detection]:
        heat, reg = outputs
        d = self.codec.decode(heat, reg, score_threshold, max_detections)
        return [Detection((d.boxes[i] / scale).astype(np.float32), float(d.scores[i]),
                          (d.wrist[i] / scale).astype(np.float32), (d.middle_mcp[i] / scale).astype(np.float32))
                for i in range(len(d))]

    def __call__(self, frame_bgr: np.ndarray, score_threshold: float | None = None,
                 max_detections: int = 4) -> list[Detection]:
        """Hands in ``frame_bgr`` (HxWx3 uint8 BGR), best first; [] when none.

        ``score_threshold`` defaults to the threshold shipped in the model's metadata.
        """
        thr = self.default_threshold if score_threshold is None else float(score_threshold)
        batch, s = self.preprocess(frame_bgr)
        return self.postprocess(self.inference(batch), s, thr, max_detections)
