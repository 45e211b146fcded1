"""train.prelabel: the shipped models' hands written as the landmark CSV that training reads."""

import cv2
import numpy as np
import pytest

from tests.conftest import HANDS21, require_shared
from tracker.keypoints import NUM_KEYPOINTS
from train.data import LEFT, RIGHT, load_csv, load_records
from train.prelabel import image_files, label_header, label_row, main, prelabel


class _Result:
    def __init__(self, arr):
        self.arr = arr

    def as_array(self):
        return self.arr


class _Tracker:
    """Answers each call with the next (34, 3) array of ``answers``."""

    def __init__(self, answers):
        self.answers, self.calls = list(answers), 0

    def process(self, frame):
        self.calls += 1
        return _Result(self.answers.pop(0))


def _hand(x0, y0, score=0.9):
    xy = np.stack([x0 + np.arange(NUM_KEYPOINTS, dtype=np.float64), y0 + 2.0 * np.arange(NUM_KEYPOINTS)], 1)
    return np.concatenate([xy, np.full((NUM_KEYPOINTS, 1), score)], 1)


def _array(left=None, right=None):
    a = np.full((2 * NUM_KEYPOINTS, 3), np.nan)
    if left is not None:
        a[:NUM_KEYPOINTS] = left
    if right is not None:
        a[NUM_KEYPOINTS:] = right
    return a


def _images(folder, n):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"img{i}.png"
        cv2.imwrite(str(p), np.full((64, 80, 3), 40 * i, np.uint8))
        paths.append(p)
    return paths


def test_labels_read_back_as_written(tmp_path):
    """Rows written by prelabel load through train.data.load_csv with the same keypoints (to the
    0.01 px the CSV keeps) and sides; an image without a hand is a row without one."""
    imgs = _images(tmp_path / "photos", 3)
    left, right = _hand(10, 5), _hand(40, 8)
    tracker = _Tracker([_array(left, right), _array(right=right), _array()])
    s = prelabel(imgs, tmp_path / "labels.csv", tracker)
    assert (s.images, s.hands, s.empty, s.skipped) == (3, 3, 1, 0)
    rows = (tmp_path / "labels.csv").read_text().splitlines()
    assert rows[0].split(",") == label_header() and len(label_header()) == 1 + 4 * NUM_KEYPOINTS
    assert [r.split(",")[0] for r in rows[1:]] == ["photos/img0.png", "photos/img1.png", "photos/img2.png"]
    recs = load_csv(tmp_path / "labels.csv")
    assert [(r.image.name, r.handedness) for r in recs] == [("img0.png", LEFT), ("img0.png", RIGHT),
                                                             ("img1.png", RIGHT)]
    np.testing.assert_allclose(recs[0].keypoints, left[:, :2], atol=0.005)
    np.testing.assert_allclose(recs[2].keypoints, right[:, :2], atol=0.005)
    assert recs[0].image == (tmp_path / "photos" / "img0.png")


def test_images_outside_the_csv_folder_get_absolute_paths(tmp_path):
    imgs = _images(tmp_path / "elsewhere", 1)
    (tmp_path / "out").mkdir()
    prelabel(imgs, tmp_path / "out" / "labels.csv", _Tracker([_array(_hand(1, 1))]))
    recs = load_csv(tmp_path / "out" / "labels.csv")
    assert recs[0].image == imgs[0].resolve()


@pytest.mark.parametrize("score, min_score, kept", [(0.9, 0.0, True), (0.5, 0.6, False), (0.7, 0.6, True)])
def test_min_score_leaves_unsure_hands_out(score, min_score, kept):
    row = label_row("a.png", _array(left=_hand(0, 0, score)), min_score)
    assert len(row) == 1 + 4 * NUM_KEYPOINTS
    assert (row[1] != "") is kept and row[1 + 2 * NUM_KEYPOINTS] == ""


def test_an_unreadable_image_is_skipped_and_the_others_written(tmp_path, caplog):
    imgs = _images(tmp_path, 2)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    s = prelabel([imgs[0], bad, imgs[1]], tmp_path / "labels.csv", _Tracker([_array(_hand(1, 1))] * 2))
    assert (s.images, s.skipped) == (2, 1) and "broken.png" in caplog.text
    assert len(load_csv(tmp_path / "labels.csv")) == 2


@pytest.mark.parametrize("make, error, match", [
    (lambda t: t / "missing", FileNotFoundError, "does not exist"),
    (lambda t: (t / "clip.mp4").write_bytes(b"x") and t / "clip.mp4", ValueError, "is a video; labels need image files"),
    (lambda t: (t / "notes.txt").write_text("x") and t / "notes.txt", ValueError, "is not an image"),
    (lambda t: (t / "empty").mkdir() or t / "empty", ValueError, "no images"),
])
def test_bad_inputs_name_the_problem(tmp_path, make, error, match):
    with pytest.raises(error, match=match):
        image_files([str(make(tmp_path))])


@pytest.mark.parametrize("extra, match", [
    (["-o", "{tmp}/labels.txt"], "must name a .csv file"),
    (["-o", "{tmp}/nowhere/labels.csv"], "folder of"),
    (["-o", "{tmp}/labels.csv", "--min-score", "2"], "--min-score must be in [0, 1]"),
    (["-o", "{tmp}/labels.csv", "--threads", "0"], "threads must be an integer >= 1"),
])
def test_cli_errors_exit_2_with_one_line(tmp_path, capsys, extra, match):
    _images(tmp_path, 1)
    rc = main([str(tmp_path / "img0.png")] + [a.format(tmp=tmp_path) for a in extra])
    err = capsys.readouterr().err
    assert rc == 2 and match in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "labels.csv").exists()


def test_shipped_models_label_val_photos_close_to_their_labels(tmp_path):
    """Four hands21 val photos with one labelled hand each: the written labels load back and lie
    within 0.1 of the hand's size of the val labels for most points."""
    require_shared(HANDS21)
    recs = load_records(HANDS21, "val")
    by_image = {}
    for r in recs:
        by_image.setdefault(r.image, []).append(r)
    photos = [rs[0] for img, rs in sorted(by_image.items()) if len(rs) == 1][:4]
    folder = tmp_path / "photos"
    folder.mkdir()
    for r in photos:
        (folder / r.image.name).write_bytes(r.image.read_bytes())
    assert main([str(folder), "-o", str(folder / "labels.csv")]) == 0
    got = {r.image.name: r for r in load_csv(folder / "labels.csv")}
    close = 0
    for r in photos:
        g = got.get(r.image.name)
        if g is None:
            continue
        size = float(np.max(r.keypoints.max(0) - r.keypoints.min(0)))
        err = np.linalg.norm(g.keypoints - r.keypoints, axis=1) / size
        close += float(np.mean(err < 0.1)) >= 0.8
    assert close >= 3
