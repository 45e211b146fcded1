"""Video inputs that are not plain 30 fps files: truncated files, frame counts that overstate the
frames (variable frame rate), frame rates that are no rate, rotation metadata, frames the writer
cannot take. Clips are made with cv2.VideoWriter (and a byte patch for the rotation); a capture
that reports what real files report stands in where OpenCV cannot write such a file."""
from __future__ import annotations

import json
import logging
import struct

import cv2
import numpy as np
import pytest

from tracker import cli
from tracker.video import FrameSource, VideoSink

from .tracker_fakes import FakeDetector, FakeLandmarks, Scene, SceneHand, hand_keypoints


def numbered(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    f = np.full((h, w, 3), (10 * i) % 200, np.uint8)
    cv2.putText(f, str(i), (5, 40), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
    return f


def video_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tracker.video" and r.levelno >= logging.WARNING]


class ReportingCapture:
    """A cv2.VideoCapture stand-in: ``times`` are the presentation times (ms) of the frames it
    holds, ``fail`` the grab() calls (0-based, counting every call) that fail without using up a
    frame (a packet the demuxer cannot read); it reports ``fps`` and ``count`` as the container does."""

    def __init__(self, times, fps, count, fail=()):
        self.times, self.fps, self.count, self.fail = list(times), fps, count, set(fail)
        self.calls, self.pos, self.t = 0, 0, 0.0

    def isOpened(self):  # noqa: N802 - cv2's name
        return True

    def grab(self):
        k, self.calls = self.calls, self.calls + 1
        if k in self.fail or self.pos >= len(self.times):
            self.t = 0.0
            return False
        self.t, self.pos = self.times[self.pos], self.pos + 1
        return True

    def retrieve(self):
        return True, numbered(self.pos - 1)

    def read(self):
        return (self.retrieve() if self.grab() else (False, None))

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: self.fps, cv2.CAP_PROP_FRAME_COUNT: self.count,
                cv2.CAP_PROP_POS_MSEC: self.t}.get(prop, 0.0)

    def release(self):
        pass


def fake_video(monkeypatch, tmp_path, **kw):
    path = tmp_path / "clip.mkv"
    path.write_bytes(b"stand-in")
    monkeypatch.setattr(cv2, "VideoCapture", lambda *a: ReportingCapture(**kw))
    return path


VFR_TIMES = [0, 33, 66, 500, 533, 1500, 1520, 1540, 3000, 3033]


@pytest.mark.parametrize("fps, count", [
    (30.0, 92),         # Matroska: count = duration x rate, far above the 10 frames of a VFR phone clip
    (1000.0, 3067),     # the container's time base reported as the rate (browser recordings)
])
def test_a_complete_video_whose_count_overstates_its_frames_ends_without_warnings(monkeypatch, tmp_path, caplog,
                                                                                 fps, count):
    # was: 25 "frame N could not be read; skipped" and "stopped at frame 35 of 92 (truncated ...)"
    path = fake_video(monkeypatch, tmp_path, times=VFR_TIMES, fps=fps, count=count)
    with caplog.at_level(logging.WARNING, logger="tracker.video"):
        frames = list(FrameSource(path))
    assert [t for _, t, _ in frames] == VFR_TIMES
    assert [i for i, _, _ in frames] == list(range(10))
    assert video_warnings(caplog) == []


def test_a_run_of_unreadable_frames_mid_video_is_one_warning(monkeypatch, tmp_path, caplog):
    times = [i * 1000 / 30 for i in range(20)]
    path = fake_video(monkeypatch, tmp_path, times=times, fps=30.0, count=23, fail=(10, 11, 12))
    with caplog.at_level(logging.WARNING, logger="tracker.video"):
        frames = list(FrameSource(path))
    assert len(frames) == 20
    assert [i for i, _, _ in frames][9:11] == [9, 13]    # the three failed grabs counted as frames
    warnings = video_warnings(caplog)
    assert len(warnings) == 1 and "frames 10-12" in warnings[0], warnings


@pytest.mark.parametrize("ext, fourcc", [(".mkv", "mp4v"), (".avi", "MJPG")])
def test_a_truncated_video_warns_once_where_it_stopped(tmp_path, caplog, ext, fourcc):
    full = tmp_path / f"full{ext}"
    with VideoSink(full, fps=30, fourcc=fourcc) as sink:
        for i in range(60):
            sink.write(numbered(i))
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with caplog.at_level(logging.WARNING, logger="tracker.video"):
        frames = list(FrameSource(cut))
    assert 10 < len(frames) < 50
    warnings = video_warnings(caplog)
    # was: one warning per frame past the cut (up to 25), then "stopped at frame 54 of 60" for
    # a clip that stopped at frame ~28
    assert len(warnings) == 1, warnings
    assert f"stopped at frame {len(frames)} of 60" in warnings[0] and "truncated" in warnings[0]


@pytest.fixture
def fake_models(monkeypatch):
    scene = Scene(noise_px=0.0)
    scene.hands = [SceneHand(hand_keypoints(30, 100, 12.0), True)]
    built = []

    def build(args, mirrored):
        from tracker import HandTracker
        t = HandTracker(detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene),
                        max_hands=args.max_hands, static_image_mode=args.static, mirrored=mirrored,
                        frame_rate=args.frame_rate)
        built.append(t)
        return t

    monkeypatch.setattr(cli, "build_tracker", build)
    return built


def test_frame_rate_auto_refuses_a_video_that_reports_no_usable_rate(fake_models, tmp_path, capsys):
    # was: tracked silently as 30 fps, the README saying `auto` is "the video's own rate"
    path = tmp_path / "ms.avi"
    with VideoSink(path, fps=1000, fourcc="MJPG") as sink:       # reads back as 1000 fps: no rate
        for i in range(5):
            sink.write(numbered(i))
    assert FrameSource(path).fps == 30.0                          # the documented fallback
    rc = cli.main(["video", str(path), "--no-progress", "--frame-rate", "auto"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert "--frame-rate auto" in err[0] and "ms.avi" in err[0] and "--frame-rate FPS" in err[0]
    assert not fake_models
    # a number still works for that file
    assert cli.main(["video", str(path), "--no-progress", "--frame-rate", "30"]) == 0


def test_a_frame_the_video_writer_cannot_take_is_one_error_naming_the_option(fake_models, tmp_path, capsys):
    img = tmp_path / "dot.png"
    cv2.imwrite(str(img), np.zeros((1, 1, 3), np.uint8))
    out, js = tmp_path / "o.mp4", tmp_path / "t.jsonl"
    rc = cli.main(["video", str(img), "-o", str(out), "--json", str(js), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith("handtrack: error: -o/--output") and "1x1" in err[0] and str(out) in err[0]
    assert [json.loads(x)["frame"] for x in js.read_text().splitlines()] == [0]     # kept


def rotated_clip(tmp_path, n=6, w=160, h=96):
    """An mp4 whose track header says "turn by 90 degrees" (as a phone's portrait clip): the
    frames are stored w x h with a white block at the stored top-left corner."""
    plain = tmp_path / "plain.mp4"
    with VideoSink(plain, fps=30) as sink:
        for _ in range(n):
            f = np.zeros((h, w, 3), np.uint8)
            f[: h // 4, : w // 4] = 255
            sink.write(f)
    data = bytearray(plain.read_bytes())
    k = data.find(b"tkhd")
    version = data[k + 4]
    matrix = k + 8 + (20 if version == 0 else 32) + 16        # times, ids, duration; then layer .. volume
    assert struct.unpack(">9i", data[matrix:matrix + 36]) == (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    data[matrix:matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    path = tmp_path / "portrait.mp4"
    path.write_bytes(bytes(data))
    return path


def test_rotation_metadata_is_applied_and_the_outputs_agree_with_the_upright_frames(fake_models, tmp_path, capsys):
    path = rotated_clip(tmp_path)
    src = FrameSource(path)
    assert src.size == (96, 160)                          # upright: 96 wide, 160 high
    _, _, frame = next(iter(src))
    assert frame.shape == (160, 96, 3)
    assert frame[:20, -20:].mean() > 200 and frame[:20, :20].mean() < 50   # block turned to the top-right
    out, js = tmp_path / "o.mp4", tmp_path / "t.jsonl"
    assert cli.main(["video", str(path), "-o", str(out), "--json", str(js), "--no-progress"]) == 0
    written = FrameSource(out)
    assert written.size == (96, 160) and len(written) == 6
    recs = [json.loads(x) for x in js.read_text().splitlines()]
    wrist = np.array([r["hands"][0]["keypoints"][0][:2] for r in recs if r["hands"]])
    assert len(wrist) >= 4
    # the scene's hand at x=30, y=100 + 0.55 x 12 px: inside the 96 x 160 upright frame, not the stored one
    np.testing.assert_allclose(wrist, np.tile([30.0, 106.6], (len(wrist), 1)), atol=1.0)
