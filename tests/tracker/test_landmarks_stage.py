"""Audit of the landmark stage (tracker.landmarks) on the shipped model and hands21 photos: frames
and ROI lists it cannot read are one clear error, empty batches pass through every stage method,
and crops outside or across the frame, quarter turns, batches and flip_test give consistent
results in frame pixels."""
import json
import math

import cv2
import numpy as np
import pytest

from tests.conftest import HANDS21, require_shared
from tracker.geometry import Roi, quarter_turn, roi_from_keypoints, transform_points
from tracker.keypoints import NUM_KEYPOINTS, from_21
from tracker.landmarks import LandmarkModel


@pytest.fixture(scope="module")
def plain():
    return LandmarkModel(threads=1)


@pytest.fixture(scope="module")
def flipped():
    return LandmarkModel(threads=1, flip_test=True)


@pytest.fixture(scope="module")
def photos():
    """Three val photos (224x224 BGR) with the ROI the training crops use around their hand."""
    root = require_shared(HANDS21)
    data = json.loads((root / "val.json").read_text(encoding="utf-8"))
    images = {i["id"]: i for i in data["images"]}
    out = []
    for ann in [a for a in data["annotations"] if a["num_keypoints"] == 21][:3]:
        img = cv2.imread(str(root / images[ann["image_id"]]["file_name"]))
        k21 = np.asarray(ann["keypoints"], np.float64).reshape(21, 3)
        k17, v17 = from_21(k21[:, :2], k21[:, 2])
        out.append((img, roi_from_keypoints(k17, v17, scale=1.6), ann["handedness"]))
    return out


def _in_unit_range(r):
    return (0 <= r.presence <= 1 and 0 <= r.right_prob <= 1
            and bool(np.all((r.scores >= 0) & (r.scores <= 1))) and bool(np.isfinite(r.keypoints).all()))


# -- bad input -----------------------------------------------------------------------------------
@pytest.mark.parametrize("frame", [
    np.zeros((64, 64), np.uint8),                    # gray: a numpy broadcast error before
    np.zeros((64, 64, 4), np.uint8),                 # BGRA: a numpy broadcast error before
    np.full((64, 64, 3), 0.5, np.float32),           # a 0-1 float image: silently black crops before
    np.full((64, 64, 3), 300, np.uint16),            # wrapped modulo 256 silently before
    np.zeros((0, 64, 3), np.uint8),                  # an OpenCV assertion before
], ids=["gray", "bgra", "float01", "uint16", "empty"])
def test_landmarks_refuse_frames_they_cannot_read(plain, frame):
    with pytest.raises(ValueError, match="frame"):
        plain(frame, [Roi(32, 32, 40, 0.0)])
    with pytest.raises(ValueError, match="frame"):
        plain.preprocess(frame, [Roi(32, 32, 40, 0.0)])


@pytest.mark.parametrize("rois", [Roi(32, 32, 40, 0.0), [(32, 32, 40, 0.0)]], ids=["bare-roi", "tuple"])
def test_rois_that_are_not_a_list_of_roi_are_one_clear_error(plain, rois):
    with pytest.raises(ValueError, match="rois"):
        plain(np.zeros((64, 64, 3), np.uint8), rois)


@pytest.mark.parametrize("bad", [Roi(math.nan, 1, 10), Roi(1, 1, math.inf), Roi(1, 1, 10, -math.inf)])
def test_a_non_finite_roi_in_a_batch_is_a_value_error(plain, bad):
    with pytest.raises(ValueError, match="finite"):
        plain(np.zeros((64, 64, 3), np.uint8), [Roi(32, 32, 40), bad])


def test_an_empty_batch_passes_through_each_stage_method(plain, flipped):
    frame = np.zeros((48, 80, 3), np.uint8)
    s = plain.input_size
    for model in (plain, flipped):
        assert model(frame, []) == []
        batch, mats = model.preprocess(frame, [])
        assert batch.shape == (0, 3, s, s) and batch.dtype == np.float32 and mats.shape == (0, 2, 3)
        heat, pres, side = model.inference(batch)
        w, h = model.codec.heatmap_size
        assert heat.shape == (0, NUM_KEYPOINTS, h, w) and pres.shape == (0,) and side.shape == (0,)
        assert model.postprocess((heat, pres, side), mats, []) == []


# -- geometry of the results -----------------------------------------------------------------------
def test_quarter_turned_photo_gives_the_turned_keypoints(plain, photos):
    for img, roi, _ in photos:
        up, = plain(img, [roi])
        for q in (1, 2, 3):
            turned, m = quarter_turn(img, q)
            c = transform_points(np.array([[roi.cx, roi.cy]]), m)[0]
            r, = plain(turned, [Roi(float(c[0]), float(c[1]), roi.size, roi.angle + q * math.pi / 2)])
            np.testing.assert_allclose(r.keypoints, transform_points(up.keypoints, m), atol=0.1)
            assert abs(r.presence - up.presence) < 1e-3 and abs(r.right_prob - up.right_prob) < 1e-3


def test_a_crop_across_the_frame_edge_reads_the_frame_as_if_padded_black(plain, photos):
    img, roi, _ = photos[0]
    cut = int(roi.cx - 0.2 * roi.size)                       # the crop sticks out left of the cut frame
    sub = np.ascontiguousarray(img[:, cut:])
    padded = img.copy()
    padded[:, :cut] = 0
    r_sub, = plain(sub, [Roi(roi.cx - cut, roi.cy, roi.size, roi.angle)])
    r_pad, = plain(padded, [roi])
    np.testing.assert_allclose(r_sub.keypoints + [cut, 0], r_pad.keypoints, atol=0.05)
    assert abs(r_sub.presence - r_pad.presence) < 1e-4


@pytest.mark.parametrize("roi", [Roi(-500, -400, 100, 0.3), Roi(112, 112, 5000, 0.2), Roi(112, 112, 8, 0.0),
                                 Roi(112, 112, 1e6, 1.0)], ids=["outside", "huge", "tiny", "enormous"])
def test_crops_outside_huge_or_tiny_stay_in_range_and_near_their_roi(plain, photos, roi):
    img = photos[0][0]
    r, = plain(img, [roi])
    assert _in_unit_range(r) and r.presence < 0.5
    # keypoints come back inside the ROI's square (its circumscribed circle), in frame pixels
    assert np.hypot(*(r.keypoints - [roi.cx, roi.cy]).T).max() <= roi.size / math.sqrt(2) + 1


@pytest.mark.parametrize("model_name", ["plain", "flipped"])
def test_a_batch_gives_each_roi_what_it_gives_alone(model_name, request, photos):
    model = request.getfixturevalue(model_name)
    img, roi, _ = photos[1]
    odd = np.ascontiguousarray(cv2.resize(img, (333, 101))[:, ::-1])   # non-square, odd, mirrored copy
    rois = [roi, Roi(roi.cx + 9, roi.cy - 5, roi.size * 0.7, 0.4), Roi(-30, 20, 60, 2.0), Roi(112, 112, 400, -1.0)]
    for frame in (img, odd):
        together = model(frame, rois)
        assert [r.roi for r in together] == rois
        for r, roi_i in zip(together, rois):
            alone, = model(frame, [roi_i])
            assert _in_unit_range(r)
            np.testing.assert_allclose(r.keypoints, alone.keypoints, atol=1e-3)
            np.testing.assert_allclose(r.scores, alone.scores, atol=1e-5)
            assert abs(r.presence - alone.presence) < 1e-5 and abs(r.right_prob - alone.right_prob) < 1e-5


def test_flip_test_keeps_the_side_and_mirrors_with_the_photo(plain, flipped, photos):
    for img, roi, side in photos:
        p, = plain(img, [roi])
        f, = flipped(img, [roi])
        assert _in_unit_range(f)
        assert (f.right_prob > 0.5) == (side == "right") == (p.right_prob > 0.5)
        assert np.abs(f.keypoints - p.keypoints).max() < 0.1 * roi.size
        w = img.shape[1]
        m, = flipped(np.ascontiguousarray(img[:, ::-1]), [Roi(w - 1 - roi.cx, roi.cy, roi.size, -roi.angle)])
        # the mirrored photo shows the other hand, at the mirrored pixels
        assert abs(m.right_prob - (1 - f.right_prob)) < 0.05
        np.testing.assert_allclose(m.keypoints[:, 0], w - 1 - f.keypoints[:, 0], atol=1.5)
        np.testing.assert_allclose(m.keypoints[:, 1], f.keypoints[:, 1], atol=1.5)
