"""``handtrack webcam``: how long it waits for the camera, and what the stopped-camera line claims
(audit, session 41).

B1. The command waited up to 40 s (``CAMERA_OPEN_TIMEOUT_S``) for the camera or stream's first
frame and up to 5 s (``FRAME_TIMEOUT_S``) for each later one, with no option to change either: a
slow network stream that needs longer to open, or stalls a few seconds, could not be used, and a
quick failure could not be had. ``--open-timeout SECONDS`` and ``--frame-timeout SECONDS`` set them.

B2. When the camera stopped mid-session the error line said ``(outputs kept)`` whenever an output
option was given, also when the ``--meta`` file could not be written (that failure only logged):
the line claimed a file that was not there.

Fake cameras and fake trackers only; no window is ever opened; every wait is a fraction of a second."""
from __future__ import annotations

import errno
import json
import logging
import threading
import time

import cv2
import pytest

from tracker import cli, video

from .test_cli_webcam_hang import HangingCamera
from .test_cli_webcam_open import SHOWN, URL, StuckCamera, _run_in_thread, fake  # noqa: F401 - fake: a fixture
from .test_cli_webcam_stop import DescribedTracker, _no_window, _read, _tracked
from .test_cli_webcam import live  # noqa: F401 - a fixture used by name
from .test_video_live_capture import FakeCamera, webcam  # noqa: F401 - webcam: a fixture used by name

READERS = [pytest.param([], id="newest-frame"), pytest.param(["--every-frame"], id="every-frame")]


# -- B1: the options ------------------------------------------------------------------------------
@pytest.mark.parametrize("option", ["--open-timeout", "--frame-timeout"])
@pytest.mark.parametrize("value, want", [
    ("0.25", 0.25), ("60", 60.0), ("1e-3", 0.001), ("120", 120.0),
    ("0", None), ("-1", None), ("nan", None), ("inf", None), ("-inf", None), ("1e999", None), ("abc", None),
    ("", None),
])
def test_timeout_option_values(option, value, want, capsys):
    parser = cli.make_parser()
    dest = option.lstrip("-").replace("-", "_")
    if want is not None:
        assert getattr(parser.parse_args(["webcam", f"{option}={value}"]), dest) == want
        return
    with pytest.raises(SystemExit) as e:
        parser.parse_args(["webcam", f"{option}={value}"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    said = [x for x in err.splitlines() if "error" in x]
    assert len(said) == 1 and "Traceback" not in err
    assert f"argument {option}: " in said[0] and repr(value) in said[0]


def test_timeout_defaults_are_the_library_constants_and_the_help_says_unit_and_default(capsys):
    args = cli.make_parser().parse_args(["webcam"])
    assert args.open_timeout == video.CAMERA_OPEN_TIMEOUT_S == 40.0
    assert args.frame_timeout == video.FRAME_TIMEOUT_S == 5.0
    with pytest.raises(SystemExit):
        cli.make_parser().parse_args(["webcam", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--open-timeout SECONDS" in text and "--frame-timeout SECONDS" in text
    assert "default 40" in text and "default 5" in text


# -- B1: --open-timeout ---------------------------------------------------------------------------
def _wake_after(wake: threading.Event, delay_s: float) -> threading.Timer:
    timer = threading.Timer(delay_s, wake.set)
    timer.daemon = True
    timer.start()
    return timer


def test_a_first_frame_later_than_open_timeout_is_one_error_naming_the_time(fake, tmp_path, capsys):
    """The camera's first frame comes after 2 s; --open-timeout 0.2 gives up after 0.2 s, not 40."""
    wake = threading.Event()
    cams: list[StuckCamera] = []
    fake(lambda source: cams.append(StuckCamera(wake, "read")) or cams[-1])
    timer = _wake_after(wake, 2.0)
    js = tmp_path / "t.jsonl"
    try:
        rc, took = _run_in_thread(["webcam", "--no-window", "--camera", URL, "--open-timeout", "0.2",
                                   "--json", str(js)], 10.0)
    finally:
        timer.cancel()
        wake.set()
    err = capsys.readouterr().err
    assert rc == 2, (rc, err)
    assert took < 1.5
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err
    assert lines[0].startswith(f"handtrack: error: --camera {SHOWN}: ")
    assert "within 0.2 s" in lines[0] and "--open-timeout" in lines[0] and "40" not in lines[0]
    assert not js.exists() or js.read_text() == ""


def test_a_slow_stream_opens_within_a_longer_open_timeout(fake, monkeypatch, tmp_path, capsys):
    """The option, not the constant, is waited for: a default of 0.1 s would give up on this camera."""
    monkeypatch.setattr(video, "CAMERA_OPEN_TIMEOUT_S", 0.1)
    wake = threading.Event()
    fake(lambda source: StuckCamera(wake, "read", n=6))
    timer = _wake_after(wake, 0.4)
    js = tmp_path / "t.jsonl"
    try:
        rc, _ = _run_in_thread(["webcam", "--no-window", "--every-frame", "--open-timeout", "5",
                                "--json", str(js)], 20.0)
    finally:
        timer.cancel()
        wake.set()
    err = capsys.readouterr().err
    assert rc == 1, err                                      # tracked, then the camera of 6 frames stopped
    assert [json.loads(x)["frame"] for x in js.read_text().splitlines()] == [0, 1, 2, 3, 4]


# -- B1: --frame-timeout --------------------------------------------------------------------------
@pytest.mark.parametrize("extra", READERS)
def test_a_stall_longer_than_frame_timeout_ends_the_session_as_a_stopped_camera(live, monkeypatch, tmp_path,  # noqa: F811
                                                                                 capsys, caplog, extra):
    """4 frames, then a read() that hangs: with --frame-timeout 0.3 the session ends about 0.3 s
    later (was 5 s) as a camera that stopped: status 1, outputs complete."""
    # the close waits this long for the hung read() to return (2 s): kept short, the test is about the frames
    monkeypatch.setattr(video, "_LEAVE_READ_S", 0.1)
    cam = HangingCamera(4)
    tracker = DescribedTracker(0.0)
    js, meta = tmp_path / "t.jsonl", tmp_path / "run.json"
    t0 = time.perf_counter()
    try:
        with caplog.at_level(logging.WARNING):
            rc = live(cam, tracker, [*extra, "--frame-timeout", "0.3", "--json", str(js), "--meta", str(meta)])
    finally:
        cam.wake.set()
    took = time.perf_counter() - t0
    out, err = capsys.readouterr()
    n = len(tracker.frames)
    assert rc == 1, err
    assert took < 2.5                                        # far below the default 5 s
    assert "--camera 0: no frame within 0.3 s" in caplog.text
    assert tracker.frames[-1] == 3
    assert len(js.read_text().splitlines()) == n
    m = _read(meta)
    assert m["completed"] is False and m["frames"] == n
    assert err.splitlines()[-1] == ("handtrack: error: --camera 0: the camera stopped delivering frames after "
                                    f"{_tracked(n)} (outputs kept)")


class StallingCamera(FakeCamera):
    """A FakeCamera of ``n`` frames whose read of frame ``at`` takes ``stall`` s (a stream that stalls)."""

    def __init__(self, n: int, at: int, stall: float) -> None:
        super().__init__(n=n)
        self.at, self.stall = at, stall

    def read(self):
        if self.i == self.at:
            time.sleep(self.stall)
        return super().read()


@pytest.mark.parametrize("extra", READERS)
def test_a_stall_shorter_than_frame_timeout_is_waited_out(live, monkeypatch, tmp_path, capsys, caplog,  # noqa: F811
                                                           extra):
    """The option, not the constant, is waited for: a default of 0.1 s would end this session at the stall."""
    monkeypatch.setattr(video, "FRAME_TIMEOUT_S", 0.1)
    cam = StallingCamera(n=8, at=4, stall=0.5)
    tracker = DescribedTracker(0.0)
    js = tmp_path / "t.jsonl"
    with caplog.at_level(logging.WARNING):
        rc = live(cam, tracker, [*extra, "--frame-timeout", "3", "--json", str(js)])
    assert rc == 1, capsys.readouterr().err                  # the camera's 8 frames ended
    assert tracker.frames[-1] == 7 and "no frame within" not in caplog.text


# -- B2: the stopped-camera line claims only what was written -------------------------------------
def _meta_cannot_be_written(monkeypatch):
    """--meta passes the start check, then its write fails (a full disk by the end of the session)."""
    def full(path, write):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(cli, "write_replacing", full)


@pytest.mark.parametrize("extra", READERS)
def test_a_meta_file_that_could_not_be_written_is_not_claimed_as_kept(monkeypatch, tmp_path, capsys, caplog,
                                                                      extra):
    _meta_cannot_be_written(monkeypatch)
    cam = FakeCamera(n=6)
    tracker = DescribedTracker(0.0)
    js, meta = tmp_path / "t.jsonl", tmp_path / "run.json"
    with caplog.at_level(logging.WARNING):
        rc = _no_window(monkeypatch, cam, tracker, [*extra, "--json", str(js), "--meta", str(meta)])
    err = capsys.readouterr().err
    n = len(tracker.frames)
    assert rc == 1, err
    assert not meta.exists() and len(js.read_text().splitlines()) == n
    assert f"--meta {meta}: cannot write (No space left on device)" in caplog.text     # logged, as before
    assert err.splitlines()[-1] == ("handtrack: error: --camera 0: the camera stopped delivering frames after "
                                    f"{_tracked(n)} (outputs kept except --meta {meta}, which could not be written)")


def test_a_window_session_whose_only_output_meta_failed_claims_no_kept_output(webcam, monkeypatch, tmp_path,  # noqa: F811
                                                                               capsys):
    _meta_cannot_be_written(monkeypatch)
    meta = tmp_path / "run.json"
    tracker = DescribedTracker(0.0)
    monkeypatch.setattr(cli, "build_tracker", lambda a, mirrored: tracker)
    monkeypatch.setattr(cv2, "VideoCapture", lambda source: FakeCamera(n=5))
    rc = cli.main(["webcam", "--meta", str(meta)])
    err = capsys.readouterr().err
    n = len(tracker.frames)
    assert rc == 1 and not meta.exists()
    assert err.splitlines()[-1] == ("handtrack: error: --camera 0: the camera stopped delivering frames after "
                                    f"{_tracked(n)} (--meta {meta} could not be written)")
    assert "outputs kept" not in err
