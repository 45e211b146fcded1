"""Audit (session 36) of the label loaders and train.prelabel with malformed user files: each bad
value is one error naming the file and annotation / row (or a counted skip with ``skip_bad``),
never a label read wrong without a word; prelabel's CSV reads back whatever the file names."""
import json
import math
import os

import cv2
import numpy as np
import pytest

from tracker.keypoints import NUM_KEYPOINTS
from train.data import LoadReport, load_coco, load_csv
from train.prelabel import prelabel

HAND = ",".join(str(10 + i) for i in range(2 * NUM_KEYPOINTS))


def _kp21(v=2):
    return [x for j in range(21) for x in (float(10 + j), float(20 + 2 * j), v)]


def _coco(tmp_path, anns, name="train.json"):
    p = tmp_path / name
    # allow_nan: Python's json writes NaN / Infinity, as a script filling scores from numpy would
    p.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
                             "annotations": [{"id": 9, "image_id": 2, "keypoints": _kp21()}] + anns},
                            allow_nan=True))
    return p


def _refused_or_skipped(p, match):
    with pytest.raises(ValueError, match=match):
        load_coco(p)
    rep = LoadReport()
    recs = load_coco(p, skip_bad=True, report=rep)
    assert [r.image.name for r in recs] == ["b.png"] and rep.skipped == 1


@pytest.mark.parametrize("extra", [{"handedness_score": math.nan}, {"handedness_score": math.inf},
                                   {"bbox": [0, 0, math.inf, 30]}, {"bbox": [0, 0, math.nan, 30]}])
def test_coco_non_finite_score_or_bbox_is_refused(tmp_path, extra):
    """A NaN handedness_score became a NaN loss weight (clamp keeps NaN) and an infinite bbox an
    infinite PCK normaliser (every point counted right); both loaded without a word."""
    p = _coco(tmp_path, [{"id": 5, "image_id": 1, "keypoints": _kp21(), **extra}])
    _refused_or_skipped(p, r"train.json: annotation 1 \(id 5\): .*not finite")


@pytest.mark.parametrize("flag", [5, -1, 0.5, 3])
def test_coco_visibility_flag_outside_0_1_2_is_refused(tmp_path, flag):
    """COCO's third value per point is 0, 1 or 2; anything else (a confidence, or x..., y..., v...
    laid out by coordinate) was read as visible or not by its sign, a wrong label without a word."""
    kp = _kp21()
    kp[3 * 4 + 2] = flag
    p = _coco(tmp_path, [{"id": 5, "image_id": 1, "keypoints": kp}])
    _refused_or_skipped(p, r"train.json: annotation 1 \(id 5\): .*visibility .*keypoint 4.* 0, 1 or 2")


def test_coco_points_laid_out_by_coordinate_are_refused(tmp_path):
    """x0..x20, y0..y20, v0..v20 (63 numbers too) read as 21 triplets gives nonsense points."""
    xs, ys = [float(30 + j) for j in range(21)], [float(60 + j) for j in range(21)]
    p = _coco(tmp_path, [{"id": 5, "image_id": 1, "keypoints": xs + ys + [2] * 21}])
    _refused_or_skipped(p, r"annotation 1 \(id 5\): .*visibility")


@pytest.mark.parametrize("image_id, said", [(99, "99"), ("1", "'1'"), (None, "None"), ([1], r"\[1\]")])
def test_coco_annotation_whose_image_id_names_no_image_says_so(tmp_path, image_id, said):
    """It said 'missing 99' (or, for a list, 'keypoints are not numbers')."""
    p = _coco(tmp_path, [{"id": 5, "image_id": image_id, "keypoints": _kp21()}])
    _refused_or_skipped(p, rf"train.json: annotation 1 \(id 5\): image_id {said} is not the id of an image")


def test_coco_annotation_that_is_not_an_object_says_so(tmp_path):
    p = _coco(tmp_path, [[1, 2, 3]])
    _refused_or_skipped(p, r"train.json: annotation 1 .*not an object")


def test_csv_header_after_blank_lines_is_a_header(tmp_path):
    """Blank lines are skipped everywhere, but the header was recognised on line 1 only: after a
    blank first line it was a 'non-numeric value' error (or, with skip_bad, a counted skip)."""
    p = tmp_path / "labels.csv"
    p.write_text("\n\nimage,x0,y0\na.png," + HAND + "\n")
    (tmp_path / "a.png").touch()   # load_csv checks that the image is there
    rep = LoadReport()
    recs = load_csv(p, report=rep)
    assert [r.image for r in recs] == [tmp_path / "a.png"] and rep.skipped == 0
    np.testing.assert_allclose(recs[0].keypoints[0], [10, 11])


def test_csv_file_name_with_outer_spaces_names_that_file(tmp_path):
    """prelabel writes a file name as it is; the loader stripped it and named another file."""
    cv2.imwrite(str(tmp_path / " a .png"), np.zeros((8, 8, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "b.png"), np.zeros((8, 8, 3), np.uint8))
    p = tmp_path / "labels.csv"
    p.write_text(" a .png," + HAND + "\n b.png ," + HAND + "\n")
    assert [r.image.name for r in load_csv(p)] == [" a .png", "b.png"]   # " b.png ": no such file, read stripped


class _Tracker:
    def __init__(self):
        self.calls = 0

    def process(self, frame):
        self.calls += 1
        a = np.full((2 * NUM_KEYPOINTS, 3), np.nan)
        a[:NUM_KEYPOINTS] = np.c_[np.arange(NUM_KEYPOINTS) + 1.0, np.arange(NUM_KEYPOINTS) + 2.0,
                                  np.full(NUM_KEYPOINTS, 0.9)]
        return type("R", (), {"as_array": lambda self: a})()


@pytest.mark.skipif(os.name != "posix", reason="a file name that is not UTF-8 needs a POSIX file system")
def test_prelabel_skips_a_file_name_that_is_not_utf8_and_writes_the_others(tmp_path, caplog):
    """A Latin-1 file name ended the run in a UnicodeEncodeError traceback (the CSV is UTF-8, and
    load_csv refuses any other)."""
    good = tmp_path / "good.png"
    bad = tmp_path / os.fsdecode(b"caf\xe9.png")
    cv2.imwrite(str(good), np.zeros((8, 8, 3), np.uint8))
    os.rename(good, bad)                   # cv2 cannot write to that name itself
    cv2.imwrite(str(good), np.zeros((8, 8, 3), np.uint8))
    tracker = _Tracker()
    s = prelabel([bad, good], tmp_path / "labels.csv", tracker)
    assert (s.images, s.skipped) == (1, 1) and tracker.calls == 1
    assert "not UTF-8" in caplog.text and "caf" in caplog.text
    assert [r.image.name for r in load_csv(tmp_path / "labels.csv")] == ["good.png"]


def test_prelabel_file_names_with_commas_quotes_and_spaces_read_back(tmp_path):
    names = [" lead.png", 'a,b "q".png', "trail .png"]
    for n in names:
        cv2.imwrite(str(tmp_path / n), np.zeros((8, 8, 3), np.uint8))
    prelabel([tmp_path / n for n in names], tmp_path / "labels.csv", _Tracker())
    assert [r.image for r in load_csv(tmp_path / "labels.csv")] == [tmp_path / n for n in names]
