"""COCO and CSV loaders on small generated files, and their errors for bad input."""
import json

import cv2
import numpy as np
import pytest

from train.data import LEFT, RIGHT, UNKNOWN, ImageCache, LoadReport, load_coco, load_csv, load_records


def _coco(tmp_path, anns, images=None):
    images = images or [{"id": 1, "file_name": "a.png", "width": 64, "height": 64}]
    p = tmp_path / "train.json"
    p.write_text(json.dumps({"images": images, "annotations": anns, "categories": []}))
    return p


def _ann(i=1, n=21, side="left"):
    kp = []
    for j in range(n):
        kp += [float(j), float(2 * j), 1]
    return {"id": i, "image_id": 1, "keypoints": kp, "handedness": side, "handedness_score": 0.95}


def test_coco_maps_21_to_17(tmp_path):
    p = _coco(tmp_path, [_ann(1), _ann(2, side="right")])
    recs = load_coco(p)
    assert len(recs) == 2
    r = recs[0]
    assert r.keypoints.shape == (17, 2) and r.visible.sum() == 17
    assert r.handedness == LEFT and recs[1].handedness == RIGHT
    np.testing.assert_allclose(r.keypoints[7], [8, 16])  # index tip from 21-point index 8
    np.testing.assert_allclose(r.keypoints[1], [8.8, 17.6])  # palm: mean of 0, 5, 9, 13, 17
    assert r.image == tmp_path / "a.png"
    assert len(r.others) == 1  # the other hand of the same photo


@pytest.mark.parametrize("content,error,match", [
    ("{not json", ValueError, "malformed JSON"),
    ('{"images": []}', ValueError, "not a COCO keypoints file"),
])
def test_coco_bad_files(tmp_path, content, error, match):
    p = tmp_path / "x.json"
    p.write_text(content)
    with pytest.raises(error, match=match):
        load_coco(p)


def test_coco_missing_file_and_count_mismatch(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_coco(tmp_path / "nope.json")
    p = _coco(tmp_path, [_ann(1), _ann(2, n=17)])
    with pytest.raises(ValueError, match=r"annotation 1 .*expected 21 keypoints"):
        load_coco(p)
    rep = LoadReport()
    recs = load_coco(p, skip_bad=True, report=rep)
    assert len(recs) == 1 and rep.skipped == 1


def _csv_row(path, hands):
    cells = [path]
    for h in hands:
        cells += ["" if h is None else f"{v:.2f}" for v in (np.zeros(34) if h is None else h)] if h is not None \
            else [""] * 34
    return ",".join(cells)


def test_csv_two_hands_left_then_right(tmp_path):
    a = np.arange(34, dtype=np.float32)
    rows = ["image,x0,y0", _csv_row("a.png", [a, a + 100]), _csv_row("b.png", [None, a])]
    p = tmp_path / "labels.csv"
    p.write_text("\n".join(rows) + "\n")
    recs = load_csv(p)
    assert [r.handedness for r in recs] == [LEFT, RIGHT, RIGHT]
    np.testing.assert_allclose(recs[1].keypoints[0], [100, 101])
    assert recs[2].image == tmp_path / "b.png"
    one = tmp_path / "one.csv"
    one.write_text(_csv_row("c.png", [a]) + "\n")
    assert load_csv(one)[0].handedness == UNKNOWN


@pytest.mark.parametrize("row,match", [
    ("a.png,1,2,3", "row 2: expected a multiple of 34"),
    ("a.png," + ",".join(["x"] * 34), "row 2: non-numeric"),
    ("a.png," + ",".join(["1"] * 33 + [""]), "row 2: hand 0 has empty cells"),
])
def test_csv_bad_rows(tmp_path, row, match):
    p = tmp_path / "bad.csv"
    p.write_text("image,x0,y0\n" + row + "\n")
    with pytest.raises(ValueError, match=match):
        load_csv(p)
    rep = LoadReport()
    assert load_csv(p, skip_bad=True, report=rep) == [] and rep.skipped == 1


def test_load_records_dispatch_and_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="data path not found"):
        load_records(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no val.json or val.csv"):
        load_records(tmp_path, "val")
    _coco(tmp_path, [_ann(1)])
    assert len(load_records(tmp_path, "train")) == 1


def test_image_that_fails_to_decode_is_named_or_skipped(tmp_path):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((64, 64, 3), np.uint8))
    (tmp_path / "b.png").write_bytes(b"not an image")
    p = _coco(tmp_path, [_ann(1), {**_ann(2), "image_id": 2}],
              images=[{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}])
    recs = load_coco(p)
    with pytest.raises(ValueError, match="b.png"):
        ImageCache(recs)
    rep = LoadReport()
    cache = ImageCache(recs, skip_bad=True, report=rep)
    assert rep.skipped == 1 and len(cache.filter(recs)) == 1
