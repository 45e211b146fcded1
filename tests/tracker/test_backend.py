"""The backend factory: device -> providers, model file -> a session with explicit threads."""
import numpy as np
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
    if spin:
        # workers spin only within a run: after it they sleep instead of holding a core
        assert opts.get_session_config_entry("session.force_spinning_stop") == "1"


def test_both_models_spin_within_a_run_only():
    # Spinning on after a run, the detector's workers held the cores the landmark model needed
    # next, and the landmark model's held those OpenCV and the detector needed (2 cores, 2 threads
    # each); not spinning at all, each run is slower. So both spin within a run and stop after it.
    from tracker.detector import HandDetector
    from tracker.landmarks import LandmarkModel
    for stage in (HandDetector(threads=2), LandmarkModel(threads=2)):
        opts = stage.session.get_session_options()
        assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "1"
        assert opts.get_session_config_entry("session.force_spinning_stop") == "1"


@pytest.mark.parametrize("make, kwargs, error, match", [
    (lambda p: p.parent / "none.onnx", {}, FileNotFoundError, "none.onnx"),
    (lambda p: p, {"threads": 0}, ValueError, "threads must be an integer >= 1"),
    (lambda p: (p.write_bytes(b"not onnx"), p)[1], {}, ValueError, "cannot load model file .*tiny.onnx"),
    (lambda p: p, {"device": "tpu"}, ValueError, "device must be one of"),
])
def test_session_errors(tiny_model, make, kwargs, error, match):
    with pytest.raises(error, match=match):
        create_session(make(tiny_model), **kwargs)


def test_threads_take_numpy_integers_and_refuse_bools(tiny_model):
    """As HandTracker's own check: np.clip(os.cpu_count() // 2, 1, 4) is an np.int64, True is no count."""
    assert create_session(tiny_model, threads=np.int64(3)).get_session_options().intra_op_num_threads == 3
    with pytest.raises(ValueError, match=r"threads must be an integer >= 1 \(at most 4096\), got True"):
        create_session(tiny_model, threads=True)


def test_cuda_without_its_provider_lists_the_available_ones():
    if "CUDAExecutionProvider" in ort.get_available_providers():
        assert providers_for("cuda")[0] == "CUDAExecutionProvider"
        return
    with pytest.raises(ValueError, match="CPUExecutionProvider"):
        providers_for("cuda")
