"""Detector stage: a full frame in, hand boxes with an orientation cue out.

ONNX contract (written by export/, checked here on load):
    input  ``image``   (1, 3, H, W) float32, RGB, (pixel - mean_rgb) / std_rgb; the frame is
                       letterboxed: scaled by min(W / frame_w, H / frame_h), placed top-left,
                       the rest black
    output ``heatmap`` (1, 1, H/4, W/4) centre probabilities
    output ``regress`` (1, 8, H/4, W/4) see tracker.detector_codec
    metadata: kind="detector", input_width, input_height, mean_rgb, std_rgb, codec, threshold
    H and W may be symbolic (export/ writes them so since session 18): the net is fully
    convolutional, and the small-hand pass (``small_hands=True``) runs the same file at
    :data:`SMALL_HAND_SCALE` x its input size, the large-hand pass (``large_hands``, on by default
    for such files) at :data:`LARGE_HAND_SCALE` x.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, replace

import cv2
import numpy as np

from .backend import OnnxStage, codec_from_metadata, metadata_value, run_shapes
from .checks import check_flag, check_frame, is_int, is_number, is_positive_int, is_real
from .detector_codec import NUM_REGRESS, CenterCodec, nms
from .geometry import Roi, hand_angle, invert_affine, quarter_turn, shrink_area, transform_points
from .keypoints import HandKeypoint
from .landmarks import normalize_image

log = logging.getLogger(__name__)

_REQUIRED = ["kind", "input_width", "input_height", "mean_rgb", "std_rgb", "codec", "threshold"]

#: the small-hand pass's input size / the model's input size (a 640x480 frame: at full resolution)
SMALL_HAND_SCALE = 2.0
#: boxes of the small-hand pass are kept when their longer side is under this fraction of the
#: frame's longer side (larger hands are the first pass's: the training scenes put hands at
#: 5-60% of the scene side, so at twice the size large ones are out of the net's range)
SMALL_HAND_SIDE = 0.15
#: the large-hand pass's scale: the frame at half the first pass's size, so a hand filling 60-100% of
#: the frame's longer side (held close to the camera: beyond the training scenes' 5-60%) comes out
#: at 30-50%, inside the net's range
LARGE_HAND_SCALE = 0.5
#: boxes of the large-hand pass are kept when their longer side is at least this fraction of the
#: frame's longer side (smaller hands are the first pass's, which sees them at twice the size; with
#: 0.3 the pass added loose boxes around hands of 0.2-0.3 on the 320x240 val scenes)
LARGE_HAND_SIDE = 0.4
#: first-pass detections scored at least this are hands for the large-hand pass's check that one
#: of its boxes is not a box around two of them (lower ones are often a near hand's fingers)
_SURE_FIRST_PASS = 0.3
#: canvas sides of the small-hand and large-hand passes are rounded up to a multiple of this (the
#: net's stride)
_CANVAS_MULTIPLE = 32


@dataclass
class Detection:
    """One detected hand, in frame pixels.

    Attributes:
        box: (4,) float32 x0, y0, x1, y1. score: centre probability. Not clipped to the frame: a
            hand cut by the frame's edge gets the box the net guesses for the whole hand, which
            can reach past that edge (below 0, or beyond the width or height).
        wrist, middle_mcp: (2,) float32 estimated points that give the hand's orientation.
        turn: quarter turns (clockwise) of the frame in which the detector found it (0: the
            frame as it is; see ``HandDetector.__call__``'s ``turns``).
        pass_scale: the input size of the detector pass that found it / the first pass's (1:
            the first pass; :data:`LARGE_HAND_SCALE` the large-hand pass, :data:`SMALL_HAND_SCALE`
            the small-hand pass).
    """

    box: np.ndarray
    score: float
    wrist: np.ndarray
    middle_mcp: np.ndarray
    turn: int = 0
    pass_scale: float = 1.0

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


def _picture_size(w: int, h: int, scale: float) -> tuple[int, int]:
    """(width, height) in pixels of a ``w`` x ``h`` frame scaled by ``scale`` in a
    :func:`letterbox` canvas (its top-left part; at least 1 x 1)."""
    return max(1, int(round(w * scale))), max(1, int(round(h * scale)))


def letterbox(frame: np.ndarray, width: int, height: int, threads: int = 1) -> tuple[np.ndarray, float]:
    """Resize keeping the aspect ratio into a ``width`` x ``height`` black canvas, top-left.

    Returns (canvas HxWx3 uint8, scale): input pixel = frame pixel * scale. ValueError for an
    empty frame (no scale fits it: it divided by zero). ``threads``: :func:`shrink_area`'s (the
    same canvas with any).
    """
    h, w = frame.shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"frame is empty (shape {frame.shape})")
    s = min(width / w, height / h)
    nw, nh = _picture_size(w, h, s)
    canvas = np.zeros((height, width, 3), np.uint8)
    if s < 1:
        canvas[:nh, :nw] = shrink_area(frame, nw, nh, threads)
    else:
        canvas[:nh, :nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas, s


def merge_pass(first: list[Detection], other: list[Detection], frame_side: float, max_detections: int,
               min_side: float = 0.0, max_side: float = math.inf, iou_threshold: float = 0.5
               ) -> list[Detection]:
    """The first pass's detections plus those of another pass (small-hand, large-hand) whose box's
    longer side is in [``min_side``, ``max_side``) x ``frame_side`` (pixels: the frame's longer
    side), best first.

    The kept ``other`` detections join ``first``, and greedy NMS at ``iou_threshold`` keeps the
    better scored of two boxes on one hand. At most ``max_detections`` are returned."""
    lo, hi = min_side * frame_side, max_side * frame_side
    kept = [d for d in other if lo <= max(d.box[2] - d.box[0], d.box[3] - d.box[1]) < hi]
    return nms_detections(list(first) + kept, max_detections, iou_threshold)


def merge_large_hands(first: list[Detection], coarse: list[Detection], frame_side: float,
                      max_detections: int) -> list[Detection]:
    """The first pass's detections plus the large-hand pass's large ones, best first.

    A ``coarse`` box is added when its longer side is at least :data:`LARGE_HAND_SIDE` x
    ``frame_side`` (pixels, the frame's longer side) and it does not hold the centres of two or
    more first-pass detections scored :data:`_SURE_FIRST_PASS` or more (on composed val scenes
    such boxes framed two hands side by side, and the tracker, which leaves out detections
    centred in a new hand's crop, lost one of them); then :func:`merge_pass`'s NMS."""
    sure = [d for d in first if d.score >= _SURE_FIRST_PASS]
    coarse = [d for d in coarse if _centres_inside(d.box, sure) < 2]
    return merge_pass(first, coarse, frame_side, max_detections, min_side=LARGE_HAND_SIDE)


def _centres_inside(box: np.ndarray, dets: list[Detection]) -> int:
    """How many of ``dets``' box centres lie inside ``box`` (x0, y0, x1, y1): a large-hand box
    around two of the first pass's hands is a box around two hands, not one near hand."""
    if not dets:
        return 0
    b = np.array([d.box for d in dets], np.float32).reshape(-1, 4)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    return int(((cx >= box[0]) & (cx <= box[2]) & (cy >= box[1]) & (cy <= box[3])).sum())


def nms_detections(dets: list[Detection], max_detections: int, iou_threshold: float = 0.5) -> list[Detection]:
    """``dets`` from several detector passes or looks as one list: greedy NMS at ``iou_threshold``
    keeps the better scored of two boxes on one hand; best first, at most ``max_detections``."""
    if not dets:
        return []
    boxes = np.array([d.box for d in dets], np.float32).reshape(-1, 4)
    keep = nms(boxes, np.array([d.score for d in dets], np.float32), iou_threshold)
    return [dets[i] for i in keep[:max_detections]]


class HandDetector(OnnxStage):
    """The hand detector behind onnxruntime.

    Args:
        model_path: ONNX file (default: the shipped assets/detector.onnx).
        device: "cpu" or "cuda". threads: onnxruntime intra-op threads.
        small_hands: also run the model at :data:`SMALL_HAND_SCALE` x its input size and add its
            boxes of hands under :data:`SMALL_HAND_SIDE` of the frame's longer side (hands far from
            the camera). Only for frames larger than the model's input; ~3-5x the detector's time.
            Needs a model file exported with a free input size (ValueError otherwise).
        large_hands: also run the model at :data:`LARGE_HAND_SCALE` x the first pass's size and
            add its boxes of hands at least :data:`LARGE_HAND_SIDE` of the frame's longer side
            (hands close to the camera, larger than any in the training scenes, which the first
            pass scores low or boxes badly); a quarter to two fifths more detector time (a 640x480
            frame on the 2-core VM: 9.0 -> 11.1 ms at 1 thread, 6.7 -> 9.4 ms at 2 in session 26;
            since session 27, its canvas cut from the first pass's, the pass adds 1.2-1.9 ms at 2
            threads). None (default): on when the model file has a free input size (the shipped
            one has); True with a fixed-size file is a ValueError.
    """

    default_file = "detector.onnx"
    kind = "detector"
    required = _REQUIRED
    #: CPU threads the stage may use: onnxruntime's, and two bands of the letterbox's shrink
    #: (geometry.area_resize) from 2; set from ``threads`` by __init__
    threads = 1

    def __init__(self, model_path: str | os.PathLike[str] | None = None, device: str = "cpu", threads: int = 2,
                 small_hands: bool = False, large_hands: bool | None = None):
        super().__init__(model_path, device, threads)
        self.threads = int(threads)
        meta, path = self.meta, self.model_path
        self.width = metadata_value(meta, "input_width", path, is_positive_int, "an integer >= 1")
        self.height = metadata_value(meta, "input_height", path, is_positive_int, "an integer >= 1")
        self.codec = codec_from_metadata(_center_codec, meta, path)
        self.default_threshold = float(metadata_value(meta, "threshold", path, lambda v: is_number(v) and 0 <= v <= 1,
                                                      "a number in [0, 1]"))
        inputs = self.session.get_inputs()
        inp = inputs[0]
        # a symbolic axis (str or None) takes any size; a fixed one must be the metadata's
        fixed = [d for d in inp.shape[2:] if isinstance(d, int)]
        if len(inputs) != 1 or inp.name != "image" or inp.type != "tensor(float)" or len(inp.shape) != 4 or (
                inp.shape[1] != 3 or isinstance(inp.shape[0], int) and inp.shape[0] != 1
                or fixed and list(inp.shape[2:]) != [self.height, self.width]):
            raise ValueError(f"model file {path}: input {inp.name} {inp.type} {inp.shape} does not match "
                             f"float (1, 3, {self.height}, {self.width})")
        self.any_size = not fixed
        check_flag("small_hands", small_hands)
        if small_hands and not self.any_size:
            raise ValueError(f"small_hands: model file {self.model_path} has a fixed input size {inp.shape}; "
                             "the small-hand pass needs one exported with a free size "
                             "(python -m export.onnx_export detector CHECKPOINT -o FILE)")
        self.small_hands = bool(small_hands)
        self.large_hands = self._large_hands_setting(large_hands, self.any_size)
        outs = {o.name: o.shape for o in self.session.get_outputs()}
        # read in this order, and decoded with the codec's stride
        if (list(outs) != ["heatmap", "regress"] or [len(v) for v in outs.values()] != [4, 4]
                or outs["heatmap"][1] != 1 or outs["regress"][1] != NUM_REGRESS):
            raise ValueError(f"model file {path}: unexpected outputs {outs}; expected heatmap (1, 1, h, w) and "
                             f"regress (1, {NUM_REGRESS}, h, w), in this order")
        grids = [v[2:] for v in outs.values()]
        if not all(isinstance(d, int) for g in grids for d in g):
            grids = [v[2:] for v in run_shapes(self.session, (1, 3, self.height, self.width), path,
                                               "input_height x input_width")]
        st = self.codec.stride
        ok_h, ok_w = (self.height // st, -(-self.height // st)), (self.width // st, -(-self.width // st))
        if any(g[0] not in ok_h or g[1] not in ok_w for g in grids):
            raise ValueError(f"model file {path}: its {self.width}x{self.height} input gives outputs of "
                             f"{' and '.join(f'{g[1]}x{g[0]}' for g in grids)} cells, but codec stride {st} "
                             f"expects {ok_w[1]}x{ok_h[1]}")

    def preprocess(self, frame_bgr: np.ndarray, size_scale: float = 1.0, upright_canvas: bool = False
                   ) -> tuple[np.ndarray, float]:
        """Letterbox + normalise: ((1, 3, H, W) float32, scale frame px -> input px).

        ``size_scale`` 1: the model's input size (a free-size model's without the black margin:
        the picture rounded up to a multiple of 32 px); otherwise the frame is scaled by
        ``size_scale`` x the first pass's scale and its canvas rounded up to a multiple of 32 px.
        ``upright_canvas``: the input's width and height swapped (a frame turned sideways then
        fills the canvas as the unturned frame fills the model's; needs a free input size)."""
        canvas, s = self._canvas(frame_bgr, size_scale, upright_canvas)
        return normalize_image(canvas[None], self.mean_rgb, self.std_rgb), s

    def _canvas(self, frame_bgr: np.ndarray, size_scale: float = 1.0, upright_canvas: bool = False,
                first: tuple[np.ndarray, float] | None = None) -> tuple[np.ndarray, float]:
        """The letterboxed uint8 canvas of :meth:`preprocess` and its scale (frame px -> canvas px).
        The first pass's (``size_scale`` 1) is the model's input size, or for a model of a free
        size the picture rounded up to :data:`_CANVAS_MULTIPLE` px (a 16:9 frame 320x192).

        ``first``: the first pass's (canvas, scale) on this frame. When the pass's canvas is that
        picture (the frame as the first pass shrank it) at exactly half its size, it is cut from
        it: 2x2 means of the first pass's area means are the frame's area means at the half scale
        up to uint8 rounding, from a quarter of the pixels or fewer (640x480 and 16:9 frames: 320x240
        read instead of 640x480); otherwise (a portrait frame, whose canvas rounding makes the
        scale other than half; a frame upscaled for the first pass) from the frame."""
        cw, ch = (self.height, self.width) if upright_canvas else (self.width, self.height)
        m = _CANVAS_MULTIPLE
        if size_scale == 1.0:
            canvas, s = letterbox(frame_bgr, cw, ch, self.threads)
            if self.any_size:
                # the picture's black margin cut off, rounded up to the net's stride: the same
                # scale and pixels, for less network time on 16:9 and portrait frames (session 50)
                pw, ph = _picture_size(frame_bgr.shape[1], frame_bgr.shape[0], s)
                canvas = canvas[:min(ch, _round_up(ph, m)), :min(cw, _round_up(pw, m))]
            return canvas, s
        h, w = frame_bgr.shape[:2]
        s = min(cw / w, ch / h) * size_scale
        # a side that scales to exactly a multiple of m often comes out a hair above it in floats
        # (533 x 0.3002... = 160.00000000000003), and ceil() then added a whole m: a larger canvas
        # at another scale, not cut from the first one (1e-6 of m is far below a pixel)
        size = int(np.ceil(w * s / m - 1e-6)) * m, int(np.ceil(h * s / m - 1e-6)) * m
        if first is not None and first[1] < 1.0:
            canvas, fs = first
            # the picture's part of the first canvas, as letterbox placed it (top-left)
            pw, ph = _picture_size(w, h, fs)
            picture = canvas[:ph, :pw]
            k = min(size[0] / picture.shape[1], size[1] / picture.shape[0])
            if k == 0.5 and abs(fs * k - min(size[0] / w, size[1] / h)) <= 1e-3 * fs:
                small, k = letterbox(picture, *size, self.threads)
                return small, fs * k
        return letterbox(frame_bgr, *size, self.threads)

    def inference(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(heatmap (1, h, w), regress (8, h, w))."""
        heat, reg = self.session.run(None, {"image": batch})
        return heat[0], reg[0]

    def postprocess(self, outputs, scale: float, score_threshold: float, max_detections: int
                    ) -> list[Detection]:
        """Detections of one canvas in frame pixels: ``outputs`` are :meth:`inference`'s maps,
        ``scale`` the canvas pixels per frame pixel that :meth:`preprocess` returned; at most
        ``max_detections`` peaks scored at least ``score_threshold`` (in [0, 1]), best first,
        after the codec's NMS within this canvas (``__call__`` merges the passes' detections)."""
        heat, reg = outputs
        d = self.codec.decode(heat, reg, score_threshold, max_detections)
        # Known: the letterbox maps pixel centres ((frame + 0.5) * scale - 0.5), so dividing by the
        # scale leaves points 0.5 / scale - 0.5 frame px up and left (1.5 px at 1280x720). The exact
        # inverse read worse on the shared clips (sessions 33 and 39, tests/tracker/test_geometry_pixel_conventions.py).
        return [Detection((d.boxes[i] / scale).astype(np.float32), float(d.scores[i]),
                          (d.wrist[i] / scale).astype(np.float32), (d.middle_mcp[i] / scale).astype(np.float32))
                for i in range(len(d))]

    def __call__(self, frame_bgr: np.ndarray, score_threshold: float | None = None,
                 max_detections: int = 4, turns: tuple[int, ...] = (0,),
                 large_hands: bool | None = None) -> list[Detection]:
        """Hands in ``frame_bgr`` (HxWx3 uint8 BGR), best first; [] when none.

        ``score_threshold`` defaults to the threshold shipped in the model's metadata.
        ``turns``: the frame is looked at turned clockwise by each of these quarter turns (0: as
        it is; 2: upside down, where hands pointing down look upright to a net that learned from
        mostly upright hands), one detector run each; the detections, in ``frame_bgr``'s pixels
        whatever the turn, are merged by NMS (the best scored box of a hand seen in several turns).
        ``large_hands``: run the large-hand pass on this call (None: as the detector was made,
        ``self.large_hands``; False leaves it out, as the tracker does while it tracks a hand).

        Raises:
            ValueError: a frame that is not a non-empty HxWx3 uint8 array (HandTracker converts
                gray, 4-channel and uint16 frames before), a ``max_detections`` that is not an
                integer >= 0 (a negative one sliced the decoder's list from its end), a
                ``score_threshold`` that is not None or a number in [0, 1], ``turns`` that
                are not integers or none at all, or ``large_hands`` that is not None or a bool
                (True with a model of a fixed input size, which has no large-hand pass).
        """
        check_frame(frame_bgr)
        if not is_int(max_detections) or max_detections < 0:
            raise ValueError(f"max_detections must be an integer >= 0, got {max_detections!r}")
        if score_threshold is not None and not (is_real(score_threshold) and 0 <= score_threshold <= 1):
            # NaN or 1.5 found nothing and a negative one every cell of a flat heatmap, silently
            raise ValueError(f"score_threshold must be None or a number in [0, 1], got {score_threshold!r}")
        thr = self.default_threshold if score_threshold is None else float(score_threshold)
        # int() truncated 1.5 to 1, and a string such as "02" was read digit by digit
        if isinstance(turns, (str, bytes)) or not hasattr(turns, "__iter__"):
            raise ValueError(f"turns must be a sequence of integer quarter turns, got {turns!r}")
        given = tuple(turns)
        if not all(is_int(t) for t in given):
            raise ValueError(f"turns must be a sequence of integer quarter turns, got {given!r}")
        turns = tuple(dict.fromkeys(int(t) % 4 for t in given))
        if not turns:
            raise ValueError("turns must name at least one quarter turn, got ()")
        large = self._large_hands_setting(large_hands, self.large_hands)
        dets = []
        for t in turns:
            dets += self._detect_turned(frame_bgr, thr, max_detections, t, large)
        return nms_detections(dets, max_detections) if len(turns) > 1 else dets

    def _large_hands_setting(self, large_hands: bool | None, default: bool) -> bool:
        """``large_hands`` (True, False, or None: ``default``) as a bool, checked against the
        model file (the constructor's argument and a call's)."""
        if large_hands is not None and not isinstance(large_hands, (bool, np.bool_)):
            raise ValueError(f"large_hands must be True, False or None, got {large_hands!r}")
        if large_hands and not self.any_size:
            raise ValueError(f"large_hands: model file {self.model_path} has a fixed input size "
                             f"{self.session.get_inputs()[0].shape}; the large-hand pass needs one exported with a free size "
                             "(python -m export.onnx_export detector CHECKPOINT -o FILE)")
        return default if large_hands is None else bool(large_hands)

    def _detect_turned(self, frame_bgr: np.ndarray, thr: float, max_detections: int, turn: int,
                       large: bool) -> list[Detection]:
        """One look at the frame turned by ``turn`` quarter turns (with the small-hand pass when
        on, and the large-hand pass when ``large``), detections mapped back to the frame's pixels."""
        img, a = quarter_turn(frame_bgr, turn)
        # turned sideways, a frame of the model's shape (landscape, say) is the other shape: in the
        # model's canvas its hands would be smaller than in the unturned look, so the canvas turns too
        swap = turn % 2 == 1 and self.any_size and (img.shape[0] > img.shape[1]) != (self.height > self.width)
        first = self._canvas(img, 1.0, swap)
        dets = self._run_pass(first, 1.0, thr, max_detections)
        side = float(max(img.shape[:2]))
        if self.small_hands and first[1] < 1.0:  # a frame no larger than the input has nothing finer to show
            fine = self._run_pass(self._canvas(img, SMALL_HAND_SCALE, swap), SMALL_HAND_SCALE, thr, max_detections)
            dets = merge_pass(dets, fine, side, max_detections, max_side=SMALL_HAND_SIDE)
        if large:
            # at the calibrated threshold at least: the tracker asks for low detections (down to
            # 0.2) for its landmark check, and the coarse pass's low ones are mostly forearms
            coarse = self._run_pass(self._canvas(img, LARGE_HAND_SCALE, swap, first=first), LARGE_HAND_SCALE,
                                    max(thr, self.default_threshold), max_detections)
            dets = merge_large_hands(dets, coarse, side, max_detections)
        if turn % 4 == 0:
            return dets
        inv = invert_affine(a)
        return [replace(unturn_detection(d, inv), turn=turn) for d in dets]

    def _run_pass(self, canvas: tuple[np.ndarray, float], size_scale: float, thr: float, max_detections: int
                  ) -> list[Detection]:
        """One run of the net on a letterboxed ``canvas`` ((uint8 canvas, scale image px -> canvas
        px), see :meth:`_canvas`) made at ``size_scale`` x its input size: detections in the
        image's pixels, marked with ``size_scale`` as their ``pass_scale``."""
        picture, s = canvas
        batch = normalize_image(picture[None], self.mean_rgb, self.std_rgb)
        dets = self.postprocess(self.inference(batch), s, thr, max_detections)
        if size_scale != 1.0:
            dets = [replace(d, pass_scale=size_scale) for d in dets]
        return dets


def _round_up(n: int, m: int) -> int:
    """``n`` rounded up to a multiple of ``m``."""
    return -(-n // m) * m


def _center_codec(d: dict) -> CenterCodec:
    """CenterCodec.from_dict with an integer stride (int() made 4.5 a 4, and 0 put every box at 0, 0)."""
    if not is_positive_int(d["stride"]):
        raise ValueError(f"stride must be an integer >= 1, got {d['stride']!r}")
    return CenterCodec.from_dict(d)


def unturn_detection(d: Detection, inv: np.ndarray) -> Detection:
    """``d`` found in a turned frame, in the pixels of the frame before the turn: ``inv`` maps
    turned pixels back (2x3). A quarter turn keeps boxes axis-aligned, so the box is that of its
    mapped corners; the orientation cue's points are mapped, so the crop comes out upright."""
    b = d.box
    corners = transform_points(np.array([[b[0], b[1]], [b[2], b[3]]], np.float64), inv)
    box = np.concatenate([corners.min(0), corners.max(0)]).astype(np.float32)
    return replace(d, box=box, wrist=transform_points(d.wrist, inv), middle_mcp=transform_points(d.middle_mcp, inv))
