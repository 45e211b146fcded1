"""The less-travelled training tools (prelabel, pack, widen, mine, sanity, curves) on bad input:
one clear line naming the option and its value, no traceback, nothing already written lost."""
import json

import cv2
import numpy as np
import pytest
import torch

from tests.train.test_pack import _set
from tests.train.test_prelabel import _array, _hand, _images, _Tracker


# --- prelabel ---------------------------------------------------------------------------------

def _stub_tracker(monkeypatch, answers=None):
    """``main`` with a stand-in for the shipped models (no onnxruntime session)."""
    import tracker

    class _Stub(_Tracker):
        def __init__(self, **kw):
            super().__init__(answers or [_array(_hand(1, 1))] * 50)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(tracker, "HandTracker", _Stub)


def test_prelabel_refuses_to_replace_an_existing_label_file(tmp_path, capsys, monkeypatch):
    """Re-running the documented command (``-o my_photos/labels.csv``) after correcting the labels
    replaced the corrections with the models' guesses, without a word."""
    from train.prelabel import main
    _stub_tracker(monkeypatch)
    _images(tmp_path, 2)
    out = tmp_path / "labels.csv"
    out.write_text("corrected by hand\n")
    rc = main([str(tmp_path), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "already exists" in err and "--overwrite" in err and str(out) in err
    assert len(err.strip().splitlines()) == 1
    assert out.read_text() == "corrected by hand\n"
    assert main([str(tmp_path), "-o", str(out), "--overwrite"]) == 0
    assert out.read_text().startswith("image,")


def test_prelabel_output_that_is_a_folder_is_one_line_error(tmp_path, capsys, monkeypatch):
    from train.prelabel import main
    _stub_tracker(monkeypatch)
    _images(tmp_path, 1)
    (tmp_path / "labels.csv").mkdir()
    rc = main([str(tmp_path / "img0.png"), "-o", str(tmp_path / "labels.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "-o/--out" in err and "folder" in err and len(err.strip().splitlines()) == 1


def test_prelabel_lists_an_image_named_twice_once(tmp_path):
    """``prelabel photos/ photos/a.png``: a second row for the same photo made the loader see each
    of its hands twice (one photo, rows merged)."""
    from train.data import load_csv
    from train.prelabel import image_files, prelabel
    imgs = _images(tmp_path / "photos", 2)
    files = image_files([str(tmp_path / "photos"), str(imgs[1]), str(tmp_path / "photos" / "." / "img0.png")])
    assert files == imgs
    prelabel(files, tmp_path / "labels.csv", _Tracker([_array(_hand(1, 1))] * 2))
    assert len(load_csv(tmp_path / "labels.csv")) == 2


def test_prelabel_folder_order_is_handtrack_videos(tmp_path):
    """Natural order (frame2 before frame10), hidden files left out: the frames `handtrack video
    FOLDER` reads, in its order."""
    from tracker.video import FrameSource
    from train.prelabel import image_files
    folder = tmp_path / "frames"
    folder.mkdir()
    for name in ("frame10.png", "frame2.png", ".frame1.png", "frame1.png"):
        cv2.imwrite(str(folder / name), np.zeros((8, 8, 3), np.uint8))
    got = image_files([str(folder)])
    assert [p.name for p in got] == ["frame1.png", "frame2.png", "frame10.png"] == \
        [p.name for p in FrameSource(folder).images]


# --- pack ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, match", [
    (["--val-hands", "-3"], "--val-hands must be >= 0"),
    (["--seed", "-1"], "--seed must be >= 0"),
])
def test_pack_out_of_range_options_name_themselves(tmp_path, capsys, args, match):
    from train.pack import main
    src = _set(tmp_path / "src", 1, 2)
    with pytest.raises(SystemExit) as e:    # at parse time: a usage error
        main(["--data", str(src), "--out", str(tmp_path / "o")] + args)
    assert e.value.code == 2 and match in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# --- widen --------------------------------------------------------------------------------------

@pytest.fixture
def tiny_ckpt(tmp_path):
    from train.model import LandmarkModelConfig, LandmarkNet
    ck = tmp_path / "last.pt"
    torch.save({"model": LandmarkNet(LandmarkModelConfig(input_size=64)).state_dict(),
                "model_config": LandmarkModelConfig(input_size=64).to_dict()}, ck)
    return ck


@pytest.mark.parametrize("expand", ["nan", "inf"])
def test_widen_refuses_a_non_finite_expand(tmp_path, capsys, tiny_ckpt, expand):
    from train.widen import main
    with pytest.raises(SystemExit) as e:    # at parse time: a usage error
        main([str(tiny_ckpt), str(tmp_path / "w" / "last.pt"), "--expand", expand])
    assert e.value.code == 2 and f"--expand {expand}: expected a finite number" in capsys.readouterr().err


def test_widen_dst_that_is_a_folder_is_one_line_error(tmp_path, tiny_ckpt):
    from train.widen import main
    (tmp_path / "wide").mkdir()
    with pytest.raises(SystemExit, match="dst .*wide: is a folder"):
        main([str(tiny_ckpt), str(tmp_path / "wide"), "--expand", "1.5"])


# --- mine ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["-1", "2", "nan"])
def test_mine_threshold_out_of_range_is_refused_before_any_work(tmp_path, capsys, value):
    from train.mine import main
    with pytest.raises(SystemExit) as e:
        main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "u.json"), "--threshold", value])
    assert e.value.code == 2 and f"--threshold {value}" in capsys.readouterr().err


def test_mine_out_that_is_a_folder_is_refused_before_any_work(tmp_path, capsys):
    from train.mine import main
    (tmp_path / "u.json").mkdir()
    with pytest.raises(SystemExit) as e:
        main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "u.json")])
    assert e.value.code == 2 and "is a folder" in capsys.readouterr().err


# --- sanity -------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, match", [
    (["--hands", "0"], "--hands must be >= 1, got 0"), (["--hands", "-2"], "--hands must be >= 1, got -2"),
    (["--steps", "0"], "--steps must be >= 1, got 0"),
])
def test_sanity_counts_below_one_are_refused(tmp_path, capsys, args, match):
    from train.sanity import main
    with pytest.raises(SystemExit) as e:
        main(["--data", str(tmp_path / "missing")] + args)
    assert e.value.code == 2 and match in capsys.readouterr().err


# --- curves -------------------------------------------------------------------------------------

def test_curves_out_that_is_a_folder_is_one_line_error(tmp_path, capsys):
    from train.curves import main
    hist = tmp_path / "history.json"
    hist.write_text(json.dumps([{"minutes": 0, "pck10": 0.1}, {"minutes": 1, "pck10": 0.5}]))
    (tmp_path / "c.png").mkdir()
    with pytest.raises(SystemExit) as e:
        main([str(hist), "-o", str(tmp_path / "c.png")])
    assert e.value.code == 2 and "is a folder" in capsys.readouterr().err


def test_curves_history_with_non_numbers_is_refused(tmp_path, capsys):
    from train.curves import main
    hist = tmp_path / "history.json"
    hist.write_text(json.dumps([{"minutes": "x", "pck10": None}]))
    with pytest.raises(SystemExit) as e:
        main([str(hist), "-o", str(tmp_path / "c.png")])
    assert e.value.code == 2 and "not a training history" in capsys.readouterr().err
    assert not (tmp_path / "c.png").exists()


def test_sanity_data_without_hands_is_one_line_error(tmp_path, capsys):
    """A label CSV whose rows have no hand (train.prelabel's rows for photos without one)."""
    from train.sanity import main
    _images(tmp_path, 1)
    (tmp_path / "labels.csv").write_text("image,x0\nimg0.png" + "," * 68 + "\n")
    with pytest.raises(SystemExit, match="labels.csv: no labelled hands"):
        main(["--data", str(tmp_path / "labels.csv"), "--steps", "1"])
