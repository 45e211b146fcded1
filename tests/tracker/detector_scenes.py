"""Helpers of the detector-pass tests (small-hand, large-hand): hand-made detections, a detector
file of fixed input size, and composed val scenes (the photos they are made from, the hands a
detector finds in them)."""
import numpy as np
import onnx
import pytest

from tests.conftest import HANDS21, require_shared, require_torch
from tracker.detector import Detection


def det(x0, y0, x1, y1, score) -> Detection:
    """A detection with this box (frame px) and score; orientation cue at the origin."""
    return Detection(np.array([x0, y0, x1, y1], np.float32), score, np.zeros(2, np.float32), np.zeros(2, np.float32))


def fixed_size_detector_file(tmp_path):
    """The shipped detector with its input size fixed at 320x240, as files exported before
    session 18 were; written under ``tmp_path``."""
    m = onnx.load("assets/detector.onnx")
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = 240, 320
    path = tmp_path / "fixed.onnx"
    onnx.save(m, str(path))
    return path


def found_in(detector, scenes):
    """(true positives, false positives, labelled hands) of ``detector`` at its shipped threshold,
    IoU 0.5, over ``scenes`` ((image, boxes, ignore) as ``make_val_scenes`` gives)."""
    from tracker.metrics import match_detections
    tp = fp = n = 0
    for img, gt, ign in scenes:
        dets = detector(img)
        t, _, k = match_detections(np.array([d.box for d in dets], np.float32).reshape(-1, 4),
                                   np.array([d.score for d in dets]), gt, 0.5, ign)
        tp, fp, n = tp + int(t.sum()), fp + int((~t).sum()), n + k
    return tp, fp, n


@pytest.fixture(scope="module")
def val_groups():
    """The first 600 val hands grouped by photo, and their decoded photos."""
    require_shared(HANDS21)
    require_torch()
    from train.data import ImageCache, load_records
    from train.train_detector import group_by_image
    recs = load_records(HANDS21, "val")[:600]
    return group_by_image(recs), ImageCache(recs)
