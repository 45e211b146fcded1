"""Export parity: ONNX checker, onnxruntime vs torch allclose, decoded keypoints within 0.1 px,
metadata that the runtime stages accept; and the shipped models load."""
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from export.detector_export import export_detector
from export.onnx_export import export_landmarks, verify
from tests.nets import randomize_bn
from tracker.codec import HeatmapCodec
from tracker.detector import HandDetector
from tracker.detector_codec import CenterCodec
from tracker.geometry import Roi
from tracker.landmarks import LandmarkModel
from train.common import MEAN_RGB, STD_RGB
from train.model import DetectorModelConfig, DetectorNet, LandmarkModelConfig, LandmarkNet


def _randomize_bn(net):
    randomize_bn(net)
    # a head that actually peaks, so that decoding compares real maxima
    g = torch.Generator().manual_seed(1)
    for p in net.head.parameters():
        p.data.normal_(0, 0.3, generator=g)
    return net


@pytest.mark.parametrize("expand,fused,light", [(1.0, False, False), (1.5, False, False), (1.0, True, False),
                                               (1.0, True, True)])  # 1.5: grown by train.widen
def test_landmark_export_parity(tmp_path, expand, fused, light):
    # seeded: on some random nets two heatmap cells tie to ~1e-6 and the decoded peak may jump
    # between them (23 px once in a run), a property of random weights, not of the export
    torch.manual_seed(0)
    net = _randomize_bn(LandmarkNet(LandmarkModelConfig(input_size=96, expand=expand, fused=fused,
                                                                 light=light)))
    codec = HeatmapCodec((96, 96), (24, 24), 1.5)
    ckpt = tmp_path / "lm.pt"
    torch.save({"model": net.state_dict(), "model_config": net.cfg.to_dict(), "codec": codec.to_dict(),
                "normalization": {"mean_rgb": list(MEAN_RGB), "std_rgb": list(STD_RGB)},
                "state": {"step": 7, "minutes": 1.0, "history": []}}, ckpt)
    out = tmp_path / "lm.onnx"
    figs = export_landmarks(ckpt, out)
    assert figs["max_abs_diff"] < 1e-4 and figs["max_keypoint_diff_px"] <= 0.1
    onnx.checker.check_model(onnx.load(str(out)))
    m = LandmarkModel(out, threads=1)
    assert m.input_size == 96 and m.codec == codec
    res = m(np.zeros((120, 160, 3), np.uint8), [Roi(80, 60, 100, 0.5), Roi(40, 40, 50, 0.0)])
    assert len(res) == 2 and res[0].keypoints.shape == (17, 2) and 0 <= res[0].presence <= 1


def export_tiny_detector(folder):
    """A random 128x96 detector (threshold 0.3 in its train config) saved as a checkpoint and
    exported to ``folder``/det.onnx; returns the ONNX path."""
    cfg = DetectorModelConfig(128, 96)
    torch.manual_seed(0)
    net = _randomize_bn(DetectorNet(cfg))
    ckpt = folder / "det.pt"
    torch.save({"model": net.state_dict(), "model_config": cfg.to_dict(),
                "codec": CenterCodec((128, 96), 4).to_dict(), "train_config": {"threshold": 0.3},
                "normalization": {"mean_rgb": list(MEAN_RGB), "std_rgb": list(STD_RGB)},
                "state": {"step": 3}}, ckpt)
    out = folder / "det.onnx"
    export_detector(ckpt, out)
    return out


def test_detector_export_parity(tmp_path):
    out = export_tiny_detector(tmp_path)
    d = HandDetector(out, threads=1)
    assert (d.width, d.height, d.default_threshold) == (128, 96, 0.3)
    dets = d(np.zeros((480, 640, 3), np.uint8), score_threshold=0.0, max_detections=3)
    assert len(dets) <= 3
    # exported with a free input size (verified against torch at 1x and 2x), so the small-hand
    # pass can run the same file at twice its size
    shape = onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim
    assert [x.dim_param for x in shape[2:]] == ["height", "width"]
    assert d.any_size
    dets = HandDetector(out, threads=1, small_hands=True)(np.zeros((480, 640, 3), np.uint8), score_threshold=0.0,
                                                           max_detections=3)
    assert len(dets) <= 3


def test_verify_catches_a_mismatch(tmp_path):
    """The parity check is not vacuous: a model file that differs from torch fails it."""
    net = _randomize_bn(LandmarkNet(LandmarkModelConfig(input_size=64))).eval()
    other = _randomize_bn(LandmarkNet(LandmarkModelConfig(input_size=64))).eval()
    with torch.no_grad():
        for p in other.head.parameters():
            p.add_(1.0)
    from export.onnx_export import _export
    model = _export(other, torch.zeros(1, 3, 64, 64), tmp_path / "x.onnx", ["heat", "logits"], True)
    with pytest.raises(AssertionError, match="differs from torch"):
        verify(model, net, [np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype(np.float32)])


@pytest.mark.parametrize("loader", [LandmarkModel, HandDetector])
def test_shipped_models_load(loader):
    m = loader(threads=1)
    assert m.meta["model_version"]


@pytest.mark.parametrize("name", sorted(p.name for p in (Path(__file__).resolve().parents[2] / "assets").glob("*.onnx")))
def test_every_onnx_file_in_assets_loads_by_its_kind(name):
    """The opt-in files (INT8 landmarks, the any-angle detector) load like the defaults; detectors
    keep the calibrated threshold and a free input size (the small-hand pass needs it)."""
    path = Path(__file__).resolve().parents[2] / "assets" / name
    kind = {p.key: p.value for p in onnx.load(str(path)).metadata_props}["kind"]
    m = (LandmarkModel if kind == "landmarks" else HandDetector)(path, threads=1)
    assert m.meta["model_version"]
    if kind == "detector":
        assert m.default_threshold == 0.45 and m.any_size
        HandDetector(path, threads=1, small_hands=True)


@pytest.mark.parametrize("content,error", [(None, FileNotFoundError), (b"garbage", ValueError)])
def test_missing_or_corrupt_model_file(tmp_path, content, error):
    p = tmp_path / "m.onnx"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(error, match="m.onnx"):
        LandmarkModel(p)


def _tiny_landmark_checkpoint(path: Path) -> Path:
    net = LandmarkNet(LandmarkModelConfig(input_size=64))
    torch.save({"model": net.state_dict(), "model_config": net.cfg.to_dict(),
                "codec": HeatmapCodec((64, 64), (16, 16), 1.5).to_dict(),
                "normalization": {"mean_rgb": list(MEAN_RGB), "std_rgb": list(STD_RGB)}, "state": {"step": 1}}, path)
    return path


@pytest.mark.parametrize("loader, name, expected", [(LandmarkModel, "detector.onnx", "'detector' model, expected 'landmarks'"),
                                                     (HandDetector, "landmarks.onnx", "'landmarks' model, expected 'detector'")])
def test_a_model_of_the_other_kind_is_named_as_such(loader, name, expected):
    with pytest.raises(ValueError, match=expected):
        loader(Path(__file__).resolve().parents[2] / "assets" / name, threads=1)


@pytest.mark.parametrize("kind", ["landmarks", "detector"])
def test_export_refuses_to_write_over_its_checkpoint(tmp_path, capsys, kind):
    from export.onnx_export import main
    ck = _tiny_landmark_checkpoint(tmp_path / "last.pt")
    before = ck.read_bytes()
    with pytest.raises(SystemExit, match="-o/--output .*last.pt: would overwrite the input"):
        main([kind, str(ck), "-o", str(tmp_path / "." / "last.pt")])
    assert ck.read_bytes() == before


@pytest.mark.parametrize("content, error, message", [
    (None, FileNotFoundError, "checkpoint not found"),
    (b"not a pickle", ValueError, "is not a training checkpoint (UnpicklingError"),
    ("onnx", ValueError, "is not a training checkpoint"),
    ({"weights": {}}, ValueError, "lacks ['model', 'model_config']"),
])
def test_load_checkpoint_names_the_file_that_is_not_one(tmp_path, content, error, message):
    from train.common import load_checkpoint
    p = tmp_path / "x.pt"
    if content == "onnx":
        p.write_bytes((Path(__file__).resolve().parents[2] / "assets" / "landmarks.onnx").read_bytes())
    elif isinstance(content, dict):
        torch.save(content, p)
    elif content is not None:
        p.write_bytes(content)
    with pytest.raises(error, match=re.escape(message)):
        load_checkpoint(p)
    with pytest.raises(error, match="x.pt"):
        export_landmarks(p, tmp_path / "x.onnx")


def _tiny_detector_checkpoint(path: Path) -> Path:
    cfg = DetectorModelConfig(64, 48)
    torch.save({"model": DetectorNet(cfg).state_dict(), "model_config": cfg.to_dict(),
                "codec": CenterCodec((64, 48), 4).to_dict(), "train_config": {"threshold": 0.3},
                "normalization": {"mean_rgb": list(MEAN_RGB), "std_rgb": list(STD_RGB)}, "state": {"step": 1}}, path)
    return path


@pytest.mark.parametrize("kind, make, other", [("landmarks", _tiny_detector_checkpoint, "detector"),
                                               ("detector", _tiny_landmark_checkpoint, "landmarks")])
def test_a_checkpoint_of_the_other_kind_is_one_error_naming_it(tmp_path, kind, make, other):
    """Not a TypeError traceback from the model config: the file, what it is, the command for it."""
    from export.onnx_export import main
    ck = make(tmp_path / "other.pt")
    with pytest.raises(SystemExit, match=rf"error: .*other.pt is a {other} checkpoint, not a {kind} one"):
        main([kind, str(ck), "-o", str(tmp_path / "x.onnx")])
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("kind, make", [("landmarks", _tiny_landmark_checkpoint), ("detector", _tiny_detector_checkpoint)])
def test_export_into_a_folder_that_does_not_exist_yet(tmp_path, kind, make):
    """The output's folder is made (it was, but only after the export had failed writing its
    temporary file there, with an error naming that file)."""
    from export.onnx_export import main
    out = tmp_path / "new" / "dir" / "m.onnx"
    main([kind, str(make(tmp_path / "m.pt")), "-o", str(out)])
    assert out.is_file() and sorted(p.name for p in out.parent.iterdir()) == ["m.onnx"]


def _landmarks_with_codec(tmp_path: Path, codec: dict) -> Path:
    import json

    import onnx
    m = onnx.load(str(Path(__file__).resolve().parents[2] / "assets" / "landmarks.onnx"))
    for p in m.metadata_props:
        if p.key == "codec":
            p.value = json.dumps(codec)
    out = tmp_path / "m.onnx"
    onnx.save(m, str(out))
    return out


@pytest.mark.parametrize("codec, message", [
    # maps of 40x40 cells decoded as 32x32: every keypoint at 0.8 of its place, silently
    ({"input_size": [160, 160], "heatmap_size": [32, 32], "sigma": 2.0}, r"heatmaps.*40x40.*32x32"),
    # a codec for other crops than the network's: keypoints scaled by 128/160
    ({"input_size": [128, 128], "heatmap_size": [40, 40], "sigma": 2.0}, r"codec input_size.*128.*160"),
    ({"input_size": [160, 160], "heatmap_size": [2, 2], "sigma": 2.0}, "heatmap_size"),
    ({"input_size": [160, 160], "sigma": 2.0}, "codec"),
])
def test_landmark_file_whose_codec_does_not_fit_its_network(tmp_path, codec, message):
    with pytest.raises(ValueError, match=message) as e:
        LandmarkModel(_landmarks_with_codec(tmp_path, codec), threads=1)
    assert "m.onnx" in str(e.value)
