"""Provenance of track files: ``HandTracker.describe()`` (package version, model files with their
sha256 and embedded versions, providers, threads, options) and ``handtrack video|webcam --meta
PATH``, one JSON object beside the track files saying which models and options made them, also
after a run stopped by Ctrl-C, SIGTERM or an error. The JSONL/CSV formats are unchanged."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
from datetime import datetime
from pathlib import Path

import cv2
import onnxruntime as ort
import pytest

import tracker
from tracker import HandTracker, HandTrackerOptions, cli
from tracker.backend import default_model_path, read_metadata

from .test_cli import fake_models, small_video  # noqa: F401 - fixtures
from .tracker_fakes import FakeDetector, FakeLandmarks, Scene, interrupt_process_at


def _file_meta(path: Path) -> dict:
    """The metadata embedded in an ONNX file, read independently of the tracker."""
    return read_metadata(ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]))


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# -- HandTracker.describe() ---------------------------------------------------------------------
@pytest.mark.parametrize("files", [("landmarks.onnx", "detector.onnx"),
                                   ("landmarks_int8.onnx", "detector_any_angle.onnx")])
def test_describe_names_the_model_files_by_hash_and_embedded_version(files):
    lm_file, det_file = (default_model_path(f) for f in files)
    shipped = files[0] == "landmarks.onnx"
    kw = {} if shipped else {"landmark_model_path": str(lm_file), "detector_model_path": det_file}
    with HandTracker(threads=1, max_hands=1, frame_rate=60.0, **kw) as t:
        d = t.describe()
    text = json.dumps(d)                                   # JSON-ready as it is
    assert json.loads(text) == d
    assert d["version"] == tracker.__version__
    assert d["onnxruntime"] == ort.__version__
    for kind, path in (("landmarks", lm_file), ("detector", det_file)):
        m = d["models"][kind]
        embedded = _file_meta(path)
        assert Path(m["path"]) == path.resolve()
        assert m["sha256"] == _sha256(path)
        assert m["kind"] == kind == embedded["kind"]
        assert m["model_version"] == embedded["model_version"]
        assert m["providers"] == ["CPUExecutionProvider"]
        assert m["threads"] == 1
    assert d["models"]["landmarks"]["input_size"] == _file_meta(lm_file)["input_size"]
    det_meta = _file_meta(det_file)
    assert [d["models"]["detector"][k] for k in ("input_width", "input_height", "threshold")] == \
        [det_meta["input_width"], det_meta["input_height"], det_meta["threshold"]]
    if not shipped:                                        # the opt-in files are told apart
        assert d["models"]["landmarks"]["quantization"] == _file_meta(lm_file)["quantization"]
    # the options round-trip: the same options build the same tracker
    opts = HandTrackerOptions(**d["options"])
    assert dataclasses.astuple(opts.validate()) == dataclasses.astuple(
        dataclasses.replace(t.options, landmark_model_path=kw.get("landmark_model_path"),
                            detector_model_path=None if shipped else str(det_file)))
    assert d["options"]["max_hands"] == 1 and d["options"]["frame_rate"] == 60.0


def test_describe_tells_two_model_files_apart_and_answers_with_its_own_copy():
    with HandTracker(threads=1) as a, \
            HandTracker(threads=1, landmark_model_path=default_model_path("landmarks_int8.onnx")) as b:
        da, db = a.describe(), b.describe()
        assert da["models"]["landmarks"]["sha256"] != db["models"]["landmarks"]["sha256"]
        assert da["models"]["landmarks"]["model_version"] != db["models"]["landmarks"]["model_version"]
        assert da["models"]["detector"] == db["models"]["detector"]
        da["options"]["max_hands"] = 99                    # the caller's copy
        assert a.describe()["options"]["max_hands"] == 2


def test_describe_after_close_keeps_the_first_answer_and_a_never_described_closed_tracker_says_so():
    t = HandTracker(threads=1)
    before = t.describe()
    t.close()
    assert t.describe() == before
    u = HandTracker(threads=1)
    u.close()
    with pytest.raises(RuntimeError, match="describe"):
        u.describe()


def test_describe_with_model_objects_passed_in_is_json_ready():
    scene = Scene()
    t = HandTracker(detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene), max_hands=1)
    d = json.loads(json.dumps(t.describe()))
    assert d["models"]["landmarks"]["path"] is None and d["models"]["landmarks"]["sha256"] is None
    assert d["models"]["landmarks"]["object"] == "FakeLandmarks"
    assert d["models"]["detector"]["object"] == "FakeDetector"
    assert d["options"]["max_hands"] == 1
    # numpy values the options accept come out as Python ones
    import numpy as np
    t = HandTracker(detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene), mirrored=np.bool_(True))
    assert json.loads(json.dumps(t.describe()))["options"]["mirrored"] is True


# -- handtrack video --meta -------------------------------------------------------------------
def _read(p: Path) -> dict:
    return json.loads(p.read_text(encoding="utf-8"))


def test_video_meta_with_the_shipped_models(small_video, tmp_path, capsys):  # noqa: F811
    js, meta = tmp_path / "t.jsonl", tmp_path / "run.json"
    argv = ["video", str(small_video), "--json", str(js), "--meta", str(meta), "--threads", "1",
            "--max-hands", "1", "--no-progress"]
    assert cli.main(argv) == 0
    assert f"meta: {meta}" in capsys.readouterr().out
    m = _read(meta)
    assert m["command"] == ["handtrack", *argv]
    assert m["input"] == str(small_video)
    assert m["frame_size"] == [200, 120]
    assert m["fps_reported"] == pytest.approx(30.0)
    assert m["frames"] == 8 == len(js.read_text().splitlines())
    assert m["completed"] is True
    started, finished = (datetime.fromisoformat(m[k]) for k in ("started", "finished"))
    assert started.tzinfo is not None and started <= finished
    h = m["handtrack"]
    assert h["version"] == tracker.__version__
    assert h["models"]["landmarks"]["sha256"] == _sha256(default_model_path("landmarks.onnx"))
    assert h["models"]["detector"]["sha256"] == _sha256(default_model_path("detector.onnx"))
    assert h["options"]["max_hands"] == 1 and h["options"]["threads"] == 1
    # the track file's records are as before
    assert set(json.loads(js.read_text().splitlines()[0])) == {"frame", "t_ms", "hands"}


def test_video_meta_after_ctrl_c_says_not_completed(fake_models, small_video, tmp_path, monkeypatch,  # noqa: F811
                                                    capsys):
    interrupt_process_at(monkeypatch, 6)
    js, meta = tmp_path / "t.jsonl", tmp_path / "run.json"
    rc = cli.main(["video", str(small_video), "--json", str(js), "--meta", str(meta), "--no-progress"])
    assert rc == 130
    assert capsys.readouterr().err.strip() == "handtrack: interrupted"
    m = _read(meta)
    assert m["completed"] is False and m["frames"] == 5 == len(js.read_text().splitlines())
    assert m["handtrack"]["models"]["landmarks"]["object"] == "FakeLandmarks"


def test_video_meta_after_sigterm_and_after_an_error(fake_models, small_video, tmp_path, monkeypatch,  # noqa: F811
                                                     capsys):
    orig = HandTracker.process
    calls = {"n": 0, "at": 4, "what": "term"}

    def process(self, frame, ts=None):
        calls["n"] += 1
        if calls["n"] == calls["at"]:
            if calls["what"] == "term":
                os.kill(os.getpid(), signal.SIGTERM)
            else:
                raise RuntimeError("boom")
        return orig(self, frame, ts)

    monkeypatch.setattr(HandTracker, "process", process)
    previous = signal.signal(signal.SIGTERM, lambda *a: None)
    try:
        meta = tmp_path / "term.json"
        rc = cli.main(["video", str(small_video), "--meta", str(meta), "--no-progress"])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert rc == 128 + signal.SIGTERM
    m = _read(meta)
    assert m["completed"] is False and m["frames"] == 3
    calls.update(n=0, what="error")
    meta = tmp_path / "err.json"
    rc = cli.main(["video", str(small_video), "--meta", str(meta), "--no-progress"])
    assert rc == 1 and "boom" in capsys.readouterr().err
    m = _read(meta)
    assert m["completed"] is False and m["frames"] == 3


@pytest.mark.parametrize("case", ["missing folder", "locked folder", "a folder", "stdout", "same as --json"])
def test_unwritable_meta_is_refused_before_any_work(fake_models, small_video, tmp_path, monkeypatch,  # noqa: F811
                                                    capsys, case):
    js = tmp_path / "t.jsonl"
    js.write_text("an earlier run's tracks\n", encoding="utf-8")
    locked = tmp_path / "locked"
    locked.mkdir()
    meta = {"missing folder": tmp_path / "nope" / "m.json", "locked folder": locked / "m.json",
            "a folder": locked, "stdout": "-", "same as --json": js}[case]
    access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: (False if Path(p) == locked and mode & os.W_OK
                                                                else access(p, mode, *a, **k)))
    out = tmp_path / "o.mp4"
    rc = cli.main(["video", str(small_video), "--json", str(js), "-o", str(out), "--meta", str(meta),
                   "--no-progress"])
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("handtrack: error: --meta"), captured.err
    assert fake_models == []                               # no tracker built: no work done
    assert js.read_text(encoding="utf-8") == "an earlier run's tracks\n"
    assert not out.exists() and captured.out == ""
    assert sorted(p.name for p in locked.iterdir()) == []


def test_several_inputs_write_one_meta_per_input_into_a_folder(fake_models, small_video, tmp_path,  # noqa: F811
                                                               capsys):
    other = tmp_path / "b.mp4"
    other.write_bytes(small_video.read_bytes())
    folder = tmp_path / "meta"
    folder.mkdir()
    rc = cli.main(["video", str(small_video), str(other), "--meta", str(folder), "--no-progress",
                   "--max-frames", "5"])
    assert rc == 0
    for inp in (small_video, other):
        m = _read(folder / f"{inp.stem}.meta.json")
        assert m["input"] == str(inp) and m["frames"] == 5 and m["completed"] is True
    # a file for several inputs is refused, as --json FILE is
    rc = cli.main(["video", str(small_video), str(other), "--meta", str(tmp_path / "m.json"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "--meta" in err and "existing folder" in err


# -- handtrack webcam --meta ------------------------------------------------------------------
def test_webcam_meta_keeps_a_stream_password_out(monkeypatch, tmp_path, capsys):
    from .test_video_live_capture import FakeCamera
    cam = FakeCamera(n=12)
    monkeypatch.setattr(cv2, "VideoCapture", lambda source: cam)
    scene = Scene()

    def build(args, mirrored):
        return HandTracker(detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene),
                           max_hands=args.max_hands, mirrored=mirrored)

    monkeypatch.setattr(cli, "build_tracker", build)
    js, meta = tmp_path / "t.jsonl", tmp_path / "cam.json"
    url = "rtsp://user:s3cret@192.168.1.20:554/stream"
    rc = cli.main(["webcam", f"--camera={url}", "--no-window", "--every-frame", "--json", str(js),
                   "--meta", str(meta), "--max-frames", "6"])
    assert rc == 0
    text = meta.read_text(encoding="utf-8")
    assert "s3cret" not in text
    m = json.loads(text)
    assert m["input"] == "rtsp://user:***@192.168.1.20:554/stream"
    assert m["command"][:3] == ["handtrack", "webcam", "--camera=rtsp://user:***@192.168.1.20:554/stream"]
    assert m["frame_size"] == [32, 24] and m["fps_reported"] is None
    assert m["frames"] == 6 == len(js.read_text().splitlines()) and m["completed"] is True
    assert m["handtrack"]["options"]["max_hands"] == 2


def test_webcam_meta_after_ctrl_c(monkeypatch, tmp_path, capsys):
    from .test_video_live_capture import FakeCamera
    cam = FakeCamera(n=None)
    monkeypatch.setattr(cv2, "VideoCapture", lambda source: cam)
    scene = Scene()
    interrupt_process_at(monkeypatch, 4)
    monkeypatch.setattr(cli, "build_tracker", lambda args, mirrored: HandTracker(
        detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene)))
    js, meta = tmp_path / "t.jsonl", tmp_path / "cam.json"
    rc = cli.main(["webcam", "--no-window", "--every-frame", "--json", str(js), "--meta", str(meta)])
    assert rc == 130
    m = _read(meta)
    assert m["completed"] is False and m["frames"] == 3 == len(js.read_text().splitlines())
    assert m["input"] == "0"


def test_webcam_unwritable_meta_is_refused_before_the_camera_opens(monkeypatch, tmp_path, capsys):
    opened = []
    monkeypatch.setattr(cv2, "VideoCapture", lambda source: opened.append(source))
    js = tmp_path / "t.jsonl"
    rc = cli.main(["webcam", "--no-window", "--json", str(js), "--meta", str(tmp_path / "no" / "m.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("handtrack: error: --meta")
    assert opened == [] and not js.exists()
