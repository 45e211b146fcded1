"""Session 43 mutation audit of the public API (HandTrackerOptions, the result dataclasses and their
dict forms, HandTracker's timestamps, the package exports, the ``handtrack`` argument checks).

Each test kills a hand-made mutant that the existing tests let through (docs/model_history.md, Session 43):
the contracts below are those README.md ("Python API", "Command line") and docs/options.md state,
checked from first principles (hand-written values and invariants), on fake models only.
"""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import tracker
from tracker import CONNECTIONS, KEYPOINT_NAMES, Hand, HandKeypoint, HandTrackerOptions, HandTrackerResult, cli
from tracker.checks import MAX_COUNT, MAX_THREADS

from .tracker_fakes import SceneHand, blank, fake_tracker, hand_keypoints


# -- HandTrackerOptions: integer bounds ------------------------------------------------------------
@pytest.mark.parametrize("name,high", [("max_hands", MAX_COUNT), ("threads", MAX_THREADS),
                                       ("detector_interval", MAX_COUNT), ("redetection_frames", MAX_COUNT),
                                       ("max_missed", MAX_COUNT)])
def test_integer_option_upper_bound_is_inclusive(name, high):
    """The error says "at most {high}": the bound itself is a legal value, one more is refused
    with an error naming the option (a ``<`` for ``<=`` refused threads=4096)."""
    assert getattr(HandTrackerOptions(**{name: high}).validate(), name) == high
    with pytest.raises(ValueError, match=rf"{name} must be an integer .*at most {high}"):
        HandTrackerOptions(**{name: high + 1}).validate()


# -- result dataclasses and their dict forms -------------------------------------------------------
def _hand(side="left", track_id=3, score=0.87654321, handedness=0.912345, shift=0.0):
    """A Hand with distinct, hand-chosen x != y on every keypoint (x = 10 + i + 0.123, y = 200 + 2 i + 0.456)."""
    i = np.arange(17, dtype=np.float32)
    kps = np.stack([10 + i + 0.123 + shift, 200 + 2 * i + 0.456], 1).astype(np.float32)
    scores = (0.5 + i / 100 + 0.00004).astype(np.float32)
    box = np.array([kps[:, 0].min(), kps[:, 1].min(), kps[:, 0].max(), kps[:, 1].max()], np.float32)
    return Hand(side=side, track_id=track_id, score=score, keypoints=kps, raw_keypoints=kps.copy(),
                scores=scores, box=box, handedness=handedness)


def test_hand_to_dict_fields_order_and_rounding():
    """``Hand.to_dict``: keypoints as [x, y, score] rows in keypoint order (pixels to 0.01, scores
    to 1e-4), ``handedness`` its own field, not the presence ``score``; JSON-ready."""
    h = _hand()
    d = json.loads(json.dumps(h.to_dict()))
    assert d["side"] == "left" and d["track_id"] == 3
    assert d["score"] == pytest.approx(0.8765, abs=1e-9)
    assert d["handedness"] == pytest.approx(0.9123, abs=1e-9)
    assert len(d["keypoints"]) == 17
    for i, (x, y, s) in enumerate(d["keypoints"]):
        assert x == pytest.approx(round(10 + i + 0.123, 2), abs=1e-6)
        assert y == pytest.approx(round(200 + 2 * i + 0.456, 2), abs=1e-6)
        assert s == pytest.approx(round(0.5 + i / 100, 4), abs=1e-6)
    assert d["box"] == pytest.approx([10.12, 200.46, 26.12, 232.46], abs=1e-6)


def test_result_to_dict_defaults_to_its_own_frame_and_time():
    """``HandTrackerResult.to_dict()``: ``frame`` and ``t_ms`` default to ``frame_index`` and
    ``timestamp_ms`` (rounded to 1e-3 ms); given ones replace them."""
    r = HandTrackerResult(hands=[_hand()], frame_index=7, timestamp_ms=1234.56789, image_size=(640, 480))
    d = r.to_dict()
    assert d["frame"] == 7 and d["t_ms"] == pytest.approx(1234.568, abs=1e-9)
    assert len(d["hands"]) == 1 and d["hands"][0]["side"] == "left"
    assert r.to_dict(frame=99, t_ms=5.0) == {**d, "frame": 99, "t_ms": 5.0}
    assert HandTrackerResult().to_dict() == {"frame": 0, "t_ms": 0.0, "hands": []}


def test_static_hands_of_one_side_the_surer_takes_the_slot():
    """Several hands of one side without a track id (static mode, ``max_hands`` > 2): ``hand()``
    and ``as_array()`` give the highest-scored one (README: "the surer first in static mode")."""
    weak, sure = _hand(track_id=-1, score=0.6), _hand(track_id=-1, score=0.9, shift=50.0)
    for hands in ([weak, sure], [sure, weak]):
        r = HandTrackerResult(hands=hands)
        assert r.hand("left") is sure
        np.testing.assert_array_equal(r.as_array()[:17, 0], sure.keypoints[:, 0])
        assert np.isnan(r.as_array()[17:]).all()


def test_tracked_hands_of_one_side_the_oldest_track_takes_the_slot():
    """In video mode the lowest track id takes the side's slot, whatever the scores."""
    old, new = _hand(track_id=2, score=0.5), _hand(track_id=5, score=0.99, shift=50.0)
    assert HandTrackerResult(hands=[new, old]).hand("left") is old


def _run_two_frames(smoothing: bool, touch: bool):
    """Two frames of one moving hand on fake models; ``touch``: the caller changes every array of
    the first result in place. Returns (crops the landmark model got on frame 2, frame-2 hands)."""
    tr, scene, _, lm = fake_tracker(smoothing=smoothing)
    crops = []

    def landmarks(frame, rois):
        crops.append([dataclasses.astuple(r) for r in rois])
        return lm(frame, rois)

    tr.landmarks = landmarks
    scene.hands = [SceneHand(hand_keypoints(150, 120), True)]
    (h1,) = tr.process(blank(), 0).hands
    if touch:
        h1.keypoints += 1000.0
        h1.raw_keypoints += 1000.0
        h1.scores[:] = 0.0
        h1.box[:] = -1.0
    scene.hands = [SceneHand(hand_keypoints(160, 120), True)]
    crops.clear()
    r2 = tr.process(blank(), 33)
    return crops, r2.hands


@pytest.mark.parametrize("smoothing", [False, True])
def test_changing_result_arrays_in_place_does_not_change_the_tracking(smoothing):
    """The Hand docstring: "The arrays are the caller's own: changing them in place does not change
    the tracking". An application normalising or flipping ``keypoints`` in place must leave the
    next frame's crops and hands exactly as they would have been."""
    crops_clean, hands_clean = _run_two_frames(smoothing, touch=False)
    crops_touched, hands_touched = _run_two_frames(smoothing, touch=True)
    assert crops_touched == crops_clean and len(crops_clean) >= 1
    assert len(hands_touched) == len(hands_clean) == 1
    a, b = hands_clean[0], hands_touched[0]
    assert a.track_id == b.track_id
    for name in ("keypoints", "raw_keypoints", "scores", "box"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


# -- timestamps ----------------------------------------------------------------------------------
def test_video_timestamps_without_clock_follow_frame_rate():
    """Video mode, ``timestamp_ms=None``: frames are 1/frame_rate s apart (here 60 fps), counted
    from the last timestamp given."""
    tr, _, _, _ = fake_tracker(frame_rate=60.0)
    t = [tr.process(blank()).timestamp_ms for _ in range(3)]
    assert t == pytest.approx([0.0, 1000 / 60, 2000 / 60])
    assert tr.process(blank(), 500.0).timestamp_ms == 500.0
    assert tr.process(blank()).timestamp_ms == pytest.approx(500.0 + 1000 / 60)


def test_static_timestamps_ignore_frame_rate():
    """``frame_rate`` is ignored in static mode: results without a timestamp are 1/30 s apart."""
    tr, _, _, _ = fake_tracker(frame_rate=60.0, static_image_mode=True)
    t = [tr.process(blank()).timestamp_ms for _ in range(3)]
    assert t == pytest.approx([0.0, 1000 / 30, 2000 / 30])


# -- package exports -------------------------------------------------------------------------------
def test_star_import_gives_the_documented_names():
    """``from tracker import *`` gives the classes README's Python API uses and the keypoint
    layout (``HandKeypoint``, ``CONNECTIONS``, ``KEYPOINT_NAMES``)."""
    ns: dict = {}
    exec("from tracker import *", ns)
    for name in ("HandTracker", "HandTrackerOptions", "HandTrackerResult", "Hand", "HandKeypoint",
                 "CONNECTIONS", "KEYPOINT_NAMES", "__version__"):
        assert name in ns, name
        assert ns[name] is getattr(tracker, name)


def test_connections_reach_every_keypoint_in_one_skeleton():
    """The skeleton edges join all 17 keypoints into one connected drawing (the palm centre hangs
    off the wrist); each edge joins two different valid points, none twice."""
    n = len(HandKeypoint)
    assert n == 17 and [int(k) for k in HandKeypoint] == list(range(17)) and len(KEYPOINT_NAMES) == 17
    edges = {frozenset((int(a), int(b))) for a, b in CONNECTIONS}
    assert len(edges) == len(CONNECTIONS) and all(len(e) == 2 for e in edges)
    assert all(0 <= i < n for e in edges for i in e)
    assert frozenset((HandKeypoint.WRIST, HandKeypoint.PALM)) in edges
    seen, todo = {0}, [0]
    while todo:
        a = todo.pop()
        for e in edges:
            if a in e:
                (b,) = e - {a}
                if b not in seen:
                    seen.add(b)
                    todo.append(b)
    assert seen == set(range(n))


# -- command line ------------------------------------------------------------------------------------
@pytest.mark.parametrize("env,expected", [({"DISPLAY": ":0"}, True), ({"WAYLAND_DISPLAY": "wayland-0"}, True),
                                          ({}, False)])
def test_has_display_takes_x11_or_wayland(monkeypatch, env, expected):
    """On Linux either DISPLAY or WAYLAND_DISPLAY means a display (README: the webcam window)."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(cli.sys, "platform", "linux")
    assert cli.has_display() is expected


def test_webcam_no_window_without_outputs_is_one_error_before_any_camera(monkeypatch, capsys):
    """``webcam --no-window`` with neither --json, --csv nor -o has nothing to do: one usage error
    (exit 2), and no camera is opened nor any tracker built."""
    import cv2
    opened = []

    def refuse(what):
        def call(*a, **k):
            opened.append(what)
            raise RuntimeError(f"{what} must not be reached")
        return call

    monkeypatch.setattr(cv2, "VideoCapture", refuse("camera"))
    monkeypatch.setattr(cli, "build_tracker", refuse("tracker"))
    assert cli.main(["webcam", "--no-window", "--open-timeout", "1"]) == 2
    err = capsys.readouterr().err
    assert "nothing to show or write" in err and err.count("\n") == 1
    assert opened == []


@pytest.mark.parametrize("value,ok", [(str(MAX_THREADS), True), (str(MAX_THREADS + 1), False), ("0", False)])
def test_threads_flag_range(value, ok, capsys):
    """``--threads``: 1 to the backend's MAX_THREADS, refused by the parser otherwise, the error
    naming the flag (exit 2)."""
    parser = cli.make_parser()
    argv = ["video", "in.mp4", "--threads", value]
    if ok:
        assert parser.parse_args(argv).threads == int(value)
    else:
        with pytest.raises(SystemExit) as e:
            parser.parse_args(argv)
        assert e.value.code == 2 and "--threads" in capsys.readouterr().err


@pytest.mark.parametrize("flag,text,expected", [
    ("--low-detection-confidence", "none", None), ("--low-detection-confidence", "None", None),
    ("--low-detection-confidence", " NONE ", None), ("--side-lock", "None", None),
    ("--frame-rate", "AUTO", "auto"), ("--frame-rate", " Auto ", "auto"),
])
def test_word_values_take_any_case(flag, text, expected):
    """The words "none" and "auto" are taken in any case, with spaces around."""
    dest = flag.lstrip("-").replace("-", "_")
    assert getattr(cli.make_parser().parse_args(["video", "in.mp4", flag, text]), dest) == expected


@pytest.mark.parametrize("camera", ["-1", "-7"])
def test_negative_camera_index_refused(camera, capsys):
    """``--camera`` takes indices >= 0: a negative one is a parser error naming the flag."""
    with pytest.raises(SystemExit) as e:
        cli.make_parser().parse_args(["webcam", "--camera", camera])
    assert e.value.code == 2 and "--camera must be an index >= 0" in capsys.readouterr().err


@pytest.mark.parametrize("argv,expected", [
    (["--mirror"], {"mirrored": True}),
    ([], {"mirrored": False, "smoothing": True, "large_hands": True, "static_image_mode": False, "turn_fallback": False,
          "flip_test": True}),
    (["--static", "--no-smoothing", "--no-flip-test", "--small-hands", "--no-large-hands", "--turn-retry",
      "--turn-fallback"],
     {"static_image_mode": True, "smoothing": False, "flip_test": False, "small_hands": True, "large_hands": False,
      "turn_retry": True, "turn_fallback": True}),
    (["--flip-test"], {"flip_test": True}),
    (["--max-hands", "3", "--threads", "3", "--detector-turns", "4", "--side-lock", "none",
      "--low-detection-confidence", "none", "--refine-score", "0.25", "--frame-rate", "60", "--min-crop-palms", "3",
      "--min-tracking-confidence", "0.7", "--min-detection-confidence", "0.4",
      "--landmark-model", "lm.onnx", "--detector-model", "det.onnx"],
     {"max_hands": 3, "threads": 3, "detector_turns": 4, "side_lock": None, "low_detection_confidence": None,
      "refine_score": 0.25, "frame_rate": 60.0, "min_crop_palms": 3.0, "min_tracking_confidence": 0.7, "min_detection_confidence": 0.4,
      "landmark_model_path": "lm.onnx", "detector_model_path": "det.onnx"}),
])
def test_build_tracker_passes_every_flag(monkeypatch, argv, expected):
    """``build_tracker`` (which the CLI tests replace by fakes) hands each flag to the option it
    names, ``--mirror`` included; the keywords are real, valid options."""
    import tracker.hand_tracker as ht
    got = {}

    def record(**kwargs):
        got.update(kwargs)
        return HandTrackerOptions(**kwargs).validate()

    monkeypatch.setattr(ht, "HandTracker", record)
    args = cli.make_parser().parse_args(["video", "in.mp4", *argv])
    cli.build_tracker(args, args.mirror)
    for k, v in expected.items():
        assert got[k] == v, k


@pytest.mark.parametrize("flag", ["--min-tracking-confidence", "--min-detection-confidence", "--refine-score",
                                  "--low-detection-confidence"])
@pytest.mark.parametrize("value", ["1.5", "-0.1"])
def test_unit_flags_are_refused_by_the_parser_naming_the_flag(flag, value, capsys):
    """Probabilities outside [0, 1] are parser errors naming the flag as typed (exit 2), not an
    error naming the Python option after the models were loaded."""
    with pytest.raises(SystemExit) as e:
        cli.make_parser().parse_args(["video", "in.mp4", flag, value])
    assert e.value.code == 2 and f"{flag} must be in [0, 1]" in capsys.readouterr().err


def test_window_problem_reports_a_failed_window_probe(monkeypatch):
    """A window probe that dies (a DISPLAY naming no X server: Qt aborts) is a reason not to open
    the window, naming the exit status and the line that mentions the display."""
    import subprocess

    def probe(*a, **k):
        return subprocess.CompletedProcess(a, -6, "", "qt.qpa.xcb: could not connect to display :99\nAborted\n")

    monkeypatch.setattr(cli.sys, "platform", "linux")
    monkeypatch.setattr(subprocess, "run", probe)
    problem = cli.window_problem()
    assert problem is not None and "exit status -6" in problem and "could not connect to display :99" in problem
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, "", ""))
    assert cli.window_problem() is None


def test_static_mode_reports_the_detector_ran_on_every_call():
    """Static mode runs the detector on every call, and every result says so (``detector_ran``)."""
    tr, scene, det, _ = fake_tracker(static_image_mode=True)
    scene.hands = [SceneHand(hand_keypoints(160, 120), True)]
    for i in range(3):
        r = tr.process(blank())
        assert r.detector_ran is True and det.calls == i + 1 and len(r.hands) == 1
