"""INT8 export (export.quantize): the detector's INT8 file keeps its metadata and its free input
size, so the runtime (and the small-hand pass) loads it unchanged; bad model files are one error."""
import numpy as np
import onnx
import pytest

from export.quantize import _model_kind, heatmap_stage_nodes, main, quantize
from tests.export.test_export import export_tiny_detector
from tracker.detector import HandDetector


@pytest.fixture(scope="module")
def float_detector(tmp_path_factory):
    return export_tiny_detector(tmp_path_factory.mktemp("q"))


def test_int8_detector_loads_with_its_metadata_and_any_input_size(float_detector, tmp_path):
    rng = np.random.default_rng(0)
    batches = [rng.normal(0, 1, (1, 3, 96 * k, 128 * k)).astype(np.float32) for k in (1, 2, 1, 2)]
    out = tmp_path / "det_int8.onnx"
    quantize(float_detector, out, batches)
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["kind"] == "detector" and meta["quantization"].startswith("int8")
    # its version names it INT8 (evaluation JSON and `handtrack --version` report it), the rest is copied
    fmeta = {p.key: p.value for p in onnx.load(str(float_detector)).metadata_props}
    assert meta["model_version"] == fmeta["model_version"] + "-int8"
    assert {k: v for k, v in meta.items() if k not in ("model_version", "quantization")} == \
        {k: v for k, v in fmeta.items() if k != "model_version"}
    f, q = HandDetector(float_detector, threads=1), HandDetector(out, threads=1, small_hands=True)
    assert q.any_size and (q.width, q.height, q.default_threshold) == (128, 96, 0.3)
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(out)).graph.node)
    for k in (1, 2):   # the same net, quantised: maps close to the float ones at both sizes
        x = batches[k - 1]
        hf, hq = f.inference(x)[0], q.inference(x)[0]
        assert hq.shape == hf.shape
        assert np.corrcoef(hf.ravel(), hq.ravel())[0, 1] > 0.9
    assert len(q(np.zeros((480, 640, 3), np.uint8), score_threshold=0.0, max_detections=3)) <= 3


def test_model_kind_errors(tmp_path, float_detector):
    assert _model_kind(str(float_detector)) == "detector"
    with pytest.raises(FileNotFoundError, match="nowhere.onnx"):
        _model_kind(str(tmp_path / "nowhere.onnx"))
    m = onnx.load(str(float_detector))
    for p in m.metadata_props:
        if p.key == "kind":
            p.value = "segmenter"
    other = tmp_path / "other.onnx"
    onnx.save(m, str(other))
    with pytest.raises(ValueError, match="segmenter"):
        _model_kind(str(other))
    with pytest.raises(SystemExit, match="error: .*segmenter"):
        main([str(other), "-o", str(tmp_path / "x.onnx"), "--data", str(tmp_path)])


@pytest.mark.parametrize("model, kind", [("assets/landmarks.onnx", "landmarks"),
                                         ("assets/detector.onnx", "detector")])
def test_main_quantizes_the_shipped_model_and_reports_both(model, kind, hands21, tmp_path, capsys):
    """The command end to end on a few real photos: an INT8 file the runtime loads, and a JSON
    report of the float and INT8 figures that agree (a broken calibration scores near zero)."""
    import json

    from tests.conftest import ROOT
    from tracker.landmarks import LandmarkModel
    out = tmp_path / f"{kind}_int8.onnx"
    main([str(ROOT / model), "-o", str(out), "--data", str(hands21), "--calib", "6", "--eval", "24", "--photos", "60",
          "--threads", "1"])
    rows = json.loads(capsys.readouterr().out)
    assert set(rows) == {"float32", "int8"}
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["kind"] == kind and meta["quantization"].startswith("int8")
    assert rows["int8"]["size_kb"] < 0.6 * rows["float32"]["size_kb"]
    if kind == "landmarks":
        LandmarkModel(out, threads=1)
        # the last decoder stage stays float: the heatmap head reads float weights, not dequantised ones
        q = onnx.load(str(out)).graph
        made_by = {o: n for n in q.node for o in n.output}
        head = next(n for n in q.node if n.name == "/net/head/Conv")
        assert all(i not in made_by or made_by[i].op_type != "DequantizeLinear" for i in head.input)
        assert "last decoder stage in float32" in meta["quantization"]
        for name in ("float32", "int8"):
            assert 0 < rows[name]["p50_ms"] <= rows[name]["p95_ms"]
        assert rows["float32"]["pck@0.1"] > 0.7
        assert abs(rows["int8"]["pck@0.1"] - rows["float32"]["pck@0.1"]) < 0.1
        assert abs(rows["int8"]["handedness_acc"] - rows["float32"]["handedness_acc"]) < 0.15
    else:
        HandDetector(out, threads=1, small_hands=True)
        for name in ("float32", "int8"):
            r = rows[name]
            assert r["scenes"] == 24 and r["threshold"] == 0.45 and r["photos"] == 60
            assert set(r) >= {"plain", "small_hands", "photo_recall", "network_320x240_ms", "network_640x480_ms"}
        assert rows["float32"]["plain"]["recall"] > 0.5 and rows["float32"]["photo_recall"] > 0.7
        for mode in ("plain", "small_hands"):
            assert abs(rows["int8"][mode]["recall"] - rows["float32"][mode]["recall"]) < 0.2


@pytest.mark.parametrize("flag, value, message", [("--calib", "0", "--calib must be >= 1, got 0"),
                                                  ("--eval", "-3", "--eval must be >= 1, got -3"),
                                                  ("--photos", "-1", "--photos must be >= 0, got -1"),
                                                  ("--threads", "0", "--threads must be >= 1, got 0")])
def test_count_options_are_checked_before_any_work(flag, value, message, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "absent.onnx"), "-o", str(tmp_path / "q.onnx"), flag, value])
    assert message in capsys.readouterr().err


def test_output_naming_the_input_model_is_refused_before_any_work(tmp_path, capsys):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"float model")
    with pytest.raises(SystemExit, match="-o/--output .*m.onnx: would overwrite the input model"):
        main([str(model), "-o", str(tmp_path / "." / "m.onnx")])
    assert model.read_bytes() == b"float model"


@pytest.mark.parametrize("content", [b"garbage", b"PK\x03\x04 a torch checkpoint"])
def test_a_model_file_that_is_not_onnx_is_one_error_naming_it(tmp_path, content):
    model = tmp_path / "m.onnx"
    model.write_bytes(content)
    with pytest.raises(ValueError, match="m.onnx is not an ONNX model"):
        _model_kind(str(model))
    with pytest.raises(SystemExit, match="error: .*m.onnx is not an ONNX model"):
        main([str(model), "-o", str(tmp_path / "q.onnx"), "--data", str(tmp_path)])


def test_quantize_into_a_folder_that_does_not_exist_yet(float_detector, tmp_path):
    """The INT8 file's folder is made, as the float export makes its own (the error named the
    temporary ``.pre.onnx`` file instead)."""
    batches = [np.random.default_rng(0).normal(0, 1, (1, 3, 96, 128)).astype(np.float32)]
    out = tmp_path / "new" / "dir" / "det_int8.onnx"
    quantize(float_detector, out, batches)
    assert sorted(p.name for p in out.parent.iterdir()) == ["det_int8.onnx"]


def test_heatmap_stage_is_the_landmark_net_after_its_last_upsampling():
    """The nodes kept float in the INT8 landmark model: from the last Resize (stride 4) to the
    heatmaps, not the lateral branch beside it nor the presence/handedness head."""
    from tests.conftest import ROOT
    graph = onnx.load(str(ROOT / "assets" / "landmarks.onnx")).graph
    names = heatmap_stage_nodes(graph)
    assert "/net/head/Conv" in names and "/Softmax" in names
    assert sum("/net/ref4/" in n and n.endswith("Conv") for n in names) == 3
    ops = {n.name: n.op_type for n in graph.node}
    assert not any(ops[n] in ("Resize", "Gemm", "Sigmoid") for n in names)
    assert "/net/lat4/lat4.0/Conv" not in names
    assert heatmap_stage_nodes(graph, output="no_such_output") == []
    assert heatmap_stage_nodes(onnx.load(str(ROOT / "assets" / "detector.onnx")).graph) == []


def test_calibration_crops_carry_the_training_photometric_changes(hands21, monkeypatch):
    """Calibration sees tracker-like crops: each photo goes through the training's photometric
    changes (blur, noise, JPEG, colour) before its crop is cut, drawn reproducibly; with
    ``augment=False`` the clean photos."""
    import train.augment
    from tests.conftest import ROOT
    from export.quantize import calibration_batches
    from tracker.landmarks import LandmarkModel
    from train.data import ImageCache, load_records
    recs = load_records(hands21, "val")[:6]
    cache = ImageCache(recs)
    model = LandmarkModel(ROOT / "assets" / "landmarks.onnx", threads=1)
    aug = calibration_batches(model, recs, cache, 6)
    assert len(aug) == 6 and all(b.shape == (1, 3, 160, 160) and b.dtype == np.float32 for b in aug)
    assert all(np.array_equal(a, b) for a, b in zip(aug, calibration_batches(model, recs, cache, 6)))
    seen = []
    real = train.augment.photometric
    monkeypatch.setattr(train.augment, "photometric", lambda img, cfg, rng: seen.append(img.shape) or real(img, cfg, rng))
    calibration_batches(model, recs, cache, 4)
    assert seen == [cache[r.image].shape for r in recs[:4]]
    seen.clear()
    calibration_batches(model, recs, cache, 4, augment=False)
    assert seen == []
