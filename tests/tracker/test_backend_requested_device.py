"""The backend factory where CUDA is asked for but not what runs, and a stage's metadata and life.

This machine has no GPU: the CUDA cases fake onnxruntime's answers (the provider listed, then
dropped or failing at session creation, as onnxruntime-gpu does without its CUDA/cuDNN libraries).
"""
import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tracker import backend
from tracker.backend import create_session, default_model_path
from tracker.landmarks import LandmarkModel

from .test_backend import tiny_model  # noqa: F401 - the fixture

_CUDA = "CUDAExecutionProvider"


@pytest.fixture
def cuda_listed(monkeypatch):
    """onnxruntime-gpu's list of providers on a machine that cannot run CUDA."""
    monkeypatch.setattr(backend.ort, "get_available_providers", lambda: [_CUDA, "CPUExecutionProvider"])


def test_cuda_provider_dropped_at_session_creation_is_an_error(tiny_model, cuda_listed, monkeypatch):
    # onnxruntime-gpu without its CUDA libraries logs a warning and builds a CPU-only session:
    # device="cuda" must not run on the CPU without the user learning it
    real = ort.InferenceSession

    def cpu_only(path, so=None, providers=None, **kwargs):
        assert providers[0] == _CUDA
        return real(path, so, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(backend.ort, "InferenceSession", cpu_only)
    with pytest.raises(ValueError,
                       match=r"tiny\.onnx.*device='cuda'.*CUDAExecutionProvider.*got \['CPUExecutionProvider'\]"):
        create_session(tiny_model, "cuda")
    # the CPU is no surprise: the same fake serves device="cpu"
    monkeypatch.setattr(backend.ort, "InferenceSession",
                        lambda path, so=None, providers=None, **kw: real(path, so, providers=providers))
    assert create_session(tiny_model, "cpu").get_providers() == ["CPUExecutionProvider"]


def test_cuda_provider_failing_at_creation_is_one_error_and_prints_nothing(tiny_model, cuda_listed, monkeypatch,
                                                                          capsys):
    # onnxruntime's own fallback prints "EP Error ... Falling back" to stdout (where `--json -` writes)
    # and builds a CPU session; the user asked for CUDA, so one clear error instead
    real_create = ort.InferenceSession._create_inference_session

    def failing_cuda(self, providers, provider_options, *args, **kwargs):
        if _CUDA in [p[0] if isinstance(p, tuple) else p for p in providers or []]:
            self._fallback_providers = ["CPUExecutionProvider"]    # as the real method sets first
            raise RuntimeError("CUDA failure 35: CUDA driver version is insufficient")
        return real_create(self, providers, provider_options, *args, **kwargs)

    monkeypatch.setattr(ort.InferenceSession, "_create_inference_session", failing_cuda)
    with pytest.raises(ValueError, match=r"tiny\.onnx.*device='cuda'.*CUDA driver version is insufficient"):
        create_session(tiny_model, "cuda")
    assert capsys.readouterr().out == ""


def test_cuda_session_that_got_cuda_is_returned(tiny_model, cuda_listed, monkeypatch):
    real = ort.InferenceSession
    made = {}

    class CudaSession:
        def __init__(self, path, so=None, providers=None, **kwargs):
            made.update(providers=providers, kwargs=kwargs)
            self._s = real(path, so, providers=["CPUExecutionProvider"])

        def get_providers(self):
            return list(made["providers"])

        def disable_fallback(self):      # called where onnxruntime ignores enable_fallback=0 (1.19)
            self._s.disable_fallback()

    monkeypatch.setattr(backend.ort, "InferenceSession", CudaSession)
    s = create_session(tiny_model, "CUDA", threads=3)
    assert s.get_providers()[0] == _CUDA and made["providers"] == [_CUDA, "CPUExecutionProvider"]


def test_closed_stage_says_so():
    lm = LandmarkModel()
    batch = np.zeros((1, 3, lm.input_size, lm.input_size), np.float32)
    lm.inference(batch)
    lm.close()
    with pytest.raises(RuntimeError, match="LandmarkModel.*closed"):
        lm.inference(batch)
    lm.close()          # a second close is harmless


def _with_meta(tmp_path, key, value):
    m = onnx.load(default_model_path("landmarks.onnx"))
    props = [(p.key, p.value) for p in m.metadata_props if p.key != key]
    del m.metadata_props[:]
    for k, v in props + [(key, value)]:
        m.metadata_props.add(key=k, value=v)
    path = tmp_path / "edited.onnx"
    onnx.save(m, path)
    return path


@pytest.mark.parametrize("key, value", [
    ("mean_rgb", "abc"),                 # not JSON: was numpy's "could not convert string to float"
    ("mean_rgb", "null"),                # was NaN input to the network: no hand ever, silently
    ("mean_rgb", "[123.7, 116.3]"),      # was a reshape error on the first frame
    ("std_rgb", "[58.4, 0, 57.4]"),      # was inf input
    ("std_rgb", "[58.4, 57.1, 57.4, 1]"),
])
def test_bad_normalisation_metadata_names_the_file(tmp_path, key, value):
    path = _with_meta(tmp_path, key, value)
    with pytest.raises(ValueError, match=rf"model file .*edited\.onnx.*{key}"):
        LandmarkModel(path)


def test_closed_stage_can_be_copied():
    # copy probes dunder names before __init__ ran: they must not recurse or claim "closed"
    import copy
    lm = LandmarkModel()
    lm.close()
    with pytest.raises(RuntimeError, match="LandmarkModel is closed"):
        copy.deepcopy(lm).inference(np.zeros((1, 3, lm.input_size, lm.input_size), np.float32))


def test_a_training_checkpoint_given_as_model_says_to_export_it(tmp_path):
    # "Protobuf parsing failed" alone does not tell a user that a .pt file needs export first
    ckpt = tmp_path / "last.pt"
    ckpt.write_bytes(b"PK\x03\x04 not an onnx file")
    with pytest.raises(ValueError, match=r"cannot load model file .*last\.pt.*export it first: python -m export\.onnx_export"):
        create_session(ckpt)
