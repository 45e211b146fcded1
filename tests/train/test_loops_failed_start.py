"""Session 37 audit: the training CLIs leave no stray --out folder behind a run that failed before
writing anything but its log, and a COCO file that lists one hand twice loads it once."""
import json
import logging
import re

import numpy as np
import pytest

from train.data import LoadReport, load_coco, load_train_val

KP21 = [v for j in range(21) for v in (10.0 + j, 20.0 + 2 * j, 2)]


def _file_handlers_under(folder):
    return [h for h in logging.getLogger().handlers
            if isinstance(h, logging.FileHandler) and str(folder) in h.baseFilename]


@pytest.mark.parametrize("module", ["train.train_landmarks", "train.train_detector"])
def test_a_data_path_typo_leaves_no_out_folder(tmp_path, module):
    """``--data TYPO --out runs/x`` made runs/x (and runs) with a train.log in it, then failed on the
    data path: a stray folder that looked like a run."""
    import importlib
    main = importlib.import_module(module).main
    out = tmp_path / "runs" / "x"
    with pytest.raises(SystemExit, match="data path not found: .*TYPO"):
        main(["--data", str(tmp_path / "TYPO"), "--out", str(out), "--device", "cpu"])
    assert not (tmp_path / "runs").exists()
    assert not _file_handlers_under(tmp_path)   # the log file is closed, not left open on a deleted file


@pytest.mark.parametrize("module, args, message", [
    ("train.train_landmarks", ["--augment", "strong"], "--augment 'strong': unknown"),
    ("train.train_landmarks", ["--lowres-p", "2"], re.escape("--lowres-p 2.0: expected a share in [0, 1]")),
    ("train.train_landmarks", ["--progressive-size", "40"], "--progressive-size 40: expected a multiple of 16"),
    ("train.train_detector", ["--init", "NOPE.pt"], "NOPE.pt"),
    ("train.train_detector", ["--unlabelled", "NOPE.json"], "NOPE.json"),
])
def test_an_option_refused_after_the_log_was_opened_leaves_no_out_folder(tmp_path, module, args, message, capsys):
    """The option values are now refused as usage errors before the run starts (status 2, the
    message on stderr); the missing files as the run's one ``error:`` line (status 1)."""
    import importlib
    main = importlib.import_module(module).main
    args = [a.replace("NOPE", str(tmp_path / "NOPE")) for a in args]
    with pytest.raises(SystemExit) as e:
        main(args + ["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run"), "--device", "cpu"])
    said = e.value.code if isinstance(e.value.code, str) else capsys.readouterr().err
    assert re.search(message, said), said
    assert not (tmp_path / "run").exists()


def test_a_folder_that_was_there_before_is_kept_with_what_it_held(tmp_path):
    """Only a folder the failed run itself made is removed: not the user's own (empty or not), nor
    a run's folder that a resume would continue."""
    from train.train_landmarks import main
    empty, held = tmp_path / "empty", tmp_path / "held"
    empty.mkdir()
    held.mkdir()
    (held / "notes.txt").write_text("mine")
    for out in (empty, held):
        with pytest.raises(SystemExit, match="data path not found"):
            main(["--data", str(tmp_path / "TYPO"), "--out", str(out), "--device", "cpu"])
    assert empty.is_dir()
    assert (held / "notes.txt").read_text() == "mine"
    assert "data path not found" not in (empty / "train.log").read_text()  # errors go to stderr, as before


def test_an_existing_parent_of_out_is_kept(tmp_path):
    from train.train_detector import main
    (tmp_path / "runs").mkdir()
    with pytest.raises(SystemExit, match="data path not found"):
        main(["--data", str(tmp_path / "TYPO"), "--out", str(tmp_path / "runs" / "a" / "b"), "--device", "cpu"])
    assert (tmp_path / "runs").is_dir() and list((tmp_path / "runs").iterdir()) == []


def _coco(tmp_path, anns, name="train.json"):
    p = tmp_path / name
    images = [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}]
    p.write_text(json.dumps({"images": images, "annotations": anns}))
    return p


def _ann(i, image_id, kp=KP21, **kw):
    return {"id": i, "image_id": image_id, "keypoints": list(kp), **kw}


def test_coco_hand_listed_twice_loads_once_with_one_warning(tmp_path, caplog):
    """Two annotations of one image with identical keypoints (a merged export) loaded as two
    hands: the hand weighed double in training, counted twice in evaluation, and each copy had
    the other as a second hand on the photo."""
    other = [v + 40 if i % 3 != 2 else v for i, v in enumerate(KP21)]
    p = _coco(tmp_path, [_ann(1, 1), _ann(2, 1), _ann(3, 1, other), _ann(4, 1),
                         _ann(5, 2, other, handedness="left"), _ann(6, 2, other, handedness="left")])
    with caplog.at_level(logging.WARNING, logger="train.data"):
        recs = load_coco(p)
    assert len(recs) == 3
    a = [r for r in recs if r.image.name == "a.png"]
    assert len(a) == 2 and all(len(r.others) == 1 for r in a)
    assert not np.array_equal(a[0].keypoints, a[1].keypoints)
    b = [r for r in recs if r.image.name == "b.png"]
    assert len(b) == 1 and b[0].others == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "3 annotations" in warnings[0] and "train.json" in warnings[0], warnings


def test_coco_near_duplicates_and_the_same_points_on_other_photos_are_kept(tmp_path, caplog):
    """Only exact copies go: points half a pixel apart, the same points with other labels (which
    of two sides is right is not the loader's to guess) or on another photo all stay."""
    near = list(KP21)
    near[0] += 0.5
    p = _coco(tmp_path, [_ann(1, 1), _ann(2, 1, near), _ann(3, 2), _ann(4, 2, handedness="left"),
                         _ann(5, 2, handedness_score=0.5)])
    with caplog.at_level(logging.WARNING, logger="train.data"):
        recs = load_coco(p)
    assert len(recs) == 5
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_coco_duplicates_count_once_in_the_val_split(tmp_path):
    _coco(tmp_path, [_ann(1, 1), _ann(2, 2)])
    _coco(tmp_path, [_ann(1, 1), _ann(2, 1), _ann(3, 2)], "val.json")
    rep = LoadReport()
    train, val = load_train_val(tmp_path, report=rep)
    assert len(train) == 2 and len(val) == 2
    assert rep.loaded == 4 and rep.skipped == 0
