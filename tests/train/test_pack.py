"""train.pack: a re-encoded copy of a COCO set that the loaders read like the original."""
import json
import re

import cv2
import numpy as np
import pytest

from train.data import ImageCache, LoadReport, load_records
from train.pack import main, pack, val_subset


def _set(root, n_train=6, n_val=5):
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("val", n_val)):
        images, anns = [], []
        for i in range(n):
            name = f"images/{split}/im{i}.webp"
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            img = cv2.GaussianBlur(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), (5, 5), 0)
            cv2.imwrite(str(root / name), img, [cv2.IMWRITE_WEBP_QUALITY, 100])
            images.append({"id": i + 1, "file_name": name, "width": 64, "height": 48})
            kp = [v for j in range(21) for v in (10.0 + j, 5.0 + j, 1)]
            anns.append({"id": i + 1, "image_id": i + 1, "keypoints": kp, "handedness": "left",
                         "handedness_score": 0.9})
        (root / f"{split}.json").write_text(json.dumps({"images": images, "annotations": anns,
                                                        "categories": []}))
    return root


def test_pack_parts_load_like_the_original(tmp_path):
    src = _set(tmp_path / "src")
    parts = pack(src, tmp_path / "out", quality=80, parts=2, val_hands=3)
    assert [p.name for p in parts] == ["part0", "part1"]
    # every train image lands in exactly one part, under its original relative name
    names = [sorted(str(f.relative_to(p)) for f in (p / "images" / "train").glob("*")) for p in parts]
    assert sorted(names[0] + names[1]) == [f"images/train/im{i}.webp" for i in range(6)]
    assert names[0] and names[1]
    merged = tmp_path / "merged"
    for p in parts:
        for f in p.rglob("*"):
            if f.is_file():
                (merged / f.relative_to(p)).parent.mkdir(parents=True, exist_ok=True)
                (merged / f.relative_to(p)).write_bytes(f.read_bytes())
    a, b = load_records(src, "train"), load_records(merged, "train")
    assert len(a) == len(b) == 6
    np.testing.assert_array_equal(a[0].keypoints, b[0].keypoints)
    cache = ImageCache(b, report=LoadReport())
    img0 = cv2.imread(str(src / "images/train/im0.webp"))
    assert cache[b[0].image].shape == img0.shape  # same size: keypoints stay valid
    assert np.abs(cache[b[0].image].astype(int) - img0).mean() < 8  # lossy, but close
    assert len(load_records(merged, "val")) == 3


def test_val_subset_is_the_training_loops_draw():
    data = {"images": [{"id": i} for i in range(10)],
            "annotations": [{"id": i, "image_id": i} for i in range(10)]}
    sub = val_subset(data, 4, seed=0)
    want = sorted(np.random.default_rng(0).permutation(10)[:4].tolist())
    assert [a["id"] for a in sub["annotations"]] == want
    assert [im["id"] for im in sub["images"]] == want
    assert len(val_subset(data, 0, seed=0)["annotations"]) == 10


@pytest.mark.parametrize("args,match,code", [
    (["--data", "{missing}", "--out", "{out}"], "train.json not found", 1),
    # option values: argparse's usage errors
    (["--data", "{src}", "--out", "{out}", "--quality", "0"], "--quality must be >= 1", 2),
    (["--data", "{src}", "--out", "{out}", "--quality", "101"], "--quality must be at most 100", 2),
    (["--data", "{src}", "--out", "{out}", "--parts", "0"], "--parts must be >= 1", 2),
    (["--data", "{src}", "--out", "{file}"], "--out .*file.txt: is a file", 2),   # an OSError: a traceback before
])
def test_pack_cli_errors(tmp_path, capsys, args, match, code):
    src = _set(tmp_path / "src", 1, 1)
    (tmp_path / "file.txt").write_text("not a folder")
    fill = {"missing": str(tmp_path / "nope"), "out": str(tmp_path / "o"), "src": str(src),
            "file": str(tmp_path / "file.txt")}
    with pytest.raises(SystemExit) as e:
        main([a.format(**fill) for a in args])
    assert e.value.code == code or code == 1 and str(e.value.code).startswith("error:")
    assert re.search(match, str(e.value.code) + capsys.readouterr().err)
