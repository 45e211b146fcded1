"""bench/live.py: the simulated camera's queue, and the two ways of reading it, on a fake tracker."""
from __future__ import annotations

import time

import numpy as np
import pytest

from bench.live import SimulatedCamera, run_once


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def frames(n: int = 3) -> list[np.ndarray]:
    return [np.full((4, 4, 3), i, np.uint8) for i in range(n)]


def test_camera_hands_out_frames_in_capture_order_waiting_for_each():
    clock = FakeClock()
    cam = SimulatedCamera(frames(3), fps=10, buffers=2, duration_s=0.5, clock=clock, sleep=clock.sleep)
    got = []
    while True:
        ok, f = cam.read()
        if not ok:
            break
        got.append(int(f[0, 0, 0]))
    assert got == [0, 1, 2, 0, 1]                          # 5 frames in 0.5 s, the 3 looped
    assert np.allclose(np.diff(cam.capture_times), 0.1) and cam.lost == 0 and cam.captured == 5


def test_a_full_queue_loses_the_new_frames_and_keeps_the_old_ones():
    clock = FakeClock()
    cam = SimulatedCamera(frames(10), fps=10, buffers=2, duration_s=1.0, clock=clock, sleep=clock.sleep)
    assert cam.read()[1][0, 0, 0] == 0                     # starts the camera at t0
    clock.t += 0.55                                        # a slow consumer: frames 1-5 captured
    ok, f = cam.read()
    assert ok and f[0, 0, 0] == 1 and cam.lost == 3        # queue of 2 kept 1 and 2; 3, 4, 5 lost
    assert cam.read()[1][0, 0, 0] == 2
    assert cam.capture_times == pytest.approx([100.0, 100.1, 100.2])


def test_camera_rejects_bad_settings():
    with pytest.raises(ValueError, match="no frames"):
        SimulatedCamera([], fps=30)
    with pytest.raises(ValueError, match="buffers 0"):
        SimulatedCamera(frames(), fps=30, buffers=0)


class SleepTracker:
    def __init__(self, delay: float) -> None:
        self.delay = delay

    def process(self, frame, timestamp_ms):
        time.sleep(self.delay)


def test_newest_frame_reading_keeps_latency_down_when_tracking_is_slower_than_the_camera():
    """100 fps camera, 40 ms per tracked frame, a queue of 4: read in order, every result is
    about four frame intervals older than it needs to be; the newest-frame reader drops instead."""
    out = {}
    for mode in ("every frame", "newest"):
        cam = SimulatedCamera(frames(), fps=100, buffers=4, duration_s=0.6)
        out[mode] = r = run_once(SleepTracker(0.04), cam, mode)
        assert r["tracked"] == r["latency_ms"].size == r["tracker_ms"].size > 5
        assert r["tracked"] + r["dropped"] + r["lost"] <= r["captured"] == 60
    assert out["every frame"]["lost"] > 0 and out["every frame"]["dropped"] == 0
    assert out["newest"]["dropped"] > 0
    assert np.median(out["newest"]["latency_ms"]) < np.median(out["every frame"]["latency_ms"]) - 15.0


def test_run_once_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        run_once(SleepTracker(0.0), SimulatedCamera(frames(), fps=30), "fastest")


def test_live_command_prints_a_row_per_rate_and_mode(tmp_path, capsys):
    from bench.__main__ import main
    assert main(["live", "--shared", str(tmp_path), "--fps", "20", "--seconds", "0.5", "--size", "160x120"]) == 0
    out = capsys.readouterr().out
    assert "grey frame at 160x120" in out
    assert "| 20 | every frame |" in out and "| 20 | newest |" in out
