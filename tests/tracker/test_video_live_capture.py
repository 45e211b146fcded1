"""Live capture: ``tracker.video.LatestFrameReader`` and the ``handtrack webcam`` loop, on fake
cameras (there is no camera here) and with OpenCV's window functions replaced (a real window
with no display aborts the process)."""
from __future__ import annotations

import json
import sys
import logging
import threading
import time
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from tracker import HandTrackerResult, cli
from tracker.video import LatestFrameReader

REAL_VIDEO_CAPTURE = cv2.VideoCapture     # the webcam fixture replaces cv2.VideoCapture


class FakeCamera:
    """``read()`` returns frame i (every pixel = i % 256, frame.flat[0:2] = i as uint16) every
    ``interval`` s, ``n`` frames (None: forever), then ``(False, None)``; ``fail_at``: raise there."""

    def __init__(self, n: int | None = 10, interval: float = 0.0, fail_at: int | None = None) -> None:
        self.n, self.interval, self.fail_at = n, interval, fail_at
        self.i = 0
        self.released = 0
        self.read_threads: set[str] = set()

    def isOpened(self) -> bool:  # noqa: N802 - cv2.VideoCapture's name
        return True

    def get(self, prop) -> float:
        return 0.0                                        # what many cameras report for CAP_PROP_FPS

    def read(self):
        self.read_threads.add(threading.current_thread().name)
        if self.released:
            return False, None
        if self.interval:
            time.sleep(self.interval)
        if self.fail_at is not None and self.i == self.fail_at:
            raise OSError("camera unplugged")
        if self.n is not None and self.i >= self.n:
            return False, None
        frame = np.full((24, 32, 3), self.i % 256, np.uint8)
        frame[0, 0, :2] = np.frombuffer(np.uint16(self.i).tobytes(), np.uint8)
        self.i += 1
        return True, frame

    def release(self) -> None:
        self.released += 1


def frame_number(frame: np.ndarray) -> int:
    return int(np.frombuffer(frame[0, 0, :2].tobytes(), np.uint16)[0])


def test_reader_hands_out_frames_in_order_and_ends_with_the_newest():
    cam = FakeCamera(n=10, interval=0.002)
    with LatestFrameReader(cam, name="fake") as reader:
        got = list(reader)
        assert reader.read(timeout=0.1) is None          # ended: stays ended
    idx = [i for i, _, _ in got]
    assert idx == sorted(set(idx)) and idx[-1] == 9       # never out of order; the last frame arrives
    assert [frame_number(f) for _, _, f in got] == idx
    t = [t for _, t, _ in got]
    assert all(b > a for a, b in zip(t, t[1:]))
    assert reader.grabbed == 10 and reader.dropped + len(got) == 10
    assert cam.released == 1
    assert all(name.startswith("LatestFrameReader") for name in cam.read_threads)


def test_a_slow_consumer_gets_the_newest_frame_and_the_rest_are_counted_as_dropped():
    cam = FakeCamera(n=60, interval=0.002)
    got = []
    with LatestFrameReader(cam) as reader:
        for i, _, frame in reader:
            got.append(i)
            time.sleep(0.03)                              # tracking slower than the camera
    assert got[-1] == 59 and got == sorted(set(got))
    assert reader.dropped > 0 and len(got) < 60
    assert reader.dropped + len(got) == 60


def test_an_error_in_the_capture_is_raised_in_the_consumer():
    cam = FakeCamera(n=None, fail_at=3)
    reader = LatestFrameReader(cam)
    with pytest.raises(OSError, match="unplugged"):
        for _ in reader:
            pass
    reader.close()
    assert cam.released == 1


def test_no_frame_within_the_timeout_is_none_with_a_warning(caplog):
    cam = FakeCamera(n=0, interval=0.5)                  # the first read takes 0.5 s, then ends
    with LatestFrameReader(cam, name="--camera 3") as reader:
        with caplog.at_level(logging.WARNING, logger="tracker.video"):
            assert reader.read(timeout=0.05) is None
    assert "--camera 3" in caplog.text and "no frame" in caplog.text
    assert cam.released == 1


def test_close_stops_an_endless_capture_and_is_idempotent():
    cam = FakeCamera(n=None, interval=0.001)
    reader = LatestFrameReader(cam)
    assert reader.read() is not None
    reader.close()
    reader.close()
    assert cam.released == 1 and not reader._thread.is_alive()


# -- the webcam command ----------------------------------------------------------------------------
class SlowTracker:
    """Records which frames it tracked and their timestamps; ``delay`` s per frame."""

    def __init__(self, delay: float) -> None:
        self.delay, self.frames, self.t_ms = delay, [], []

    def process(self, frame, timestamp_ms):
        self.frames.append(frame_number(frame))
        self.t_ms.append(timestamp_ms)
        time.sleep(self.delay)
        return HandTrackerResult(hands=[], frame_index=len(self.frames) - 1, timestamp_ms=timestamp_ms,
                                 image_size=(frame.shape[1], frame.shape[0]))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


@pytest.fixture
def webcam(monkeypatch):
    """Run ``handtrack webcam`` on a FakeCamera and a SlowTracker, with no window."""
    state = SimpleNamespace(keys=[], shown=0, windows_closed=0, windows_opened=0)
    monkeypatch.setattr(cli, "has_display", lambda: True)
    monkeypatch.setattr(cli, "window_problem", lambda: None)

    def named_window(*a):
        state.windows_opened += 1
    monkeypatch.setattr(cv2, "namedWindow", named_window)

    def imshow(name, frame):
        state.shown += 1
    monkeypatch.setattr(cv2, "imshow", imshow)
    monkeypatch.setattr(cv2, "waitKey", lambda ms: state.keys.pop(0) if state.keys else -1)
    monkeypatch.setattr(cv2, "getWindowProperty", lambda *a: 1.0)

    def destroy():
        state.windows_closed += 1
    monkeypatch.setattr(cv2, "destroyAllWindows", destroy)

    def run(camera: FakeCamera, delay: float, args: list[str], keys=()):
        state.keys = list(keys)
        tracker = SlowTracker(delay)
        state.sources = []
        monkeypatch.setattr(cv2, "VideoCapture", lambda source: (state.sources.append(source), camera)[1])
        monkeypatch.setattr(cli, "build_tracker", lambda a, mirrored: tracker)
        return cli.main(["webcam", *args]), tracker
    state.run = run
    return state


def test_webcam_every_frame_tracks_each_camera_frame_in_order(webcam, capsys, caplog):
    cam = FakeCamera(n=12)
    with caplog.at_level(logging.WARNING, logger="handtrack"):
        rc, tracker = webcam.run(cam, 0.005, ["--every-frame"])
    assert rc == 1                                       # the camera stopped: not a quit
    assert tracker.frames == list(range(1, 12))          # frame 0 is the open check's
    assert all(b > a for a, b in zip(tracker.t_ms, tracker.t_ms[1:]))
    assert webcam.shown == 11 and cam.released == 1 and webcam.windows_closed == 1
    out, err = capsys.readouterr()
    assert "11 frames tracked" in out
    assert "--camera 0: the camera stopped delivering frames after 11 tracked frames" in err
    assert "stopped delivering" not in caplog.text       # said once, in the error line


def test_webcam_tracks_the_newest_frame_when_tracking_is_slower_than_the_camera(webcam, capsys):
    cam = FakeCamera(n=80, interval=0.002)
    rc, tracker = webcam.run(cam, 0.03, [])
    assert rc == 1                                       # the camera stopped after frame 79
    assert tracker.frames[-1] == 79 and tracker.frames == sorted(set(tracker.frames))
    assert len(tracker.frames) < 79                      # frames it had no time for were skipped
    assert all(b > a for a, b in zip(tracker.t_ms, tracker.t_ms[1:]))
    out = capsys.readouterr().out
    assert f"{len(tracker.frames)} frames tracked" in out and "camera frames skipped" in out
    assert cam.released == 1


@pytest.mark.parametrize("extra", [[], ["--every-frame"]])
def test_webcam_quits_on_q_and_releases_an_endless_camera(webcam, caplog, extra):
    cam = FakeCamera(n=None, interval=0.001)
    with caplog.at_level(logging.WARNING, logger="handtrack"):
        rc, tracker = webcam.run(cam, 0.0, extra, keys=[-1, -1, ord("q")])
    assert rc == 0 and len(tracker.frames) == 3
    assert cam.released == 1 and webcam.windows_closed == 1
    assert "stopped delivering" not in caplog.text


def test_webcam_without_a_window_streams_jsonl_to_stdout_and_needs_no_display(webcam, monkeypatch, capsys):
    monkeypatch.setattr(cli, "has_display", lambda: False)
    cam = FakeCamera(n=30, interval=0.002)
    rc, tracker = webcam.run(cam, 0.01, ["--no-window", "--json", "-", "--max-frames", "5"])
    assert rc == 0 and len(tracker.frames) == 5
    assert webcam.windows_opened == 0 and webcam.shown == 0 and webcam.windows_closed == 0
    out, err = capsys.readouterr()
    lines = [json.loads(x) for x in out.splitlines()]     # stdout holds the JSON lines only
    assert [r["frame"] for r in lines] == [f - 1 for f in tracker.frames]   # camera frame numbers
    assert all(b["t_ms"] > a["t_ms"] for a, b in zip(lines, lines[1:]))
    assert "5 frames tracked" in err and cam.released == 1


def test_webcam_without_a_window_writes_csv_and_a_recording(webcam, tmp_path, capsys):
    from tracker.io import read_tracks
    cam = FakeCamera(n=8)
    out_csv, out_mp4 = tmp_path / "t.csv", tmp_path / "rec.mp4"
    rc, tracker = webcam.run(cam, 0.0, ["--no-window", "--every-frame", "--csv", str(out_csv), "-o", str(out_mp4)])
    assert rc == 1 and len(tracker.frames) == 7          # the camera stopped; its outputs are kept
    tracks = read_tracks(out_csv)
    assert list(tracks.frame) == list(range(7)) and not tracks.present.any()
    assert REAL_VIDEO_CAPTURE(str(out_mp4)).get(cv2.CAP_PROP_FRAME_COUNT) == 7
    assert "7 frames tracked" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--no-window"], "nothing to show or write"),
    (["--no-window", "--json", "-", "--csv", "-"], "only one of them"),
    (["--no-window", "--json", "/nonexistent/dir/t.jsonl"], "--json: folder of /nonexistent/dir/t.jsonl"),
])
def test_webcam_output_errors_are_one_line_and_release_the_camera(webcam, args, message, capsys):
    cam = FakeCamera(n=5)
    rc, tracker = webcam.run(cam, 0.0, args)
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert tracker.frames == [] and cam.released <= 1


@pytest.mark.parametrize("arg, source", [("2", 2), ("rtsp://192.0.2.1:554/stream", "rtsp://192.0.2.1:554/stream"),
                                         ("/dev/null", "/dev/null")])
def test_webcam_opens_an_index_a_device_file_or_a_stream_url(webcam, arg, source):
    """An IP camera's stream is read like a local camera: the newest frame is tracked."""
    # frames the tracker is busy for are skipped: 6 frames were too few on a loaded machine (2
    # tracked, 3 skipped, then the camera ended: exit 1); --max-frames ends the run here
    cam = FakeCamera(n=300, interval=0.001)
    rc, tracker = webcam.run(cam, 0.0, ["--camera", arg, "--no-window", "--json", "-", "--max-frames", "3"])
    assert rc == 0 and len(tracker.frames) == 3
    assert webcam.sources == [source] and type(webcam.sources[0]) is type(source)


_window_problem = cli.window_problem


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the X display check is Linux's")
def test_webcam_with_a_display_variable_but_no_x_server_is_one_error(webcam, monkeypatch, capsys):
    """DISPLAY naming no running X server (a stale ssh session, a container that inherited it):
    OpenCV's Qt backend aborted the whole process (SIGABRT) at the first window, uncatchably. A
    child process tries to open one first (it is the child that aborts): one error, status 2,
    camera released, nothing tracked."""
    monkeypatch.setenv("DISPLAY", ":4093")                # no X server listens there
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(cli, "window_problem", _window_problem)
    cam = FakeCamera(n=10)
    rc, tracker = webcam.run(cam, 0.0, [])
    err = capsys.readouterr().err
    assert rc == 2 and tracker.frames == [] and webcam.windows_opened == 0
    assert "no usable display" in err and ":4093" in err and "--no-window" in err
