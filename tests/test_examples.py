"""examples/pinch.py: the ratio, the hysteresis, the run loop on a scripted tracker, and a real clip;
examples/draw_detections.py: frames sampled into a grid, bad arguments."""
from __future__ import annotations

import csv
import importlib.util
import math
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from tracker.keypoints import HandKeypoint as K
from tracker.video import VideoSink

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("pinch_example", ROOT / "examples" / "pinch.py")
pinch = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = pinch          # dataclasses look their module up there
_spec.loader.exec_module(pinch)


def hand_with_gap(gap: float, size: float = 100.0, at=(200.0, 200.0)) -> np.ndarray:
    """(17, 2) keypoints: wrist -> middle MCP ``size`` px upwards, thumb and index tips ``gap`` px apart."""
    k = np.tile(np.asarray(at, np.float32), (17, 1))
    k[K.MIDDLE_MCP] = (at[0], at[1] - size)
    k[K.THUMB_TIP] = (at[0] - 40, at[1] - size)
    k[K.INDEX_TIP] = (at[0] - 40 + gap, at[1] - size)
    return k


@pytest.mark.parametrize("gap, size, want", [(30, 100, 0.3), (150, 100, 1.5), (0, 100, 0.0),
                                             (60, 200, 0.3), (30, 0, math.nan)])
def test_pinch_ratio_is_in_hand_sizes(gap, size, want):
    got = pinch.pinch_ratio(hand_with_gap(gap, size))
    assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want)


@pytest.mark.parametrize("ratios, events", [
    ([0.6, 0.4, 0.3, 0.45, 0.55, 0.3], [None, None, "start", None, "end", "start"]),   # hysteresis
    ([0.3, math.nan, 0.4, 0.6], ["start", None, None, "end"]),                         # NaN keeps the state
    ([0.34, 0.36, 0.34, 0.49], ["start", None, None, None]),                           # no flicker at one bar
])
def test_pinch_detector_hysteresis(ratios, events):
    d = pinch.PinchDetector(on=0.35, off=0.5)
    assert [d.update(7, r, i) for i, r in enumerate(ratios)] == events


def test_pinch_detector_tracks_are_independent_and_forgotten_after_a_gap():
    d = pinch.PinchDetector(max_gap=2)
    assert d.update(1, 0.2, 0) == "start" and d.update(2, 0.9, 0) is None
    assert d.forget_stale(2) == []                     # gone for 2 frames: kept
    assert d.forget_stale(3) == [1]                    # 3: forgotten, its pinch ends
    assert d.update(1, 0.2, 4) == "start"              # back: a new pinch


@pytest.mark.parametrize("on, off", [(0.5, 0.35), (0.0, 0.5), (0.4, 0.4)])
def test_pinch_detector_rejects_bad_thresholds(on, off):
    with pytest.raises(ValueError, match="0 < on < off"):
        pinch.PinchDetector(on, off)


class ScriptedTracker:
    """Stands in for HandTracker: frame i reports the hands of ``script[i]`` as (track_id, gap)."""

    def __init__(self, script):
        self.script, self.i = script, 0

    def process(self, frame, timestamp_ms=None):
        hands = [SimpleNamespace(side="right", track_id=t, keypoints=hand_with_gap(g)) for t, g in self.script[self.i]]
        self.i += 1
        return SimpleNamespace(hands=hands)


def test_run_writes_rows_and_events(tmp_path):
    video = tmp_path / "clip.mp4"
    with VideoSink(video, fps=30) as sink:
        for _ in range(8):
            sink.write(np.zeros((64, 64, 3), np.uint8))
    script = [[(1, 90)], [(1, 20)], [(1, 20)], [], [(1, 80)], [], [], []]
    out = tmp_path / "pinch.csv"
    events = pinch.run(str(video), str(out), max_gap=1, tracker=ScriptedTracker(script))
    assert [(e["frame"], e["event"]) for e in events] == [(1, "start"), (4, "end")]
    rows = list(csv.DictReader(open(out, newline="")))
    assert [(r["frame"], r["pinched"]) for r in rows] == [("0", "0"), ("1", "1"), ("2", "1"), ("4", "0")]
    assert float(rows[1]["ratio"]) == pytest.approx(0.2)

    # a pinching hand that is gone longer than max_gap ends its pinch
    events = pinch.run(str(video), max_gap=1, tracker=ScriptedTracker([[(1, 20)], [], [], [], [], [], [], []]))
    assert [(e["frame"], e["event"]) for e in events] == [(0, "start"), (2, "end")]


def test_missing_input_is_one_clear_error(tmp_path):
    with pytest.raises(SystemExit, match="input not found"):
        pinch.run(str(tmp_path / "none.mp4"), tracker=ScriptedTracker([]))


@pytest.mark.parametrize("make", [None, b"not a video"])
def test_a_bad_input_leaves_an_existing_csv_alone(tmp_path, make):
    """A mistyped or unreadable input is refused before ``--csv`` is opened: the CSV of an earlier
    run stays as it was (it was emptied to a header)."""
    source = tmp_path / "clip.mp4"
    if make is not None:
        source.write_bytes(make)
    out = tmp_path / "pinch.csv"
    out.write_text("frame,t_ms,side,track_id,ratio,pinched\n0,0.0,right,1,0.2,1\n")
    before = out.read_bytes()
    with pytest.raises(SystemExit, match="clip.mp4"):
        pinch.run(str(source), str(out), tracker=ScriptedTracker([]))
    assert out.read_bytes() == before


@pytest.mark.parametrize("csv_name, max_frames, message", [
    ("clip.mp4", None, "--csv .*clip.mp4: would overwrite the input"),
    ("link.csv", None, "--csv .*link.csv: would overwrite the input"),      # a hard link to the clip
    ("no/such/folder/p.csv", None, "--csv .*p.csv: cannot write"),
    (None, 0, "--max-frames must be >= 1, got 0"),
])
def test_run_refuses_bad_outputs_before_reading_a_frame(tmp_path, csv_name, max_frames, message):
    clip = tmp_path / "clip.mp4"
    with VideoSink(clip, fps=25) as sink:
        for i in range(3):
            sink.write(np.full((60, 80, 3), 50, np.uint8))
    before = clip.read_bytes()
    os.link(clip, tmp_path / "link.csv")
    csv_path = str(tmp_path / csv_name) if csv_name else None
    with pytest.raises(ValueError, match=message):
        pinch.run(str(clip), csv_path, max_frames, tracker=ScriptedTracker([]))
    assert clip.read_bytes() == before


def test_pinch_detector_rejects_a_negative_gap():
    with pytest.raises(ValueError, match="--max-gap must be >= 0, got -1"):
        pinch.PinchDetector(max_gap=-1)


#: huytung_volctl.mp4's thumb and index, looked at frame by frame in session 45 (frames between a
#: pinch and an L left out): pinched (tips touching) or open (an L, the index raised)
VOLCTL_PINCHED = (40, 50, 125, 130, 190, 195)
VOLCTL_OPEN = (20, 70, 80, 90, 100, 150, 160, 170)


def pinch_states(events: list[dict], frames: int) -> list[bool]:
    """Per frame, whether the right hand is pinched after ``events`` (pinch.run's, in order)."""
    state, out, k = False, [], 0
    right = [e for e in events if e["side"] == "right"]
    for f in range(frames):
        while k < len(right) and right[k]["frame"] <= f:
            state = right[k]["event"] == "start"
            k += 1
        out.append(state)
    return out


def test_pinch_states_follow_the_events():
    events = [{"frame": 2, "side": "right", "event": "start"}, {"frame": 3, "side": "left", "event": "start"},
              {"frame": 5, "side": "right", "event": "end"}]
    assert pinch_states(events, 7) == [False, False, True, True, True, False, False]


def test_pinches_on_the_volume_gesture_clip(videos):
    """huytung_volctl.mp4 closes and opens thumb and index to set a volume, three pinches in its first
    200 frames: with the real models the example reads the right hand pinched or open as a person
    does on the frames looked at (VOLCTL_*). Session 45: all 14 with the default
    ``min_crop_palms``; 7 with 0 (the crop of a pinch's keypoints left the raised index out of view
    and the hand read pinched from frame 87 to 170)."""
    events = pinch.run(str(videos / "huytung_volctl.mp4"), max_frames=200)
    states = pinch_states(events, 200)
    right = [states[f] for f in VOLCTL_PINCHED] + [not states[f] for f in VOLCTL_OPEN]
    assert sum(right) >= len(right) - 1, events


_dspec = importlib.util.spec_from_file_location("draw_detections_example", ROOT / "examples" / "draw_detections.py")
draw_detections = importlib.util.module_from_spec(_dspec)
_dspec.loader.exec_module(draw_detections)


def test_draw_detections_samples_videos_and_images_into_one_grid(tmp_path):
    clip = tmp_path / "clip.mp4"
    with VideoSink(clip, fps=25) as sink:
        for i in range(12):
            sink.write(np.full((120, 160, 3), 10 * i, np.uint8))
    assert [i for i, _ in draw_detections.sample_frames(str(clip), 3)] == [2, 5, 8]
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((90, 120, 3), 128, np.uint8))
    assert [i for i, _ in draw_detections.sample_frames(str(photo), 4)] == [0]
    out = tmp_path / "grid.png"
    draw_detections.main([str(clip), str(photo), "-o", str(out), "--per-video", "3"])
    grid = cv2.imread(str(out))
    assert grid is not None and grid.shape[1] == 3 * 320          # 3 tiles of 320 px per row


@pytest.mark.parametrize("args, fragment", [
    (["{tmp}/missing.mp4"], "missing.mp4: input not found"),
    (["{photo}", "-o", "{photo}"], "would overwrite an input"),
    (["{tmp}", "-o", "{photo}"], "would overwrite an input"),               # an image of an input folder
    (["{photo}", "-o", "{tmp}/link.png"], "would overwrite an input"),      # a hard link to the input
    (["{photo}", "-o", "{tmp}/grid.txt"], "OpenCV cannot write"),
    (["{photo}", "-o", "{tmp}/no/grid.png"], "folder of"),
    (["{photo}", "--per-video", "0"], "--per-video must be >= 1"),
    (["{photo}", "--model", "{tmp}/none.onnx", "-o", "{tmp}/g.png"], "--model: model file not found"),
    (["{photo}", "--model", "{tmp}/junk.onnx", "-o", "{tmp}/g.png"], "--model: cannot load model file"),
    (["{photo}", "--threshold", "5", "-o", "{tmp}/g.png"], "--threshold must be in [0, 1], got 5.0"),
    (["{photo}", "--threshold", "nan", "-o", "{tmp}/g.png"], "--threshold must be in [0, 1], got nan"),
])
def test_draw_detections_bad_arguments_are_one_clear_error(tmp_path, capsys, args, fragment):
    photo = tmp_path / "photo.png"
    cv2.imwrite(str(photo), np.full((90, 120, 3), 128, np.uint8))
    before = photo.read_bytes()
    os.link(photo, tmp_path / "link.png")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(SystemExit) as e:
        draw_detections.main([a.format(tmp=tmp_path, photo=photo) for a in args])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert photo.read_bytes() == before
