"""``handtrack webcam --every-frame`` on a camera that hangs (audit, session 37).

The default path reads the camera in :class:`tracker.video.LatestFrameReader`'s thread with a read
timeout; ``--every-frame`` read it with a plain ``capture.read()`` loop in the main thread
(``frames_in_order``). A camera or stream whose ``read()`` stopped returning (a USB camera pulled
out, an IP camera gone quiet) froze the session for good: no message, outputs never finished,
and Ctrl-C / SIGTERM not handled while OpenCV sat in its C ``read()``. Fake cameras only (there is
no camera here); no window is ever opened."""
from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tracker import cli
from tracker.video import frames_in_order

from .test_cli_webcam import _HUNG_CAMERA_RUN, _frames_in
from .test_video_live_capture import FakeCamera, frame_number

ROOT = Path(cli.__file__).parents[1]


class HangingCamera(FakeCamera):
    """``n`` frames, then a ``read()`` that blocks until ``wake`` is set, then ends."""

    def __init__(self, n: int) -> None:
        super().__init__(n=None)
        self.hang_at = n
        self.wake = threading.Event()

    def read(self):
        if self.i >= self.hang_at:
            self.wake.wait()
            return False, None
        return super().read()


def _collect(frames, limit_s: float):
    """The items of ``frames`` taken in a helper thread, and whether it ended within ``limit_s``
    (the old loop never did: the test must fail, not hang)."""
    got: list = []
    done = threading.Event()

    def take():
        try:
            for item in frames:
                got.append(item)
        finally:
            done.set()
    threading.Thread(target=take, daemon=True).start()
    return got, done.wait(limit_s)


def test_a_hanging_read_ends_the_frames_after_the_timeout_with_a_warning(caplog):
    cam = HangingCamera(3)
    frames = frames_in_order(cam, timeout=0.3, name="--camera 7")
    t0 = time.perf_counter()
    with caplog.at_level(logging.WARNING, logger="tracker.video"):
        got, ended = _collect(frames, 10.0)
    took = time.perf_counter() - t0
    cam.wake.set()
    frames.close()
    assert ended and took < 3.0
    assert [i for i, _, _ in got] == [0, 1, 2] and [frame_number(f) for _, _, f in got] == [0, 1, 2]
    assert "--camera 7: no frame within 0.3 s" in caplog.text


def test_a_slow_consumer_is_no_timeout_and_the_camera_is_read_only_when_asked(caplog):
    """Every frame in order, none dropped, and no read ahead: the camera is read when the next
    frame is asked for (what is waited for is the camera, never the tracker), so the frames
    queue in the driver as before and a tracker slower than the timeout does not end the run."""
    cam = FakeCamera(n=4)
    frames = frames_in_order(cam, timeout=0.1)
    got, reads = [], []
    with caplog.at_level(logging.WARNING, logger="tracker.video"):
        for index, t_ms, frame in frames:
            got.append(index)
            reads.append(cam.i)
            time.sleep(0.25)                                # tracking slower than the timeout
    frames.close()
    assert got == [0, 1, 2, 3] and reads == [1, 2, 3, 4]
    assert "no frame within" not in caplog.text


def test_an_error_in_the_capture_is_raised_in_the_consumer():
    cam = FakeCamera(n=None, fail_at=2)
    frames = frames_in_order(cam, timeout=2.0)
    got = []
    with pytest.raises(OSError, match="unplugged"):
        for index, _, _ in frames:
            got.append(index)
    frames.close()
    assert got == [0, 1]


def test_close_stops_the_helper_thread_of_an_endless_camera():
    before = set(threading.enumerate())
    cam = FakeCamera(n=None, interval=0.001)
    frames = frames_in_order(cam)
    for index, _, _ in frames:
        if index == 5:
            break
    frames.close()
    frames.close()
    assert not [t for t in set(threading.enumerate()) - before if t.is_alive()]
    with pytest.raises(StopIteration):
        next(frames)


def _start(tmp_path: Path, block: bool):
    js, rec = tmp_path / "t.jsonl", tmp_path / "rec.mp4"
    script = tmp_path / "run.py"
    script.write_text(_HUNG_CAMERA_RUN)
    p = subprocess.Popen([sys.executable, str(script), "block" if block else "free", "webcam", "--no-window",
                          "--every-frame", "--json", str(js), "-o", str(rec)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    return p, js, rec


def _finish(p, timeout: float):
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail(f"handtrack webcam still running {timeout} s on (hung with the camera)")
    return out, err


def _signal_when_hung(p, sig) -> tuple[str, str, float]:
    """Send ``sig`` to ``p`` once its fake camera says HANGING on stderr; (stdout, stderr, seconds
    from the signal to the end). ``p`` does not outlive the call (killed if still running)."""
    try:
        for line in p.stderr:
            if "HANGING" in line:
                break
        time.sleep(0.3)
        t0 = time.perf_counter()
        p.send_signal(sig)
        out, err = _finish(p, 20)
        return out, err, time.perf_counter() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()


def _check_outputs(js: Path, rec: Path) -> None:
    rows = [json.loads(x) for x in js.read_text().splitlines()]
    assert [r["frame"] for r in rows] == [0, 1, 2, 3, 4]  # camera frames 2-6 (1 is the open check)
    assert _frames_in(rec) == 5


def test_a_hung_camera_ends_the_session_with_the_warning_and_complete_outputs(tmp_path):
    """Before, the session waited for ever: no message, the recording never finished. A camera
    gone is a failure (status 1, session 40), its outputs kept."""
    p, js, rec = _start(tmp_path, block=False)
    out, err = _finish(p, 40)
    assert p.returncode == 1, err
    assert "--camera 0: no frame within 5.0 s" in err
    assert err.splitlines()[-1] == ("handtrack: error: --camera 0: the camera stopped delivering frames after "
                                    "5 tracked frames (outputs kept)")
    assert "5 frames tracked" in out and "Traceback" not in err
    _check_outputs(js, rec)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("sig, status, said", [(signal.SIGINT, 130, "interrupted"),
                                               (signal.SIGTERM, 143, "terminated")])
def test_ctrl_c_and_sigterm_stop_a_session_hung_in_the_cameras_read(tmp_path, sig, status, said):
    """Ctrl-C or SIGTERM while OpenCV's read() hangs: before, the handler waited for the read to
    return (never), so nothing stopped the session short of SIGKILL, which lost the recording."""
    p, js, rec = _start(tmp_path, block=True)
    out, err, took = _signal_when_hung(p, sig)
    assert p.returncode == status and f"handtrack: {said}" in err
    assert took < 10.0
    _check_outputs(js, rec)
