"""The one backend factory: device name -> onnxruntime providers, model file -> session."""
from __future__ import annotations

import contextlib
import inspect
import io
import json
import logging
import os
import re
from importlib import resources
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .checks import MAX_THREADS, is_int

log = logging.getLogger(__name__)

_PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
}

# Older onnxruntime (1.19 among the allowed versions) takes InferenceSession(enable_fallback=0) and
# ignores it: an execution provider failing at creation or in a run is then printed to stdout and
# replaced by the CPU.
_ORT_TAKES_ENABLE_FALLBACK = "enable_fallback" in inspect.signature(
    ort.capi.onnxruntime_inference_collection.Session.__init__).parameters


def default_model_path(name: str) -> Path:
    """Path of a model shipped in assets/ (package ``tracker.assets``), e.g. ``landmarks.onnx``."""
    p = resources.files("tracker.assets") / name
    return Path(str(p))


def providers_for(device: str) -> list[str]:
    """onnxruntime providers for ``device`` ("cpu" or "cuda").

    Raises:
        ValueError: unknown device, or a device whose provider this onnxruntime build lacks
            (the message lists the available providers).
    """
    dev = str(device).lower()
    if dev not in _PROVIDERS:
        raise ValueError(f"device must be one of {sorted(_PROVIDERS)}, got {device!r}")
    wanted = _PROVIDERS[dev]
    available = ort.get_available_providers()
    if wanted[0] not in available:
        hint = " (install onnxruntime-gpu for CUDA)" if dev == "cuda" else ""
        raise ValueError(f"device={device!r} needs {wanted[0]}, but this onnxruntime offers only "
                         f"{available}{hint}")
    return wanted


def create_session(model_path: str | os.PathLike[str], device: str = "cpu", threads: int = 2,
                   spin: bool = True) -> ort.InferenceSession:
    """An inference session with explicit thread counts.

    Args:
        model_path: ONNX file. device: "cpu" or "cuda" (any case). threads: intra-op threads (>= 1);
            with "cuda" they run only the operators CUDA leaves to the CPU.
        spin: let idle intra-op workers spin-wait for the next parallel section of a run
            (onnxruntime's default: lower latency for networks of many small ops); they stop
            spinning when the run returns (``session.force_spinning_stop``), so they keep no core
            busy between runs; see :class:`OnnxStage`.

    Raises:
        FileNotFoundError: no such model file. ValueError: bad device/threads, a file that is
            not a loadable ONNX model (naming it), or a device whose provider onnxruntime lists but
            cannot start (onnxruntime-gpu without its CUDA libraries), rather than a silent CPU run.
    """
    path = Path(model_path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}{' is a folder' if path.is_dir() else ''}")
    if not is_int(threads) or not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"threads must be an integer >= 1 (at most {MAX_THREADS}), got {threads!r:.40}")
    threads = int(threads)                  # a numpy integer becomes a Python one
    providers = providers_for(device)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    if spin:
        # spin-wait between the parallel sections of a run only: when the run returns the workers
        # sleep, so they hold no core while the other model, OpenCV or numpy work in between
        so.add_session_config_entry("session.force_spinning_stop", "1")
    on = "" if providers[0] == "CPUExecutionProvider" else f" with device={device!r}"
    banner = io.StringIO()
    try:
        # no fallback: onnxruntime's would print to stdout (where ``--json -`` writes) and run a
        # device="cuda" session on the CPU. Where onnxruntime ignores enable_fallback=0 its banner
        # is caught (while the session is made) for the reason it gives.
        with contextlib.nullcontext() if _ORT_TAKES_ENABLE_FALLBACK else contextlib.redirect_stdout(banner):
            session = ort.InferenceSession(str(path), so, providers=providers, enable_fallback=0)
    except Exception as e:  # onnxruntime raises its own exception types for corrupt files
        hint = ""
        if path.suffix.lower() in (".pt", ".pth", ".ckpt"):     # a training checkpoint, not its export
            hint = " (a PyTorch checkpoint? export it first: python -m export.onnx_export landmarks|detector CHECKPOINT -o FILE.onnx)"
        raise ValueError(f"cannot load model file {path}{on}: {str(e).splitlines()[0][:200]}{hint}") from None
    fell_back = re.search(r"^EP Error (.*) when using ", banner.getvalue(), re.MULTILINE)
    if fell_back:
        raise ValueError(f"cannot load model file {path}{on}: {fell_back.group(1)[:200]}")
    if not _ORT_TAKES_ENABLE_FALLBACK:
        session.disable_fallback()          # its run() would fall back the same way
    if providers[0] not in session.get_providers():
        # onnxruntime-gpu without its CUDA/cuDNN libraries only logs a warning and runs on the CPU
        raise ValueError(f"model file {path}: device={device!r} needs {providers[0]}, but onnxruntime could "
                         f"not start it (the session got {session.get_providers()}); check the CUDA and cuDNN "
                         "libraries onnxruntime-gpu needs, or use device='cpu'")
    return session


def read_metadata(session: ort.InferenceSession) -> dict:
    """The model's metadata_props, with JSON values decoded."""
    props = session.get_modelmeta().custom_metadata_map
    out = {}
    for k, v in props.items():
        try:
            out[k] = json.loads(v)
        except (json.JSONDecodeError, TypeError):
            out[k] = v
    return out


def require_metadata(meta: dict, keys: list[str], kind: str, path) -> None:
    """Raise ValueError naming the file when the model is the wrong kind or lacks metadata.

    The kind is checked first: a detector file passed as the landmark model lacks the landmark
    keys too, and "a 'detector' model, expected 'landmarks'" says what went wrong."""
    if "kind" in meta and meta["kind"] != kind:
        raise ValueError(f"model file {path} is a {meta['kind']!r} model, expected {kind!r}")
    missing = [k for k in keys if k not in meta]
    if missing:
        raise ValueError(f"model file {path} lacks metadata {missing}; was it exported by export/?")
    if meta.get("kind") != kind:
        raise ValueError(f"model file {path} is a {meta.get('kind')!r} model, expected {kind!r}")


def metadata_value(meta: dict, key: str, path, ok, want: str):
    """``meta[key]`` when ``ok(value)`` holds, else ValueError naming the file and the key (int() and
    float() of a bad value named neither, and some bad values loaded and went wrong on every frame)."""
    v = meta[key]
    try:
        good = bool(ok(v))
    except (TypeError, ValueError):
        good = False
    if not good:
        raise ValueError(f"model file {path}: metadata {key} must be {want}, got {v!r}")
    return v


def codec_from_metadata(make, meta: dict, path):
    """``make(meta["codec"])``, or ValueError naming the file when the codec metadata is unusable."""
    try:
        return make(meta["codec"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        why = f"no {e}" if isinstance(e, KeyError) else e
        raise ValueError(f"model file {path}: unusable codec metadata {meta['codec']!r} ({why})") from None


def run_shapes(session, shape: tuple, path, size_keys: str) -> list[list[int]]:
    """Output shapes of one run on zeros of input ``shape``: where a file's output axes are symbolic,
    only a run tells whether its codec decodes them (a wrong size scaled every point silently)."""
    try:
        return [list(o.shape) for o in session.run(None, {"image": np.zeros(shape, np.float32)})]
    except Exception as e:  # noqa: BLE001 - onnxruntime's own exception types
        raise ValueError(f"model file {path}: the network cannot run at its metadata {size_keys} "
                         f"(input {list(shape)}): {str(e).splitlines()[0][:200]}") from None


def _rgb_triple(meta: dict, key: str, path) -> np.ndarray:
    """``meta[key]`` as (3,) float32 finite values, or ValueError naming the file (a wrong length
    only failed on the first frame, a JSON null normalised every pixel to NaN)."""
    try:
        v = np.asarray(meta[key], np.float32)
    except (TypeError, ValueError):
        v = None
    if v is None or v.shape != (3,) or not np.isfinite(v).all():
        raise ValueError(f"model file {path}: metadata {key} must be 3 finite numbers (R, G, B), got {meta[key]!r}")
    return v


class _ClosedSession:
    """A closed stage's session: any use raises RuntimeError naming the stage, not an
    AttributeError on None."""

    def __init__(self, owner: str):
        self._owner = owner

    def __getattr__(self, name):
        if name.startswith("__"):   # copy/pickle probes, looked up before __init__ set _owner
            raise AttributeError(name)
        raise RuntimeError(f"{self._owner} is closed")


class OnnxStage:
    """Common part of the pipeline stages: load an ONNX file, check its metadata, expose the
    input normalisation; ``close()`` and ``with`` support.

    Subclasses set ``default_file`` (a name in assets/), ``kind`` and ``required`` (metadata keys),
    and ``spin`` (see :func:`create_session`). The tracker runs the landmark model on every frame
    and the detector now and then, both in one process, with OpenCV and numpy work between the
    runs. Workers that went on spinning after a run held the cores the next stage needed (2 cores,
    2 threads: both sessions spinning put the tracker's p95 per 640x480 frame at 12-14 ms; with
    the detector not spinning, 6-10 ms on a fast VM). Since session 25 both sessions spin within a
    run only (``session.force_spinning_stop``): on the 2-core Intel VM the detector's run inside
    the tracker took p50 5.1-7.1 ms instead of 9.3-9.4 and the tracker's p95 per frame fell by
    about a fifth (model card, "Speed").
    """

    default_file = ""
    kind = ""
    required: list[str] = []
    spin = True

    def __init__(self, model_path: str | os.PathLike[str] | None = None, device: str = "cpu", threads: int = 2):
        self.model_path = Path(model_path) if model_path is not None else default_model_path(self.default_file)
        self.session = create_session(self.model_path, device, threads, spin=self.spin)
        meta = read_metadata(self.session)
        require_metadata(meta, self.required, self.kind, self.model_path)
        self.meta = meta
        self.mean_rgb = _rgb_triple(meta, "mean_rgb", self.model_path)
        self.std_rgb = _rgb_triple(meta, "std_rgb", self.model_path)
        if not (self.std_rgb > 0).all():
            raise ValueError(f"model file {self.model_path}: metadata std_rgb must be > 0, got {meta['std_rgb']!r}")

    def close(self) -> None:
        """Free the session; a later call raises RuntimeError (a second close is harmless)."""
        self.session = _ClosedSession(type(self).__name__)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
