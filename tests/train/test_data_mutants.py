"""Session 43 mutation audit of the training data loaders (train/data.py): tests for the hand-made
bugs ("mutants") the rest of the suite let through (docs/model_history.md, Session 43): the
handedness words a COCO file may use, a held-out split that does not depend on where the data set
lies, and a CSV image name with a backslash that is a file of that very name."""
import shutil

import pytest

from train.data import LEFT, RIGHT, UNKNOWN, load_coco, load_csv, split_by_image

from .test_augment_scenes_mutants import _coco_file
from .test_journey_own_detector import HAND, _cells


@pytest.mark.parametrize("side, code", [
    ("left", LEFT), ("Left", LEFT), (" LEFT ", LEFT), ("l", LEFT), ("L", LEFT),
    ("right", RIGHT), ("Right", RIGHT), ("r", RIGHT), ("R ", RIGHT),
    ("unknown", UNKNOWN), ("", UNKNOWN), (None, UNKNOWN), ("lefty", UNKNOWN), ("both", UNKNOWN),
])
def test_coco_handedness_words(tmp_path, side, code):
    """Left and right in any case, with spaces around, or by their first letter (as labelling tools
    abbreviate them); anything else is an unknown side (no handedness loss), never a guess."""
    (rec,) = load_coco(_coco_file(tmp_path, {"handedness": side}))
    assert rec.handedness == code


def test_the_held_out_images_do_not_depend_on_where_the_set_lies(tmp_path):
    """split_by_image hashes each image's path relative to the data folder: the same CSV and photos
    in another folder (a copy on a training machine, a packed set) hold out the same photos, so
    val figures of runs on either machine compare."""
    first = tmp_path / "here"
    first.mkdir()
    names = [f"p{i:02d}.png" for i in range(40)]
    for n in names:
        (first / n).touch()
    (first / "labels.csv").write_text("\n".join(f"{n},{_cells(HAND)}" for n in names) + "\n")
    second = tmp_path / "elsewhere" / "deeper" / "copy"
    shutil.copytree(first, second)
    held = []
    for root in (first, second):
        _, val = split_by_image(load_csv(root / "labels.csv"), 0.25, root)
        held.append(sorted(r.image.name for r in val))
    assert len(held[0]) == 10
    assert held[0] == held[1]


def test_a_backslash_name_that_is_a_file_is_that_file(tmp_path):
    """A backslash is read as a folder separator (a CSV written on Windows) only where no file has
    that very name: on Linux ``a\\b.png`` can be a file of its own, which the row then names."""
    literal = tmp_path / "imgs\\a.png"
    literal.touch()
    csv = tmp_path / "labels.csv"
    csv.write_text(f"imgs\\a.png,{_cells(HAND)}\n")
    (rec,) = load_csv(csv)
    assert rec.image == literal and rec.image.is_file()
