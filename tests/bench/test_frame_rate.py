"""``python -m bench frame-rate``: the frame schedule, the blackout, "back with their id", the
command line on a tiny generated clip with fake models (no ONNX files, no ../shared)."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from bench import frame_rate
from bench.__main__ import main
from bench.frame_rate import back_with_id, blackout_mask, schedule
from tests.tracker.tracker_fakes import FakeDetector, FakeLandmarks, Scene, SceneHand, hand_keypoints
from tracker import HandTracker


def test_schedule_repeats_drops_or_keeps_frames():
    assert schedule(3, 2) == [0, 0, 1, 1, 2, 2]
    assert schedule(5, 0.5) == [0, 2, 4]
    assert schedule(4, 0.5) == [0, 2]
    assert schedule(4, 1) == [0, 1, 2, 3]
    assert schedule(2, 3) == [0, 0, 0, 1, 1, 1]


def test_blackout_mask_covers_the_same_seconds_at_every_rate():
    n, fps, s = 100, 30.0, 0.3
    start = n / fps / 2          # the clip's middle: 1.667 s
    for factor, first, count in ((1, 50, 9), (2, 100, 18), (0.5, 25, 5)):
        rate = fps * factor
        mask = blackout_mask(len(schedule(n, factor)), rate, start, s)
        black = [k for k, b in enumerate(mask) if b]
        assert black == list(range(first, first + count)), factor
        # every black frame lies in [start, start + s), the frames just outside do not
        assert all(start <= k / rate < start + s for k in black)
        assert not start <= (first - 1) / rate < start + s
    assert not any(blackout_mask(60, 30.0, 1.0, 0.0))
    # 25 fps: 0.3 s from 2 s is frames 50..57 (7.5 frames)
    assert [k for k, b in enumerate(blackout_mask(100, 25.0, 2.0, 0.3)) if b] == list(range(50, 58))


def test_back_with_id_counts_the_first_frame_with_a_hand_after_the_gap():
    black = [False, False, True, True, False, False, False]
    assert back_with_id([[1, 2], [1, 2], [], [], [], [1], [1, 2]], black, 30.0) == (2, 1)
    # a new id first: that frame counts, the old ids coming later do not
    assert back_with_id([[1, 2], [1, 2], [], [], [7], [1, 2], [1, 2]], black, 30.0) == (2, 0)
    # a hand on the last frame before the gap only
    assert back_with_id([[], [4], [], [], [4], [], []], black, 30.0) == (1, 1)
    # nothing back within 1 s (at 2 fps the first frame with a hand is 1.5 s after the gap)
    assert back_with_id([[1], [1], [], [], [], [], [], [1]], black + [False], 2.0) == (1, 0)
    assert back_with_id([[1], [1], [], [], [], [], [1]], black, 2.0) == (1, 1)   # 1 s: in
    assert back_with_id([[1], [1]], [False, False], 30.0) is None
    # a gap at the very start: no hands before it
    assert back_with_id([[], [3], [3]], [True, False, False], 30.0) == (0, 0)


class _Seeing:
    """A fake model that sees the scene's hand only on a frame that is not black."""

    def __init__(self, inner, scene: Scene, hand: SceneHand) -> None:
        self.inner, self.scene, self.hand = inner, scene, hand

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, frame, *args, **kwargs):
        self.scene.hands = [self.hand] if frame.max() > 20 else []
        return self.inner(frame, *args, **kwargs)


def fake_factory(**options):
    """HandTracker on fake models: one still right hand, not seen on black frames."""
    scene = Scene()
    hand = SceneHand(hand_keypoints(160, 150, palm=40), right=True)
    return HandTracker(detector=_Seeing(FakeDetector(scene), scene, hand),
                       landmark_model=_Seeing(FakeLandmarks(scene), scene, hand), **options)


@pytest.fixture
def clip(tmp_path):
    """A 30-frame grey 320x240 clip at 30 fps."""
    path = tmp_path / "grey.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (320, 240))
    assert w.isOpened()
    for i in range(30):
        w.write(np.full((240, 320, 3), 120 + i, np.uint8))
    w.release()
    return path


def test_command_line_on_a_tiny_clip_with_fake_models(clip, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(frame_rate, "HandTracker", fake_factory)
    out = tmp_path / "out" / "sub"          # made when missing
    assert main(["frame-rate", "--videos", str(clip), "--factors", "1,2", "--out", str(out)]) == 0
    res = json.loads((out / "frame_rate.json").read_text(encoding="utf-8"))
    c = res["clips"]["grey.avi"]
    assert c["frames"] == 30 and c["fps"] == pytest.approx(30.0)
    rows = {(r["factor"], r["mode"]): r for r in c["rows"]}
    # factor 1 at a 30 fps clip: one run for both modes
    assert set(rows) == {(1.0, "counts = scaled"), (2.0, "counts"), (2.0, "scaled")}
    assert [rows[k]["frames"] for k in sorted(rows)] == [30, 60, 60]
    for k, r in rows.items():
        # scaled to 60 fps a sure side vote weighs half: the new hand waits one frame for its
        # side to settle (side_wait)
        assert r["hands_per_frame"] == pytest.approx(59 / 60 if k == (2.0, "scaled") else 1.0), k
        assert r["tracks"] == 1 and r["side_changes"] == 0
        assert r["before"] == 1
    assert rows[(1.0, "counts = scaled")]["black_frames"] == 9
    assert rows[(2.0, "counts")]["black_frames"] == 18
    # one hand of max_hands 2 tracked: the detector runs every detector_interval frames, 3 as a count,
    # 6 (3 at 30 fps) scaled to 60 fps, so twice as often per second as counts
    assert rows[(2.0, "counts")]["detector_per_s"] == pytest.approx(2 * rows[(2.0, "scaled")]["detector_per_s"],
                                                                    rel=0.2)
    # 0.3 s hidden: 9 frames at 30 fps and 18 at 60 fps; max_missed 15 frames as a count drops the
    # track at 60 fps (a new id), scaled to 30 frames it keeps it
    assert rows[(1.0, "counts = scaled")]["back"] == 1
    assert rows[(2.0, "counts")]["back"] == 0
    assert rows[(2.0, "scaled")]["back"] == 1
    totals = {(t["factor"], t["mode"]): t for t in res["total"]}
    assert totals[(2.0, "scaled")]["before"] == 1 and totals[(2.0, "counts")]["back"] == 0
    md = (out / "frame_rate.md").read_text(encoding="utf-8")
    assert "python -m bench frame-rate --videos" in md and "### total (1 clips)" in md
    assert "| 2 | 60.0 | counts |" in capsys.readouterr().out


def test_blackout_off_and_video_frames(clip, monkeypatch):
    res = frame_rate.run([clip], (0.5,), blackout_s=0, video_frames=11, tracker_factory=fake_factory)
    (row,) = res["clips"]["grey.avi"]["rows"][:1]
    assert res["clips"]["grey.avi"]["frames"] == 11
    assert row["frames"] == 6 and row["mode"] == "counts" and "before" not in row
    assert "blackout" not in frame_rate.markdown(res)


@pytest.mark.parametrize("args, option", [(["--factors", "0"], "--factors"), (["--factors", "x"], "--factors"),
                                          (["--factors", "nan"], "--factors"), (["--factors", "1,-2"], "--factors"),
                                          (["--blackout", "-1"], "--blackout"), (["--blackout", "x"], "--blackout"),
                                          (["--threads", "0"], "--threads"),
                                          (["--videos", "no_such_clip.mp4"], "--videos")])
def test_bad_options_exit_2_naming_the_option(args, option, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["frame-rate", "--shared", str(tmp_path), *args])
    assert e.value.code == 2
    assert option in capsys.readouterr().err


def test_out_that_is_a_file_is_refused_before_the_run(clip, tmp_path, capsys):
    f = tmp_path / "taken"
    f.write_text("keep", encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        main(["frame-rate", "--videos", str(clip), "--out", str(f)])
    assert e.value.code == 2 and "--out" in capsys.readouterr().err
    assert f.read_text(encoding="utf-8") == "keep"


def test_counts_and_scaled_are_one_run_only_where_frame_rate_changes_no_count():
    from tracker.hand_tracker import _frames_at
    for rate in (29.75, 29.78, 30.0, 30.09, 30.249):
        assert frame_rate.same_run(rate)
        assert [_frames_at(c, rate) for c in (3, 10, 15, 60)] == [3, 10, 15, 60]
    for rate in (25.03, 29.7, 30.25, 30.3, 60.0, 15.0):
        assert not frame_rate.same_run(rate)
    assert _frames_at(60, 30.25) == 61
