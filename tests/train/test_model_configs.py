"""Landmark model configurations and how they travel: options -> net -> checkpoint -> ONNX
metadata -> runtime. Every accepted combination trains, exports and decodes in the frame's pixels;
configurations no net can run are refused when the config is made; a resume whose options build
another net is refused before the data load, naming the options."""
import copy
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from export.onnx_export import export_landmarks, main as export_main
from tests.train.test_train_cli import tiny_coco
from tracker.geometry import Roi
from tracker.landmarks import LandmarkModel
from train.model import DetectorModelConfig, DetectorNet, LandmarkModelConfig, LandmarkNet
import train.train_landmarks as tl
from train.train_landmarks import TrainConfig, train

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return tiny_coco(tmp_path_factory.mktemp("configs") / "data", n=6, size=96)


def _opts(data, out, **kw):
    return dict(data=str(data), out=str(out), batch_size=2, workers=0, threads=1, eval_hands=2, minutes=5,
                max_steps=1, warmup_steps=1, **kw)


@pytest.mark.parametrize("options", [
    dict(input_size=128), dict(input_size=160, width=1.25, expand=2.0), dict(input_size=192),
    dict(input_size=144, width=0.5, fused=True, light=True),
])
def test_each_accepted_config_trains_exports_and_decodes_in_frame_pixels(data, tmp_path, options):
    train(TrainConfig(**_opts(data, tmp_path / "run", **options)))
    s = options["input_size"]
    figures = export_landmarks(tmp_path / "run" / "final.pt", tmp_path / "m.onnx")
    assert figures["max_keypoint_diff_px"] < 0.1
    m = LandmarkModel(tmp_path / "m.onnx", threads=1)
    assert m.input_size == s and tuple(m.codec.heatmap_size) == (s // 4, s // 4)
    # heatmaps of known crop points, decoded through the file's codec and the crop's matrix, land on
    # the frame points those crop points came from
    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), np.uint8)
    roi = Roi(150.0, 110.0, 90.0, 0.4)
    batch, mats = m.preprocess(frame, [roi])
    assert batch.shape == (1, 3, s, s)
    crop_pts = np.random.default_rng(1).uniform(0.2 * s, 0.8 * s, (17, 2))
    heat, _ = m.codec.encode(crop_pts, np.ones(17, bool))
    heat = heat / heat.reshape(17, -1).sum(-1)[:, None, None]
    res = m.postprocess((heat[None], np.ones(1), np.ones(1)), mats, [roi])[0]
    inv = np.linalg.inv(np.vstack([mats[0], [0, 0, 1]]))[:2]
    want = crop_pts @ inv[:, :2].T + inv[:, 2]
    assert np.abs(res.keypoints - want).max() < 0.2 * 90 / s + 0.05
    r = m(frame, [roi])[0]            # the network itself runs on a crop of that frame
    assert r.keypoints.shape == (17, 2) and np.isfinite(r.keypoints).all()


@pytest.mark.parametrize("size", [100, 120, 0, -16, (160, 128), 128.0, True])
def test_a_landmark_config_no_net_can_run_is_refused_when_made(size):
    """Not a shape error at the first forward pass (nor deep in the ONNX export)."""
    with pytest.raises(ValueError, match=re.escape(f"input_size {size!r}") + ".*multiple of 16"):
        LandmarkModelConfig(input_size=size)


def test_every_multiple_of_16_is_a_config_that_runs():
    for s in (16, 64, 128, 144, 160, 176, 192):
        net = LandmarkNet(LandmarkModelConfig(input_size=s)).eval()
        with torch.no_grad():
            heat, logits = net(torch.zeros(1, 3, s, s))
        assert heat.shape == (1, 17, s // 4, s // 4) and logits.shape == (1, 2)


def _checkpoint(data, tmp_path, **options):
    run = tmp_path / "run"
    train(TrainConfig(**_opts(data, run, **options)))
    return run


def _no_data_load(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the data were loaded before the options were refused")
    monkeypatch.setattr(tl, "load_train_val", refuse)


@pytest.mark.parametrize("changed, named", [
    (dict(width=1.25), "--width 1.0 (the options give 1.25)"),
    (dict(expand=1.5), "--expand 1.0 (the options give 1.5)"),
    (dict(fused=True), "--fused False (the options give True)"),
    (dict(light=True), "--light False (the options give True)"),
])
def test_a_resume_whose_options_build_another_net_is_refused_before_the_data_load(data, tmp_path, monkeypatch,
                                                                                   changed, named):
    run = _checkpoint(data, tmp_path, input_size=64)
    before = (run / "last.pt").read_bytes()
    _no_data_load(monkeypatch)
    with pytest.raises(ValueError, match=r"cannot resume .*last.pt: .*" + re.escape(named)):
        train(TrainConfig(**{**_opts(data, run, input_size=64), **changed, "max_steps": 2}))
    assert (run / "last.pt").read_bytes() == before


def test_a_detector_checkpoint_in_out_is_refused_before_the_data_load(data, tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    cfg = DetectorModelConfig(64, 48)
    torch.save({"model": DetectorNet(cfg).state_dict(), "model_config": cfg.to_dict(),
                "state": {"step": 3, "minutes": 0.1, "history": [], "epoch": 0}}, run / "last.pt")
    _no_data_load(monkeypatch)
    with pytest.raises(ValueError, match=r"cannot resume .*last.pt: it is a detector checkpoint"):
        train(TrainConfig(**_opts(data, run, input_size=64)))


def test_a_resume_at_another_input_size_keeps_the_weights_and_says_so(data, tmp_path):
    """The net is fully convolutional: the weights go on at the size given now, logged."""
    run = _checkpoint(data, tmp_path, input_size=64)
    train(TrainConfig(**{**_opts(data, run, input_size=96), "max_steps": 2}))
    assert "--input-size 64 -> 96" in (run / "train.log").read_text(encoding="utf-8")
    ck = torch.load(run / "last.pt", weights_only=False)
    assert ck["state"]["step"] == 2 and ck["model_config"]["input_size"] == 96
    assert ck["codec"]["input_size"] == [96, 96] and ck["codec"]["heatmap_size"] == [24, 24]


@pytest.fixture(scope="module")
def checkpoint(data, tmp_path_factory):
    run = tmp_path_factory.mktemp("export") / "run"
    train(TrainConfig(**_opts(data, run, input_size=64)))
    return torch.load(run / "final.pt", weights_only=False)


@pytest.mark.parametrize("edit, message", [
    (lambda c: c["model_config"].update(input_size=100), r"model_config .*input_size 100.*multiple of 16"),
    (lambda c: c["codec"].update(input_size=[96, 96]),
     r"codec input_size \[96, 96\] does not match its model_config input_size 64"),
    (lambda c: c.pop("codec"), r"lacks \['codec'\]"),
    (lambda c: c.pop("normalization"), r"lacks \['normalization'\]"),
])
def test_a_checkpoint_whose_config_the_runtime_cannot_use_is_one_export_error(checkpoint, tmp_path, capsys,
                                                                            edit, message):
    """Not a traceback, and not a file that passes export and is refused by the tracker."""
    ck = copy.deepcopy(checkpoint)
    edit(ck)
    torch.save(ck, tmp_path / "c.pt")
    with pytest.raises(SystemExit) as e:
        export_main(["landmarks", str(tmp_path / "c.pt"), "-o", str(tmp_path / "m.onnx")])
    assert re.search(r"checkpoint .*c\.pt.*" + message, str(e.value)), str(e.value)
    assert not (tmp_path / "m.onnx").exists()


def test_the_shipped_net_has_the_parameters_the_model_card_gives():
    ck = REPO / "assets" / "checkpoints" / "landmarks_last.pt"
    mc = torch.load(ck, weights_only=False)["model_config"]
    n = sum(p.numel() for p in LandmarkNet(LandmarkModelConfig(**mc)).parameters())
    card = (REPO / "assets" / "MODEL_CARD.md").read_text(encoding="utf-8")
    row = next(line for line in card.splitlines() if line.startswith("| `landmarks.onnx` |"))
    assert f"(B, 3, {mc['input_size']}, {mc['input_size']})" in row and f"| {n / 1e6:.2f} M |" in row
    assert LandmarkModel(threads=1).input_size == mc["input_size"]
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"{n / 1e6:.2f} M params" in readme
