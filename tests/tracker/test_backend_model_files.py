"""A user's own model file: every metadata value the stages read and the network's input and output
shapes are checked when the file is loaded. A wrong file is one ValueError naming the file and the
key (or the mismatch), never a bare int()/float() error, an error on the first frame or, worse,
keypoints and boxes silently scaled wrong.

Bad files are copies of the shipped models with edited metadata, or tiny convolutional nets with the
shipped metadata whose layout is wrong in one way each."""
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tracker import backend, cli
from tracker.backend import default_model_path
from tracker.detector import HandDetector
from tracker.geometry import Roi
from tracker.landmarks import LandmarkModel


def _shipped_meta(name: str) -> dict:
    return {p.key: p.value for p in onnx.load(default_model_path(name)).metadata_props}


def _save(model: onnx.ModelProto, meta: dict, path: Path) -> Path:
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, path)
    return path


def _with_meta(tmp_path, name, key, value):
    """The shipped ``name`` with metadata ``key`` set to the raw string ``value``."""
    return _save(onnx.load(default_model_path(name)), {**_shipped_meta(name), key: value}, tmp_path / "edited.onnx")


@pytest.mark.parametrize("key, value", [
    ("input_size", "abc"),          # was int()'s "invalid literal" without the file
    ("input_size", "null"),         # was a TypeError
    ("input_size", "160.5"),        # was truncated to 160 unseen
    ("roi_scale", "abc"),           # was float()'s "could not convert string to float"
    ("roi_scale", "null"),
    ("roi_scale", "NaN"),           # loaded: NaN crops, no hand ever
    ("roi_scale", "-1"),            # loaded: crops of negative side
    ("keypoint_names", "5"),        # was "'int' object is not iterable"
    ("keypoint_names", "null"),
    ("codec", '{"a": 1}'),
])
def test_bad_landmark_metadata_names_file_and_key(tmp_path, key, value):
    path = _with_meta(tmp_path, "landmarks.onnx", key, value)
    with pytest.raises(ValueError, match=rf"model file .*edited\.onnx.*{key}"):
        LandmarkModel(path, threads=1)


@pytest.mark.parametrize("key, value", [
    ("input_width", "abc"),
    ("input_width", "null"),
    ("input_width", "320.7"),       # was truncated to 320 unseen
    ("input_height", "0"),          # loaded; onnxruntime's "Invalid input shape" on the first frame
    ("codec", '{"a": 1}'),          # was KeyError: 'input_size'
    ("codec", "5"),                 # was TypeError
    ("codec", '{"input_size": [320, 240], "stride": "abc"}'),
    ("codec", '{"input_size": [320, 240], "stride": 0}'),      # loaded: every box at (0, 0)
    ("codec", '{"input_size": [320, 240], "stride": 4.5}'),    # loaded as stride 4
    ("codec", '{"input_size": [320, 240], "stride": 8}'),      # loaded: every box twice its size
    ("threshold", "null"),          # was TypeError
    ("threshold", "abc"),
    ("threshold", "NaN"),           # loaded: no detection ever
    ("threshold", "1.5"),           # loaded: no detection ever
    ("threshold", "true"),          # loaded as 1.0
])
def test_bad_detector_metadata_names_file_and_key(tmp_path, key, value):
    path = _with_meta(tmp_path, "detector.onnx", key, value)
    key = "stride" if "stride" in value else key
    with pytest.raises(ValueError, match=rf"model file .*edited\.onnx.*{key}"):
        HandDetector(path, threads=1)


# -- tiny nets with the shipped metadata ------------------------------------------------------------
def _conv(name, inp, out, channels, kernel, stride, rng):
    w = numpy_helper.from_array(rng.normal(0, 0.01, (channels, 3, kernel, kernel)).astype(np.float32), name + "_w")
    return w, helper.make_node("Conv", [inp, name + "_w"], [out], kernel_shape=[kernel, kernel],
                               strides=[stride, stride])


def _model(nodes, inits, inputs, outputs):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def landmark_net(tmp_path, batch="batch", size=(160, 160), stride=4, keypoints=17, heat_shape=None,
                 presence=1, order=("heatmaps", "presence", "handedness"), half_input=False, meta=None):
    """A landmark-like net: heatmaps = softmax(conv stride ``stride``), presence and handedness =
    sigmoid of a crop-wide conv; ``heat_shape`` declares the heatmaps' shape (default: the actual)."""
    rng = np.random.default_rng(0)
    s = 160
    elem = TensorProto.FLOAT16 if half_input else TensorProto.FLOAT
    nodes, inits = [], []
    src = "image"
    if half_input:
        nodes.append(helper.make_node("Cast", ["image"], ["x"], to=TensorProto.FLOAT))
        src = "x"
    w, n = _conv("h", src, "h_raw", keypoints, stride, stride, rng)
    inits.append(w)
    nodes += [n, helper.make_node("Reshape", ["h_raw", "flat"], ["h_flat"]),
              helper.make_node("Softmax", ["h_flat"], ["h_soft"], axis=2),
              helper.make_node("Shape", ["h_raw"], ["h_shape"]),
              helper.make_node("Reshape", ["h_soft", "h_shape"], ["heatmaps"])]
    inits.append(numpy_helper.from_array(np.array([0, keypoints, -1], np.int64), "flat"))
    for name, ch in (("presence", presence), ("handedness", 1)):
        w, n = _conv(name, src, name + "_c", ch, s, s, rng)
        inits.append(w)
        nodes += [n, helper.make_node("Flatten", [name + "_c"], [name + "_f"]),
                  helper.make_node("Sigmoid", [name + "_f"], [name])]
    cells = s // stride
    shapes = {"heatmaps": heat_shape or [batch, keypoints, cells, cells],
              "presence": [batch, presence], "handedness": [batch, 1]}
    image = helper.make_tensor_value_info("image", elem, [batch, 3, *size])
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, shapes[o]) for o in order]
    meta = {**_shipped_meta("landmarks.onnx"), **(meta or {})}
    return _save(_model(nodes, inits, [image], outs), meta, tmp_path / "net.onnx")


def detector_net(tmp_path, stride=4, regress=8, heat=1, order=("heatmap", "regress"), size=("height", "width"),
                 out_size=("gh", "gw"), meta=None):
    """A detector-like net: heatmap = sigmoid(conv stride ``stride``), regress = conv stride ``stride``."""
    rng = np.random.default_rng(0)
    wh, nh = _conv("h", "image", "h_raw", heat, stride, stride, rng)
    wr, nr = _conv("r", "image", "regress", regress, stride, stride, rng)
    nodes = [nh, helper.make_node("Sigmoid", ["h_raw"], ["heatmap"]), nr]
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, *size])
    shapes = {"heatmap": [1, heat, *out_size], "regress": [1, regress, *out_size]}
    outs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, shapes[o]) for o in order]
    meta = {**_shipped_meta("detector.onnx"), **(meta or {})}
    return _save(_model(nodes, [wh, wr], [image], outs), meta, tmp_path / "net.onnx")


def test_well_made_tiny_nets_load_and_run(tmp_path):
    """The nets below fail for the one thing each gets wrong, not for being tiny nets."""
    frame = np.full((480, 640, 3), 90, np.uint8)
    lm = LandmarkModel(landmark_net(tmp_path, heat_shape=["batch", 17, "h", "w"]), threads=1)
    res = lm(frame, [Roi(200, 200, 120, 0), Roi(400, 240, 120, 0.5)])
    assert len(res) == 2 and res[0].keypoints.shape == (17, 2)
    lm.flip_test = True
    assert len(lm(frame, [Roi(200, 200, 120, 0)])) == 1
    det = HandDetector(detector_net(tmp_path), threads=1)
    assert det.any_size and isinstance(det(frame, score_threshold=0.0), list)


@pytest.mark.parametrize("kwargs, match", [
    # a free heatmap size whose cells the codec does not decode: keypoints were silently scaled 2x
    ({"stride": 2, "heat_shape": ["batch", 17, "h", "w"]}, r"heatmap.*80x80.*40x40"),
    ({"stride": 2}, r"heatmap.*80x80.*40x40"),
    ({"keypoints": 16}, r"'heatmaps': \['batch', 16,"),                # one channel per keypoint
    ({"keypoints": 16, "heat_shape": ["batch", "k", 40, 40]}, r"'heatmaps': \['batch', 'k',"),
    ({"size": (128, 128)}, r"input .*128, 128.*160, 160"),                # metadata input_size 160
    ({"size": ("h", "w")}, r"input .*'h', 'w'.*160, 160"),                # a free spatial input
    ({"batch": 1}, r"\[1, 3, 160, 160\].*free batch"),   # ran one hand, failed on the first frame with two
    ({"presence": 2}, r"'presence': \['batch', 2\]"),   # the first of 2 columns was read as the presence
    # outputs are read in order: the handedness was read as the presence and vice versa, silently
    ({"order": ("heatmaps", "handedness", "presence")}, r"'handedness'.*'presence'.*in this order"),
    ({"order": ("presence", "heatmaps", "handedness")}, r"outputs \{'presence'.*in this order"),
    ({"half_input": True}, r"tensor\(float16\)"),   # onnxruntime's error on the first frame
])
def test_landmark_net_that_does_not_fit_its_metadata(tmp_path, kwargs, match):
    path = landmark_net(tmp_path, **kwargs)
    with pytest.raises(ValueError, match=match) as e:
        LandmarkModel(path, threads=1)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("kwargs, match", [
    ({"stride": 8}, r"stride 4"),                     # boxes decoded at twice their size, silently
    ({"stride": 8, "size": (240, 320), "out_size": (30, 40)}, r"stride 4"),
    ({"regress": 4}, r"'regress': \[1, 4,"),            # the decoder needs 8 channels
    ({"heat": 2}, r"'heatmap': \[1, 2,"),
    ({"order": ("regress", "heatmap")}, r"outputs \{'regress'.*in this order"),
    ({"size": (240, 256)}, r"input .*240, 256.*240, 320"),      # fixed, not the metadata's size
    # metadata sizes the net cannot take: was onnxruntime's error on the first frame
    ({"meta": {"input_width": "2"}}, r"input_width"),
])
def test_detector_net_that_does_not_fit_its_metadata(tmp_path, kwargs, match):
    path = detector_net(tmp_path, **kwargs)
    with pytest.raises(ValueError, match=match) as e:
        HandDetector(path, threads=1)
    assert str(path) in str(e.value)


def test_version_text_reports_a_broken_model_and_goes_on(monkeypatch, tmp_path):
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    files = {"landmarks.onnx": tmp_path / "none.onnx", "detector.onnx": tmp_path / "junk.onnx"}
    monkeypatch.setattr(backend, "default_model_path", lambda name: files[name])
    lines = cli.version_text().splitlines()
    assert len(lines) == 4 and lines[3].startswith("onnxruntime ")
    assert lines[1].startswith("landmarks model: unreadable") and "none.onnx" in lines[1]
    assert lines[2].startswith("detector model: unreadable") and "junk.onnx" in lines[2]


def test_shipped_metadata_reads_as_before():
    lm, det = LandmarkModel(threads=1), HandDetector(threads=1)
    assert (lm.input_size, lm.roi_scale) == (160, 1.6)
    assert (det.width, det.height, det.codec.stride) == (320, 240, 4)
    assert math.isclose(det.default_threshold, 0.45)
