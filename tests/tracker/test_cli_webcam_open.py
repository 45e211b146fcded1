"""``handtrack webcam`` on a camera that hangs while it is opened (audit, session 39).

Session 37 moved the camera's reads into helper threads, but the open check stayed in the main
thread: ``cv2.VideoCapture(source)`` and its first ``read()``. A camera or stream that hangs there
(a stalled USB camera, an RTSP/HTTP URL that accepts the connection and sends nothing) froze the
command for good: no message, and Ctrl-C / SIGTERM not handled while OpenCV sat in its C call.
Fake cameras only (there is no camera here); no window is ever opened. Every test that could hang
on the old code runs the command in a helper thread or a subprocess with a time limit."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest

from tracker import cli, video

from .test_cli_webcam_hang import _signal_when_hung
from .test_cli_webcam import _frames_in
from .test_video_live_capture import REAL_VIDEO_CAPTURE, FakeCamera, SlowTracker

ROOT = Path(cli.__file__).parents[1]
URL = "rtsp://admin:s3cret@10.0.0.5:554/live"
SHOWN = "rtsp://admin:***@10.0.0.5:554/live"


class StuckCamera(FakeCamera):
    """A capture whose constructor (``stuck="open"``) or first ``read()`` (``stuck="read"``) blocks
    until ``wake`` is set; then it opens / reads as a FakeCamera of ``n`` frames."""

    def __init__(self, wake: threading.Event, stuck: str, n: int = 5) -> None:
        super().__init__(n=n)
        self.wake, self.stuck = wake, stuck
        self.entered = threading.Event()            # the blocking call has started
        if stuck == "open":
            self.entered.set()
            wake.wait()

    def read(self):
        if self.stuck == "read" and self.i == 0:
            self.entered.set()
            self.wake.wait()
        return super().read()


def _run_in_thread(args: list[str], limit_s: float):
    """``cli.main(args)`` in a helper thread: (exit status or None if still running after
    ``limit_s``, seconds taken). The old code never returned: the test must fail, not hang."""
    box: dict = {}

    def go():
        try:
            box["rc"] = cli.main(args)
        except BaseException as e:  # noqa: BLE001 - reported by the test
            box["rc"] = e
    t0 = time.perf_counter()
    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(limit_s)
    return box.get("rc"), time.perf_counter() - t0


@pytest.fixture
def fake(monkeypatch):
    """Windows refused; ``use(factory)`` makes ``cv2.VideoCapture(source)`` call ``factory(source)``;
    the tracker is a SlowTracker(0)."""
    monkeypatch.setattr(cv2, "namedWindow", lambda *a: pytest.fail("a window was opened"))
    monkeypatch.setattr(cv2, "imshow", lambda *a: pytest.fail("a window was opened"))
    monkeypatch.setattr(cli, "build_tracker", lambda a, mirrored: SlowTracker(0.0))

    def use(factory):
        monkeypatch.setattr(cv2, "VideoCapture", factory)
    return use


@pytest.mark.parametrize("stuck", ["open", "read"])
def test_a_camera_that_hangs_in_its_open_or_first_read_is_one_clear_error(fake, monkeypatch, tmp_path,
                                                                           capsys, stuck):
    """Before, the command waited for ever (no message at all)."""
    monkeypatch.setattr(video, "CAMERA_OPEN_TIMEOUT_S", 0.3, raising=False)
    wake = threading.Event()
    made: list[StuckCamera] = []

    def factory(source):
        made.append(None)                           # the constructor was called
        cam = StuckCamera(wake, stuck)
        made[-1] = cam
        return cam
    fake(factory)
    js = tmp_path / "t.jsonl"
    try:
        rc, took = _run_in_thread(["webcam", "--no-window", "--camera", URL, "--json", str(js)], 10.0)
    finally:
        wake.set()                                  # the stuck call returns; the helper ends
    err = capsys.readouterr().err
    assert rc == 2, (rc, err)
    assert took < 3.0
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"handtrack: error: --camera {SHOWN}: ")
    assert "0.3 s" in lines[0] and "s3cret" not in err
    # the capture that opened late is released by the helper that opened it (nobody else can)
    deadline = time.perf_counter() + 5.0
    while (not made or made[-1] is None or made[-1].released == 0) and time.perf_counter() < deadline:
        time.sleep(0.01)
    assert made and made[-1] is not None and made[-1].released == 1
    assert not js.exists() or js.read_text() == ""


def test_the_quiet_opencv_log_level_covers_the_open_and_is_put_back_after_a_timeout(fake, monkeypatch):
    cv_log = getattr(getattr(cv2, "utils", None), "logging", cv2)
    before = cv_log.getLogLevel()
    monkeypatch.setattr(video, "CAMERA_OPEN_TIMEOUT_S", 0.3, raising=False)
    wake = threading.Event()
    seen = []

    def factory(source):
        seen.append(cv_log.getLogLevel())
        return StuckCamera(wake, "read")
    fake(factory)
    try:
        rc, _ = _run_in_thread(["webcam", "--no-window", "--json", "-"], 10.0)
    finally:
        wake.set()
    assert rc == 2 and seen == [0]
    assert cv_log.getLogLevel() == before


@pytest.mark.parametrize("extra", [[], ["--every-frame"]])
def test_a_camera_that_opens_is_tracked_as_before(fake, tmp_path, capsys, extra):
    cams: list[FakeCamera] = []

    def factory(source):
        cams.append(FakeCamera(n=6))
        return cams[-1]
    fake(factory)
    js = tmp_path / "t.jsonl"
    rc, _ = _run_in_thread(["webcam", "--no-window", *extra, "--json", str(js)], 30.0)
    assert rc == 1, capsys.readouterr().err                  # the camera stops after frame 5
    assert len(cams) == 1 and cams[0].released == 1
    frames = [json.loads(x)["frame"] for x in js.read_text().splitlines()]
    # camera frames 1-5 (0 is the open check); without --every-frame some may be skipped
    assert frames == (list(range(5)) if extra else sorted(set(frames))) and frames[-1] == 4
    assert f"{len(frames)} frames tracked" in capsys.readouterr().out


def test_frame_rate_auto_still_reads_the_cameras_rate(fake, tmp_path):
    class Camera25(FakeCamera):
        def get(self, prop):
            return 25.0 if prop == cv2.CAP_PROP_FPS else 0.0
    fake(lambda source: Camera25(n=6))
    tracker = SlowTracker(0.0)
    tracker.effective_counts = {}
    cli_build = cli.build_tracker
    try:
        cli.build_tracker = lambda a, mirrored: tracker
        rec = tmp_path / "rec.mp4"
        rc, _ = _run_in_thread(["webcam", "--no-window", "--every-frame", "--frame-rate", "auto", "-o", str(rec)], 30.0)
    finally:
        cli.build_tracker = cli_build
    assert rc == 1                                           # the camera stops after frame 5
    assert REAL_VIDEO_CAPTURE(str(rec)).get(cv2.CAP_PROP_FPS) == pytest.approx(25.0, rel=1e-3)
    assert _frames_in(rec) == 5


def test_no_camera_is_still_the_existing_error(fake, capsys):
    class Closed(FakeCamera):
        def isOpened(self):  # noqa: N802 - cv2.VideoCapture's name
            return False
    cams: list[Closed] = []
    fake(lambda source: cams.append(Closed()) or cams[-1])
    rc, _ = _run_in_thread(["webcam", "--no-window", "--json", "-", "--camera", "3"], 10.0)
    assert rc == 2 and cams[0].released == 1
    assert ("handtrack: error: --camera 3: no camera could be opened or read "
            "(run with -v for the video backends' messages)") in capsys.readouterr().err


def test_an_open_that_raises_is_still_the_one_line_error(fake, capsys):
    def factory(source):
        raise cv2.error("backend exploded")
    fake(factory)
    rc, _ = _run_in_thread(["webcam", "--no-window", "--json", "-"], 10.0)
    err = capsys.readouterr().err
    assert rc == 1 and "backend exploded" in err and "Traceback" not in err
    assert err.startswith("handtrack: error: error: ")


def test_a_first_read_that_raises_releases_the_camera(fake, capsys):
    cams: list[FakeCamera] = []
    fake(lambda source: cams.append(FakeCamera(n=None, fail_at=0)) or cams[-1])
    rc, _ = _run_in_thread(["webcam", "--no-window", "--json", "-"], 10.0)
    err = capsys.readouterr().err
    assert rc == 1 and "OSError: camera unplugged" in err
    assert cams[0].released == 1


def test_open_camera_returns_the_capture_and_its_first_frame(monkeypatch):
    cam = FakeCamera(n=3)
    monkeypatch.setattr(cv2, "VideoCapture", lambda source: cam)
    got, frame = video.open_camera(0, timeout=5.0)
    assert got is cam and frame is not None and cam.i == 1 and cam.released == 0


def test_open_camera_gives_up_after_the_timeout_naming_the_camera(monkeypatch):
    wake = threading.Event()
    cams: list[StuckCamera] = []
    monkeypatch.setattr(cv2, "VideoCapture", lambda source: cams.append(StuckCamera(wake, "read")) or cams[-1])
    t0 = time.perf_counter()
    try:
        with pytest.raises(TimeoutError, match=r"--camera 4: .*0\.2 s"):
            video.open_camera(4, timeout=0.2, name="--camera 4")
    finally:
        wake.set()
    assert time.perf_counter() - t0 < 2.0
    deadline = time.perf_counter() + 5.0
    while cams[0].released == 0 and time.perf_counter() < deadline:
        time.sleep(0.01)
    assert cams[0].released == 1 and cams[0].i == 1      # read once, then released by the helper


# argv[1]: "open" (the constructor hangs) or "read" (the first read hangs), then handtrack's
# arguments. The hang holds off SIGINT/SIGTERM in its thread, as OpenCV's C code does.
_STUCK_OPEN_RUN = """
import signal, sys, threading
import cv2, numpy as np
from tracker import cli

def hang():
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    print("HANGING", file=sys.stderr, flush=True)
    threading.Event().wait()

class StuckCamera:
    def __init__(self, source):
        if WHERE == "open":
            hang()
    def isOpened(self): return True
    def get(self, prop): return 0.0
    def read(self):
        hang()
    def release(self): pass

# as in a terminal (a shell running the tests in the background starts them with SIGINT ignored)
signal.signal(signal.SIGINT, signal.default_int_handler)
WHERE = sys.argv.pop(1)
cv2.VideoCapture = StuckCamera
sys.exit(cli.main(sys.argv[1:]))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("where", ["open", "read"])
@pytest.mark.parametrize("sig, status, said", [(signal.SIGINT, 130, "interrupted"),
                                               (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_and_sigterm_stop_a_command_hung_in_the_cameras_open(tmp_path, where, sig, status, said):
    """Before, the signal was never handled (the main thread sat in OpenCV's call): only SIGKILL
    stopped the command."""
    script = tmp_path / "run.py"
    script.write_text(_STUCK_OPEN_RUN)
    p = subprocess.Popen([sys.executable, str(script), where, "webcam", "--no-window", "--camera", URL,
                          "--json", str(tmp_path / "t.jsonl")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    out, err, took = _signal_when_hung(p, sig)
    assert p.returncode == status, err
    assert [x for x in err.splitlines() if x.strip()] == [f"handtrack: {said}"]
    assert took < 10.0
