"""export.quantize on one's own labels (a single CSV, as docs/training.md trains and evaluates on):
the INT8 figures are measured on the photos training held out, not on the photos it trained on."""
import cv2
import numpy as np
import pytest
import torch

import export.quantize as quantize_mod
import train.evaluate
from export.onnx_export import export_landmarks
from tests.export.test_export import _tiny_landmark_checkpoint, export_tiny_detector
from train.data import load_train_val


def _own_csv(root, n=20, size=96):
    """``n`` photos with one drawn hand each and the docs' CSV layout: path, left 17 x,y, right 17 x,y."""
    rng = np.random.default_rng(0)
    (root / "photos").mkdir(parents=True)
    rows = []
    for i in range(n):
        img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
        ang = np.linspace(0, 2 * np.pi, 17, endpoint=False)
        kp = np.stack([48 + 20 * np.cos(ang), 48 + 20 * np.sin(ang)], 1)
        cv2.imwrite(str(root / "photos" / f"{i}.png"), img)
        cells = [f"{v:.1f}" for v in kp.ravel()]
        rows.append(",".join([f"photos/{i}.png"] + (cells + [""] * 34 if i % 2 else [""] * 34 + cells)))
    csv = root / "my_hands.csv"
    csv.write_text("\n".join(rows) + "\n")
    return csv


@pytest.fixture
def own_csv(tmp_path):
    return _own_csv(tmp_path / "own")


def test_landmarks_int8_figures_are_on_the_held_out_photos(own_csv, tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = tmp_path / "mine.onnx"
    export_landmarks(_tiny_landmark_checkpoint(tmp_path / "mine.pt"), model)
    evaluated = []

    def spy(m, records, cache, *args, **kwargs):
        evaluated.append({r.image for r in records})
        return {"pck@0.05": 0.0, "pck@0.1": 0.0, "pck@0.2": 0.0, "handedness_acc": 0.0}

    monkeypatch.setattr(train.evaluate, "evaluate_landmarks", spy)
    monkeypatch.setattr(quantize_mod, "network_latency_ms", lambda *a, **k: (1.0, 1.0))
    quantize_mod.main([str(model), "-o", str(tmp_path / "mine_int8.onnx"), "--data", str(own_csv),
                       "--calib", "4", "--eval", "1000", "--threads", "1"])
    train_recs, val_recs = load_train_val(own_csv)
    held_out = {r.image for r in val_recs}
    assert evaluated and all(e == held_out for e in evaluated)
    assert not held_out & {r.image for r in train_recs}


def test_detector_int8_figures_are_on_the_held_out_photos(own_csv, tmp_path, monkeypatch):
    got = {}

    def spy(a, train_recs, val):
        got.update(train={r.image for r in train_recs}, val={r.image for r in val})
        return {}

    monkeypatch.setattr(quantize_mod, "_detector_rows", spy)
    quantize_mod.main([export_tiny_detector(tmp_path).as_posix(), "-o", str(tmp_path / "det_int8.onnx"),
                       "--data", str(own_csv), "--calib", "4", "--eval", "4"])
    train_recs, val_recs = load_train_val(own_csv)
    assert got["val"] == {r.image for r in val_recs}
    assert got["train"] <= {r.image for r in train_recs}


def test_val_fraction_follows_the_training_split(own_csv, tmp_path, monkeypatch, capsys):
    got = {}
    monkeypatch.setattr(quantize_mod, "_detector_rows",
                        lambda a, train_recs, val: got.update(val={r.image for r in val}) or {})
    quantize_mod.main([export_tiny_detector(tmp_path).as_posix(), "-o", str(tmp_path / "det_int8.onnx"),
                       "--data", str(own_csv), "--calib", "4", "--eval", "4", "--val-fraction", "0.3"])
    assert got["val"] == {r.image for r in load_train_val(own_csv, val_fraction=0.3)[1]}
    with pytest.raises(SystemExit) as e:       # a usage error, before the data are read
        quantize_mod.main([export_tiny_detector(tmp_path).as_posix(), "-o", str(tmp_path / "x.onnx"),
                           "--data", str(own_csv), "--val-fraction", "1.5"])
    assert e.value.code == 2 and "--val-fraction" in capsys.readouterr().err
