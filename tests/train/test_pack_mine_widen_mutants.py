"""Session 46 mutation audit of train/pack.py, train/mine.py and train/widen.py: tests that kill
hand-made mutants the earlier tests (test_pack.py, test_mine.py, test_widen.py,
test_tools_mutants.py, test_tools_bad_input.py, the pack/mine/widen part of
test_tools_cli_fuzz.py, test_portability.py, the docs tests, test_loops_resume.py's
widened run) let through. Session 43 audited these modules with 24 mutants of its own; this is a
second, independent set. Everything runs on generated photos, small nets and a stand-in detector
(no models, no shared data).

Mutants killed here (62 made; 33 were already caught by the earlier tests, 28 are killed here, 1
left):

- K2 / K3 / K4 ``read_coco``: an empty ``file_name``, an image without an ``id``, an annotation
  without an ``image_id`` accepted
- K6 ``reencode`` returning 1 (a photo count) for the bytes written: parts balanced by count
- K9 ``val_subset``: ``if n > 1`` for ``if n`` (--val-hands 1 kept every val hand)
- K10 ``pack``: --out equal to --data no longer refused (only a folder above it)
- K12 ``pack``: the val photos not checked before the first write (a half-written pack)
- K14 / K15 / K16 ``pack``: quality 101, parts 0 (an IndexError), seed -1 (numpy's own error)
  accepted by the function (argparse checks them for the command only)
- K17 / K18 / K19 ``main``: --quality, --parts, --val-hands defaults other than 75, 2, 800
- K20 ``main``: --seed not passed on (the val hands of seed 0)
- K21 ``pack``: the val photos' bytes not counted in part 0 (train photos split as if it were empty)
- M3 ``mine``: a fixed detector threshold, not ``threshold``
- M5 ``mine``: photos whose hands are all labelled listed with no boxes
- M6 ``mine``: boxes and scores rounded to whole numbers (a score read 0 or 1)
- M7 / M8 ``mine``: a photo's detections checked against its first labelled hand only, or per hand
- M15 ``main``: a --threshold default other than 0.3
- M16 ``main``: "photos" counting hands, not photos
- M17 ``main``: --threads not passed to the detector
- M18 ``main``: keys relative to the label CSV itself, not its folder (absolute keys)
- W1 ``widen_checkpoint``: --expand not checked by the function (NaN, 1e30 failed in build_net)
- W5 ``widen_checkpoint``: the same --expand refused (the help says ``>= the old one``)
- W6 ``widen_checkpoint``: a model_config without ``expand`` not read as 1.0
- W17 ``widen_checkpoint``: the old weights not loaded into the wider net (a fresh net written);
  the end-to-end test also kills W8 / W12 / W16 (old weights, old config, old expand written),
  which only the slow training test caught before

Left alive, equivalent:

- W2 dropping ``widen_checkpoint``'s own ``dst.is_dir()`` refusal: ``check_output_path`` refuses a
  folder on the next line with the same words ("is a folder; name the file to write"); only the
  example name ``.../last.pt`` in the message is lost.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import train.pack as pk
from tests.nets import randomize_bn
from train.common import MAX_WIDTH
from train.mine import mine
from train.model import LandmarkModelConfig, LandmarkNet, build_net
from train.widen import widen_checkpoint

from .test_tools_mutants import _FakeDetector, _hand
from .test_pack import _set


def _packed(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``: {relative path: bytes}."""
    return {f.relative_to(folder).as_posix(): f.read_bytes() for f in sorted(folder.rglob("*")) if f.is_file()}


# == pack: read_coco ==============================================================================
@pytest.mark.parametrize("images, anns", [
    ([{"id": 1, "file_name": ""}], [{"image_id": 1}]),            # K2: an empty name (the set's folder)
    ([{"file_name": "images/a.webp"}], [{"image_id": 1}]),         # K3: no id (its hands match no image)
    ([{"id": 1, "file_name": "images/a.webp"}], [{"id": 1}]),      # K4: a hand of no image
], ids=["empty-file-name", "image-without-id", "annotation-without-image-id"])
def test_read_coco_refuses_entries_pack_cannot_use(tmp_path, images, anns):
    f = tmp_path / "train.json"
    f.write_text(json.dumps({"images": images, "annotations": anns}))
    with pytest.raises(ValueError, match=r"train\.json: an (image entry|annotation) without"):
        pk.read_coco(f)


# == pack: reencode and the parts' sizes ==========================================================
def test_reencode_returns_the_bytes_it_wrote(tmp_path):
    """K6: the part sizes are summed from this value ("parts of about equal size")."""
    src = tmp_path / "a.png"
    cv2.imwrite(str(src), np.random.default_rng(1).integers(0, 255, (40, 50, 3), dtype=np.uint8))
    n = pk.reencode(src, tmp_path / "out" / "a.webp", 60)
    assert n == (tmp_path / "out" / "a.webp").stat().st_size > 100


def test_train_photos_fill_the_part_that_is_smaller_counting_the_val_photos(tmp_path):
    """K6 / K21: part 0 already holds the val photos; train photos far smaller than them all go to
    part 1, which stays the smaller (photos counted, or the val bytes left out, put half in part 0)."""
    src = _set(tmp_path / "src", n_train=4, n_val=1)
    noise = np.random.default_rng(2).integers(0, 255, (160, 160, 3), dtype=np.uint8)
    cv2.imwrite(str(src / "images/val/im0.webp"), noise, [cv2.IMWRITE_WEBP_QUALITY, 100])
    for i in range(4):
        cv2.imwrite(str(src / f"images/train/im{i}.webp"), np.full((48, 64, 3), 100, np.uint8))
    parts = pk.pack(src, tmp_path / "out", quality=90, parts=2, val_hands=0)
    assert sorted(p.name for p in (parts[1] / "images" / "train").iterdir()) == [f"im{i}.webp" for i in range(4)]
    assert not (parts[0] / "images" / "train").exists()


# == pack: val_subset =============================================================================
def test_one_val_hand_is_one_hand():
    """K9: --val-hands 1 keeps the one hand of the training loops' draw (0 alone means all)."""
    data = {"images": [{"id": i} for i in range(6)], "annotations": [{"id": i, "image_id": i} for i in range(6)]}
    sub = pk.val_subset(data, 1, seed=4)
    first = int(np.random.default_rng(4).permutation(6)[0])
    assert [a["id"] for a in sub["annotations"]] == [first] and [im["id"] for im in sub["images"]] == [first]


# == pack: checks before the first write ==========================================================
def test_out_that_is_the_data_folder_itself_is_refused(tmp_path):
    """K10: --out equal to --data (not only a folder above it) would write part0 into the set."""
    src = _set(tmp_path / "src", 2, 2)
    before = _packed(src)
    with pytest.raises(ValueError, match="holds --data"):
        pk.pack(src, tmp_path / "src" / ".", parts=1, val_hands=0)
    assert _packed(src) == before


def test_a_missing_val_photo_is_found_before_anything_is_written(tmp_path):
    """K12: the val photos are checked with the train ones before the first write."""
    src = _set(tmp_path / "src", 2, 3)
    (src / "images/val/im1.webp").unlink()
    with pytest.raises(FileNotFoundError, match=r"images/val/im1\.webp not found"):
        pk.pack(src, tmp_path / "out", parts=2, val_hands=0)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("option, value, ok", [
    ("quality", 0, False), ("quality", 1, True), ("quality", 100, True),
    ("quality", 101, False),                                        # K14
    ("parts", 0, False),                                            # K15: IndexError before
    ("parts", 1, True), ("parts", pk.MAX_PARTS + 1, False),
    ("val_hands", -1, False), ("val_hands", 0, True),
    ("seed", -1, False),                                            # K16: numpy's own error before
    ("seed", 0, True),
])
def test_pack_checks_its_options_itself(tmp_path, option, value, ok):
    """pack() called from Python (not through argparse's checks) keeps the documented ranges."""
    src = _set(tmp_path / "src", 1, 2)
    kw = dict(quality=75, parts=1, val_hands=1, seed=0) | {option: value}
    if ok:
        assert len(pk.pack(src, tmp_path / "out", **kw)) == kw["parts"]
    else:
        flag = "--" + option.replace("_", "-")
        with pytest.raises(ValueError, match=f"{flag} must be"):
            pk.pack(src, tmp_path / "out", **kw)
        assert not (tmp_path / "out").exists()


# == pack: main ===================================================================================
def test_main_defaults_are_the_documented_ones(tmp_path):
    """K17 / K18 / K19: ``--quality 75``, ``--parts 2``, ``--val-hands 800``, ``--seed 0`` by default:
    the command without them writes what pack() writes with those values spelled out. The val set
    has 801 hands (on two photos) so that 800 is not "all"."""
    src = _set(tmp_path / "src", n_train=4, n_val=2)
    val = json.loads((src / "val.json").read_text())
    val["annotations"] = [{**val["annotations"][i % 2], "id": i + 1} for i in range(801)]
    (src / "val.json").write_text(json.dumps(val))
    pk.main(["--data", str(src), "--out", str(tmp_path / "cli")])
    pk.pack(src, tmp_path / "ref", quality=75, parts=2, val_hands=800, seed=0)
    got = _packed(tmp_path / "cli")
    assert got == _packed(tmp_path / "ref")
    assert len(json.loads(got["part0/val.json"])["annotations"]) == 800
    assert sorted({p.split("/")[0] for p in got}) == ["part0", "part1"]


def test_main_passes_the_seed_on(tmp_path):
    """K20: ``--seed 1 --val-hands 2`` keeps the two hands the training loops draw with seed 1
    (seed 0 draws another pair of these 5)."""
    src = _set(tmp_path / "src", n_train=1, n_val=5)
    pk.main(["--data", str(src), "--out", str(tmp_path / "o"), "--parts", "1", "--val-hands", "2", "--seed", "1"])
    want = sorted(int(i) + 1 for i in np.random.default_rng(1).permutation(5)[:2])   # ids are 1-based
    assert want != sorted(int(i) + 1 for i in np.random.default_rng(0).permutation(5)[:2])
    got = json.loads((tmp_path / "o" / "part0" / "val.json").read_text())
    assert [a["id"] for a in got["annotations"]] == want


# == mine: mine() =================================================================================
def _mine_one(tmp_path, hands, found, threshold=0.3):
    """mine() over one photo ``a.webp`` with labelled ``hands`` (top-left corners of 40 px hands)
    and a detector that finds ``found`` [(box, score)]."""
    img = tmp_path / "data" / "a.webp"
    recs = [_hand(img, x, y) for x, y in hands]
    return mine(_FakeDetector(found), recs, {img: np.zeros((300, 300, 3), np.uint8)}, threshold, tmp_path / "data")


def test_a_photo_whose_hands_are_all_labelled_is_not_listed(tmp_path):
    """M5 / M7 / M8: the file lists the photos with unlabelled hands ("boxes": photo -> boxes); a
    photo whose two hands are both labelled has no entry, not an empty one."""
    out = _mine_one(tmp_path, [(50, 50), (200, 40)], [((48, 48, 92, 92), 0.9), ((198, 38, 242, 82), 0.8)])
    assert out == {}


def test_the_threshold_reaches_the_detector(tmp_path):
    """M3: boxes under ``threshold`` are not kept (0.5 here; a fixed 0.3 kept the 0.4 one)."""
    out = _mine_one(tmp_path, [(50, 50)], [((200, 40, 240, 90), 0.4), ((20, 200, 60, 250), 0.6)], threshold=0.5)
    assert [b[:4] for b in out["a.webp"]] == [[20, 200, 60, 250]]


def test_boxes_and_scores_are_kept_to_a_tenth(tmp_path):
    """M6: the file keeps the detector's box and score to 0.1 (rounded to whole numbers, a score of
    0.87 read 1.0 and one under 0.5 read 0)."""
    box, score = (20.26, 200.04, 60.31, 249.96), 0.37
    out = _mine_one(tmp_path, [(50, 50)], [(box, score)])
    np.testing.assert_allclose(out["a.webp"], [[*box, score]], atol=0.05 + 1e-6)


def test_the_tenths_are_written_as_tenths(tmp_path):
    """The rounding is done in float64: rounded in the detector's float32, a score of 0.4 went
    into the JSON as 0.4000000059604645 (session 46)."""
    box, score = (20.26, 200.04, 60.31, 249.96), 0.37
    out = _mine_one(tmp_path, [(50, 50)], [(box, score)])
    assert out["a.webp"] == [[20.3, 200.0, 60.3, 250.0, 0.4]]
    assert json.dumps(out["a.webp"]) == "[[20.3, 200.0, 60.3, 250.0, 0.4]]"


# == mine: main ===================================================================================
def _hand_cells(x0, y0):
    """The 34 CSV cells of a 40 px hand with its top-left corner at (x0, y0)."""
    t = np.linspace(0, 40, 17)
    return [f"{v:g}" for p in zip(x0 + t, y0 + t) for v in p]


@pytest.fixture
def mine_cli(tmp_path, monkeypatch):
    """A label CSV (a.png: two hands, b.png: one) and a stand-in detector that finds on every photo
    a hand away from the labelled ones scored 0.4 and another scored 0.2; returns
    (run(*options) -> the written JSON, the threads the detector was built with)."""
    import train.mine as mn
    folder = tmp_path / "labels"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), np.zeros((240, 240, 3), np.uint8))
    rows = ["image,x0", ",".join(["a.png", *_hand_cells(10, 10), *_hand_cells(80, 20)]),
            ",".join(["b.png", *_hand_cells(10, 10)])]
    (folder / "hands.csv").write_text("\n".join(rows) + "\n")
    det = _FakeDetector([((150, 150, 190, 200), 0.4), ((20, 180, 60, 230), 0.2)])
    det.meta = {"model_version": "stand-in"}
    built = []

    def build(path, threads=None):
        built.append(threads)
        return det

    monkeypatch.setattr(mn, "HandDetector", build)

    def run(*options):
        out = tmp_path / "u.json"
        mn.main(["--data", str(folder / "hands.csv"), "--split", "all", "--out", str(out), *options])
        return json.loads(out.read_text())
    return run, built


def test_mine_main_writes_the_documented_file(mine_cli):
    """M15 / M16 / M18: by default boxes scored >= 0.3 are kept; "photos" counts photos (2), not
    hands (3); keys are relative to the label CSV's folder."""
    run, _ = mine_cli
    got = run()
    boxes = got.pop("boxes")
    assert got == {"detector": "stand-in", "threshold": 0.3, "photos": 2}
    assert sorted(boxes) == ["a.png", "b.png"]
    for v in boxes.values():
        np.testing.assert_allclose(v, [[150, 150, 190, 200, 0.4]], rtol=1e-6)


def test_mine_main_passes_threshold_and_threads_on(mine_cli):
    """M17: ``--threads`` builds the detector (default 2); ``--threshold 0.1`` keeps the 0.2 box."""
    run, threads = mine_cli
    got = run("--threads", "1", "--threshold", "0.1")
    assert got["threshold"] == 0.1 and [len(v) for v in got["boxes"].values()] == [2, 2]
    run()
    assert threads == [1, 2]


# == widen ========================================================================================
@pytest.fixture
def landmark_ckpt(tmp_path):
    """A checkpoint of a small landmark net (random batch-norm statistics, so that a widening that
    lost them shows) with loop state and an optimiser, as the loops write it."""
    torch.manual_seed(0)
    cfg = LandmarkModelConfig(input_size=64)
    net = randomize_bn(LandmarkNet(cfg)).eval()
    ck = tmp_path / "last.pt"
    torch.save({"model": net.state_dict(), "model_config": cfg.to_dict(), "optimizer": {"state": {}},
                "state": {"step": 7}}, ck)
    return ck, net


def _outputs(net, x):
    with torch.no_grad():
        return [o.clone() for o in net.eval()(x)]


def test_the_widened_checkpoint_file_computes_what_the_old_one_did(tmp_path, landmark_ckpt):
    """W8 / W12 / W16 / W17 (end to end through the file): the written checkpoint's net, built from
    its own model_config, is wider and gives the old outputs; the loop state goes with it, not the
    optimiser (its moments have the old shapes)."""
    src, old = landmark_ckpt
    widen_checkpoint(src, tmp_path / "w" / "last.pt", 1.5)
    ck = torch.load(tmp_path / "w" / "last.pt", weights_only=False)
    assert ck["model_config"]["expand"] == 1.5 and ck["state"] == {"step": 7} and "optimizer" not in ck
    wide = build_net(ck["model_config"])
    wide.load_state_dict(ck["model"])
    assert sum(p.numel() for p in wide.parameters()) > 1.3 * sum(p.numel() for p in old.parameters())
    x = torch.randn(2, 3, 64, 64)
    for a, b in zip(_outputs(old, x), _outputs(wide, x)):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("expand", [float("nan"), float("inf"), 1e30, 2 * MAX_WIDTH])
def test_widen_checkpoint_checks_expand_itself(tmp_path, landmark_ckpt, expand):
    """W1: called from Python (no argparse), an --expand the loops refuse is a ValueError naming
    --expand, before anything is written (a NaN or 1e30 failed inside build_net, or wrote a
    checkpoint no run resumes)."""
    with pytest.raises(ValueError, match="--expand"):
        widen_checkpoint(landmark_ckpt[0], tmp_path / "w" / "last.pt", expand)
    assert not (tmp_path / "w").exists()


def test_widening_to_the_same_expand_is_allowed(tmp_path, landmark_ckpt):
    """W5: the help says ``>= the old one``: the same multiplier is a copy without the optimiser."""
    src, old = landmark_ckpt
    out = widen_checkpoint(src, tmp_path / "same.pt", 1.0)
    assert out["model_config"]["expand"] == 1.0
    for k, v in old.state_dict().items():
        torch.testing.assert_close(out["model"][k], v)


def test_a_checkpoint_without_expand_counts_as_expand_1(tmp_path, landmark_ckpt):
    """W6: a model_config written before ``expand`` existed means 1.0 (as the loops read it), so
    widening it to 1.2 is allowed and 0.8 is below it."""
    src, _ = landmark_ckpt
    ck = torch.load(src, weights_only=False)
    del ck["model_config"]["expand"]
    torch.save(ck, tmp_path / "old.pt")
    assert widen_checkpoint(tmp_path / "old.pt", tmp_path / "w.pt", 1.2)["model_config"]["expand"] == 1.2
    with pytest.raises(ValueError, match="below the checkpoint's 1.0"):
        widen_checkpoint(tmp_path / "old.pt", tmp_path / "w2.pt", 0.8)
