"""``handtrack``: the annotated video is kept when a run is stopped from outside (SIGTERM), and a
webcam recording lasts as long as the session when frames are skipped (findings of a CLI audit)."""
from __future__ import annotations

import os
import signal

import cv2

from tracker import cli

from .test_cli import fake_models, small_video  # noqa: F401 - fixtures


def test_sigterm_mid_run_keeps_a_playable_annotated_video(fake_models, small_video,  # noqa: F811
                                                          tmp_path, monkeypatch, capsys):
    """`timeout 60 handtrack video clip.mp4 -o out.mp4`, `kill`, a service manager stopping a
    recording: SIGTERM ends the run like Ctrl-C, through the code that finishes the outputs. An mp4
    that is not finished has no index, so before, every frame of the annotated video was lost."""
    from tracker.hand_tracker import HandTracker
    orig = HandTracker.process
    calls = {"n": 0}

    def process(self, frame, ts=None):
        calls["n"] += 1
        if calls["n"] == 5:
            os.kill(os.getpid(), signal.SIGTERM)
        return orig(self, frame, ts)

    monkeypatch.setattr(HandTracker, "process", process)
    # a handler of the test's own: without the CLI's, the signal lands here instead of ending pytest
    seen = []

    def mine(signum, frame):
        seen.append(signum)

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        out, js = tmp_path / "out.mp4", tmp_path / "t.jsonl"
        rc = cli.main(["video", str(small_video), "-o", str(out), "--json", str(js), "--no-progress"])
        after = signal.getsignal(signal.SIGTERM)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [] and rc == 128 + signal.SIGTERM
    assert after is mine                                   # the CLI's handler is set only while it runs
    assert "handtrack: terminated" in capsys.readouterr().err
    assert len(js.read_text().splitlines()) == 4           # frames 0-3; the 5th was not finished
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 4


def test_webcam_recording_lasts_as_long_as_the_session_when_frames_are_skipped(monkeypatch, tmp_path, capsys):
    """By default the newest camera frame is tracked and the others are skipped; the recording
    (``-o``, written at the camera's frame rate) holds each tracked picture for the camera frames
    skipped after it, as the window does. Before, it held only the tracked frames, so a session
    tracked at 8 fps from a 30 fps camera played almost 4x too fast."""
    import json

    from .test_video_live_capture import REAL_VIDEO_CAPTURE, FakeCamera, SlowTracker

    cam = FakeCamera(n=60, interval=0.002)
    tracker = SlowTracker(0.02)
    monkeypatch.setattr(cv2, "VideoCapture", lambda source: cam)
    monkeypatch.setattr(cli, "build_tracker", lambda a, mirrored: tracker)
    out, js = tmp_path / "rec.mp4", tmp_path / "t.jsonl"
    rc = cli.main(["webcam", "--no-window", "-o", str(out), "--json", str(js)])
    assert rc == 1                                              # the fake camera's frames end
    frames = [json.loads(x)["frame"] for x in js.read_text().splitlines()]
    assert len(frames) < frames[-1] - frames[0] + 1             # frames were skipped
    got = int(REAL_VIDEO_CAPTURE(str(out)).get(cv2.CAP_PROP_FRAME_COUNT))
    assert got == frames[-1] - frames[0] + 1                     # one video frame per camera frame
