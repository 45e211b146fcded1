"""Session 43 mutation audit of the export and the runtime backend: tests that kill the mutants the
earlier tests let through (docs/model_history.md, Session 43).

The verification's tolerances are checked on a net whose outputs are known exactly (the input
itself), with onnxruntime's answer offset by a chosen amount; the metadata of an export is checked
against a checkpoint whose normalisation has three different channels and whose detector input is
not square, so that a swapped or reversed value cannot pass for the right one."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

import export.onnx_export as onnx_export
from export.detector_export import export_detector
from export.onnx_export import OPSET, export_landmarks, verify
from tests.conftest import ROOT
from tracker.backend import _rgb_triple, metadata_value, require_metadata
from tracker.codec import HeatmapCodec
from tracker.detector import HandDetector
from tracker.detector_codec import CenterCodec
from tracker.keypoints import KEYPOINT_NAMES
from tracker.landmarks import LandmarkModel
from train.augment import AugmentConfig
from train.model import DetectorModelConfig, DetectorNet, LandmarkModelConfig, LandmarkNet

#: three different channels, so that R/B or mean/std swapped is a different value
MEAN, STD = [10.0, 20.0, 30.0], [1.0, 2.0, 4.0]
DET_W, DET_H = 64, 48


# -- verify(): the checker and the tolerances ----------------------------------------------------

class _Echo(torch.nn.Module):
    """A net whose one output is its input: the reference values are known exactly."""

    def forward(self, x):
        return (x,)


def _echo_model(duplicate_key: bool = False) -> onnx.ModelProto:
    """The ONNX twin of :class:`_Echo` (Identity, free batch); ``duplicate_key``: two metadata
    entries named alike, which onnxruntime runs but the ONNX checker refuses."""
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 4, 4])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 3, 4, 4])
    graph = helper.make_graph([helper.make_node("Identity", ["image"], ["out"])], "echo", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    if duplicate_key:
        model.metadata_props.add(key="kind", value="landmarks")
        model.metadata_props.add(key="kind", value="detector")
    return model


def _offset_ort(monkeypatch, delta: float, when=lambda x: True):
    """onnxruntime's outputs offset by ``delta`` for the inputs ``when`` picks."""
    real = onnx_export._ort_run
    monkeypatch.setattr(onnx_export, "_ort_run",
                        lambda m, x: [o + np.float32(delta) if when(x) else o for o in real(m, x)])


def _const(value: float, batch: int = 1) -> np.ndarray:
    return np.full((batch, 3, 4, 4), value, np.float32)


def test_verify_runs_the_onnx_checker():
    """A file the ONNX checker refuses fails the verification although onnxruntime runs it and its
    outputs equal torch's (duplicate metadata keys: which value a reader gets is undefined)."""
    with pytest.raises(onnx.checker.ValidationError, match="duplicate keys"):
        verify(_echo_model(duplicate_key=True), _Echo(), [_const(1.0)])
    assert verify(_echo_model(), _Echo(), [_const(1.0)])["max_abs_diff"] == 0.0


@pytest.mark.parametrize("value, delta, passes", [
    (0.0, 5e-5, True),       # |diff| <= atol 1e-4
    (0.0, 3e-4, False),      # the absolute tolerance is 1e-4, not more
    (100.0, 0.05, True),     # rtol 1e-3 of 100: 0.1
    (100.0, 0.5, False),     # ... and not more
])
def test_verify_tolerances(monkeypatch, value, delta, passes):
    """onnxruntime vs torch: ``allclose(atol=1e-4, rtol=1e-3)``, as documented; the figures give
    the largest difference."""
    _offset_ort(monkeypatch, delta)
    if passes:
        figs = verify(_echo_model(), _Echo(), [_const(value)])
        assert figs["max_abs_diff"] == pytest.approx(delta, rel=1e-2, abs=1e-5)
    else:
        with pytest.raises(AssertionError, match="onnxruntime differs from torch"):
            verify(_echo_model(), _Echo(), [_const(value)])


@pytest.mark.parametrize("px_per_unit, passes", [(1e3, True), (4e3, False)])
def test_decoded_keypoints_must_agree_within_a_tenth_of_a_pixel(monkeypatch, px_per_unit, passes):
    """Outputs within allclose (5e-5) can still decode to keypoints apart: 5e-5 * 1000 = 0.05 px
    passes, 5e-5 * 4000 = 0.2 px is over the 0.1 px of the docstring and fails."""
    _offset_ort(monkeypatch, 5e-5)

    def decode(outs):
        return np.asarray(outs[0], np.float64).ravel()[:4] * px_per_unit
    if passes:
        figs = verify(_echo_model(), _Echo(), [_const(0.0)], decode)
        assert figs["max_keypoint_diff_px"] == pytest.approx(0.05, rel=1e-2)
    else:
        with pytest.raises(AssertionError, match=r"decoded keypoints differ by 0\.200 px"):
            verify(_echo_model(), _Echo(), [_const(0.0)], decode)


@pytest.mark.parametrize("bad_batch", [4, 1])
def test_every_input_is_verified(monkeypatch, bad_batch):
    """The export verifies a batch of 4 and a batch of 1: a difference on either one fails."""
    _offset_ort(monkeypatch, 0.01, when=lambda x: x.shape[0] == bad_batch)
    with pytest.raises(AssertionError, match="differs from torch"):
        verify(_echo_model(), _Echo(), [_const(0.0, 4), _const(0.0, 1)])


# -- what an export writes -----------------------------------------------------------------------

def _normalization() -> dict:
    return {"mean_rgb": list(MEAN), "std_rgb": list(STD)}


def _lm_checkpoint(path, codec: HeatmapCodec | None = None):
    """A 64 px landmark checkpoint (``codec``: its codec, default the one that fits the net)."""
    net = LandmarkNet(LandmarkModelConfig(input_size=64))
    torch.save({"model": net.state_dict(), "model_config": net.cfg.to_dict(),
                "codec": (codec or HeatmapCodec((64, 64), (16, 16), 1.5)).to_dict(), "normalization": _normalization(),
                "state": {"step": 5, "minutes": 2.0, "history": []}}, path)
    return path


@pytest.fixture(scope="module")
def landmark_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("lm")
    torch.manual_seed(0)
    export_landmarks(_lm_checkpoint(d / "lm.pt"), d / "lm.onnx")
    return d / "lm.onnx"


def _det_checkpoint(path, peaks: bool = False):
    """A 64x48 detector checkpoint; ``peaks``: a random head instead of the initial one, whose
    heatmap is flat below the decoding threshold (no box to compare)."""
    cfg = DetectorModelConfig(DET_W, DET_H)
    torch.manual_seed(0)
    net = DetectorNet(cfg)
    if peaks:
        g = torch.Generator().manual_seed(1)
        for p in net.head.parameters():
            p.data.normal_(0, 0.3, generator=g)
    torch.save({"model": net.state_dict(), "model_config": cfg.to_dict(),
                "codec": CenterCodec((DET_W, DET_H), 4).to_dict(), "train_config": {"threshold": 0.3},
                "normalization": _normalization(), "state": {"step": 2}}, path)
    return path


@pytest.fixture(scope="module")
def detector_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("det")
    export_detector(_det_checkpoint(d / "det.pt"), d / "det.onnx")
    return d / "det.onnx"


def _meta(path) -> dict:
    return {p.key: onnx_export.meta_text(p.value) for p in onnx.load(str(path)).metadata_props}


def _opset(path) -> int:
    return {o.domain: o.version for o in onnx.load(str(path)).opset_import}[""]


@pytest.mark.parametrize("fixture", ["landmark_file", "detector_file"])
def test_export_opset_is_the_shipped_files_one(request, fixture):
    """A re-export is the graph the shipped files are (opset 17, checked against every allowed
    onnxruntime), not an older opset's decomposition of it."""
    path = request.getfixturevalue(fixture)
    assert _opset(path) == 17 == _opset(ROOT / "assets" / "landmarks.onnx") == _opset(ROOT / "assets" / "detector.onnx")


def test_landmark_metadata_says_what_the_net_takes(landmark_file):
    """RGB channel order, NCHW, the checkpoint's normalisation channel by channel (mean and std not
    swapped, R and B not reversed), the crop margin training cut its crops with, the keypoints in
    order; the runtime reads them back in the same order."""
    meta = _meta(landmark_file)
    assert (meta["kind"], meta["color"], meta["layout"]) == ("landmarks", "RGB", "NCHW")
    assert meta["mean_rgb"] == MEAN and meta["std_rgb"] == STD
    assert meta["roi_scale"] == AugmentConfig().roi_scale
    assert meta["keypoint_names"] == KEYPOINT_NAMES
    assert meta["input_size"] == 64 and isinstance(meta["input_size"], int)
    m = LandmarkModel(landmark_file, threads=1)
    np.testing.assert_array_equal(m.mean_rgb, MEAN)
    np.testing.assert_array_equal(m.std_rgb, STD)


def test_detector_metadata_says_what_the_net_takes(detector_file):
    """A 64x48 (w x h) detector: width and height not swapped, the normalisation in RGB order, the
    checkpoint's train_config threshold 0.3 as a number."""
    meta = _meta(detector_file)
    assert (meta["kind"], meta["color"], meta["layout"]) == ("detector", "RGB", "NCHW")
    assert (meta["input_width"], meta["input_height"]) == (DET_W, DET_H)
    assert meta["mean_rgb"] == MEAN and meta["std_rgb"] == STD
    assert meta["threshold"] == 0.3 and isinstance(meta["threshold"], float)
    d = HandDetector(detector_file, threads=1)
    assert (d.width, d.height) == (DET_W, DET_H)
    np.testing.assert_array_equal(d.mean_rgb, MEAN)


def test_detector_export_verifies_at_twice_its_input_size(tmp_path, monkeypatch):
    """The small-hand pass runs the file at twice its input size: a file that differs from torch
    only there fails the export, and nothing is written."""
    _offset_ort(monkeypatch, 0.01, when=lambda x: x.shape[2:] == (2 * DET_H, 2 * DET_W))
    out = tmp_path / "det.onnx"
    with pytest.raises(AssertionError, match="differs from torch"):
        export_detector(_det_checkpoint(tmp_path / "det.pt"), out)
    assert not out.exists()


@pytest.mark.parametrize("export, make", [(export_landmarks, _lm_checkpoint), (export_detector, _det_checkpoint)])
def test_a_failed_verification_writes_no_file(tmp_path, monkeypatch, export, make):
    """Verified before it is written: a file that differs from torch is never at the output path
    (an earlier test compared an earlier export's bytes, which a re-export of the same checkpoint
    rewrites identically)."""
    ck = make(tmp_path / "m.pt")
    _offset_ort(monkeypatch, 0.01)
    with pytest.raises(AssertionError, match="differs from torch"):
        export(ck, tmp_path / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


def test_a_codec_for_another_crop_size_is_refused_before_the_export(tmp_path):
    """A 64 px net whose codec maps cells to 96 px crops: the runtime refuses the file (every
    keypoint scaled by 1.5), so the export refuses the checkpoint, naming it, and writes nothing;
    the verification alone passes it (both sides decode the same)."""
    ck = _lm_checkpoint(tmp_path / "m.pt", codec=HeatmapCodec((96, 96), (16, 16), 1.5))
    with pytest.raises(ValueError, match=r"m\.pt: its codec input_size \[96, 96\] does not match .* input_size 64"):
        export_landmarks(ck, tmp_path / "m.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]


class _OrtSide(np.ndarray):
    """onnxruntime's outputs, told apart from torch's by their type."""


@pytest.mark.parametrize("shift, passes", [(0.05, True), (0.5, False)])
def test_detector_boxes_must_agree_within_a_tenth_of_a_pixel(tmp_path, monkeypatch, shift, passes):
    """The detector's decoded boxes are held to 0.1 px like the landmarks: boxes from
    onnxruntime's outputs 0.5 px off torch's fail the export, 0.05 px pass it."""
    real_run, real_decode = onnx_export._ort_run, CenterCodec.decode
    monkeypatch.setattr(onnx_export, "_ort_run", lambda m, x: [o.view(_OrtSide) for o in real_run(m, x)])
    shifted = []

    def decode(self, heatmap, regress, *a, **k):
        d = real_decode(self, np.asarray(heatmap), np.asarray(regress), *a, **k)
        if isinstance(heatmap, _OrtSide) and len(d):
            shifted.append(len(d))
            d = dataclasses.replace(d, boxes=d.boxes + np.float32(shift))
        return d
    monkeypatch.setattr(CenterCodec, "decode", decode)
    ck, out = _det_checkpoint(tmp_path / "det.pt", peaks=True), tmp_path / "det.onnx"
    if passes:
        assert export_detector(ck, out)["max_keypoint_diff_px"] == pytest.approx(shift, abs=1e-3)
    else:
        with pytest.raises(AssertionError, match=r"decoded keypoints differ by 0\.500 px \(> 0\.1\)"):
            export_detector(ck, out)
        assert not out.exists()
    assert shifted, "the random net found nothing to compare"


# -- the backend ---------------------------------------------------------------------------------

def test_metadata_value_whose_check_raises_is_refused_naming_the_key():
    """A check that raises on the value (a string compared with a number) is a failed check, not
    a pass."""
    with pytest.raises(ValueError, match=r"model file m\.onnx: metadata input_size must be an integer >= 1, got 'abc'"):
        metadata_value({"input_size": "abc"}, "input_size", "m.onnx", lambda v: v >= 1, "an integer >= 1")
    assert metadata_value({"input_size": 160}, "input_size", "m.onnx", lambda v: v >= 1, "an integer >= 1") == 160


@pytest.mark.parametrize("value", [[1, 2, 3, 4], [[1, 2, 3]], [1, 2], [1.0, math.nan, 2.0], [1.0, math.inf, 2.0],
                                   None, "abc"])
def test_rgb_triple_refuses_what_is_not_three_finite_numbers(value):
    """Four numbers, a nested triple, two, a NaN, an infinity, null, text: each is one error
    naming the file and the key (a NaN or inf normalised every pixel of that channel to NaN)."""
    with pytest.raises(ValueError, match=r"model file m\.onnx: metadata mean_rgb must be 3 finite numbers"):
        _rgb_triple({"mean_rgb": value}, "mean_rgb", "m.onnx")


def test_rgb_triple_keeps_the_channel_order():
    """R, G, B as stored: a reversed triple normalises each channel with another's values."""
    v = _rgb_triple({"mean_rgb": MEAN}, "mean_rgb", "m.onnx")
    assert v.dtype == np.float32 and v.tolist() == MEAN


@pytest.mark.parametrize("meta, keys, match", [
    ({"kind": "detector", "input_size": 1}, ["kind", "input_size"], "'detector' model, expected 'landmarks'"),
    ({"kind": "landmarks"}, ["kind", "input_size"], r"lacks metadata \['input_size'\]"),
    ({"input_size": 1}, ["input_size"], "a None model, expected 'landmarks'"),   # no kind at all
])
def test_require_metadata(meta, keys, match):
    """The wrong kind, missing keys and a file that says no kind are each refused naming the file."""
    with pytest.raises(ValueError, match=rf"model file m\.onnx.*{match}"):
        require_metadata(meta, keys, "landmarks", "m.onnx")
    require_metadata({"kind": "landmarks", "input_size": 1}, keys, "landmarks", "m.onnx")


# -- quantisation --------------------------------------------------------------------------------

def test_detector_calibration_covers_the_three_input_sizes_it_runs_at(monkeypatch):
    """The detector runs at its input size, twice it (small hands) and half it (large hands): the
    calibration scenes are preprocessed at 1x, 2x and 0.5x in turn."""
    import train.train_detector
    from export.quantize import SCENE_SIZE, detector_calibration_batches
    made = []

    def scenes(groups, cache, cfg, n, seed=0):
        made.append(((cfg.width, cfg.height), n, seed))
        return [(np.zeros((cfg.height, cfg.width, 3), np.uint8), None, None) for _ in range(n)]

    monkeypatch.setattr(train.train_detector, "make_val_scenes", scenes)
    monkeypatch.setattr(train.train_detector, "group_by_image", lambda records: records)

    class Fake:
        def preprocess(self, img, scale):
            return np.full((1, 3, 1, 1), scale, np.float32), None

    batches = detector_calibration_batches(Fake(), [], None, 5, seed=3)
    assert made == [(SCENE_SIZE, 5, 3)]
    assert [float(b[0, 0, 0, 0]) for b in batches] == [1.0, 2.0, 0.5, 1.0, 2.0]
