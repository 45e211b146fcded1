"""Audit (session 43, mutation testing) of the evaluation tools around the metric formulas:
``train.evaluate`` (landmark figures, the detector's miss and false-positive kinds, calibration,
acquisition, degraded scenes, option parsers), ``train.curves`` and ``train.prelabel``.

Each test here kills a hand-made mutant that the earlier tests let through (docs/model_history.md,
Session 43); all use tiny fake models and detectors (callables with hand-made answers) and
generated scenes, no shared data."""
import argparse
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from train.data import RIGHT, HandRecord

_RING = np.stack([np.cos(np.linspace(0, 2 * np.pi, 17, endpoint=False)),
                  np.sin(np.linspace(0, 2 * np.pi, 17, endpoint=False))], 1)


def _ring(cx, cy, r):
    return (np.array([cx, cy]) + r * _RING).astype(np.float32)


# == train.evaluate: JSON figures ================================================================
def test_finite_figures_keeps_each_container_type_and_nulls_every_non_finite_number():
    """NaN and +-inf (Python or numpy floats) become None at any depth; a tuple stays a tuple and
    a list a list (the function's docstring: "nested dicts, lists and tuples"), other values as
    they are."""
    from train.evaluate import finite_figures
    got = finite_figures({"a": (1.0, float("nan")), "b": [np.float32("inf"), 2, -np.inf],
                          "c": {"d": (np.float64("nan"),)}, "e": "x", "f": None})
    assert got == {"a": (1.0, None), "b": [None, 2, None], "c": {"d": (None,)}, "e": "x", "f": None}
    assert type(got["a"]) is tuple and type(got["b"]) is list and type(got["c"]["d"]) is tuple


# == train.evaluate landmarks ====================================================================
class _Cache(dict):
    """An image cache that remembers which photos were read, in order."""

    def __init__(self, *a):
        super().__init__(*a)
        self.read = []

    def __getitem__(self, key):
        self.read.append(key)
        return super().__getitem__(key)


def test_worst_grid_draws_the_lowest_pck_first_and_smaller_hands_first_on_ties(tmp_path):
    """draw_worst_hands: "the n hands with the lowest per-hand PCK@0.1 (ties: smaller hands
    first)". Hand 0 is exact (PCK 1) and the smallest; hands 1 (side 100) and 2 (side 50) are
    both missed (PCK 0): with n=2 the grid holds hand 2, then hand 1, never hand 0."""
    from train.evaluate import draw_worst_hands
    gt = np.stack([_ring(50, 50, 5), _ring(50, 50, 30), _ring(50, 50, 20)])
    pred = gt.copy()
    pred[1:] += 40.0                            # 40 px off: far past 0.1 of a 50 or 100 px hand
    vis, norm = np.ones((3, 17)), np.array([10.0, 100.0, 50.0])
    recs = [HandRecord(Path(f"h{i}.png"), gt[i], np.ones(17, np.float32)) for i in range(3)]
    cache = _Cache({r.image: np.zeros((100, 100, 3), np.uint8) for r in recs})
    draw_worst_hands(tmp_path / "w.png", recs, cache, pred, gt, vis, norm, n=2)
    assert cache.read == [Path("h2.png"), Path("h1.png")]


class _ByPhotoOracle:
    """Answers the labelled keypoints for the photos in ``truth`` (pixel (0, 0) names the photo),
    a pose 500 px away otherwise."""

    meta = {"model_version": "oracle"}

    def __init__(self, truth):
        self.truth = truth

    def __call__(self, img, rois):
        kp = self.truth.get(int(img[0, 0, 0]), np.full((17, 2), -500.0, np.float32))
        return [SimpleNamespace(keypoints=kp, right_prob=1.0, presence=0.9),
                SimpleNamespace(keypoints=kp, right_prob=0.5, presence=0.1)]


@pytest.mark.parametrize("other", ["mediapipe", "manual", "synthetic"])
def test_headline_figures_are_the_dataset_hands_whatever_the_other_source(other):
    """The headline figures are "on the labelled hand of each photo" (``source == "dataset"``,
    HandRecord's default); a COCO ``source`` is any string, and a hand of any other source is
    reported beside them in ``all_hands``, not mixed in."""
    from train.evaluate import evaluate_landmarks
    recs, cache, truth = [], {}, {}
    for i in range(4):
        path = Path(f"p{i}.png")
        img = np.zeros((200, 200, 3), np.uint8)
        img[0, 0, 0] = i
        cache[path] = img
        kp = _ring(100, 100, 30)
        src = "dataset" if i < 3 else other
        if src == "dataset":
            truth[i] = kp
        recs.append(HandRecord(path, kp, np.ones(17, np.float32), RIGHT, 0.95, i, source=src))
    res = evaluate_landmarks(_ByPhotoOracle(truth), recs, cache)
    assert res["hands"] == 3 and res["pck@0.1"] == 1.0
    assert res["all_hands"]["hands"] == 4 and res["all_hands"]["pck@0.1"] == pytest.approx(0.75)


# == train.evaluate detector: matching kinds ======================================================
class _Scripted:
    """A fake detector: fixed (box, score) pairs per scene (pixel (0, 0) names the scene), those at
    or above the score threshold it is asked for, as HandDetector returns them."""

    width, height, meta, large_hands = 64, 48, {}, True

    def __init__(self, per_scene, default_threshold=0.5):
        self.per_scene = {k: [SimpleNamespace(box=np.array(b, np.float32), score=s) for b, s in dets]
                          for k, dets in per_scene.items()}
        self.default_threshold = default_threshold

    def __call__(self, img, score_threshold=0.5, max_detections=10):
        return [d for d in self.per_scene.get(int(img[0, 0, 0]), []) if d.score >= score_threshold][:max_detections]


def _scene(k, gt=((10, 10, 50, 50),), size=200):
    img = np.zeros((size, size, 3), np.uint8)
    img[0, 0, 0] = k
    return img, np.array(gt, np.float32).reshape(-1, 4), np.zeros((0, 4), np.float32)


def test_a_detection_scored_exactly_at_the_threshold_is_counted():
    """The threshold is inclusive (the detector keeps scores >= it): a hit scored exactly 0.5
    finds its hand and a box elsewhere scored exactly 0.5 is a false positive, at threshold 0.5."""
    from train.evaluate import _scene_stats
    det = _Scripted({0: [((10, 10, 50, 50), 0.5), ((120, 120, 160, 160), 0.5)]})
    _, recall, fpf, _, kinds, false_pos = _scene_stats(det, [_scene(0)], 0.5)
    assert recall == 1.0 and kinds["found"] == 1 and fpf == 1.0 and len(false_pos) == 1


@pytest.mark.parametrize("det_box, match_iou, kind", [
    ((10, 10, 26, 25), 0.1, "found"),            # IoU 240 / 1600 = 0.15: a hit at --match-iou 0.1
    ((10, 10, 26, 25), 0.5, "nothing"),          # the same box at 0.5: under the 0.2 of a try at it
    ((10, 10, 30, 30), 0.5, "box_off"),          # IoU 400 / 1600 = 0.25
    ((10, 10, 30, 30), 0.2, "found"),
    ((10, 10, 12, 12), 0.1, "nothing"),          # IoU 4 / 1600
])
def test_each_hand_has_exactly_one_outcome_at_any_match_iou(det_box, match_iou, kind):
    """hands_by_outcome: found, box_off, below_threshold and nothing split the hands (each hand one
    of them; below_threshold_box_ok is a part of below_threshold). At a --match-iou under 0.2 a
    box that is a hit is found, not also "nothing" (a try at a hand is never looser than a hit:
    ``_loose_iou``)."""
    from train.evaluate import _scene_stats
    kinds = _scene_stats(_Scripted({0: [(det_box, 0.9)]}), [_scene(0)], 0.5, match_iou)[4]
    split = {k: kinds[k] for k in ("found", "box_off", "below_threshold", "nothing")}
    assert split == {k: int(k == kind) for k in split}


@pytest.mark.parametrize("iou, match_iou, kind", [
    (0.0, 0.5, "elsewhere"), (0.19, 0.5, "elsewhere"), (0.2, 0.5, "loose_box"), (0.49, 0.5, "loose_box"),
    (0.5, 0.5, "duplicate"), (0.9, 0.5, "duplicate"),
    (0.15, 0.1, "duplicate"), (0.1, 0.1, "duplicate"), (0.05, 0.1, "elsewhere"),
    (0.2, 0.2, "duplicate"), (0.19, 0.2, "elsewhere"),
])
def test_each_false_positive_is_exactly_one_kind(iou, match_iou, kind):
    """false_positive_kinds: duplicate (IoU >= match_iou), loose_box (0.2 <= IoU < match_iou),
    elsewhere (below both); the bounds are inclusive below, and with a match_iou under 0.2 there
    is no loose box: a box overlapping a hand at match_iou is a duplicate, counted once."""
    from train.evaluate import false_positive_kinds
    got = false_positive_kinds([(0.9, 0, np.zeros(4), iou)], match_iou)
    assert got == {k: int(k == kind) for k in ("duplicate", "loose_box", "elsewhere")}


def test_false_positives_are_listed_highest_score_first_across_scenes():
    """The false positives (for --fp-grid) are "highest score first" over all scenes, not in scene
    order: scene 1's 0.9 box before scene 0's 0.6 one."""
    from train.evaluate import _scene_stats
    det = _Scripted({0: [((120, 120, 160, 160), 0.6)], 1: [((120, 120, 160, 160), 0.9)]})
    false_pos = _scene_stats(det, [_scene(0), _scene(1)], 0.5)[5]
    assert [(f[0], f[1]) for f in false_pos] == [(pytest.approx(0.9), 1), (pytest.approx(0.6), 0)]


# == train.evaluate acquisition ==================================================================
class _Tracker:
    """A static-mode HandTracker stand-in reporting no hands; its threshold unset (None)."""

    def __init__(self, detector):
        self.options = SimpleNamespace(static_image_mode=True, min_detection_confidence=None,
                                       min_tracking_confidence=0.5)
        self.detector = detector

    def process(self, img):
        return SimpleNamespace(hands=[])


def test_acquisition_without_a_threshold_uses_the_detectors_own(monkeypatch):
    """min_detection_confidence None: the tracker runs its detector at the detector's own
    threshold (here 0.7), and the detector_alone figures must use that one too: a hit scored 0.6
    is then below it (recall 0), not found as at 0.5."""
    import train.evaluate as ev
    scenes = [_scene(0)]
    monkeypatch.setattr(ev, "_scenes", lambda *a, **k: scenes)
    det = _Scripted({0: [((10, 10, 50, 50), 0.6)]}, default_threshold=0.7)
    res = ev.evaluate_acquisition(_Tracker(det), [], {}, n_scenes=1)
    assert res["detector_threshold"] == 0.7
    assert res["detector_alone"]["recall"] == 0.0
    assert res["detector_alone"]["hands_by_outcome"]["below_threshold_box_ok"] == 1


# == train.evaluate scene conditions ==============================================================
def test_degraded_scenes_each_get_their_own_noise():
    """degrade_scenes: "the same noise for a given seed and scene index": two identical scenes
    at different indices are not given the very same noise (500 scenes would share one pattern)."""
    from train.evaluate import degrade_scenes
    img = np.full((48, 64, 3), 128, np.uint8)
    boxes, ign = np.zeros((0, 4), np.float32), np.zeros((0, 4), np.float32)
    a, b = degrade_scenes([(img.copy(), boxes, ign), (img.copy(), boxes, ign)], "noise", seed=3)
    assert (a[0] != img).any() and (a[0] != b[0]).any()


# == train.evaluate option parsers ================================================================
@pytest.mark.parametrize("parser, text, want", [
    ("_edge_cut", "0,0.5", (0.0, 0.5)), ("_edge_cut", "0.9,0.99", (0.9, 0.99)),
    ("_edge_cut", "0.5,1", None),        # HIGH < 1: a hand wholly outside the frame is no hand at the edge
    ("_edge_cut", "0.5,0.5", None), ("_edge_cut", "-0.1,0.5", None),
    ("_hand_frac", "1,1.5", (1.0, 1.5)), ("_hand_frac", "0.01,0.02", (0.01, 0.02)),
    ("_hand_frac", "0,0.5", None), ("_hand_frac", "1,1.6", None), ("_hand_frac", "0.6,0.6", None),
    ("_size", "32x32", (32, 32)), ("_size", "8192x8192", (8192, 8192)),
    ("_size", "31x32", None), ("_size", "32x31", None), ("_size", "8193x100", None), ("_size", "100x8193", None),
    ("_match_iou", "1", 1.0), ("_match_iou", "0.01", 0.01), ("_match_iou", "0", None),
])
def test_option_parsers_take_their_whole_range_and_nothing_past_it(parser, text, want):
    """The bounds their help states: --edge-cut 0 <= LOW < HIGH < 1, --hand-frac
    0 < LOW < HIGH <= 1.5, --scene-size 32 to 8192 a side (each side), --match-iou in (0, 1]."""
    import train.evaluate as ev
    fn = getattr(ev, parser)
    if want is None:
        with pytest.raises(argparse.ArgumentTypeError):
            fn(text)
    else:
        assert fn(text) == want


# == train.curves =================================================================================
@pytest.mark.parametrize("pck10", [0.0, 1.0, 0.5, float("nan")])
def test_a_history_takes_every_share_from_0_to_1(tmp_path, pck10):
    """load_history: PCK figures are shares "in [0, 1], or NaN": a perfect 1.0 and a 0.0 are
    both figures a run can reach, read without complaint."""
    import json

    from train.curves import load_history
    path = tmp_path / "h.json"
    path.write_text(json.dumps([{"minutes": 1.0, "pck10": pck10, "pck05": pck10, "ema_pck10": pck10}]))
    assert len(load_history(path)) == 1


@pytest.mark.parametrize("pck10", [1.0001, -0.0001])
def test_a_history_refuses_a_share_past_0_or_1(tmp_path, pck10):
    import json

    from train.curves import load_history
    path = tmp_path / "h.json"
    path.write_text(json.dumps([{"minutes": 1.0, "pck10": pck10}]))
    with pytest.raises(ValueError, match="expected a share in"):
        load_history(path)


@pytest.mark.parametrize("runs, pck05, floor", [
    ([[0.01, 0.27, 0.35]], False, 0.2),          # step 0's 0.01 left out; 0.27 shown: floor 0.2, not 0.3
    ([[0.02, 0.7, 0.85]], False, 0.6),           # all high: the full runs' range, 0.6 to 1
    ([[0.02, 0.7, 0.85]], True, 0.4),            # with PCK@0.05 drawn (0.6, 0.75): 0.4
    ([[0.33]], False, 0.3),                      # a single validation: that one is shown
    ([[0.0, 0.9], [0.0, 0.51]], False, 0.5),     # the lowest over every run
])
def test_the_picture_shows_every_run_after_its_first_validation(tmp_path, monkeypatch, runs, pck05, floor):
    """plot_runs sets the y range from min(0.6, or 0.4 with --pck05) down to the tenth below the
    lowest figure drawn after each run's step-0 validation (rounded down, so that point is inside)."""
    import matplotlib.pyplot as plt

    from train.curves import plot_runs
    figs = []
    monkeypatch.setattr(plt, "close", figs.append)        # keep the figure to read its axes
    hists = [[{"minutes": 10.0 * i, "pck10": v, "pck05": max(v - 0.1, 0.0)} for i, v in enumerate(run)]
             for run in runs]
    plot_runs(hists, [f"r{i}" for i in range(len(runs))], tmp_path / "c.png", pck05=pck05)
    lo, hi = figs[0].axes[0].get_ylim()
    monkeypatch.undo()
    plt.close(figs[0])
    assert lo == pytest.approx(floor) and hi == 1.0


def test_a_run_whose_weight_average_starts_later_still_draws_it(tmp_path, monkeypatch):
    """A run trained with --ema whose step-0 validation has no ``ema_pck10`` (the average not yet
    measured): its weight average's line is still drawn (a gap at step 0), as for any run that
    holds the figure at all."""
    import matplotlib.axes

    from train.curves import plot_runs
    labels = []
    orig = matplotlib.axes.Axes.plot
    monkeypatch.setattr(matplotlib.axes.Axes, "plot",
                        lambda self, *a, **k: labels.append(k.get("label")) or orig(self, *a, **k))
    hist = [{"minutes": 0.0, "pck10": 0.05}, {"minutes": 10.0, "pck10": 0.7, "ema_pck10": 0.72},
            {"minutes": 20.0, "pck10": 0.8, "ema_pck10": 0.83}]
    plot_runs([hist], ["run"], tmp_path / "c.png")
    assert "run: PCK@0.1, weight average (--ema)" in labels


# == train.prelabel ===============================================================================
def _scores_array(scores):
    """A (34, 3) tracker array: the left hand at (i, 2i) with keypoint ``scores``, no right hand."""
    from tracker.keypoints import NUM_KEYPOINTS
    a = np.full((2 * NUM_KEYPOINTS, 3), np.nan)
    a[:NUM_KEYPOINTS, 0] = np.arange(NUM_KEYPOINTS)
    a[:NUM_KEYPOINTS, 1] = 2.0 * np.arange(NUM_KEYPOINTS)
    a[:NUM_KEYPOINTS, 2] = scores
    return a


@pytest.mark.parametrize("scores, min_score, kept", [
    ([0.7] * 16 + [0.1], 0.6, True),     # mean 0.665: kept, though one point is unsure
    ([0.5] * 16 + [1.0], 0.6, False),    # mean 0.529
    ([0.625] * 17, 0.625, True),         # exactly at --min-score: kept ("below P" is left out)
])
def test_min_score_is_on_the_hands_mean_keypoint_confidence(scores, min_score, kept):
    """--min-score P: "leave out hands whose mean keypoint confidence is below P", not hands with
    any point below it (a hand with one occluded fingertip is a hand worth correcting)."""
    from train.prelabel import label_row
    row = label_row("a.png", _scores_array(scores), min_score)
    assert (row[1:3] == ["0.00", "0.00"]) is kept and all(c == "" for c in row[35:])
    assert all(c == "" for c in row[1:35]) is not kept


def test_an_image_named_twice_in_other_words_gets_one_row(tmp_path):
    """image_files: a folder and one of its images named again by another path (through ``..``,
    or absolute beside relative) is one image: two rows would load as one photo with every hand
    twice."""
    import cv2

    from train.prelabel import image_files
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"img{i}.png"), np.zeros((8, 8, 3), np.uint8))
    again = folder / ".." / "photos" / "img1.png"
    got = image_files([str(folder), str(again)])
    assert len(got) == 2
    assert {p.resolve() for p in got} == {(folder / f"img{i}.png").resolve() for i in range(2)}


def test_a_hand_with_any_point_not_finite_is_written_empty():
    """label_row: a hand with a NaN or infinite coordinate is left out whole (empty cells), never
    written as "nan" cells, which the CSV loader cannot read as a position."""
    from train.prelabel import label_row
    a = _scores_array([0.9] * 17)
    a[5, 0] = np.nan
    assert label_row("a.png", a) == ["a.png"] + [""] * 68
    a[5, 0], a[7, 1] = 5.0, np.inf
    assert label_row("a.png", a) == ["a.png"] + [""] * 68


# == train.evaluate detector: match_iou 1 =========================================================
def test_evaluate_detector_takes_a_match_iou_of_exactly_1(monkeypatch):
    """match_iou is "in (0, 1]" (as --match-iou): 1 asks for the very box, and an exact box is then
    a hit, its AP written under ``ap@1``."""
    import train.evaluate as ev
    monkeypatch.setattr(ev, "_scenes", lambda *a, **k: [_scene(0)])
    res = ev.evaluate_detector(_Scripted({0: [((10, 10, 50, 50), 0.9)]}), [], {}, n_scenes=1, match_iou=1.0)
    assert res["match_iou"] == 1.0 and res["recall"] == 1.0 and res["ap@1"] == 1.0


# == train.evaluate composed scenes ===============================================================
@pytest.mark.parametrize("hand_frac", [(0.02, 0.05), (0.6, 0.9)])
def test_scenes_hold_hands_of_the_hand_frac_asked_for(hand_frac):
    """--hand-frac LOW,HIGH: the composed scenes' hands are that share of the scene's longer side
    (here 320 px); the labelled boxes of hands wholly in view lie within it (a 5% margin for the
    box of the 17 points against the hand's extent), not in the training scenes' 0.05-0.6."""
    import train.evaluate as ev
    recs, cache = [], {}
    for i in range(3):
        path = Path(f"p{i}.png")
        cache[path] = np.full((200, 200, 3), 60 * i, np.uint8)
        recs.append(HandRecord(path, _ring(100, 100, 40), np.ones(17, np.float32), RIGHT, 0.95, i))
    scenes = ev._scenes(recs, cache, 8, 0, 320, 240, hand_frac=hand_frac)
    sides = np.concatenate([np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) for _, b, _ in scenes]) / 320
    assert len(sides) and sides.max() <= hand_frac[1] * 1.05
    if hand_frac[0] < 0.1:
        assert sides.min() >= hand_frac[0] * 0.95   # small hands sit wholly in view, never cut smaller


@pytest.mark.parametrize("boxed, name", [
    ((True, True), "annotation bbox (21 visible points), longest side"),
    ((False, False), "box of the 17 labelled points, longest side"),
    ((True, False), "annotation bbox where given, else the box of the 17 labelled points; longest side"),
    ((False, True), "annotation bbox where given, else the box of the 17 labelled points; longest side"),
])
def test_pck_box_name_says_what_each_mix_of_hands_is_normalised_by(boxed, name):
    """pck_box: the source's box for every hand, the 17 points' box for none, and both said when
    only some hands have a source box (a COCO file where some annotations lack ``bbox``)."""
    from train.evaluate import pck_box_name
    recs = [HandRecord(Path("a.png"), _ring(50, 50, 20), np.ones(17, np.float32), box_side=40.0 if b else None)
            for b in boxed]
    assert pck_box_name(recs) == name
