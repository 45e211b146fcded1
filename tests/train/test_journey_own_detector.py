"""A user's own label CSV on its way to the detector and landmark trainers (docs/training.md,
README "Your own labels"): rows written slightly wrong are read right or refused with one error
naming the row, never loaded as other hands than the user labelled. Tiny generated files only."""
import numpy as np
import pytest

from train.data import LoadReport, load_csv, split_by_image

HAND = np.arange(34, dtype=np.float32) + 10.0


def _cells(values):
    return ",".join("" if np.isnan(v) else f"{v:.2f}" for v in values)


def _write(path, rows):
    path.write_text("image,x0,y0\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_windows_backslash_paths_find_the_image_and_split_alike(tmp_path):
    """A CSV written on Windows (``imgs\\a.png``) names the same photos on Linux, where a
    backslash is no separator: it read ``<csv folder>/imgs\\a.png`` and stopped at the image
    load with "image file not found". Its photos also fall on the same side of the val split as
    the same CSV written with slashes (the split hashes the relative path)."""
    (tmp_path / "imgs").mkdir()
    names = [f"p{i}.png" for i in range(20)]
    for n in names:
        (tmp_path / "imgs" / n).write_bytes(b"")
    back = _write(tmp_path / "back.csv", [f"imgs\\{n},{_cells(HAND)}" for n in names])
    fwd = _write(tmp_path / "fwd.csv", [f"imgs/{n},{_cells(HAND)}" for n in names])
    recs_b, recs_f = load_csv(back), load_csv(fwd)
    assert [r.image for r in recs_b] == [tmp_path / "imgs" / n for n in names]
    assert all(r.image.is_file() for r in recs_b)
    val_b = {r.image for r in split_by_image(recs_b, 0.2, tmp_path)[1]}
    val_f = {r.image for r in split_by_image(recs_f, 0.2, tmp_path)[1]}
    assert val_b == val_f and len(val_b) == 4


def test_a_row_listed_twice_is_an_error_naming_both_rows(tmp_path):
    """The same photo with the same hand on two rows (a copy-paste, two exports merged) loaded as
    two identical hands on one photo: the detector then saw two boxes on one hand and the
    evaluation counted one of them as missed. One hand per row for different hands stays fine
    (tests/train/test_data_edge.py)."""
    other = HAND + 100
    for name in ("a.png", "b.png"):   # load_csv checks that the images are there (not their pixels)
        (tmp_path / name).touch()
    p = _write(tmp_path / "labels.csv", [f"a.png,{_cells(HAND)}", f"b.png,{_cells(HAND)}",
                                         f"a.png,{_cells(HAND)}", f"a.png,{_cells(other)}"])
    with pytest.raises(ValueError, match=r"row 4: .*a\.png.*same .*row 2"):
        load_csv(p)
    rep = LoadReport()
    recs = load_csv(p, skip_bad=True, report=rep)
    assert rep.skipped == 1
    a = [r for r in recs if r.image.name == "a.png"]
    assert len(a) == 2 and len(a[0].others) == 1


def test_xy_visibility_triplets_are_refused_not_read_as_three_hands(tmp_path):
    """Two hands written as COCO-style x, y, visibility triplets are 102 values, a multiple of 34:
    they loaded as three hands of mixed coordinates and flags (sides unknown)."""
    xyv = []
    for h in (HAND, HAND + 100):
        for i in range(17):
            xyv += [h[2 * i], h[2 * i + 1], 2.0]
    p = _write(tmp_path / "labels.csv", [f"a.png,{_cells(np.array(xyv))}"])
    with pytest.raises(ValueError, match=r"row 2: .*x, y, visibility"):
        load_csv(p)


@pytest.mark.parametrize("n_values", [42, 84])
def test_21_point_rows_say_so(tmp_path, n_values):
    """Rows of the 21-point layout (MediaPipe's) are refused with a pointer to the 17-point one."""
    p = _write(tmp_path / "labels.csv", [f"a.png,{_cells(np.arange(n_values, dtype=np.float32))}"])
    with pytest.raises(ValueError, match=r"row 2: .*got %d.*21-point" % n_values):
        load_csv(p)
