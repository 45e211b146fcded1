"""``python -m export.onnx_export ... --check-data PATH``: the export is also verified on real inputs
made from labelled data (the runtime's hand crops; composed scenes for the detector), where the
heatmaps peak and decoding means something, not only on random inputs; the figures say how many
were checked and their worst decoded difference; bad data is one error before the export works."""
import json
import re

import numpy as np
import pytest
import torch

import export.onnx_export as onnx_export
from export.onnx_export import export_landmarks, landmark_check_crops, main, verify
from tests.export.test_export import _randomize_bn, _tiny_detector_checkpoint, _tiny_landmark_checkpoint
from tests.export.test_journey_quantize_own_csv import _own_csv
from tests.train.test_train_cli import tiny_coco
from tracker.codec import HeatmapCodec
from tracker.geometry import roi_from_keypoints
from tracker.landmarks import LandmarkModel
from train.common import MEAN_RGB, STD_RGB
from train.data import ImageCache, load_records
from train.model import LandmarkModelConfig, LandmarkNet

_MAKE = {"landmarks": _tiny_landmark_checkpoint, "detector": _tiny_detector_checkpoint}


def _peaked_landmark_checkpoint(path):
    """A 64 px landmark net whose heatmaps peak (random BN statistics, a strong head)."""
    torch.manual_seed(0)
    net = _randomize_bn(LandmarkNet(LandmarkModelConfig(input_size=64)))
    torch.save({"model": net.state_dict(), "model_config": net.cfg.to_dict(),
                "codec": HeatmapCodec((64, 64), (16, 16), 1.5).to_dict(),
                "normalization": {"mean_rgb": list(MEAN_RGB), "std_rgb": list(STD_RGB)},
                "state": {"step": 1}}, path)
    return path


def _figures(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_landmarks_cli_verifies_real_crops_of_a_dataset_folder(tmp_path, capsys):
    data = tiny_coco(tmp_path / "data", n=8)
    out = tmp_path / "lm.onnx"
    main(["landmarks", str(_peaked_landmark_checkpoint(tmp_path / "lm.pt")), "-o", str(out),
          "--check-data", str(data), "--check-count", "5"])
    figs = _figures(capsys)
    assert out.is_file()
    assert figs["real_crops"] == 5
    assert 0 <= figs["real_crops_max_keypoint_diff_px"] <= 0.1
    assert figs["real_crops_max_abs_diff"] < 1e-4
    # the overall figures are the worst over random and real inputs
    assert figs["max_keypoint_diff_px"] >= figs["real_crops_max_keypoint_diff_px"]


@pytest.mark.parametrize("source", ["csv", "json"])
def test_a_single_file_and_fewer_hands_than_asked(tmp_path, source):
    """A CSV of one's own labels or a COCO JSON file: its hands; asking for more checks them all."""
    if source == "csv":
        data, hands = _own_csv(tmp_path / "own", n=4), 4
    else:
        data, hands = tiny_coco(tmp_path / "data", n=3) / "val.json", 3
    figs = export_landmarks(_tiny_landmark_checkpoint(tmp_path / "lm.pt"), tmp_path / "lm.onnx",
                            check_data=data, check_count=16)
    assert figs["real_crops"] == hands


def test_real_crops_are_the_runtime_crops_normalised_as_its_input(tmp_path):
    """The crops checked are what the tracker feeds the file: its crop from the ground-truth hand
    (rotated, roi_scale margin) and its normalisation, read back from the written file."""
    data = tiny_coco(tmp_path / "data", n=3)
    out = tmp_path / "lm.onnx"
    export_landmarks(_tiny_landmark_checkpoint(tmp_path / "lm.pt"), out)
    m = LandmarkModel(out, threads=1)
    recs = load_records(data, "val")
    cache = ImageCache(recs)
    ours = landmark_check_crops(recs, cache, m.input_size, {"mean_rgb": m.mean_rgb, "std_rgb": m.std_rgb})
    for rec, x in zip(recs, ours):
        runtime, _ = m.preprocess(cache[rec.image], [roi_from_keypoints(rec.keypoints, rec.visible, m.roi_scale)])
        np.testing.assert_allclose(x, runtime[0], atol=1e-5)


class _WrongOnRealCrops(torch.nn.Module):
    """The export wrapper, but its heatmaps shifted by 2 cells when the input looks like a
    normalised photo (every value within +-3; N(0, 1) inputs of this size always pass 3)."""

    def __init__(self, wrapper):
        super().__init__()
        self.wrapper = wrapper

    def forward(self, x):
        heat, presence, side = self.wrapper(x)
        real = x.abs().amax() < 3.0
        return torch.where(real, heat.roll(2, dims=-1), heat), presence, side


def test_a_file_that_differs_on_real_crops_fails_with_the_px_figure(tmp_path, monkeypatch, capsys):
    data = tiny_coco(tmp_path / "data", n=6)
    ck = _peaked_landmark_checkpoint(tmp_path / "lm.pt")
    real_export = onnx_export._export
    monkeypatch.setattr(onnx_export, "_export",
                        lambda module, *a, **k: real_export(_WrongOnRealCrops(module), *a, **k))
    out = tmp_path / "lm.onnx"
    # random inputs alone do not see it: this is what the real crops are for
    main(["landmarks", str(ck), "-o", str(out)])
    assert "real_crops" not in _figures(capsys)
    out.unlink()
    with pytest.raises(SystemExit) as e:
        main(["landmarks", str(ck), "-o", str(out), "--check-data", str(data), "--check-count", "4"])
    msg = str(e.value)
    assert msg.startswith(f"error: on 4 real crops (--check-data {data}): ")
    px = re.search(r"decoded keypoints differ by ([0-9.]+) px", msg)
    assert px and float(px.group(1)) > 0.1, msg
    assert not out.exists()


def _no_export(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the export ran before --check-data was checked")
    monkeypatch.setattr(onnx_export, "_export", boom)


def _bad_data(tmp_path, what):
    if what == "missing":
        return tmp_path / "no_such_data"
    if what == "no hands":
        p = tmp_path / "empty.json"
        p.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
        return p
    if what == "no val split":
        (tmp_path / "d").mkdir()
        (tmp_path / "d" / "train.json").write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
        return tmp_path / "d"
    data = tiny_coco(tmp_path / "data", n=2)   # "missing image"
    (data / "images" / "0.png").unlink()
    return data


@pytest.mark.parametrize("kind", ["landmarks", "detector"])
@pytest.mark.parametrize("what, why", [("missing", "not found"), ("no hands", "no labelled hands"),
                                       ("no val split", "no val.json or val.csv"),
                                       ("missing image", "image file not found")])
def test_bad_check_data_is_one_error_before_the_export(tmp_path, monkeypatch, kind, what, why):
    ck = _MAKE[kind](tmp_path / "m.pt")
    bad = _bad_data(tmp_path, what)
    _no_export(monkeypatch)
    out = tmp_path / "m.onnx"
    with pytest.raises(SystemExit, match=rf"^error: --check-data {re.escape(str(bad))}: .*{why}"):
        main([kind, str(ck), "-o", str(out), "--check-data", str(bad)])
    assert not out.exists()


@pytest.mark.parametrize("argv, message", [(["--check-count", "0"], "--check-count must be >= 1, got 0"),
                                           (["--check-count", "3"], "--check-count needs --check-data")])
def test_check_count_is_checked(tmp_path, capsys, argv, message):
    ck = _tiny_landmark_checkpoint(tmp_path / "m.pt")
    with pytest.raises(SystemExit):
        main(["landmarks", str(ck), "-o", str(tmp_path / "m.onnx"), *argv])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_check_count_in_the_api_names_the_option(tmp_path):
    data = tiny_coco(tmp_path / "data", n=2)
    with pytest.raises(ValueError, match=r"--check-count 0: expected an integer >= 1"):
        export_landmarks(_tiny_landmark_checkpoint(tmp_path / "m.pt"), tmp_path / "m.onnx", check_data=data,
                         check_count=0)


def test_detector_cli_verifies_composed_scenes(tmp_path, capsys):
    data = tiny_coco(tmp_path / "data", n=6)
    out = tmp_path / "det.onnx"
    main(["detector", str(_tiny_detector_checkpoint(tmp_path / "det.pt")), "-o", str(out),
          "--check-data", str(data), "--check-count", "3"])
    figs = _figures(capsys)
    assert out.is_file() and figs["real_scenes"] == 3
    assert 0 <= figs["real_scenes_max_keypoint_diff_px"] <= 0.1


def test_detections_found_on_one_side_only_are_a_failed_check_not_a_crash(tmp_path):
    """A detection near the decode threshold on one side only: decoded arrays of different
    lengths were subtracted (a numpy broadcasting ValueError, or a figure against the wrong values)."""
    net = _randomize_bn(LandmarkNet(LandmarkModelConfig(input_size=64))).eval()
    model = onnx_export._export(net, torch.zeros(1, 3, 64, 64), tmp_path / "x.onnx", ["heat", "logits"], True)
    results = iter([np.zeros(8), np.zeros(16)])      # torch's decode, then onnxruntime's
    with pytest.raises(AssertionError, match="decoded detections differ in number"):
        verify(model, net, [np.random.default_rng(0).normal(size=(1, 3, 64, 64)).astype(np.float32)],
               decode=lambda outs: next(results))


@pytest.mark.parametrize("kind", ["landmarks", "detector"])
def test_the_output_never_overwrites_the_check_data_labels(tmp_path, kind):
    data = tiny_coco(tmp_path / "data", n=2) / "val.json"
    before = data.read_bytes()
    with pytest.raises(SystemExit, match="would overwrite the --check-data labels"):
        main([kind, str(_MAKE[kind](tmp_path / "m.pt")), "-o", str(data), "--check-data", str(data)])
    assert data.read_bytes() == before
