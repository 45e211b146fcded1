"""``handtrack webcam``: the live path on fake cameras (there is no camera or display here; no
window is ever opened). Findings of an audit of the live path: no camera, a camera that stops,
Ctrl-C, the recording's frame rate, timestamps and the mirrored view."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tracker import cli

from .test_video_live_capture import REAL_VIDEO_CAPTURE, FakeCamera, SlowTracker, frame_number


def _frames_in(path: Path) -> int:
    cap = REAL_VIDEO_CAPTURE(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


@pytest.fixture
def live(monkeypatch):
    """``run(camera, tracker, args)``: ``handtrack webcam --no-window ARGS`` on a fake camera."""
    monkeypatch.setattr(cv2, "namedWindow", lambda *a: pytest.fail("a window was opened"))
    monkeypatch.setattr(cv2, "imshow", lambda *a: pytest.fail("a window was opened"))

    def run(camera, tracker, args):
        monkeypatch.setattr(cv2, "VideoCapture", lambda source: camera)
        monkeypatch.setattr(cli, "build_tracker", lambda a, mirrored: tracker)
        return cli.main(["webcam", "--no-window", *args])
    return run


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.path.exists("/dev/video57"),
                    reason="needs a Linux machine without /dev/video57")
def test_no_camera_is_one_error_line_without_opencvs_messages(tmp_path):
    """With no camera at that index OpenCV's backends printed a dozen lines of their own first
    ("[ WARN:0@0.079] ... can't open camera by index", "raised OpenCV exception", an FFmpeg
    error box), which read like a crash above the one line that says what is wrong."""
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "tracker.cli", "webcam", "--camera", "57", "--no-window",
                        "--json", str(tmp_path / "t.jsonl")], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "OPENCV_LOG_LEVEL": "INFO"})
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert p.returncode == 2
    assert lines == ["handtrack: error: --camera 57: no camera could be opened or read "
                     "(run with -v for the video backends' messages)"]
    assert time.perf_counter() - t0 < 30


def test_verbose_keeps_opencvs_messages(monkeypatch, capsys):
    """-v is for finding out why: OpenCV's log level is left as it is then."""
    seen = []
    # OpenCV 5's cv2.utils.logging; OpenCV 4 has only the top-level get/setLogLevel (silent is 0 in both)
    cv_log = getattr(getattr(cv2, "utils", None), "logging", cv2)
    silent = getattr(cv_log, "LOG_LEVEL_SILENT", 0)

    class NoCamera:
        def __init__(self, source):
            seen.append(cv_log.getLogLevel())

        def isOpened(self):  # noqa: N802
            return False

        def release(self):
            pass
    before = cv_log.getLogLevel()
    monkeypatch.setattr(cv2, "VideoCapture", NoCamera)
    assert cli.main(["webcam", "--no-window", "--json", "-", "--camera", "3"]) == 2
    assert cli.main(["webcam", "--no-window", "--json", "-", "--camera", "3", "-v"]) == 2
    assert seen == [silent, before]
    assert cv_log.getLogLevel() == before                    # put back after the open
    assert "--camera 3: no camera could be opened or read" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [[], ["--every-frame"]])
def test_a_camera_that_stops_before_any_frame_is_tracked_is_an_error(live, tmp_path, capsys, extra):
    """The camera opened and gave the frame of the open check, then nothing: before, the run
    "succeeded" (status 0, "0 frames tracked") with an empty track file and no recording at all."""
    cam = FakeCamera(n=1)
    js = tmp_path / "t.jsonl"
    rc = live(cam, SlowTracker(0.0), [*extra, "--json", str(js), "-o", str(tmp_path / "rec.mp4")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "--camera 0: the camera stopped delivering frames before any was tracked" in err
    assert js.read_text() == "" and cam.released == 1


def test_a_camera_that_stops_mid_run_keeps_every_output_complete(live, tmp_path, capsys):
    cam = FakeCamera(n=9)
    js, cs, rec = tmp_path / "t.jsonl", tmp_path / "t.csv", tmp_path / "rec.mp4"
    rc = live(cam, SlowTracker(0.0), ["--every-frame", "--json", str(js), "--csv", str(cs), "-o", str(rec)])
    assert rc == 1 and cam.released == 1                   # a failure (session 40), the outputs kept
    lines = [json.loads(x) for x in js.read_text().splitlines()]
    assert [r["frame"] for r in lines] == list(range(8))
    assert len(cs.read_text().splitlines()) == 1 + 8 and _frames_in(rec) == 8
    assert "8 frames tracked" in capsys.readouterr().out


@pytest.mark.parametrize("args, fps", [(["--frame-rate", "15"], 15.0), ([], 30.0)])
def test_the_recording_of_a_camera_reporting_no_rate_is_written_at_frame_rate(live, tmp_path, args, fps):
    """A camera that reports 0 fps (many do) was recorded at 30 fps even when --frame-rate said
    it runs at 15: the recording, one video frame per camera frame, then played twice too fast."""
    cam = FakeCamera(n=6)                                  # reports 0 for CAP_PROP_FPS
    rec = tmp_path / "rec.mp4"
    tracker = SlowTracker(0.0)
    tracker.effective_counts = {}                          # read by the summary's frame-rate line
    assert live(cam, tracker, ["--every-frame", "-o", str(rec), *args]) == 1   # the camera stops after 5
    got = REAL_VIDEO_CAPTURE(str(rec)).get(cv2.CAP_PROP_FPS)
    assert got == pytest.approx(fps, rel=1e-3)


# argv[1] "block" or "free", then handtrack's arguments (test_cli_webcam_hang.py uses it too)
_HUNG_CAMERA_RUN = """
import signal, sys, threading
import cv2, numpy as np
from tracker import HandTrackerResult, cli
import tracker.video  # binds OpenCV's file reader (the recording's read-back) before the fake

class HungCamera:
    # 6 frames, then a read() that never returns; BLOCK: it holds off SIGINT/SIGTERM in its thread,
    # as OpenCV's C read() does (Python's handlers run only after it returns)
    i = 0
    def isOpened(self): return True
    def get(self, prop): return 0.0
    def read(self):
        if self.i >= 6:
            if BLOCK:
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
            print("HANGING", file=sys.stderr, flush=True)
            threading.Event().wait()
        self.i += 1
        return True, np.full((24, 32, 3), self.i, np.uint8)
    def release(self): pass

class Tracker:
    def process(self, frame, t_ms):
        return HandTrackerResult(hands=[], frame_index=0, timestamp_ms=t_ms, image_size=(32, 24))
    def __enter__(self): return self
    def __exit__(self, *exc): return None

# as in a terminal: a shell running the tests in the background (nohup ... &, CI runners) starts
# them with SIGINT ignored, and Python then installs no KeyboardInterrupt handler
signal.signal(signal.SIGINT, signal.default_int_handler)
BLOCK = sys.argv.pop(1) == "block"
cv2.VideoCapture = lambda source: HungCamera()
cli.build_tracker = lambda args, mirrored: Tracker()
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_a_second_sigterm_while_a_hung_camera_is_waited_for_keeps_the_recording(tmp_path):
    """SIGTERM (``docker stop``, a service manager) on a camera that hangs in read(): the reader
    thread is given 2 s to leave it before the camera is released. The outputs were finished only
    after that wait, so a second SIGTERM in it (which ends the process at once) left an mp4 with
    no index: every recorded frame lost. The outputs are now finished before the camera is waited for."""
    js, rec = tmp_path / "t.jsonl", tmp_path / "rec.mp4"
    script = tmp_path / "run.py"
    script.write_text(_HUNG_CAMERA_RUN)
    p = subprocess.Popen([sys.executable, str(script), "free", "webcam", "--no-window", "--json", str(js), "-o", str(rec)],
                         stderr=subprocess.PIPE, text=True, cwd=Path(cli.__file__).parents[1])
    try:
        for line in p.stderr:
            if "HANGING" in line:
                break
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)                       # the main thread stops waiting for a frame
        time.sleep(0.6)                                     # and now waits up to 2 s for the reader thread
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    rows = [json.loads(x) for x in js.read_text().splitlines()]
    assert rows and rows[-1]["frame"] == 4                  # camera frames 1-5 (0 is the open check)
    assert _frames_in(rec) == rows[-1]["frame"] - rows[0]["frame"] + 1


def test_timestamps_are_the_grab_times_not_the_tracking_times(live, tmp_path):
    """A tracker slower than the camera gets the newest frame with the time it was grabbed: the
    times of two tracked frames differ by their camera frames' spacing (10 ms a frame here)."""
    cam = FakeCamera(n=40, interval=0.01)
    tracker = SlowTracker(0.05)
    js = tmp_path / "t.jsonl"
    assert live(cam, tracker, ["--json", str(js)]) == 1     # the camera stops after frame 39
    rows = [json.loads(x) for x in js.read_text().splitlines()]
    t = [r["t_ms"] for r in rows]
    assert all(b > a for a, b in zip(t, t[1:]))
    # frame k was grabbed at about 10 ms x k (the first read of the camera is the open check)
    per_frame = (t[-1] - t[0]) / (rows[-1]["frame"] - rows[0]["frame"])
    assert 8.0 < per_frame < 30.0
    assert [r["frame"] + 1 for r in rows] == tracker.frames


def test_mirror_flips_the_frame_and_tracks_it_as_mirrored(monkeypatch, tmp_path):
    """--mirror: the selfie view is tracked with mirrored=True (labels name the person's real
    hands) and the coordinates written are those of the flipped view that is shown and recorded."""
    got = {}
    cam = FakeCamera(n=3)

    class Recorder(SlowTracker):
        def process(self, frame, timestamp_ms):
            got.setdefault("first", frame.copy())
            return super().process(np.ascontiguousarray(frame), timestamp_ms)

    tracker = Recorder(0.0)

    def build(a, mirrored):
        got["mirrored"] = mirrored
        return tracker
    monkeypatch.setattr(cv2, "VideoCapture", lambda source: cam)
    monkeypatch.setattr(cli, "build_tracker", build)
    # status 1: the camera stops after frame 2
    assert cli.main(["webcam", "--no-window", "--every-frame", "--mirror", "--json", str(tmp_path / "t.jsonl")]) == 1
    assert got["mirrored"] is True
    first = got["first"]
    # frame 1's number sits in the top-left pixel: flipped, it is in the top-right one
    assert int(np.frombuffer(first[0, -1, :2].tobytes(), np.uint16)[0]) == 1
    assert frame_number(first[:, ::-1]) == 1


@pytest.mark.parametrize("camera, shown", [
    (0, "0"),
    ("/dev/video2", "/dev/video2"),
    ("rtsp://cam.local/stream", "rtsp://cam.local/stream"),
    ("rtsp://admin:s3cret@10.0.0.5:554/live", "rtsp://admin:***@10.0.0.5:554/live"),
    ("http://u:p%40ss@host/x?y=1", "http://u:***@host/x?y=1"),
    ("rtsp://[::1", "rtsp://***"),
])
def test_messages_show_a_stream_url_without_its_password(camera, shown):
    assert cli.shown_camera(camera) == shown


def test_no_camera_error_leaves_the_password_out(live, tmp_path, capsys):
    """Error lines repeated the URL as given: an IP camera's password went to stderr and logs."""
    class Closed(FakeCamera):
        def isOpened(self):  # noqa: N802 - cv2.VideoCapture's name
            return False
    assert live(Closed(), SlowTracker(0.0), ["--camera", "rtsp://admin:s3cret@10.0.0.5/live",
                                             "--json", str(tmp_path / "t.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "rtsp://admin:***@10.0.0.5/live" in err and "s3cret" not in err
