"""Mining unlabelled hands: detections that meet a labelled hand are dropped; the file loads
keyed like the records' image paths; a bad file is one clear error."""
import json
from pathlib import Path

import numpy as np
import pytest

from train.mine import load_unlabelled, unlabelled_boxes

LABELLED = np.array([[50, 50, 100, 100]], np.float32)


@pytest.mark.parametrize("box, kept", [
    ((60, 60, 90, 90), False),      # on the labelled hand
    ((105, 60, 130, 90), False),    # touches its grown box (fingers past the keypoints)
    ((150, 150, 190, 200), True),   # another hand
    ((0, 0, 30, 30), True),
])
def test_unlabelled_boxes(box, kept):
    out = unlabelled_boxes([(np.array(box, np.float32), 0.8)], LABELLED)
    assert out.shape == ((1, 5) if kept else (0, 5))
    if kept:
        np.testing.assert_allclose(out[0], [*box, 0.8], rtol=1e-6)


def test_load_unlabelled_keys_match_records(tmp_path):
    f = tmp_path / "u.json"
    f.write_text(json.dumps({"boxes": {"images/val/a.webp": [[1, 2, 3, 4, 0.9]]}}))
    d = load_unlabelled(f, Path("../shared/data/hands21"))
    assert list(d) == [str(Path("../shared/data/hands21") / "images/val/a.webp")]
    np.testing.assert_allclose(d[list(d)[0]], [[1, 2, 3, 4]])


@pytest.mark.parametrize("text, err, match", [
    (None, FileNotFoundError, "unlabelled-hands file not found"),
    ("{not json", ValueError, "malformed unlabelled-hands file"),
    ('{"boxes": {"a.webp": [[1, 2]]}}', ValueError, "malformed unlabelled-hands file"),
    # an ignore region that covers nothing, silently
    ('{"boxes": {"a.webp": [[1, 2, NaN, 4, 0.9]]}}', ValueError, "a.webp: boxes must be finite"),
    ('{"boxes": {"a.webp": [[5, 2, 3, 4, 0.9]]}}', ValueError, "a.webp: boxes must be finite"),
    ("folder", ValueError, "is a folder"),
])
def test_bad_unlabelled_file(tmp_path, text, err, match):
    f = tmp_path / "u.json"
    if text == "folder":
        f.mkdir()
    elif text is not None:
        f.write_text(text)
    with pytest.raises(err, match=match):
        load_unlabelled(f, tmp_path)


def test_committed_list_matches_the_train_photos(hands21):
    """assets/unlabelled_train.json (what the shipped detectors trained with) loads keyed like the
    train records, and each box is on its photo and meets no labelled hand there."""
    import cv2

    from train.data import load_records
    from train.scenes import overlaps_any
    root = Path(__file__).resolve().parents[2]
    d = load_unlabelled(root / "assets" / "unlabelled_train.json", hands21)
    assert sum(len(v) for v in d.values()) == 148
    recs = {}
    for r in load_records(hands21, "train"):
        recs.setdefault(str(r.image), []).append(r.box)
    assert set(d) <= set(recs)
    for path, boxes in list(d.items())[:40]:
        h, w = cv2.imread(path).shape[:2]
        # well-formed and on the photo (a hand cut by the edge may have its box run past it)
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        assert (boxes[:, 0] < w).all() and (boxes[:, 2] > 0).all() and (boxes[:, 1] < h).all() and (boxes[:, 3] > 0).all()
        labelled = np.asarray(recs[path], np.float64).reshape(-1, 4)
        assert not any(overlaps_any(*b.astype(np.float64).tolist(), labelled, 0.0) for b in boxes)


@pytest.mark.parametrize("argv, message", [
    (["--data", "{tmp}/hands.csv", "--out", "{tmp}/hands.csv"], "is also --data"),
    (["--detector", "{tmp}/det.onnx", "--out", "{tmp}/./det.onnx"], "is also --detector"),
])
def test_out_naming_an_input_is_refused_before_any_work(tmp_path, capsys, argv, message):
    from train.mine import main
    (tmp_path / "hands.csv").write_text("labels")
    with pytest.raises(SystemExit) as e:
        main([a.format(tmp=tmp_path) for a in argv])
    assert e.value.code == 2 and message in capsys.readouterr().err
    assert (tmp_path / "hands.csv").read_text() == "labels"


def test_mined_boxes_of_photos_outside_the_data_folder_load_keyed_like_their_records(tmp_path):
    """A label CSV may name photos outside its folder by absolute path (train.prelabel writes them
    so): their mined boxes must still reach those photos' records, not ``<folder>/../..`` keys
    that match none."""
    from types import SimpleNamespace

    from train.data import data_root, load_csv
    from train.mine import mine
    (tmp_path / "labels").mkdir()
    inside, outside = tmp_path / "labels" / "a.png", tmp_path / "photos" / "b.png"
    hand = ",".join(str(10 + i) for i in range(34))
    csv_path = tmp_path / "labels" / "hands.csv"
    csv_path.write_text(f"image,x0\na.png,{hand}\n{outside.as_posix()},{hand}\n")
    outside.parent.mkdir()
    for photo in (inside, outside):   # load_csv checks that the images are there (not their pixels)
        photo.touch()
    recs = load_csv(csv_path)

    def det(image, score_threshold, max_detections):   # a second hand far from the labelled one
        return [SimpleNamespace(box=np.array([150, 150, 190, 200], np.float32), score=0.9)]

    cache = {r.image: np.zeros((240, 240, 3), np.uint8) for r in recs}
    boxes = mine(det, recs, cache, 0.3, data_root(csv_path))
    f = tmp_path / "u.json"
    f.write_text(json.dumps({"boxes": boxes}))
    d = load_unlabelled(f, data_root(csv_path))
    assert set(d) == {str(inside), str(outside)} == {str(r.image) for r in recs}
