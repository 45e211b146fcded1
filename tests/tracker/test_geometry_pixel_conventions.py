"""Pixel-coordinate conventions along the runtime path (pixel centres on integers, as OpenCV's
warpAffine and resize sample them): a point of the frame must come back to the same frame pixel
after the landmark crop + heatmap codec, and after the detector's letterbox + centre codec.

Each check puts a bright Gaussian blob at a sub-pixel frame point, finds it where the runtime's
resampling actually put it (the blob's centroid in the crop or canvas), encodes targets there as
training does, decodes them and maps them back with the runtime's own code.
"""
import numpy as np
import pytest

from tracker.codec import HeatmapCodec
from tracker.detector import LARGE_HAND_SCALE, SMALL_HAND_SCALE, HandDetector
from tracker.detector_codec import CenterCodec
from tracker.geometry import Roi, warp_crop
from tracker.landmarks import LandmarkModel


def blob_frame(w: int, h: int, p, sigma: float) -> np.ndarray:
    """HxWx3 uint8 frame, black but for a Gaussian blob centred at ``p`` (integer pixel centres)."""
    ys, xs = np.mgrid[0:h, 0:w]
    g = np.exp(-((xs - p[0]) ** 2 + (ys - p[1]) ** 2) / (2 * sigma ** 2)) * 250
    return np.repeat(np.round(g).astype(np.uint8)[..., None], 3, 2)


def centroid(img: np.ndarray) -> np.ndarray:
    """Intensity centroid (x, y) of the blob in an image (pixel centres on integers)."""
    g = img[..., 0].astype(np.float64)
    g = np.where(g > 3, g, 0.0)
    ys, xs = np.mgrid[0:g.shape[0], 0:g.shape[1]]
    return np.array([(g * xs).sum(), (g * ys).sum()]) / g.sum()


def bare_detector() -> HandDetector:
    """A HandDetector with the shipped model's input size and codec, and no ONNX session."""
    d = HandDetector.__new__(HandDetector)
    d.width, d.height = 320, 240
    d.any_size = True                   # as the shipped file: its first canvas fits the picture
    d.codec = CenterCodec((320, 240), 4)
    return d


def detect_at(d: HandDetector, canvas: np.ndarray, s: float):
    """The detection postprocess makes of exact targets for a hand box centred on the blob
    where the canvas shows it (30 px wide, its cues 5 px off the centre), in frame pixels."""
    c = centroid(canvas)
    codec = CenterCodec((canvas.shape[1], canvas.shape[0]), 4)
    box = np.array([[c[0] - 15, c[1] - 12, c[0] + 15, c[1] + 12]], np.float32)
    heat, reg, _ = codec.encode(box, (c + [0, 5])[None], (c - [0, 5])[None])
    d.codec = codec
    dets = d.postprocess((heat, reg), s, 0.5, 4)
    assert len(dets) == 1
    return dets[0]


@pytest.mark.parametrize("frame_wh", [(640, 480), (1280, 720), (1920, 1080), (320, 240)])
@pytest.mark.parametrize("size_scale", [1.0, LARGE_HAND_SCALE, SMALL_HAND_SCALE])
def test_detector_maps_canvas_points_back_to_their_frame_pixel(frame_wh, size_scale, request):
    """The letterbox resizes pixel centres to pixel centres (canvas = (frame + 0.5) x s - 0.5);
    dividing by s alone puts boxes and cues 0.5 / s - 0.5 frame px up and left of the hand
    (1.5 px at 1280x720, 3.5 px in its large-hand pass).

    Known and kept (session 33): mapping back with (p + 0.5) / s - 0.5 removed the offset and read
    better on the motion clips (moving PCK@0.1 0.957 against 0.955), but on the shared clips it made
    3 side changes against 0 and 14 tracks against 12 (ali_hand's thumbs-up then split into a thumb
    "hand" and a fist), so the runtime keeps the old mapping: these cases fail, strictly, until a
    change that fixes the offset is measured to be no worse (docs/model_history.md, session 33).
    Measured again in session 39, after the finger rule of session 38: still 13 tracks and 1 side
    change against 12 and 0 (moving PCK@0.1 0.957 against 0.955)."""
    w, h = frame_wh
    p = np.array([0.41 * w + 0.3, 0.57 * h + 0.7])
    d = bare_detector()
    frame = blob_frame(w, h, p, sigma=4.0 * w / 320 / min(size_scale, 1.0))
    first = d._canvas(frame, 1.0)
    canvas, s = first if size_scale == 1.0 else d._canvas(frame, size_scale, first=first)
    if abs(s - 1.0) > 1e-9:
        request.applymarker(pytest.mark.xfail(strict=True, reason="known 0.5 / s - 0.5 px detector offset, kept"))
    det = detect_at(d, canvas, s)
    tol = 0.03 / s + 0.02   # the centroid's error in the canvas, in frame px
    centre = (det.box[:2] + det.box[2:]) / 2
    np.testing.assert_allclose(centre, p, atol=tol)
    np.testing.assert_allclose(det.wrist, p + [0, 5 / s], atol=tol)
    np.testing.assert_allclose(det.middle_mcp, p - [0, 5 / s], atol=tol)
    # sizes scale by 1 / s, whatever the convention
    np.testing.assert_allclose(det.box[2:] - det.box[:2], [30 / s, 24 / s], rtol=1e-4)


@pytest.mark.parametrize("size", [40.0, 160.0, 333.0, 900.0])
@pytest.mark.parametrize("angle", [0.0, 0.8, -2.6])
def test_landmark_crop_and_codec_map_points_back_to_their_frame_pixel(size, angle):
    """Frame -> rotated crop (with the area-averaged path for crops that shrink the frame a lot)
    -> heatmap targets (training's encode) -> decode -> frame: the point comes back."""
    w, h = 1600, 1000
    p = np.array([803.37, 497.81])
    frame = blob_frame(w, h, p, sigma=max(2.0, 2.5 * size / 160))
    roi = Roi(p[0] + 0.11 * size, p[1] - 0.07 * size, size, angle)
    crop, m = warp_crop(frame, roi, 160)
    codec = HeatmapCodec((160, 160), (40, 40), 1.5)
    heat, _ = codec.encode(centroid(crop)[None])
    lm = LandmarkModel.__new__(LandmarkModel)
    lm.codec = codec
    res, = lm.postprocess((heat[None], np.ones(1), np.ones(1)), m[None], [roi])
    np.testing.assert_allclose(res.keypoints[0], p, atol=0.02 * size / 160 + 0.02)
