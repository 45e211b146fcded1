"""COCO and CSV loaders on small generated files, and their errors for bad input."""
import json
import logging

import cv2
import numpy as np
import pytest

from train.data import (LEFT, RIGHT, UNKNOWN, ImageCache, LoadReport, load_coco, load_csv, load_records,
                        load_train_val, split_by_image)


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
    for name in ("a.png", "b.png", "c.png"):   # load_csv checks that the images are there (not their pixels)
        (tmp_path / name).touch()
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


def _two_hand_csv(tmp_path, n_images, name="labels.csv"):
    a = np.arange(34, dtype=np.float32)
    rows = ["image,x0,y0"] + [_csv_row(f"img{i:03d}.png", [a, a + 100]) for i in range(n_images)]
    for i in range(n_images):   # load_csv checks that the images are there (their pixels are not read)
        (tmp_path / f"img{i:03d}.png").touch()
    p = tmp_path / name
    p.write_text("\n".join(rows) + "\n")
    return p


@pytest.mark.parametrize("n_images, fraction, n_val", [(40, 0.1, 4), (40, 0.25, 10), (3, 0.1, 1), (2, 0.9, 1)])
def test_a_single_file_is_split_by_whole_images(tmp_path, n_images, fraction, n_val):
    """train_landmarks / train_detector --data one file: a share of its images (both hands of each)
    is held out, so validation never sees a training hand."""
    train, val = load_train_val(_two_hand_csv(tmp_path, n_images), val_fraction=fraction)
    train_imgs, val_imgs = {r.image for r in train}, {r.image for r in val}
    assert len(val_imgs) == n_val and not train_imgs & val_imgs
    assert len(train) + len(val) == 2 * n_images
    assert all(sum(r.image == img for r in val) == 2 for img in val_imgs)     # both hands held out


def test_the_split_does_not_depend_on_row_order_or_added_rows(tmp_path):
    recs = load_csv(_two_hand_csv(tmp_path, 30))
    _, val = split_by_image(recs, 0.2, tmp_path)
    _, val_reversed = split_by_image(recs[::-1], 0.2, tmp_path)
    assert {r.image for r in val} == {r.image for r in val_reversed}
    more = load_csv(_two_hand_csv(tmp_path, 31, "more.csv"))
    _, val_more = split_by_image(more, 0.2, tmp_path)
    # an image held out stays held out when one row is added (ranks shift by at most one)
    assert len({r.image for r in val} - {r.image for r in val_more}) <= 1


@pytest.mark.parametrize("n_images, fraction", [(1, 0.1), (10, 0.0)])
def test_nothing_is_held_out_from_one_image_or_at_fraction_0(tmp_path, caplog, n_images, fraction):
    with caplog.at_level(logging.WARNING):
        train, val = load_train_val(_two_hand_csv(tmp_path, n_images), val_fraction=fraction)
    assert [r.image for r in train] == [r.image for r in val]
    assert "validating on the training hands" in caplog.text


def test_a_dataset_folder_keeps_its_own_splits(tmp_path):
    _two_hand_csv(tmp_path, 5, "train.csv")
    _two_hand_csv(tmp_path, 2, "val.csv")
    train, val = load_train_val(tmp_path, val_fraction=0.5)
    assert (len(train), len(val)) == (10, 4)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 2])
def test_val_fraction_out_of_range(tmp_path, fraction):
    with pytest.raises(ValueError, match=r"--val-fraction must be in \[0, 1\)"):
        load_train_val(_two_hand_csv(tmp_path, 3), val_fraction=fraction)
