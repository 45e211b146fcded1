"""The backend factory: device -> providers, model file -> a session with explicit threads."""
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from tracker.backend import create_session, providers_for


@pytest.fixture
def tiny_model(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "tiny.onnx"
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("threads, spin", [(1, True), (2, True), (2, False)])
def test_session_threads_and_spinning(tiny_model, threads, spin):
    opts = create_session(tiny_model, "cpu", threads, spin=spin).get_session_options()
    assert opts.intra_op_num_threads == threads and opts.inter_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == ("1" if spin else "0")


def test_detector_does_not_spin_and_landmarks_do():
    # the detector runs now and then; spinning, its idle workers held the cores the landmark
    # model needed next (tracker p95 12-14 ms instead of 6-10 ms at 2 threads on 2 cores)
    from tracker.detector import HandDetector
    from tracker.landmarks import LandmarkModel
    assert HandDetector.spin is False and LandmarkModel.spin is True


@pytest.mark.parametrize("make, kwargs, error, match", [
    (lambda p: p.parent / "none.onnx", {}, FileNotFoundError, "none.onnx"),
    (lambda p: p, {"threads": 0}, ValueError, "threads must be an integer >= 1"),
    (lambda p: (p.write_bytes(b"not onnx"), p)[1], {}, ValueError, "cannot load model file .*tiny.onnx"),
    (lambda p: p, {"device": "tpu"}, ValueError, "device must be one of"),
])
def test_session_errors(tiny_model, make, kwargs, error, match):
    with pytest.raises(error, match=match):
        create_session(make(tiny_model), **kwargs)


def test_cuda_without_its_provider_lists_the_available_ones():
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert providers_for("cuda")[0] == "CUDAExecutionProvider"
        return
    with pytest.raises(ValueError, match="CPUExecutionProvider"):
        providers_for("cuda")
