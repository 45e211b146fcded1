"""The own-data journey of docs/training.md: fine-tuning with ``--init`` from assets/checkpoints
(which holds both models' checkpoints side by side), comparing runs with ``train.curves`` and the
figures ``train.evaluate`` reports for a CSV of one's own labels."""
import json

import cv2
import numpy as np
import pytest
import torch

from train.common import init_weights
from train.model import DetectorModelConfig, DetectorNet, LandmarkModelConfig, LandmarkNet


def _net(cfg):
    return DetectorNet(cfg) if isinstance(cfg, DetectorModelConfig) else LandmarkNet(cfg)


@pytest.mark.parametrize("ours, theirs, kind, other", [
    # the same width and expand: the configs agree where they overlap, and the weights' shapes do not
    (LandmarkModelConfig(input_size=64, expand=1.5), DetectorModelConfig(64, 48, expand=1.5), "landmarks", "detector"),
    (DetectorModelConfig(64, 48, expand=1.5), LandmarkModelConfig(input_size=64, expand=1.5), "detector", "landmarks"),
    # a different expand: not "expand differs", which sends the user off widening the wrong net
    (LandmarkModelConfig(input_size=64), DetectorModelConfig(64, 48, expand=1.5), "landmarks", "detector"),
])
def test_init_from_the_other_models_checkpoint_is_one_error_naming_it(tmp_path, ours, theirs, kind, other):
    """assets/checkpoints holds detector_last.pt beside landmarks_last.pt: the wrong one given to
    --init was a RuntimeError traceback from load_state_dict (or "expand differs")."""
    ck = tmp_path / "other.pt"
    torch.save({"model": _net(theirs).state_dict(), "model_config": theirs.to_dict(), "state": {"step": 3}}, ck)
    with pytest.raises(ValueError, match=rf"--init .*other.pt is a {other} checkpoint, not a {kind} one"):
        init_weights(_net(ours), ck, ours.to_dict(), torch.device("cpu"))


def test_init_from_the_right_kind_still_loads(tmp_path):
    src = DetectorNet(DetectorModelConfig(64, 48))
    ck = tmp_path / "det.pt"
    torch.save({"model": src.state_dict(), "state": {"step": 3},
                "model_config": DetectorModelConfig(64, 48).to_dict()}, ck)
    net = DetectorNet(DetectorModelConfig(96, 64))    # another input size is fine
    init_weights(net, ck, DetectorModelConfig(96, 64).to_dict(), torch.device("cpu"))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), src.state_dict().values()))


def test_curves_draw_a_short_run_that_stays_under_the_default_range(tmp_path):
    """A few minutes from scratch on a small own set reads PCK@0.1 0.02-0.3: its line must be in
    the picture (it was drawn below the fixed 0.6 floor, only its legend entry showing)."""
    from train.curves import plot_runs
    short = [{"minutes": m, "step": 10 * m, "pck10": 0.02 + 0.1 * m} for m in (0, 1, 2)]
    good = [{"minutes": m, "step": 10 * m, "pck10": 0.9} for m in (0, 1, 2)]
    legend_only = [{"minutes": 0, "pck10": float("nan")}]     # the same legend entry, no line
    plot_runs([good, short], ["good", "short"], tmp_path / "a.png")
    plot_runs([good, legend_only], ["good", "short"], tmp_path / "b.png")

    def orange(path):   # the second run's colour, matplotlib's C1 (BGR ~ (14, 127, 255))
        return int((np.abs(cv2.imread(str(path)).astype(int) - (14, 127, 255)).sum(2) < 60).sum())

    assert orange(tmp_path / "a.png") > orange(tmp_path / "b.png") + 50


def test_curves_name_a_detector_history_and_print_single_braces(tmp_path, capsys):
    from train.curves import main
    h = tmp_path / "history.json"
    h.write_text(json.dumps([{"ap50": 0.7, "recall": 0.6, "fp_per_frame": 0.05, "minutes": 1.0, "step": 17}]))
    with pytest.raises(SystemExit):
        main([str(h), "-o", str(tmp_path / "c.png")])
    err = capsys.readouterr().err
    assert "{{" not in err and "detector" in err


def test_evaluate_names_the_pck_box_a_csv_gives(tmp_path):
    """CSV hands have no annotation box: PCK is normalised by their 17 points' box, and the
    report says so (it said "annotation bbox (21 visible points)", hands21's)."""
    from train.data import ImageCache, load_csv
    from train.evaluate import evaluate_landmarks
    from tracker.landmarks import LandmarkModel
    rng = np.random.default_rng(0)
    (tmp_path / "photos").mkdir()
    rows = []
    for i in range(3):
        cv2.imwrite(str(tmp_path / "photos" / f"{i}.png"), rng.integers(0, 255, (96, 96, 3), dtype=np.uint8))
        ang = np.linspace(0, 2 * np.pi, 17, endpoint=False)
        kp = np.stack([48 + 20 * np.cos(ang), 48 + 20 * np.sin(ang)], 1)
        rows.append(",".join([f"photos/{i}.png"] + [f"{v:.1f}" for v in kp.ravel()]))
    (tmp_path / "h.csv").write_text("\n".join(rows) + "\n")
    recs = load_csv(tmp_path / "h.csv")
    from tests.conftest import ROOT
    res = evaluate_landmarks(LandmarkModel(ROOT / "assets" / "landmarks.onnx", threads=1), recs, ImageCache(recs))
    assert "17" in res["pck_box"] and "annotation" not in res["pck_box"]
