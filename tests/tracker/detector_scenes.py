"""Composed val scenes for the detector-pass tests (small-hand, large-hand): the val photos they
are made from, and the hands a detector finds in them."""
import numpy as np
import pytest

from tests.conftest import HANDS21, require_shared


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
    from train.data import ImageCache, load_records
    from train.train_detector import group_by_image
    recs = load_records(HANDS21, "val")[:600]
    return group_by_image(recs), ImageCache(recs)
