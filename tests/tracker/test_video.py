"""Frame sources (video, image, folder), corrupt and missing inputs, the mp4 sink, drawing."""
from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest

from tracker.draw import SIDE_COLORS, draw_fps, draw_hands
from tracker.video import FPSMonitor, FrameSource, VideoSink, iter_frames

from .tracker_fakes import SceneHand, blank, fake_tracker, hand_keypoints


def numbered(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    f = np.full((h, w, 3), (10 * i) % 200, np.uint8)
    cv2.putText(f, str(i), (5, 40), cv2.FONT_HERSHEY_SIMPLEX, 1, (255, 255, 255), 2)
    return f


def write_mjpg(path, n=20):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (64, 48))
    for i in range(n):
        w.write(numbered(i))
    w.release()


def test_sink_then_source_roundtrip(tmp_path):
    p = tmp_path / "a.mp4"
    with VideoSink(p, fps=25) as sink:
        for i in range(12):
            sink.write(numbered(i))
    assert sink.frames == 12 and p.stat().st_size > 0
    src = FrameSource(p)
    assert src.fps == pytest.approx(25, abs=0.5) and len(src) == 12
    frames = list(src)
    assert [i for i, _, _ in frames] == list(range(12))
    ts = [t for _, t, _ in frames]
    assert ts[0] == pytest.approx(0, abs=1) and np.all(np.diff(ts) > 0)
    assert ts[-1] == pytest.approx(11 * 40, abs=2)
    assert frames[0][2].shape == (48, 64, 3)


@pytest.mark.parametrize("name", ["b.avi", "c.MKV", "d.mov"])
def test_sink_writes_the_other_containers(tmp_path, name):
    with VideoSink(tmp_path / name, fps=25) as sink:
        for i in range(3):
            sink.write(numbered(i))
    assert len(FrameSource(tmp_path / name)) == 3


@pytest.mark.parametrize("name, error, match", [
    ("o.xyz", ValueError, "unsupported extension '.xyz'"),
    ("o.webm", ValueError, "unsupported extension '.webm'"),
    ("dir.mp4", ValueError, "it is a folder"),
    ("nope/o.mp4", FileNotFoundError, "output folder does not exist"),
])
def test_sink_rejects_what_it_cannot_write_before_any_frame(tmp_path, name, error, match):
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(error, match=match):
        VideoSink(tmp_path / name)


def _grey(f):
    return cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)


@pytest.mark.parametrize("make, want", [
    (_grey, lambda f: cv2.cvtColor(_grey(f), cv2.COLOR_GRAY2BGR)),   # OpenCV wrote an empty, unreadable file
    (lambda f: _grey(f)[:, :, None], lambda f: cv2.cvtColor(_grey(f), cv2.COLOR_GRAY2BGR)),
    (lambda f: cv2.cvtColor(f, cv2.COLOR_BGR2BGRA), lambda f: f),      # the same
], ids=["grey", "grey-hxwx1", "bgra"])
def test_sink_converts_grey_and_bgra_frames(tmp_path, make, want):
    p = tmp_path / "o.mp4"
    with VideoSink(p) as sink:
        for i in range(3):
            sink.write(make(numbered(i)))
    frames = [f for _, _, f in FrameSource(p)]
    assert sink.frames == 3 and len(frames) == 3 and frames[0].shape == (48, 64, 3)
    assert np.abs(frames[2].astype(int) - want(numbered(2))).mean() < 8


@pytest.mark.parametrize("frame, match", [
    (np.zeros((48, 64, 3), np.float32), r"\(48, 64, 3\) float32"),   # a cv2.error from inside OpenCV
    (np.zeros((48, 64, 2), np.uint8), r"\(48, 64, 2\) uint8"),       # an empty, unreadable file
    ([[0, 0, 0]], "list"),
])
def test_sink_refuses_frames_it_cannot_write(tmp_path, frame, match):
    p = tmp_path / "o.mp4"
    with VideoSink(p) as sink:
        with pytest.raises(ValueError, match=r"frame_bgr must be HxWx3 uint8 BGR .*, got " + match):
            sink.write(frame)
        sink.write(numbered(0))                 # the sink still takes good frames
    assert sink.frames == 1 and len(list(FrameSource(p))) == 1


def test_sink_written_after_close_raises_and_keeps_the_video(tmp_path):
    p = tmp_path / "o.mp4"
    with VideoSink(p) as sink:
        for i in range(5):
            sink.write(numbered(i))
    with pytest.raises(ValueError, match="closed"):
        sink.write(numbered(5))                 # used to start the file again, losing the 5 frames
    sink.close()
    assert sink.frames == 5 and len(list(FrameSource(p))) == 5


@pytest.mark.parametrize("fps", [float("inf"), float("nan"), 0, -5, None])
def test_sink_fps_that_is_no_frame_rate_falls_back_to_30(tmp_path, fps):
    """As a camera's CAP_PROP_FPS of 0 does; fps=inf made cv2.VideoWriter loop forever."""
    p = tmp_path / "o.mp4"
    sink = VideoSink(p, fps)
    assert sink.fps == 30.0                     # checked before the writer exists: no hang here
    with sink:
        for i in range(3):
            sink.write(numbered(i))
    assert FrameSource(p).fps == pytest.approx(30, abs=0.5)


@pytest.mark.parametrize("image_fps", [0, -10, float("nan"), float("inf")])
def test_image_fps_must_be_a_positive_frame_rate(tmp_path, image_fps):
    """0 divided by zero on the first frame, negative and NaN rates gave falling or NaN timestamps."""
    cv2.imwrite(str(tmp_path / "a.png"), numbered(1))
    with pytest.raises(ValueError, match=f"image_fps must be a number > 0, got {image_fps}"):
        FrameSource(tmp_path, image_fps=image_fps)


def test_image_and_folder(tmp_path):
    cv2.imwrite(str(tmp_path / "b.png"), numbered(2))
    cv2.imwrite(str(tmp_path / "a.png"), numbered(1))
    (tmp_path / "notes.txt").write_text("not an image")
    frames = list(iter_frames(tmp_path, image_fps=10))
    assert [(i, t) for i, t, _ in frames] == [(0, 0.0), (1, 100.0)]
    assert frames[0][2].mean() < frames[1][2].mean()       # sorted by name: a then b
    single = list(iter_frames(tmp_path / "a.png"))
    assert len(single) == 1 and single[0][2].shape == (48, 64, 3)


@pytest.mark.parametrize("make, error, match", [
    (lambda d: d / "missing.mp4", FileNotFoundError, "missing.mp4"),
    (lambda d: (d / "junk.mp4").write_bytes(b"\x00" * 5000) and d / "junk.mp4", ValueError, "junk.mp4"),
    (lambda d: (d / "empty.mp4").write_bytes(b"") or d / "empty.mp4", ValueError, "empty.mp4"),
    (lambda d: (d / "bad.png").write_bytes(b"\x89PNG garbage") and d / "bad.png", ValueError, "bad.png"),
    (lambda d: (d / "sub").mkdir() or d / "sub", ValueError, "no images"),
])
def test_bad_inputs(tmp_path, make, error, match):
    path = make(tmp_path)
    with pytest.raises(error, match=match):
        FrameSource(path)
    with pytest.raises(error, match=match):
        next(iter_frames(path))


def test_truncated_video(tmp_path):
    p = tmp_path / "full.mp4"
    with VideoSink(p) as sink:
        for i in range(30):
            sink.write(numbered(i))
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(ValueError, match="cut.mp4"):
        FrameSource(cut)


def test_corrupt_frame_mid_video_is_skipped(tmp_path, caplog):
    p = tmp_path / "a.avi"
    write_mjpg(p, 20)
    data = bytearray(p.read_bytes())
    soi = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    assert len(soi) >= 20
    data[soi[10]:soi[11]] = bytes(soi[11] - soi[10])          # wipe frame 10
    bad = tmp_path / "bad.avi"
    bad.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="tracker.video"):
        frames = list(iter_frames(bad))
    idx = [i for i, _, _ in frames]
    assert 10 not in idx and idx[:10] == list(range(10)) and len(frames) >= 17
    assert any("frame 10" in r.getMessage() for r in caplog.records)


def test_fps_monitor():
    m = FPSMonitor(window=10)
    for i in range(20):
        fps = m.tick(i / 25)
    assert fps == pytest.approx(25)


def test_draw_hands_marks_each_side_in_its_colour():
    tr, scene, _, _ = fake_tracker()
    scene.hands = [SceneHand(hand_keypoints(90, 130), True), SceneHand(hand_keypoints(230, 130, right=False), False)]
    r = tr.process(blank(), 0)
    img = draw_hands(blank(), r.hands)
    draw_fps(img, 29.7)
    for side in ("left", "right"):
        x0, y0, x1, y1 = r.hand(side).box.astype(int)
        region = img[y0:y1 + 1, x0:x1 + 1].reshape(-1, 3).astype(int)
        near = np.abs(region - SIDE_COLORS[side]).sum(1) < 60     # anti-aliased lines
        other = "left" if side == "right" else "right"
        near_other = np.abs(region - SIDE_COLORS[other]).sum(1) < 60
        assert near.sum() > 20 and near_other.sum() == 0, side
    assert img[:40, :120].any()                               # the fps label


def test_tile_grid_pads_the_last_row_with_black_tiles():
    from tracker.draw import tile_grid
    tiles = [np.full((2, 3, 3), v, np.uint8) for v in (10, 20, 30)]
    grid = tile_grid(tiles, 2)
    assert grid.shape == (4, 6, 3)
    assert grid[0, 0, 0] == 10 and grid[0, 3, 0] == 20 and grid[2, 0, 0] == 30 and grid[2, 3, 0] == 0
    assert len(tiles) == 3   # the caller's list is not padded
    with pytest.raises(ValueError, match="no tiles"):
        tile_grid([], 2)


@pytest.mark.parametrize("limit, want", [(None, 20), (5, 5), (50, 20)])
def test_progress_bar_ends_at_max_frames(tmp_path, limit, want):
    # the bar showed 30/138 for `--max-frames 30`: its end is the frames that will be read
    from tracker.video import progress
    path = tmp_path / "v.avi"
    write_mjpg(path, n=20)
    bar = progress(FrameSource(path), limit=limit)
    assert bar.total == want
    bar.close()
