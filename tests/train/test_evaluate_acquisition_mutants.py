"""Audit (session 46, mutation testing) of ``python -m train.evaluate acquisition``: the scoring of
the tracker's reported hands (``evaluate_acquisition``), the composed scenes it runs on
(``_scenes``) and the acquisition branch of ``main`` (the options that reach the tracker and
the evaluation).

37 hand-made mutants of ``train/evaluate.py`` were run one at a time against the tests that cover
the path (tests/train/test_evaluate_acquisition.py, test_evaluate.py, test_evaluate_mutants.py,
test_journey_own_csv_rough_edges.py, test_evaluate_detector_reference.py, test_tools_cli_fuzz.py,
tests/tracker/test_metrics_mutants.py); 14 were caught there. The tests below kill the
23 they let through:

- A3  the scene's height and width swapped in the clip of the keypoint boxes (square scenes only
      in the old tests): a hand at the right edge of a landscape scene became a miss
- A4  no clip at 0: a hand at the left or top edge read as a miss plus a false hand
- A5  the keypoint boxes clipped a pixel inside the scene (width - 1, height - 1), not at its
      edge: a hand's IoU at the right or bottom edge lowered by up to 1 / its side (3% for a 32 px
      hand, the smallest of 640x480 scenes), enough to turn a hit at the threshold into a miss and
      a false hand
- A8  the hands' presence not used as their score (all 1): AP by presence ranked them by list order
- A10 false hands counted once per frame, not each
- A13 the detector_alone figures at the detector's default threshold, not the tracker's
      (min_detection_confidence set)
- A14 detector_alone's AP taken from the tracker's matches
- A15 the tracker's AP by presence taken from the detector's matches
- S1  the composed scenes' width and height swapped (SceneConfig(height, width))
- S2  ``full_rotation`` not reaching the scenes (full_rotation_p always 0)
- S3  the seed not reaching the scenes (every seed the same scenes)
- S4  ``condition`` not applied to the scenes
- C1  the acquisition's default scene size 480x640 instead of 640x480
- C2  the tracker built with max_hands 2 (a scene holds up to 4 photos; a hands21 photo up to 2
      hands: 50 of val's 7,992 photos and 108 of train's 18,776 hold 2)
- C3  --small-hands not reaching the tracker's detector
- C4  --no-large-hands not reaching the tracker's detector
- C5  --turn-retry not reaching the tracker
- C6, C7, C8  --full-rotation, --condition, --hand-frac not reaching evaluate_acquisition
- C9  --scenes not reaching evaluate_acquisition (its default 500 composed instead)
- C10 --low-detection-keypoint-score (an acquisition-only option) accepted by the other kinds
- C13 the figures' ``small_hands`` not the option given

Left alive: none.

Killed by the old tests: A1 (static-mode check inverted), A2 (a threshold of 0 read as unset),
A6 (matching IoU 0.4), A7 (ignore regions dropped), A9 (found hands once per frame), A11 (false
hands per labelled hand), A12 (first scene skipped), A16 (outcomes from the size bins), A17 (scene
width/height swapped in the call), A18 (default seed 0), A19 (every hand a false one), S5 (one
scene short), C11 (--presence), C12 (--detector-turns).

Tiny fakes (a scripted tracker and detector) and generated photos; the tests of ``main`` build
the real HandTracker from the shipped models in assets/ (no ../shared data) and replace only the
evaluation itself.
"""
import contextlib
import inspect
import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import train.evaluate as ev
from train.data import RIGHT, HandRecord

EMPTY = np.zeros((0, 4), np.float32)


class _Detector:
    """A fake detector: fixed (box, score) pairs for every image."""

    def __init__(self, dets=(), default_threshold=0.5):
        self.default_threshold = default_threshold
        self.dets = [SimpleNamespace(box=np.array(b, np.float32), score=s) for b, s in dets]

    def __call__(self, img, score_threshold=0.5, max_detections=10):
        return [d for d in self.dets if d.score >= score_threshold][:max_detections]


class _Tracker:
    """A static-mode HandTracker stand-in: reports fixed (keypoint box, presence) hands on every frame."""

    def __init__(self, hands, detector=None, threshold=None):
        self.options = SimpleNamespace(static_image_mode=True, min_detection_confidence=threshold,
                                       min_tracking_confidence=0.5)
        self.detector = detector or _Detector()
        self.hands = [SimpleNamespace(box=np.array(b, np.float32), score=s) for b, s in hands]

    def process(self, img):
        return SimpleNamespace(hands=list(self.hands))


def _acquire(monkeypatch, scenes, tracker):
    monkeypatch.setattr(ev, "_scenes", lambda *a, **k: scenes)
    return ev.evaluate_acquisition(tracker, [], {}, n_scenes=len(scenes))


def _scene(w, h, gt=EMPTY, ign=EMPTY):
    return np.zeros((h, w, 3), np.uint8), np.asarray(gt, np.float32).reshape(-1, 4), ign


# == evaluate_acquisition: keypoint boxes clipped to the scene ====================================
# A labelled box holds only the points inside the scene; the tracker's keypoint box also the
# points it places past the edge. Clipped to the canvas (0..width, 0..height), each box below is
# the labelled one (IoU 1); unclipped on that side its IoU is 50x50 / 110x50 = 0.45, a miss plus a
# false hand. The scenes are not square, so a swapped width and height clips at the wrong place.
@pytest.mark.parametrize("size, gt, box", [
    ((300, 200), (250, 50, 300, 100), (250, 50, 360, 100)),      # landscape, right edge
    ((300, 200), (50, 150, 100, 200), (50, 150, 100, 260)),      # landscape, bottom edge
    ((200, 300), (150, 50, 200, 100), (150, 50, 260, 100)),      # portrait, right edge
    ((200, 300), (50, 250, 100, 300), (50, 250, 100, 360)),      # portrait, bottom edge
    ((300, 200), (0, 50, 50, 100), (-60, 50, 50, 100)),          # left edge
    ((300, 200), (50, 0, 100, 50), (50, -60, 100, 50)),          # top edge
], ids=["right-landscape", "bottom-landscape", "right-portrait", "bottom-portrait", "left", "top"])
def test_a_hand_cut_by_any_edge_of_a_non_square_scene_is_found(monkeypatch, size, gt, box):
    res = _acquire(monkeypatch, [_scene(*size, gt)], _Tracker([(box, 0.9)]))
    assert res["hands_in_scenes"] == 1
    assert res["recall"] == 1.0 and res["fp_per_frame"] == 0.0


@pytest.mark.parametrize("size, gt, box", [
    ((300, 200), (250, 50, 300, 100), (200, 50, 360, 100)),      # right edge
    ((300, 200), (50, 150, 100, 200), (50, 100, 100, 260)),      # bottom edge
], ids=["right", "bottom"])
def test_keypoint_boxes_are_clipped_at_the_scene_edge_itself(monkeypatch, size, gt, box):
    """The canvas ends at x = width, y = height (the labelled boxes reach it): a keypoint box twice
    the hand's length, clipped there, overlaps the hand at IoU 50 / 100 = 0.5 exactly, a hit
    (inclusive); clipped a pixel short of the edge it would be 49 / 100, a miss and a false hand."""
    res = _acquire(monkeypatch, [_scene(*size, gt)], _Tracker([(box, 0.9)]))
    assert res["recall"] == 1.0 and res["fp_per_frame"] == 0.0


# == evaluate_acquisition: counts ================================================================
@pytest.mark.parametrize("false_hands, fp_per_frame", [(0, 0.5), (1, 1.0), (2, 1.5), (3, 2.0)])
def test_every_false_hand_counts_not_every_frame_with_one(monkeypatch, false_hands, fp_per_frame):
    """fp_per_frame: the false hands over the frames. Two scenes, each with one labelled hand the
    tracker finds; it also reports ``false_hands`` hands on empty background in the first scene
    and one in the second: (false_hands + 1) / 2."""
    gt = (10, 10, 50, 50)
    true_hand = (gt, 0.9)
    spots = [(100, 10, 140, 50), (100, 100, 140, 140), (10, 100, 50, 140)]

    class PerFrame(_Tracker):
        frames = [[true_hand] + [(b, 0.8) for b in spots[:false_hands]], [true_hand, (spots[0], 0.8)]]

        def process(self, img):
            return SimpleNamespace(hands=[SimpleNamespace(box=np.array(b, np.float32), score=s)
                                          for b, s in self.frames.pop(0)])

    res = _acquire(monkeypatch, [_scene(200, 160, gt), _scene(200, 160, gt)], PerFrame([]))
    assert res["recall"] == 1.0 and res["hands_in_scenes"] == 2
    assert res["fp_per_frame"] == pytest.approx(fp_per_frame)


# == evaluate_acquisition: AP by presence, and the detector's own ================================
@pytest.mark.parametrize("true_presence, false_presence, ap", [
    (0.9, 0.6, 1.0),    # the hand ranked first: precision 1 at recall 1
    (0.6, 0.9, 0.5),    # the false hand first: precision 1/2 when the hand is reached
])
def test_ap_by_presence_ranks_the_tracker_hands_by_their_presence(monkeypatch, true_presence, false_presence, ap):
    """``ap@0.5_by_presence``: VOC AP of the tracker's hands ordered by presence (one labelled hand,
    one hand found, one false one: 1.0 when the found one has the higher presence, else 0.5; the
    false hand is listed first, so an order by position gives 0.5 both times).
    ``detector_alone["ap@0.5"]``: the detector's own boxes; here it boxes only the background, so
    its AP is 0 whatever the tracker reports."""
    gt = (10, 10, 50, 50)
    false_box = (100, 100, 140, 140)
    tracker = _Tracker([(false_box, false_presence), (gt, true_presence)],
                       detector=_Detector([(false_box, 0.9)]))
    res = _acquire(monkeypatch, [_scene(200, 160, gt)], tracker)
    assert res["recall"] == 1.0 and res["fp_per_frame"] == 1.0
    assert res["ap@0.5_by_presence"] == pytest.approx(ap)
    assert res["detector_alone"]["ap@0.5"] == 0.0
    assert res["detector_alone"]["recall"] == 0.0 and res["detector_alone"]["fp_per_frame"] == 1.0


@pytest.mark.parametrize("threshold, found", [(0.0, 1.0), (0.3, 1.0), (0.6, 0.0)])
def test_detector_alone_runs_at_the_trackers_threshold_when_one_is_set(monkeypatch, threshold, found):
    """min_detection_confidence set (--threshold): the detector_alone figures are the detector's
    at that threshold ("at the same threshold"), not at its own default (0.7 here): the hand's
    detection scored 0.5 is found at 0 and 0.3 (0 is a threshold, not "unset"), not at 0.6."""
    gt = (10, 10, 50, 50)
    det = _Detector([(gt, 0.5)], default_threshold=0.7)
    res = _acquire(monkeypatch, [_scene(200, 160, gt)], _Tracker([], detector=det, threshold=threshold))
    assert res["detector_threshold"] == threshold
    assert res["detector_alone"]["recall"] == found


# == _scenes: the composed scenes ================================================================
_RING = np.stack([np.cos(np.linspace(0, 2 * np.pi, 17, endpoint=False)),
                  np.sin(np.linspace(0, 2 * np.pi, 17, endpoint=False))], 1)


def _photos(n=3):
    """``n`` coloured 120x120 photos (their channels differ), one ring 'hand' of radius 30 each."""
    recs, cache = [], {}
    for i in range(n):
        path = Path(f"p{i}.png")
        img = np.zeros((120, 120, 3), np.uint8)
        img[...] = (40 + 50 * i, 200 - 40 * i, 90)
        cache[path] = img
        recs.append(HandRecord(path, (60 + 30 * _RING).astype(np.float32), np.ones(17, np.float32), RIGHT, 0.95, i))
    return recs, cache


@pytest.mark.parametrize("width, height", [(96, 64), (64, 96)])
def test_scenes_are_width_by_height(width, height):
    """``_scenes(..., width, height)``: n images of height rows and width columns, their labelled
    boxes inside the canvas."""
    recs, cache = _photos()
    scenes = ev._scenes(recs, cache, 6, 0, width, height)
    assert len(scenes) == 6
    for img, boxes, _ in scenes:
        assert img.shape == (height, width, 3)
        assert (boxes[:, [0, 2]] <= width).all() and (boxes[:, [1, 3]] <= height).all()


def test_scenes_follow_their_seed():
    """The same seed composes the same scenes; another seed other scenes (--seed is written in the
    figures so that they can be made again)."""
    recs, cache = _photos()
    a, again, other = (ev._scenes(recs, cache, 4, seed, 96, 64) for seed in (5, 5, 6))
    assert all((x[0] == y[0]).all() for x, y in zip(a, again))
    assert any(x[0].shape != y[0].shape or (x[0] != y[0]).any() for x, y in zip(a, other))


def test_scenes_are_seen_through_the_condition():
    """``condition="grey"``: every composed scene grey (its three channels equal); the same scenes
    clean are in colour (the photos are)."""
    recs, cache = _photos()
    clean = ev._scenes(recs, cache, 4, 0, 96, 64)
    grey = ev._scenes(recs, cache, 4, 0, 96, 64, condition="grey")
    assert any((img[..., 0] != img[..., 1]).any() for img, _, _ in clean)
    for (g, gb, _), (_, cb, _) in zip(grey, clean):
        assert (g[..., 0] == g[..., 1]).all() and (g[..., 1] == g[..., 2]).all()
        np.testing.assert_array_equal(gb, cb)     # the pixels stay in place: the same boxes


@pytest.mark.parametrize("full_rotation, p", [(True, 1.0), (False, 0.0)])
def test_full_rotation_turns_every_photo_of_the_scenes(monkeypatch, full_rotation, p):
    """``full_rotation``: "every photo pasted at a uniformly random angle" (SceneConfig's
    full_rotation_p 1); without it none is (0: the scenes of a seed as before the option), at the
    asked size, count and seed."""
    import train.train_detector as td
    asked = []
    monkeypatch.setattr(td, "make_val_scenes",
                        lambda groups, cache, cfg, n, seed=321: asked.append((cfg, n, seed)) or [])
    recs, cache = _photos(1)
    ev._scenes(recs, cache, 3, 11, 96, 64, full_rotation=full_rotation)
    (cfg, n, seed), = asked
    assert cfg.full_rotation_p == p
    assert (cfg.width, cfg.height, n, seed) == (96, 64, 3, 11)


# == main: what the acquisition's options reach ==================================================
_DEFAULTS = []
_ALL_SET = ["--scenes", "3", "--scene-size", "96x64", "--small-hands", "--no-large-hands", "--turn-retry",
            "--full-rotation", "--condition", "grey", "--hand-frac", "0.6,1.0", "--detector-turns", "4",
            "--turn-fallback"]


@pytest.fixture(scope="module")
def acquisition_runs(tmp_path_factory):
    """``main(["acquisition", ...])`` with the default options and with every option set: the real
    tracker it builds (shipped models), the arguments evaluate_acquisition was given (replaced by a
    recorder) and the figures printed."""
    data = tmp_path_factory.mktemp("data")
    rec = HandRecord(data / "a.png", (60 + 30 * _RING).astype(np.float32), np.ones(17, np.float32), RIGHT, 0.95, 0)
    signature = inspect.signature(ev.evaluate_acquisition)
    runs = {}
    for name, extra in (("defaults", _DEFAULTS), ("all_set", _ALL_SET)):
        seen = {}

        def evaluate(*args, **kwargs):   # the values evaluate_acquisition would run with, defaults filled in
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            seen.update(bound.arguments)
            return {}

        out = io.StringIO()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(ev, "evaluate_acquisition", evaluate)
            mp.setattr(ev, "eval_records", lambda *a, **k: [rec])
            mp.setattr(ev, "ImageCache", lambda recs: {})
            with contextlib.redirect_stdout(out):
                ev.main(["acquisition", "--data", str(data), "--threads", "1"] + extra)
        seen["printed"] = json.loads(out.getvalue())
        runs[name] = seen
    return runs


def _most_hands_in_a_scene():
    """A composed scene pastes up to len(count_p) - 1 photos (train.scenes.compose_scene); a photo
    of hands21 holds up to 2 hands (counted in its val.json and train.json)."""
    from train.scenes import SceneConfig
    return (len(SceneConfig.count_p) - 1) * 2


@pytest.mark.parametrize("run, what, want", [
    ("defaults", "scenes", 500), ("all_set", "scenes", 3),
    ("defaults", "size", (640, 480)), ("all_set", "size", (96, 64)),
    ("defaults", "full_rotation", False), ("all_set", "full_rotation", True),
    ("defaults", "condition", "clean"), ("all_set", "condition", "grey"),
    ("defaults", "hand_frac", None), ("all_set", "hand_frac", (0.6, 1.0)),
    ("defaults", "small_hands", False), ("all_set", "small_hands", True),
    ("defaults", "large_hands", True), ("all_set", "large_hands", False),
    ("defaults", "turn_retry", False), ("all_set", "turn_retry", True),
    ("defaults", "turns", (1, False)), ("all_set", "turns", (4, True)),
    ("defaults", "printed_turn_fallback", False), ("all_set", "printed_turn_fallback", True),
    ("defaults", "static", True), ("all_set", "static", True),
    ("defaults", "printed_small_hands", False), ("all_set", "printed_small_hands", True),
    ("defaults", "printed_large_hands", True), ("all_set", "printed_large_hands", False),
])
def test_acquisition_options_reach_the_tracker_and_the_evaluation(acquisition_runs, run, what, want):
    seen = acquisition_runs[run]
    tr = seen["tracker"]
    got = {
        "scenes": seen["n_scenes"], "size": (seen["width"], seen["height"]),
        "full_rotation": seen["full_rotation"], "condition": seen["condition"], "hand_frac": seen["hand_frac"],
        "small_hands": tr.detector.small_hands, "large_hands": tr.detector.large_hands,
        "turn_retry": tr.options.turn_retry, "static": tr.options.static_image_mode,
        "turns": (tr.detector_turns, tr.options.turn_fallback),
        "printed_turn_fallback": seen["printed"]["turn_fallback"],
        "printed_small_hands": seen["printed"]["small_hands"], "printed_large_hands": seen["printed"]["large_hands"],
    }[what]
    assert got == want


@pytest.mark.parametrize("run", ["defaults", "all_set"])
def test_acquisition_tracker_reports_every_hand_a_scene_can_hold(acquisition_runs, run):
    """The tracker of ``acquisition`` reports at least as many hands as a composed scene holds
    (evaluate_acquisition's docstring: 8); fewer would cap the recall of crowded scenes."""
    assert acquisition_runs[run]["tracker"].options.max_hands >= _most_hands_in_a_scene() == 8


# == main: acquisition-only options refused by the other kinds ===================================
@pytest.mark.parametrize("kind", ["landmarks", "detector"])
@pytest.mark.parametrize("option", [
    ["--landmark-model", "lm.onnx"], ["--presence", "0.6"], ["--refine-score", "0.7"], ["--turn-retry"],
    ["--detector-turns", "2"], ["--turn-fallback"], ["--low-detection-confidence", "0.35"],
    ["--low-detection-confidence", "none"],
    ["--low-detection-keypoint-score", "0.45"],
], ids=" ".join)
def test_acquisition_only_options_are_refused_by_the_other_kinds(kind, option, capsys):
    """An option only acquisition reads, given to landmarks or detector with a value other than its
    default (the tracker's 0.2 and 0.6 for the low-detection pair), is a usage error naming it (it
    was silently ignored before)."""
    with pytest.raises(SystemExit) as e:
        ev.main([kind, "--data", "/nonexistent"] + option)
    assert e.value.code == 2
    assert f"{option[0]} applies to acquisition, not {kind}" in capsys.readouterr().err
