"""Loader edge cases a user's own files hit: byte-order marks, other encodings, non-finite and
missing values, and COCO files whose ids or fields are not what the format says; each is read
as meant or is one clear error naming the file (and row / annotation)."""
import json

import numpy as np
import pytest

from train.data import LoadReport, load_coco, load_csv

HAND = ",".join(str(10 + i) for i in range(34))
KP21 = [v for j in range(21) for v in (float(j), float(2 * j), 2)]


def test_csv_with_a_byte_order_mark_reads_the_first_path_as_written(tmp_path):
    """Excel's "CSV UTF-8" starts with a BOM (here with CRLF and no header): it is not part of the
    first image path (which then named no file)."""
    p = tmp_path / "labels.csv"
    p.write_bytes(("\ufeffa.png," + HAND + "\r\n").encode("utf-8"))
    (tmp_path / "a.png").touch()   # load_csv checks that the image is there
    recs = load_csv(p)
    assert [r.image for r in recs] == [tmp_path / "a.png"]
    np.testing.assert_allclose(recs[0].keypoints[0], [10, 11])


@pytest.mark.parametrize("content", [
    b"\xe9t\xe9.png," + HAND.encode() + b"\n",                 # Latin-1
    ("a.png," + HAND + "\n").encode("utf-16"),                 # Excel's "Unicode text"
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",            # an image passed as the CSV
])
def test_csv_that_is_not_utf8_text_is_one_error_naming_the_file(tmp_path, content):
    p = tmp_path / "labels.csv"
    p.write_bytes(content)
    with pytest.raises(ValueError, match="labels.csv"):
        load_csv(p)


@pytest.mark.parametrize("cell", ["inf", "-inf", "1e999"])
def test_csv_infinite_value_is_a_row_error_or_a_counted_skip(tmp_path, cell):
    p = tmp_path / "labels.csv"
    p.write_text("image,x0\nb.png," + HAND + "\na.png," + ",".join([cell] + HAND.split(",")[1:]) + "\n")
    (tmp_path / "b.png").touch()   # load_csv checks that the image is there
    with pytest.raises(ValueError, match="labels.csv: row 3: .*not finite"):
        load_csv(p)
    rep = LoadReport()
    recs = load_csv(p, skip_bad=True, report=rep)
    assert [r.image.name for r in recs] == ["b.png"] and rep.skipped == 1


def test_csv_row_without_an_image_path_is_a_row_error(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("image,x0\n  ," + HAND + "\n")
    with pytest.raises(ValueError, match="labels.csv: row 2: empty image path"):
        load_csv(p)
    rep = LoadReport()
    assert load_csv(p, skip_bad=True, report=rep) == [] and rep.skipped == 1


def _coco(tmp_path, images, anns, name="train.json"):
    p = tmp_path / name
    p.write_text(json.dumps({"images": images, "annotations": anns}))
    return p


def test_coco_with_a_byte_order_mark_loads(tmp_path):
    p = tmp_path / "train.json"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [
        {"id": 5, "image_id": 1, "keypoints": KP21}]}).encode())
    assert [r.image for r in load_coco(p)] == [tmp_path / "a.png"]


def test_coco_duplicate_image_id_is_an_error_naming_it(tmp_path):
    """Two image entries with one id: which photo its hands are on is unknown (the loader used to
    put them on the last one without a word)."""
    p = _coco(tmp_path, [{"id": 1, "file_name": "a.png"}, {"id": 1, "file_name": "b.png"}],
              [{"id": 5, "image_id": 1, "keypoints": KP21}])
    with pytest.raises(ValueError, match=r"train.json: .*image id 1 .*a.png.*b.png"):
        load_coco(p)
    rep = LoadReport()
    assert load_coco(p, skip_bad=True, report=rep) == [] and rep.skipped >= 1
    # the same entry listed twice is harmless
    same = _coco(tmp_path, [{"id": 1, "file_name": "a.png"}] * 2, [{"id": 5, "image_id": 1, "keypoints": KP21}],
                 "same.json")
    assert [r.image.name for r in load_coco(same)] == ["a.png"]


@pytest.mark.parametrize("image_id", ["img1", 1.5])
def test_coco_image_id_that_is_not_an_integer_is_named(tmp_path, image_id):
    p = _coco(tmp_path, [{"id": image_id, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
              [{"id": 5, "image_id": image_id, "keypoints": KP21}, {"id": 6, "image_id": 2, "keypoints": KP21}])
    with pytest.raises(ValueError, match=r"train.json: .*not an integer"):
        load_coco(p)
    rep = LoadReport()
    assert [r.image.name for r in load_coco(p, skip_bad=True, report=rep)] == ["b.png"] and rep.skipped >= 1


@pytest.mark.parametrize("data", [{"images": [], "annotations": None}, {"images": None, "annotations": []}])
def test_coco_images_or_annotations_not_a_list(tmp_path, data):
    p = tmp_path / "train.json"
    p.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="train.json is not a COCO keypoints file"):
        load_coco(p)


@pytest.mark.parametrize("extra", [{"handedness_score": "high"}, {"bbox": [0, 0, "w", 3]},
                                   {"bbox": [0, 0, None, 3]}])
def test_coco_malformed_optional_field_names_the_annotation(tmp_path, extra):
    p = _coco(tmp_path, [{"id": 1, "file_name": "a.png"}],
              [{"id": 5, "image_id": 1, "keypoints": KP21}, {"id": 6, "image_id": 1, "keypoints": KP21, **extra}])
    with pytest.raises(ValueError, match=r"train.json: annotation 1 \(id 6\)"):
        load_coco(p)
    rep = LoadReport()
    assert len(load_coco(p, skip_bad=True, report=rep)) == 1 and rep.skipped == 1


def test_csv_image_named_on_several_rows_is_one_image_with_all_its_hands(tmp_path):
    """One hand per row (as annotation tools export): the hands of one photo share its image_id
    and know of each other, as the hands of a two-hand row do (per-photo metrics group by it)."""
    other = ",".join(str(100 + i) for i in range(34))
    p = tmp_path / "labels.csv"
    p.write_text(f"a.png,{HAND}\nb.png,{HAND}\na.png,{other}\n")
    for name in ("a.png", "b.png"):   # load_csv checks that the images are there
        (tmp_path / name).touch()
    recs = load_csv(p)
    a = [r for r in recs if r.image.name == "a.png"]
    b = [r for r in recs if r.image.name == "b.png"]
    assert len(a) == 2 and len(b) == 1
    assert a[0].image_id == a[1].image_id != b[0].image_id
    np.testing.assert_allclose(a[0].others[0], a[1].keypoints)
    np.testing.assert_allclose(a[1].others[0], a[0].keypoints)
    assert b[0].others == []


def test_image_path_naming_a_folder_says_so(tmp_path):
    from train.data import read_image
    (tmp_path / "a.png").mkdir()
    with pytest.raises(FileNotFoundError, match="a.png.*folder|folder.*a.png"):
        read_image(tmp_path / "a.png")
    with pytest.raises(FileNotFoundError, match="image file not found: .*b.png"):
        read_image(tmp_path / "b.png")
