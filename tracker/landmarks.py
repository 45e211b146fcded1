"""Landmark stage: rotated hand crops in, 17 keypoints + presence + handedness out.

ONNX contract (written by export/, checked here on load):
    input  ``image``      (B, 3, S, S) float32, RGB, (pixel - mean_rgb) / std_rgb; B free
    output ``heatmaps``   (B, 17, S/4, S/4) softmax probabilities (decoded by tracker.codec)
    output ``presence``   (B, 1) probability that a hand fills the crop
    output ``handedness`` (B, 1) probability that it is a right hand as seen in the crop
    (the outputs in this order)
    metadata: kind="landmarks", input_size, mean_rgb, std_rgb, codec, keypoint_names, roi_scale

Crops are rotations and scalings of the frame (never flips), so the side seen in the crop is the
side seen in the frame.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field

import cv2
import numpy as np

from .backend import OnnxStage, codec_from_metadata, metadata_value, run_shapes
from .checks import check_frame, is_number, is_positive_int
from .codec import HeatmapCodec
from .geometry import Roi, invert_affine, warp_crop
from .keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS

log = logging.getLogger(__name__)

_REQUIRED = ["kind", "input_size", "mean_rgb", "std_rgb", "codec", "keypoint_names", "roi_scale"]


@dataclass
class LandmarkResult:
    """One hand from one crop.

    Attributes:
        keypoints: (17, 2) float32, pixels of the frame.
        scores: (17,) float32 in [0, 1], per-keypoint confidence.
        presence: probability that a hand fills the crop.
        right_prob: probability that the hand is a right hand as seen in the frame.
        roi: the crop it came from.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    presence: float
    right_prob: float
    roi: Roi = field(default_factory=lambda: Roi(0, 0, 1, 0))


def normalize_image(rgb_or_bgr: np.ndarray, mean_rgb, std_rgb, bgr: bool = True) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 normalised RGB (``(x - mean) / std``)."""
    imgs = np.asarray(rgb_or_bgr)
    h, w = imgs.shape[1:3]
    # one OpenCV pass does the uint8 -> float, channel swap and HWC -> CHW (8x faster than numpy)
    # float32 (the default ddepth, CV_32F); the stubs' MatLike may be an integer array
    x: np.ndarray = cv2.dnn.blobFromImages(list(imgs), 1.0, (w, h), (0, 0, 0), swapRB=bool(bgr), crop=False)
    x -= np.asarray(mean_rgb, np.float32).reshape(1, 3, 1, 1)
    x *= (1.0 / np.asarray(std_rgb, np.float32)).reshape(1, 3, 1, 1)
    return x


def _check_rois(rois) -> None:
    """ValueError unless ``rois`` is a list or tuple of :class:`Roi` (a bare Roi failed on len(), a
    tuple of numbers on ``.cx`` deep inside the crop)."""
    if not isinstance(rois, (list, tuple)) or not all(isinstance(r, Roi) for r in rois):
        raise ValueError(f"rois must be a list of Roi, got {rois!r}")


class LandmarkModel(OnnxStage):
    """The landmark network behind onnxruntime.

    Args:
        model_path: ONNX file (default: the shipped assets/landmarks.onnx).
        device: "cpu" or "cuda". threads: onnxruntime intra-op threads.
        flip_test: also run each crop mirrored and average the two (heatmaps flipped back,
            handedness of the mirrored crop inverted): about twice the network time for a
            steadier, more accurate result (the test-time flip of mmpose). Off here by default
            (the network as it is: evaluation, export checks); ``HandTracker`` builds its model
            with it on (``HandTrackerOptions.flip_test``, True since session 70).
    """

    default_file = "landmarks.onnx"
    kind = "landmarks"
    required = _REQUIRED

    def __init__(self, model_path: str | os.PathLike[str] | None = None, device: str = "cpu", threads: int = 2,
                 flip_test: bool = False):
        super().__init__(model_path, device, threads)
        self.flip_test = bool(flip_test)
        #: area-average before cutting crops that shrink the frame a lot (see geometry.warp_crop)
        self.antialias = True
        meta, path = self.meta, self.model_path
        self.input_size = metadata_value(meta, "input_size", path, is_positive_int, "an integer >= 1")
        self.roi_scale = float(metadata_value(meta, "roi_scale", path,
                                              lambda v: is_number(v) and math.isfinite(v) and v > 0,
                                              "a finite number > 0"))
        self.codec = codec_from_metadata(HeatmapCodec.from_dict, meta, path)
        if tuple(self.codec.input_size) != (self.input_size, self.input_size):
            # decoding maps heatmap cells to codec input pixels: another size scales every keypoint
            raise ValueError(f"model file {path}: codec input_size {list(self.codec.input_size)} "
                             f"does not match the network input {self.input_size}x{self.input_size}")
        if meta["keypoint_names"] != KEYPOINT_NAMES:
            raise ValueError(f"model file {path} has keypoints {meta['keypoint_names']!r} (metadata keypoint_names), "
                             f"expected {KEYPOINT_NAMES}")
        s = self.input_size
        inputs = self.session.get_inputs()
        inp = inputs[0]
        # the batch axis must be free: one crop per hand, twice as many with flip_test
        if (len(inputs) != 1 or inp.name != "image" or inp.type != "tensor(float)" or len(inp.shape) != 4
                or isinstance(inp.shape[0], int) or list(inp.shape[1:]) != [3, s, s]):
            raise ValueError(f"model file {path}: input {inp.name} {inp.type} {inp.shape} does not match "
                             f"float (B, 3, {s}, {s}) with a free batch axis B")
        outs = {o.name: o.shape for o in self.session.get_outputs()}
        # the outputs are read in this order: presence and handedness swapped (both (B, 1)) went unseen
        if (list(outs) != ["heatmaps", "presence", "handedness"] or len(outs["heatmaps"]) != 4
                or outs["heatmaps"][1] != NUM_KEYPOINTS
                or any(len(outs[k]) != 2 or outs[k][1] != 1 for k in ("presence", "handedness"))):
            raise ValueError(f"model file {path}: unexpected outputs {outs}; expected heatmaps (B, {NUM_KEYPOINTS}, "
                             "h, w), presence (B, 1) and handedness (B, 1), in this order")
        cells = outs["heatmaps"][2:]
        if not all(isinstance(d, int) for d in cells):
            cells = run_shapes(self.session, (1, 3, s, s), path, "input_size")[0][2:]
        if tuple(cells[::-1]) != tuple(self.codec.heatmap_size):
            raise ValueError(f"model file {path}: heatmaps of {cells[1]}x{cells[0]} cells, but its codec "
                             f"decodes {self.codec.heatmap_size[0]}x{self.codec.heatmap_size[1]} (heatmap_size)")

    # -- stages ------------------------------------------------------------------------------
    def preprocess(self, frame_bgr: np.ndarray, rois: list[Roi]) -> tuple[np.ndarray, np.ndarray]:
        """Cut and normalise the crops of ``frame_bgr`` (HxWx3 uint8 BGR).

        Returns (batch (N, 3, S, S) float32, matrices (N, 2, 3) frame px -> crop px); N may be 0.

        Raises:
            ValueError: a frame that is not a non-empty HxWx3 uint8 array, ``rois`` not a list of
                :class:`Roi`, or a ROI value that is not finite or a size not > 0.
        """
        check_frame(frame_bgr)
        _check_rois(rois)
        s = self.input_size
        mats = np.empty((len(rois), 2, 3), np.float64)
        if not rois:
            # blobFromImages refuses an empty list
            return np.empty((0, 3, s, s), np.float32), mats
        crops = np.empty((len(rois), s, s, 3), np.uint8)
        for i, roi in enumerate(rois):
            crops[i], mats[i] = warp_crop(frame_bgr, roi, s, antialias=self.antialias)
        return normalize_image(crops, self.mean_rgb, self.std_rgb), mats

    def inference(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Run the network: (heatmaps (N,17,h,w), presence (N,), right_prob (N,))."""
        if len(batch) == 0:
            # the network's reshapes fail on an empty batch
            w, h = self.codec.heatmap_size
            return np.empty((0, NUM_KEYPOINTS, h, w), np.float32), np.empty(0, np.float32), np.empty(0, np.float32)
        if not self.flip_test:
            heat, pres, side = self.session.run(None, {"image": batch})
            return heat, pres[:, 0], side[:, 0]
        n = len(batch)
        both = np.concatenate([batch, batch[..., ::-1]])
        heat, pres, side = self.session.run(None, {"image": np.ascontiguousarray(both)})
        # Mirroring input pixel x to S-1-x maps heatmap cell j to W-1-j exactly (cell j sits at
        # pixel (j + 0.5) * stride - 0.5), so reversing the columns aligns the two maps. Hand
        # keypoints have no left/right pairs to swap; only the handedness flips.
        heat = 0.5 * (heat[:n] + heat[n:, ..., ::-1])
        return heat, 0.5 * (pres[:n, 0] + pres[n:, 0]), 0.5 * (side[:n, 0] + 1.0 - side[n:, 0])

    def postprocess(self, outputs, matrices: np.ndarray, rois: list[Roi]) -> list[LandmarkResult]:
        """Decode heatmaps and map keypoints back to frame pixels."""
        heat, pres, side = outputs
        kps, scores = self.codec.decode(heat)
        results = []
        for i, roi in enumerate(rois):
            inv = invert_affine(matrices[i])
            k = kps[i].astype(np.float64) @ inv[:, :2].T + inv[:, 2]
            results.append(LandmarkResult(k.astype(np.float32), scores[i], float(pres[i]), float(side[i]), roi))
        return results

    def __call__(self, frame_bgr: np.ndarray, rois: list[Roi]) -> list[LandmarkResult]:
        """Landmarks for each crop of ``frame_bgr`` (HxWx3 uint8 BGR); [] for no rois.

        Raises:
            ValueError: as :meth:`preprocess`.
        """
        batch, mats = self.preprocess(frame_bgr, rois)     # checks the frame and rois
        if not rois:
            return []
        return self.postprocess(self.inference(batch), mats, rois)
