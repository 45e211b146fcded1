"""Session 43 mutation audit of the training tools around the loops: train.pack (moving a data set
to a training machine), train.mine (unlabelled hands for the detector) and train.widen.

Each test here was written for a hand-made bug ("mutant") that the rest of the suite let through
(docs/model_history.md, Session 43, sums up the mutants and what catches them); the expected
behaviour is the modules' documentation: pack's val hands in part 0, its ``--quality``, file names
inside the set; mine's keys relative to the data folder (the file moves with the set), up to five
boxes per photo, and boxes with an area.
"""
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from train.data import HandRecord
from train.mine import load_unlabelled, mine
from train.pack import pack, read_coco

from .test_pack import _set


# == train.pack ===================================================================================
def test_the_val_hands_and_their_photos_are_all_in_part_0(tmp_path):
    """The module doc: part0 holds train.json, val.json and the val photos; the other parts hold
    train photos only (parts filled by size could otherwise take val photos while part 0 is larger)."""
    src = _set(tmp_path / "src", n_train=2, n_val=6)
    parts = pack(src, tmp_path / "out", quality=80, parts=3, val_hands=0)
    val_names = [im["file_name"] for im in json.loads((parts[0] / "val.json").read_text())["images"]]
    assert len(val_names) == 6
    assert all((parts[0] / n).is_file() for n in val_names)
    for p in parts[1:]:
        assert not (p / "images" / "val").exists()
        assert not (p / "val.json").exists() and not (p / "train.json").exists()


def test_quality_sets_the_webp_quality(tmp_path):
    """A lower --quality writes smaller files (the point of packing); the photos are noisy enough
    that WebP's size follows its quality."""
    src = _set(tmp_path / "src", n_train=3, n_val=1)
    sizes = {}
    for q in (20, 95):
        parts = pack(src, tmp_path / f"q{q}", quality=q, parts=1, val_hands=0)
        sizes[q] = sum(f.stat().st_size for f in (parts[0] / "images").rglob("*.webp"))
    assert sizes[20] < 0.8 * sizes[95]


@pytest.mark.parametrize("name, ok", [
    ("images/a.webp", True),
    ("a/b/../c.webp", False),     # climbs: could be written outside --out
    ("../a.webp", False),
    ("/tmp/a.webp", False),
])
def test_image_names_must_stay_inside_the_set(tmp_path, name, ok):
    f = tmp_path / "train.json"
    f.write_text(json.dumps({"images": [{"id": 1, "file_name": name}], "annotations": [{"image_id": 1}]}))
    if ok:
        assert read_coco(f)["images"][0]["file_name"] == name
    else:
        with pytest.raises(ValueError, match="is not a path inside the set"):
            read_coco(f)


# == train.mine ===================================================================================
class _FakeDetector:
    """Returns fixed detections, best first, at most ``max_detections`` of them (as HandDetector)."""

    def __init__(self, boxes_scores):
        self.dets = [SimpleNamespace(box=np.array(b, np.float32), score=s)
                     for b, s in sorted(boxes_scores, key=lambda d: -d[1])]

    def __call__(self, image, score_threshold=0.5, max_detections=2):
        return [d for d in self.dets if d.score >= score_threshold][:max_detections]


def _hand(image: Path, x0: float, y0: float) -> HandRecord:
    kps = np.stack([x0 + np.linspace(0, 40, 17), y0 + np.linspace(0, 40, 17)], 1).astype(np.float32)
    return HandRecord(image=image, keypoints=kps, visible=np.ones(17, np.float32), image_id=1)


def test_mined_boxes_are_keyed_relative_to_the_data_folder_and_keep_several_hands(tmp_path):
    """Keys relative to --data ("/" separators), so that the file (committed, or moved with a packed
    set) loads on another machine; a photo with two hands the labels miss keeps both (the detector
    is asked for up to five boxes, the labelled hand usually being the surest)."""
    root = tmp_path / "data"
    img = root / "images" / "train" / "a.webp"
    det = _FakeDetector([((48, 48, 92, 92), 0.95),       # the labelled hand
                         ((200, 40, 240, 90), 0.8),     # two unlabelled ones
                         ((20, 200, 60, 250), 0.7)])
    out = mine(det, [_hand(img, 50, 50)], {img: np.zeros((300, 300, 3), np.uint8)}, 0.3, root)
    assert list(out) == ["images/train/a.webp"]
    assert sorted(b[:4] for b in out["images/train/a.webp"]) == [[20, 200, 60, 250], [200, 40, 240, 90]]
    # and it loads back keyed like the records of the set where it is now
    f = tmp_path / "u.json"
    f.write_text(json.dumps({"boxes": out}))
    assert list(load_unlabelled(f, root)) == [str(img)]


@pytest.mark.parametrize("box", [[10, 10, 10, 20, 0.9], [10, 10, 20, 10, 0.9]])
def test_a_box_without_area_is_refused(tmp_path, box):
    """x1 > x0 and y1 > y0: a box of zero width or height makes an ignore region that covers nothing."""
    f = tmp_path / "u.json"
    f.write_text(json.dumps({"boxes": {"a.webp": [box]}}))
    with pytest.raises(ValueError, match="a.webp: boxes must be finite"):
        load_unlabelled(f, tmp_path)
