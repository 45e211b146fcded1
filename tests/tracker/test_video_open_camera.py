"""Second-eye review of session 39's helper commits (audit, session 39): ``tracker.video.open_camera``
(188b494) and ``python -m bench frame-rate`` (ba4c0f1). Fake cameras and fake models only."""
from __future__ import annotations

import sys
import threading
import time

import cv2
import pytest

from bench import frame_rate
from tests.bench.test_frame_rate import clip, fake_factory  # noqa: F401 - clip: a fixture used by name
from tests.tracker.test_video_live_capture import FakeCamera
from tracker import video


class _ReadAndReleaseFail(FakeCamera):
    """A camera whose first read raises, and whose release then raises too (a backend in a bad state)."""

    def read(self):
        raise OSError("camera unplugged")

    def release(self) -> None:
        self.released += 1
        raise cv2.error("release failed")


def test_open_camera_hands_over_a_read_error_even_when_the_release_after_it_fails(monkeypatch):
    """The helper releases the capture before it sets ``arrived``: a release that raises killed the
    helper thread (a traceback from threading's excepthook) and left ``arrived`` unset, so the caller
    waited the whole timeout (40 s in ``handtrack webcam``; for ever with ``timeout=None``) and then
    blamed a hang instead of the read's error."""
    cam = _ReadAndReleaseFail(n=3)
    monkeypatch.setattr(cv2, "VideoCapture", lambda source: cam)
    died: list = []
    monkeypatch.setattr(threading, "excepthook", lambda a: died.append(a.exc_value))
    t0 = time.perf_counter()
    with pytest.raises(OSError, match="camera unplugged"):      # not TimeoutError (an OSError too)
        video.open_camera(0, timeout=3.0, name="--camera 0")
    assert time.perf_counter() - t0 < 2.0
    assert cam.released == 1
    assert died == []


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="a trace function raising into a call")
def test_open_camera_interrupted_right_after_its_wait_releases_the_capture(monkeypatch):
    """A Ctrl-C / SIGTERM landing after ``arrived.wait`` has returned and before ``give_up()`` has
    run (outside the ``try`` that releases on BaseException) left the opened capture to nobody: the
    helper saw ``given_up`` False and the caller never got it. Simulated by raising
    KeyboardInterrupt as ``give_up`` is entered the first time."""
    cam = FakeCamera(n=3)
    monkeypatch.setattr(cv2, "VideoCapture", lambda source: cam)
    fired: list = []

    def tracer(frame, event, arg):
        if (event == "call" and not fired and frame.f_code.co_name == "give_up"
                and frame.f_code.co_filename == video.__file__):
            fired.append(True)
            raise KeyboardInterrupt
        return None
    before = sys.gettrace()
    sys.settrace(tracer)
    try:
        with pytest.raises(KeyboardInterrupt):
            video.open_camera(0, timeout=5.0)
    finally:
        sys.settrace(before)
    assert fired
    deadline = time.perf_counter() + 2.0
    while cam.released == 0 and time.perf_counter() < deadline:
        time.sleep(0.01)
    assert cam.released == 1


def test_back_with_id_claims_no_lost_id_when_the_clip_ends_in_the_gap():
    """No frame follows the black frames: whether the hand would have come back with its id is not
    measured, yet it was reported as a hand that did not (before 1 -> back 0), as a lost id is."""
    assert frame_rate.back_with_id([[1], [1], [], []], [False, False, True, True], 30.0) is None


def test_a_blackout_that_runs_past_the_clips_end_reports_no_lost_ids(clip):
    """``--blackout 1`` on a 1 s clip: black from its middle (0.5 s) to its end. The hand tracked in
    every visible frame was counted as hidden and not back with its id (``before`` 1, ``back`` 0),
    and the totals summed it with the real losses."""
    res = frame_rate.run([clip], (1.0,), blackout_s=1.0, tracker_factory=fake_factory)
    (row,) = res["clips"]["grey.avi"]["rows"]
    assert row.get("back") is None, row
    (tot,) = res["total"]
    assert tot.get("back") is None, tot
