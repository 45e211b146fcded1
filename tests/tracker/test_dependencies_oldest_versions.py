"""The runtime on the oldest versions pyproject.toml allows (onnxruntime 1.19, opencv-python 4.10).

onnxruntime 1.19 takes ``enable_fallback=0`` without complaint and ignores it: its InferenceSession
then falls back to the CPU on an execution-provider failure, printing a banner to stdout (where
``--json -`` writes). These tests fake the failures, so they run on any onnxruntime."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnxruntime.capi import onnxruntime_pybind11_state as C

from tracker import backend
from tracker.backend import create_session

from .test_backend import tiny_model  # noqa: F401 - the fixture

_CUDA = "CUDAExecutionProvider"


class _FailingRun:
    """Stands in for the session's C++ half: every run fails as a dying execution provider does."""

    def __init__(self, real):
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)

    def run(self, *args, **kwargs):
        raise C.EPFail("[ONNXRuntimeError] : 11 : EP_FAIL : CUDA failure 700: an illegal memory access")


def test_a_provider_failing_mid_run_is_an_error_not_a_silent_cpu_run(tiny_model, capsys):
    s = create_session(tiny_model, "cpu")
    s._sess = _FailingRun(s._sess)
    with pytest.raises(C.EPFail, match="illegal memory access"):
        s.run(None, {"x": np.zeros((1, 2), np.float32)})
    assert capsys.readouterr().out == ""


def test_cuda_failing_at_creation_says_why_and_prints_nothing_on_any_onnxruntime(tiny_model, monkeypatch, capsys):
    # test_backend_requested_device's case, with the message's parts checked one by one
    monkeypatch.setattr(backend.ort, "get_available_providers", lambda: [_CUDA, "CPUExecutionProvider"])
    real_create = ort.InferenceSession._create_inference_session

    def failing_cuda(self, providers, provider_options, *args, **kwargs):
        if _CUDA in [p[0] if isinstance(p, tuple) else p for p in providers or []]:
            self._fallback_providers = ["CPUExecutionProvider"]
            raise RuntimeError("CUDA failure 35: CUDA driver version is insufficient")
        return real_create(self, providers, provider_options, *args, **kwargs)

    monkeypatch.setattr(ort.InferenceSession, "_create_inference_session", failing_cuda)
    with pytest.raises(ValueError) as e:
        create_session(tiny_model, "cuda")
    msg = str(e.value)
    assert str(tiny_model) in msg and "device='cuda'" in msg and "CUDA driver version is insufficient" in msg
    assert "\n" not in msg and "EP Error" not in msg
    assert capsys.readouterr().out == ""
    # the CPU is still the CPU afterwards
    assert create_session(tiny_model, "cpu").get_providers() == ["CPUExecutionProvider"]
