"""Errors a user meets from the runtime package and the export tools (audit, session 36): bad
input is one ValueError/TypeError/FileNotFoundError naming the argument and its value, raised
before any work, never a KeyError/AttributeError traceback from inside, nor a silent acceptance
that fails later (an exported file the runtime then refuses, a camera loop that yields nothing)."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

from tracker.io import read_tracks
from tracker.smoothing import make_filter
from tracker.video import LatestFrameReader
from tests.conftest import require_torch


class _UnopenedCapture:
    """What ``cv2.VideoCapture(7)`` is when there is no camera 7."""

    released = 0

    def isOpened(self) -> bool:  # noqa: N802 - cv2.VideoCapture's name
        return False

    def read(self):
        return False, None

    def release(self) -> None:
        self.released += 1


# -- runtime API -------------------------------------------------------------------------------
@pytest.mark.parametrize("call, error, message", [
    # a camera index or a path instead of an opened capture: an AttributeError from the reader's
    # thread at the first frame, and a second one from close() at the end of the ``with`` block
    (lambda: LatestFrameReader(0), TypeError, "capture must be an opened capture"),
    (lambda: LatestFrameReader("/dev/video0"), TypeError, "got '/dev/video0'"),
    # no such camera: the loop ended at once, without a word
    (lambda: LatestFrameReader(_UnopenedCapture(), name="camera 7"), ValueError, "camera 7: the capture is not opened"),
    # NaN made every filtered keypoint NaN from the second frame on; a string gave "'<' not supported"
    (lambda: make_filter("kalman", strength=math.nan), ValueError, "strength must be a number >= 0, got nan"),
    (lambda: make_filter("kalman", strength="1"), ValueError, "strength must be a number >= 0, got '1'"),
])
def test_runtime_bad_input_is_one_clear_error(call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call()


def test_an_unopened_capture_is_released_when_refused():
    cap = _UnopenedCapture()
    with pytest.raises(ValueError):
        LatestFrameReader(cap)
    assert cap.released == 1


@pytest.mark.parametrize("option", ["landmark_model_path", "detector_model_path"])
def test_a_model_path_of_the_wrong_type_names_the_option(option):
    """Was "expected str, bytes or os.PathLike object, not int" from deep in pathlib."""
    from tracker import HandTracker
    with pytest.raises(ValueError, match=rf"{option} must be a file path \(str or os.PathLike\) or None, got 5"):
        HandTracker(**{option: 5})


def test_a_model_path_that_is_a_folder_says_so(tmp_path):
    """Was "model file not found: <folder>", which sends the user looking for a missing file."""
    from tracker.landmarks import LandmarkModel
    with pytest.raises(FileNotFoundError, match=re.escape(f"model file not found: {tmp_path} is a folder")):
        LandmarkModel(tmp_path)


def test_a_track_file_that_is_a_folder_is_one_value_error(tmp_path):
    """Was an IsADirectoryError (an OSError) from open()."""
    (tmp_path / "run.jsonl").mkdir()
    with pytest.raises(ValueError, match=re.escape(f"track file {tmp_path / 'run.jsonl'} is a folder")):
        read_tracks(tmp_path / "run.jsonl")


# -- export ------------------------------------------------------------------------------------
def _checkpoints():
    require_torch()
    from tests.export.test_export import _tiny_detector_checkpoint, _tiny_landmark_checkpoint
    return {"landmarks": _tiny_landmark_checkpoint, "detector": _tiny_detector_checkpoint}


def _edited(tmp_path, kind: str, edit):
    import torch
    path = _checkpoints()[kind](tmp_path / f"{kind}.pt")
    ck = torch.load(path, weights_only=False)
    edit(ck)
    torch.save(ck, path)
    return path


def _drop(key):
    return lambda ck: ck.pop(key)


def _set(key, sub, value):
    return lambda ck: ck[key].__setitem__(sub, value)


@pytest.mark.parametrize("kind, edit, message", [
    # KeyError tracebacks before (the landmark export checked these two already)
    ("detector", _drop("codec"), "lacks ['codec']"),
    ("detector", _drop("normalization"), "lacks ['normalization']"),
    ("landmarks", lambda ck: ck.__setitem__("codec", {"input_size": [64, 64]}), "unusable codec"),
    ("detector", lambda ck: ck.__setitem__("codec", {"stride": 4}), "unusable codec"),
    # files written, then refused by the runtime ("metadata threshold must be ...", "std_rgb must be > 0")
    ("detector", _set("train_config", "threshold", 7), "train_config threshold 7 is not a score in [0, 1]"),
    ("landmarks", _set("normalization", "std_rgb", [0.0, 1.0, 1.0]), "normalization std_rgb"),
    ("detector", _set("normalization", "mean_rgb", [0.5, 0.5]), "normalization mean_rgb"),
])
def test_export_refuses_a_checkpoint_it_cannot_make_a_usable_file_of(tmp_path, kind, edit, message):
    require_torch()
    from export.onnx_export import main
    ck = _edited(tmp_path, kind, edit)
    out = tmp_path / "m.onnx"
    with pytest.raises(SystemExit, match=rf"^error: checkpoint {re.escape(str(ck))}.*{re.escape(message)}"):
        main([kind, str(ck), "-o", str(out)])
    assert not out.exists()


@pytest.mark.parametrize("threshold", [45, -0.1, math.nan, "0.4"])
def test_export_detector_refuses_a_threshold_the_runtime_refuses(tmp_path, threshold):
    """The command line checks --threshold; the Python function wrote the file, and HandDetector
    then refused it ("metadata threshold must be a number in [0, 1]")."""
    ck = _checkpoints()["detector"](tmp_path / "d.pt")
    from export.detector_export import export_detector
    out = tmp_path / "d.onnx"
    with pytest.raises(ValueError, match=re.escape(f"threshold must be a score in [0, 1], got {threshold!r}")):
        export_detector(ck, out, threshold=threshold)
    assert not out.exists()


def test_export_detector_in_range_threshold_still_exports(tmp_path):
    ck = _checkpoints()["detector"](tmp_path / "d.pt")
    from export.detector_export import export_detector
    from tracker.detector import HandDetector
    export_detector(ck, tmp_path / "d.onnx", threshold=np.float32(0.25))
    assert HandDetector(tmp_path / "d.onnx", threads=1).default_threshold == pytest.approx(0.25)
