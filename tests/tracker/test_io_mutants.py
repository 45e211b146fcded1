"""Session 43 mutation audit of the track files and frame I/O: tracker/io.py (read_tracks),
tracker/video.py (frame sources and times), tracker/draw.py (skeletons) and the output-writing
parts of tracker/cli.py (``handtrack video``: -o, --json, --csv, --meta).

Each test here was written for a hand-made bug (a "mutant"; docs/model_history.md, Session 43) that the
rest of the suite let through; it passes on the code as it is and fails with that bug put in.
Expected values come from the README's "Output formats" and "Command line" sections and the
docstrings, worked out by hand, not copied from the code's output.
"""
from __future__ import annotations

import itertools
import json
import logging
import threading

import cv2
import numpy as np
import pytest

from tracker import cli
from tracker.draw import draw_hands, draw_skeleton
from tracker.hand_tracker import Hand, HandTrackerResult
from tracker.io import read_tracks
from tracker.video import FrameSource, VideoSink, frames_in_order

from .test_video_inputs import ReportingCapture
from .test_cli import fake_models, small_video  # noqa: F401 - fixtures
from .tracker_fakes import hand_keypoints


def _hand(side: str, track_id: int, cx: float) -> Hand:
    kps = hand_keypoints(cx, 80.0, 30.0, right=side == "right")
    box = np.array([*kps.min(0), *kps.max(0)], np.float32)
    return Hand(side, track_id, 0.9, kps, kps.copy(), np.full(17, 0.8, np.float32), box, 0.95)


def _two_hands() -> HandTrackerResult:
    return HandTrackerResult(hands=[_hand("left", 1, 60.0), _hand("right", 2, 160.0)])


# == read_tracks ==================================================================================
def test_a_csv_row_cut_right_after_its_last_comma_is_left_out_whole(tmp_path, caplog):
    """A run stopped mid-write can leave the last row ending in its last comma: every cell is there
    but the right hand's last score is empty. That row is unfinished (no line break) and is left out
    whole, with a warning: no frame without hands is made of it."""
    rows = [cli.csv_header()] + [cli.csv_row(i, i * 40.0, _two_hands()) for i in range(3)]
    text = "".join(",".join(map(str, r)) + "\r\n" for r in rows)
    cut = text[:text.rindex(",") + 1]         # the file ends "...,<right_pinky_tip_y>,"
    assert not cut.endswith("\n") and cut.count("\n") == 3
    p = tmp_path / "cut.csv"
    p.write_text(cut, encoding="utf-8", newline="")
    with caplog.at_level(logging.WARNING, logger="tracker.io"):
        t = read_tracks(p)
    assert t.frame.tolist() == [0, 1] and t.t_ms.tolist() == [0.0, 40.0]
    assert t.present.tolist() == [[True, True], [True, True]]
    assert "line 4 is unfinished" in caplog.text


@pytest.mark.parametrize("key, value, fragment", [
    ("frame", 1.5, "frame is not an integer: 1.5"),
    ("track_id", 2.5, "hand 1: track_id is not an integer: 2.5"),
])
def test_a_jsonl_frame_or_track_id_that_is_no_integer_is_an_error(tmp_path, key, value, fragment):
    """``frame`` and ``track_id`` are integers: a JSON number with a fraction is malformed input
    (one ValueError naming the file and the line), not rounded down to another frame or hand."""
    lines = [cli.frame_record(i, i * 10.0, _two_hands()) for i in range(2)]
    (lines[1] if key == "frame" else lines[1]["hands"][1])[key] = value
    p = tmp_path / "t.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    with pytest.raises(ValueError) as e:
        read_tracks(p)
    assert str(p) in str(e.value) and "line 2:" in str(e.value) and fragment in str(e.value)


def test_a_jsonl_frame_written_as_a_whole_float_reads_as_that_integer(tmp_path):
    """The other side of the check above: 3.0 (another program's JSON) is the integer 3."""
    rec = cli.frame_record(0, 0.0, _two_hands())
    rec["frame"], rec["hands"][0]["track_id"] = 3.0, 7.0
    p = tmp_path / "t.jsonl"
    p.write_text(json.dumps(rec) + "\n", encoding="utf-8")
    t = read_tracks(p)
    assert t.frame.tolist() == [3] and t.track_id.tolist() == [[7, 2]]


# == draw =========================================================================================
def _one_joint(xy, score, min_score, thickness=1):
    """A black frame with draw_skeleton's drawing of keypoint 0 at ``xy`` (score ``score``), every
    other keypoint scored 0 (not drawn, so no bone is either)."""
    k = np.zeros((17, 2), np.float64)
    k[0] = xy
    scores = np.zeros(17, np.float64)
    scores[0] = score
    img = np.zeros((40, 40, 3), np.uint8)
    return draw_skeleton(img, k, scores, (0, 255, 0), min_score=min_score, thickness=thickness)


@pytest.mark.parametrize("score, min_score, drawn", [
    (0.5, 0.5, True),           # exactly at the threshold: not "below" it
    (0.4999, 0.5, False),
    (0.75, 0.75, True),
    (0.7499, 0.75, False),
])
def test_a_keypoint_is_left_out_only_below_min_score(score, min_score, drawn):
    """draw_skeleton: "points below ``min_score`` are not drawn" (README: keypoints under 0.3
    confidence left out), so one scored exactly ``min_score`` is drawn."""
    img = _one_joint((20.0, 20.0), score, min_score)
    assert bool(img.any()) is drawn


@pytest.mark.parametrize("xy, centre", [
    ((20.6, 15.6), (21, 16)),
    ((20.4, 15.7), (20, 16)),
    ((12.7, 25.2), (13, 25)),
])
def test_a_joint_is_drawn_around_the_nearest_pixel(xy, centre):
    """A joint's disc is centred on the nearest pixel of its keypoint (x 20.6 -> 21), not the one
    truncation gives (20): the drawing is symmetric about that pixel, so the ink's centroid is it."""
    img = _one_joint(xy, 1.0, 0.5).astype(np.float64).sum(2)
    ys, xs = np.mgrid[:img.shape[0], :img.shape[1]]
    cx, cy = (xs * img).sum() / img.sum(), (ys * img).sum() / img.sum()
    assert abs(cx - centre[0]) < 0.05 and abs(cy - centre[1]) < 0.05, (cx, cy)


def test_draw_hands_leaves_out_keypoints_under_min_score():
    """draw_hands draws what each hand's keypoint scores allow: a hand whose keypoints all score
    0.1 leaves the frame untouched at the default 0.3 (labels off), and is drawn at min_score 0.05."""
    k = hand_keypoints(100, 120, 40.0)
    box = np.array([*k.min(0), *k.max(0)], np.float32)
    h = Hand("right", 1, 0.9, k, k.copy(), np.full(17, 0.1, np.float32), box, 0.95)
    img = draw_hands(np.zeros((240, 320, 3), np.uint8), [h], show_labels=False)
    assert not img.any()
    img = draw_hands(np.zeros((240, 320, 3), np.uint8), [h], show_labels=False, min_score=0.05)
    assert img.any()


# == video ========================================================================================
def test_a_repeated_presentation_time_is_replaced_by_a_later_one(monkeypatch, tmp_path):
    """FrameSource keeps a video's timestamps strictly increasing (they are the tracker's
    timestamp_ms, and its smoothing takes dt from them): a frame whose CAP_PROP_POS_MSEC repeats the
    previous one's gets its place in the clip at the reported 30 fps, index x 1000 / 30 ms, where
    that is later; the frames around it keep their own presentation times."""
    path = tmp_path / "clip.mkv"
    path.write_bytes(b"stand-in")
    monkeypatch.setattr(cv2, "VideoCapture", lambda *a: ReportingCapture([0.0, 33.0, 33.0, 100.0], 30.0, 4))
    times = [t for _, t, _ in FrameSource(path)]
    assert times == pytest.approx([0.0, 33.0, 2000 / 30, 100.0])
    assert all(b > a for a, b in zip(times, times[1:]))


class _Frames:
    """A live capture delivering ``n`` frames, then none."""

    def __init__(self, n: int) -> None:
        self.n = n

    def read(self):
        if self.n <= 0:
            return False, None
        self.n -= 1
        return True, np.zeros((4, 4, 3), np.uint8)


def test_frames_in_order_times_are_milliseconds_since_the_first_ask():
    """frames_in_order: ``t_ms`` is when each read returned, in ms since the first frame was asked
    for. On a clock (seconds) reading 100.0 at the ask and 100.25, 100.5 after the reads, the
    frames are at 250 and 500 ms."""
    ticks, lock = itertools.count(), threading.Lock()

    def clock():
        with lock:                  # the helper thread reads it too (never at the same time here)
            return 100.0 + 0.25 * next(ticks)
    it = frames_in_order(_Frames(2), clock=clock, timeout=10.0)
    try:
        got = [(i, t) for i, t, _ in it]
    finally:
        it.close()
    assert got == [(0, 250.0), (1, 500.0)]


# == handtrack video outputs ======================================================================
def _video(path, fps: float, n: int = 6):
    with VideoSink(path, fps=fps) as sink:
        for i in range(n):
            sink.write(np.full((120, 200, 3), 20 * i, np.uint8))
    return path


def test_the_annotated_video_plays_at_the_input_s_own_rate_whatever_frame_rate_says(fake_models, tmp_path):  # noqa: F811
    """README: the annotated video is written at "the one [rate] the file reports"; --frame-rate
    only tunes the tracker's frame counts (its own rate is used for -o only where the file reports
    none). A 20 fps clip tracked with --frame-rate 25 gives a 20 fps video."""
    clip, out = _video(tmp_path / "in.mp4", 20.0), tmp_path / "out.mp4"
    assert cli.main(["video", str(clip), "-o", str(out), "--frame-rate", "25", "--no-progress"]) == 0
    cap = cv2.VideoCapture(str(out))
    try:
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(20.0)
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    finally:
        cap.release()


def test_meta_fps_reported_is_null_for_a_video_that_reports_no_rate(fake_models, monkeypatch, tmp_path):  # noqa: F811
    """--meta ``fps_reported``: "the rate the video or camera reports (null where none ...)". A
    video reporting 0 fps is read at the 30 fps fallback, and the file says null, not 30."""
    clip = tmp_path / "clip.mkv"
    clip.write_bytes(b"stand-in")
    times = [i * 40.0 for i in range(5)]
    monkeypatch.setattr(cv2, "VideoCapture", lambda *a: ReportingCapture(times, 0.0, 5))
    js, meta = tmp_path / "t.jsonl", tmp_path / "run.json"
    assert cli.main(["video", str(clip), "--json", str(js), "--meta", str(meta), "--no-progress"]) == 0
    m = json.loads(meta.read_text(encoding="utf-8"))
    assert m["fps_reported"] is None and m["frames"] == 5 and m["completed"] is True
    assert read_tracks(js).t_ms.tolist() == times      # the video's own times, not 30 fps ones


def test_annotated_images_carry_no_fps_label_also_when_a_video_is_written(monkeypatch, tmp_path):
    """README: --annotated-images writes "each image with its skeletons (no fps)"; -o beside it
    writes the same pictures as a video, with the run's fps. With no hand in the photos, each
    written image is its input, pixel for pixel (PNG), while the video's frames carry the label."""
    from tracker import HandTracker

    from .tracker_fakes import FakeDetector, FakeLandmarks, Scene
    scene = Scene()                             # no hands: nothing but the fps label to draw
    monkeypatch.setattr(cli, "build_tracker", lambda args, mirrored: HandTracker(
        detector=FakeDetector(scene), landmark_model=FakeLandmarks(scene), static_image_mode=True))
    photos, checked = tmp_path / "photos", tmp_path / "checked"
    photos.mkdir()
    checked.mkdir()
    rng = np.random.default_rng(0)
    inputs = {f"p{i}.png": rng.integers(0, 120, (96, 128, 3), dtype=np.uint8) for i in range(3)}
    for name, img in inputs.items():
        assert cv2.imwrite(str(photos / name), img)
    out = tmp_path / "all.mp4"
    assert cli.main(["video", str(photos), "--static", "--annotated-images", str(checked), "-o", str(out),
                     "--no-progress"]) == 0
    for name, img in inputs.items():
        np.testing.assert_array_equal(cv2.imread(str(checked / name)), img, err_msg=name)
    cap = cv2.VideoCapture(str(out))
    try:
        ok, first = cap.read()
    finally:
        cap.release()
    # the fps label's white text on its black box, top left: far from the photo there
    assert ok and np.abs(first[:30, :60].astype(int) - inputs["p0.png"][:30, :60]).max() > 100
