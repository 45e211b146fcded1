"""Landmark evaluation: headline figures on the labelled ("dataset") hands, extra hands beside."""
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from train.data import LEFT, RIGHT, HandRecord
from train.evaluate import evaluate_landmarks


class OracleModel:
    """Returns the ground truth for images listed in ``truth`` and a far-off pose otherwise."""

    meta = {"model_version": "oracle"}
    model_path = Path("oracle.onnx")

    def __init__(self, truth):
        self.truth = truth

    def __call__(self, img, rois):
        kp = self.truth.get(int(img[0, 0, 0]))
        pos = SimpleNamespace(keypoints=kp if kp is not None else np.full((17, 2), -500.0, np.float32),
                              right_prob=1.0, presence=0.9)
        return [pos, SimpleNamespace(keypoints=None, right_prob=0.5, presence=0.1)]


def _hand(rng):
    c = rng.uniform(60, 140, 2)
    ang = np.linspace(0, 2 * np.pi, 17, endpoint=False)
    return (c + 30 * np.stack([np.cos(ang), np.sin(ang)], 1)).astype(np.float32)


def test_headline_figures_use_the_labelled_hands_only():
    rng = np.random.default_rng(0)
    recs, cache, truth = [], {}, {}
    for i in range(6):
        img = np.full((200, 200, 3), i, np.uint8)       # pixel (0, 0) names the image
        path = Path(f"img{i}.webp")
        cache[path] = img
        kp = _hand(rng)
        truth[i] = kp
        recs.append(HandRecord(path, kp, np.ones(17, np.float32), RIGHT, 0.95, i))
        if i % 2 == 0:   # a second hand found by MediaPipe: the oracle gets it wrong
            recs.append(HandRecord(path, _hand(rng), np.ones(17, np.float32), LEFT, 0.95, i,
                                   source="mediapipe"))
    res = evaluate_landmarks(OracleModel(truth), recs, cache)
    assert res["hands"] == 6
    assert res["pck@0.1"] == pytest.approx(1.0) and res["handedness_acc"] == pytest.approx(1.0)
    assert res["all_hands"]["hands"] == 9 and res["all_hands"]["pck@0.1"] == pytest.approx(6 / 9)
    assert res["presence_auc"] == pytest.approx(1.0)


class AngleRecorder(OracleModel):
    """The oracle, also keeping each positive crop's angle (radians)."""

    def __init__(self, truth):
        super().__init__(truth)
        self.angles = []

    def __call__(self, img, rois):
        self.angles.append(rois[0].angle)
        return super().__call__(img, rois)


@pytest.mark.parametrize("full_rotation, lo_deg, hi_deg", [(False, 0, 45), (True, 120, 180)])
def test_full_rotation_turns_the_crops_round_the_circle(full_rotation, lo_deg, hi_deg):
    """Near upright (N(0, 10 deg) about the hand axis) by default; with ``full_rotation`` some crops
    end up upside down. Bounds: the largest deviation from the hand axis over 60 crops."""
    from train.augment import AugmentConfig
    from tracker.geometry import roi_from_keypoints
    rng = np.random.default_rng(1)
    recs, cache, truth = [], {}, {}
    for i in range(60):
        path = Path(f"img{i}.webp")
        cache[path] = np.full((200, 200, 3), i, np.uint8)
        truth[i] = _hand(rng)
        recs.append(HandRecord(path, truth[i], np.ones(17, np.float32), RIGHT, 0.95, i))
    model = AngleRecorder(truth)
    res = evaluate_landmarks(model, recs, cache, full_rotation=full_rotation)
    base = np.array([roi_from_keypoints(r.keypoints, r.visible, AugmentConfig().roi_scale).angle for r in recs])
    dev = np.degrees(np.abs(np.angle(np.exp(1j * (np.array(model.angles) - base)))))
    assert lo_deg <= dev.max() <= hi_deg
    assert res["full_rotation"] is full_rotation and res["pck@0.1"] == pytest.approx(1.0)


class PlacedOracle:
    """Knows each photo's hand in the uncut photo's pixels and where its first pixel was (green:
    x, red: y, see :func:`_placed_photo`), so it answers in the cut photo's pixels; keeps the
    photo shapes it saw and calls the hand present only in an uncut photo."""

    meta = {"model_version": "placed-oracle"}

    def __init__(self, truth):
        self.truth, self.shapes = truth, []

    def __call__(self, img, rois):
        self.shapes.append(img.shape[:2])
        kp = self.truth[int(img[0, 0, 0])] - img[0, 0, 1:].astype(np.float32)
        pos = SimpleNamespace(keypoints=kp, right_prob=1.0, presence=0.9 if img.shape[:2] == (200, 200) else 0.3)
        return [pos, SimpleNamespace(keypoints=None, right_prob=0.5, presence=0.1)]


def _placed_photo(i):
    img = np.zeros((200, 200, 3), np.uint8)
    img[..., 0] = i
    img[..., 1] = np.arange(200)[None, :]
    img[..., 2] = np.arange(200)[:, None]
    return img


@pytest.mark.parametrize("edge_cut, rate", [(None, 1.0), ((0.1, 0.45), 0.0), ((0.45, 0.6), 0.0), ((0.9, 0.99), 0.0)])
def test_edge_cut_photos_end_at_an_edge_through_the_hand(edge_cut, rate):
    """--edge-cut: every photo is cut (the oracle says "no hand" to cut photos), across x and y,
    and PCK is figured in the cut photo's pixels (the oracle's answers, right there, score 1.0)."""
    rng = np.random.default_rng(2)
    recs, cache, truth = [], {}, {}
    for i in range(40):
        path = Path(f"img{i}.webp")
        cache[path] = _placed_photo(i)
        truth[i] = _hand(rng)
        recs.append(HandRecord(path, truth[i], np.ones(17, np.float32), RIGHT, 0.95, i))
    model = PlacedOracle(truth)
    res = evaluate_landmarks(model, recs, cache, edge_cut=edge_cut)
    assert res["pck@0.1"] == pytest.approx(1.0) and res["presence_rate@0.5"] == rate
    assert res["edge_cut"] == (None if edge_cut is None else list(edge_cut))
    if edge_cut:
        with pytest.raises(ValueError, match="--worst-grid g.png: not available with --edge-cut"):
            evaluate_landmarks(model, recs, cache, edge_cut=edge_cut, worst_grid="g.png")
    cut = [s for s in model.shapes if s != (200, 200)]
    assert len(cut) == (0 if edge_cut is None else 40)
    if edge_cut:
        assert {s[0] < 200 for s in cut} == {True, False}     # cut across x and across y


class BigHandsOnly:
    """A fake detector: finds the hands larger than 0.2 of the frame and adds one false box."""

    def __init__(self, scenes):
        self.gt = {id(img): gt for img, gt, _ in scenes}

    def __call__(self, img, score_threshold=0.5, max_detections=10):
        out = [SimpleNamespace(box=g + 1.0, score=0.9) for g in self.gt[id(img)]
               if max(g[2] - g[0], g[3] - g[1]) / max(img.shape[:2]) > 0.2]
        return out + [SimpleNamespace(box=np.array([0, 0, 5, 5], np.float32), score=0.3)]


def test_detector_scene_figures_by_hand_size():
    from train.evaluate import _scene_stats, calibrate_threshold
    img = np.zeros((100, 200, 3), np.uint8)
    box = lambda s: np.array([50, 20, 50 + s, 20 + s], np.float32)  # noqa: E731 - a table helper
    scenes = [(img.copy(), np.stack([box(10), box(60)]), np.zeros((0, 4))),  # 0.05 (missed), 0.30 (found)
              (img.copy(), np.stack([box(30), box(90)]), np.zeros((0, 4))),  # 0.15 (missed), 0.45 (found)
              (img.copy(), np.zeros((0, 4), np.float32), np.zeros((0, 4)))]
    det = BigHandsOnly(scenes)
    per_image, recall, fpf, sizes, kinds, false_pos = _scene_stats(det, scenes, 0.5)
    assert recall == 0.5 and fpf == 0.0 and false_pos == []
    assert sizes == {"0.00-0.10": (0, 1), "0.10-0.20": (0, 1), "0.20-0.40": (1, 1), "0.40-1.00": (1, 1)}
    assert kinds == {"found": 2, "box_off": 0, "below_threshold": 0, "below_threshold_box_ok": 0, "nothing": 2}
    _, _, fpf, _, _, false_pos = _scene_stats(det, scenes, 0.2)
    assert fpf == 1.0  # the false box in every scene
    assert [(f[0], f[1], f[3]) for f in false_pos] == [(pytest.approx(0.3), k, 0.0) for k in range(3)]
    assert calibrate_threshold(det, scenes, max_fp=0.05) == 0.35


class Scripted:
    """A fake detector that returns fixed (box, score) pairs for every image."""

    def __init__(self, dets):
        self.dets = [SimpleNamespace(box=np.array(b, np.float32), score=s) for b, s in dets]

    def __call__(self, img, score_threshold=0.5, max_detections=10):
        return [d for d in self.dets if d.score >= score_threshold][:max_detections]


@pytest.mark.parametrize("dets, kind", [
    ([([10, 10, 50, 50], 0.9)], "found"),                    # exact box, above the threshold
    ([([10, 10, 30, 30], 0.9)], "box_off"),                  # above, IoU 0.25
    ([([10, 10, 50, 50], 0.3)], "below_threshold_box_ok"),   # right box, scored too low
    ([([10, 10, 30, 30], 0.3)], "below_threshold"),          # low score and a poor box
    ([([100, 100, 140, 140], 0.9)], "nothing"),              # only a box elsewhere
    ([], "nothing"),
])
def test_detector_miss_kinds(dets, kind):
    from train.evaluate import MISS_KINDS, _scene_stats
    scenes = [(np.zeros((200, 200, 3), np.uint8), np.array([[10, 10, 50, 50]], np.float32), np.zeros((0, 4)))]
    kinds = _scene_stats(Scripted(dets), scenes, 0.5)[4]
    want = dict.fromkeys(MISS_KINDS, 0)
    want[kind] = 1
    if kind == "below_threshold_box_ok":
        want["below_threshold"] = 1   # a subset of below_threshold
    assert kinds == want


def test_pck_by_hand_size_and_worst_hands_grid(tmp_path):
    """Small hands right, large ones wrong: the size bins say so, and the grid is written."""
    import cv2
    rng = np.random.default_rng(1)
    recs, cache, truth = [], {}, {}
    ang = np.linspace(0, 2 * np.pi, 17, endpoint=False)
    ring = np.stack([np.cos(ang), np.sin(ang)], 1)
    for i, radius in enumerate([20, 20, 20, 55, 55]):   # box sides ~40 px and ~110 px
        path = Path(f"img{i}.webp")
        cache[path] = np.full((240, 240, 3), i, np.uint8)
        kp = (rng.uniform(100, 140, 2) + radius * ring).astype(np.float32)
        if radius == 20:
            truth[i] = kp
        recs.append(HandRecord(path, kp, np.ones(17, np.float32), RIGHT, 0.95, i))
    grid = tmp_path / "worst.jpg"
    res = evaluate_landmarks(OracleModel(truth), recs, cache, worst_grid=grid)
    by = res["pck@0.1_by_hand_px"]
    assert by["0-64"] == {"pck": pytest.approx(1.0), "hands": 3}
    assert by["96-128"] == {"pck": pytest.approx(0.0), "hands": 2}
    assert by[">=160"] == {"pck": None, "hands": 0}
    img = cv2.imread(str(grid))
    assert img is not None and img.shape == (320, 6 * 320, 3)   # 5 hands + 1 blank tile in one row


def test_false_positive_kinds_and_grid(tmp_path):
    """A second box on a found hand, a loose box on a missed one, a box on nothing: each counted
    as its kind, highest score first, and drawn."""
    import cv2
    from train.evaluate import _scene_stats, draw_false_positives, false_positive_kinds
    gt = np.array([[10, 10, 50, 50], [100, 100, 140, 140]], np.float32)
    dets = [([10, 10, 50, 50], 0.9),       # matches hand 0
            ([12, 12, 52, 52], 0.8),       # duplicate on hand 0 (IoU 0.82)
            ([100, 100, 125, 125], 0.7),   # loose on hand 1 (IoU 0.39): hand 1 is missed too
            ([160, 10, 190, 40], 0.6),     # nothing there
            ([160, 160, 190, 190], 0.2)]   # below the threshold: not counted
    scenes = [(np.zeros((200, 200, 3), np.uint8), gt, np.zeros((0, 4)))]
    per_image, recall, fpf, _, _, false_pos = _scene_stats(Scripted(dets), scenes, 0.5)
    assert recall == 0.5 and fpf == 3.0
    assert [f[0] for f in false_pos] == pytest.approx([0.8, 0.7, 0.6])
    assert false_positive_kinds(false_pos) == {"duplicate": 1, "loose_box": 1, "elsewhere": 1}
    # matched at IoU 0.2 the loose box finds hand 1: only the duplicate and the empty one are left
    _, recall, fpf, _, _, false_pos = _scene_stats(Scripted(dets), scenes, 0.5, match_iou=0.2)
    assert recall == 1.0 and fpf == 2.0
    assert false_positive_kinds(false_pos, 0.2) == {"duplicate": 1, "loose_box": 0, "elsewhere": 1}
    _, _, _, _, _, false_pos = _scene_stats(Scripted(dets), scenes, 0.5)
    grid = tmp_path / "fp.jpg"
    draw_false_positives(grid, scenes, false_pos, cols=2, tile=100)
    img = cv2.imread(str(grid))
    assert img is not None and img.shape == (200, 200, 3)   # 3 tiles + 1 blank in two rows
    assert img[:100, :100, 2].max() > 200                   # the red false box is drawn
    with pytest.raises(ValueError, match="fp-grid"):
        draw_false_positives(tmp_path / "no_such_dir" / "x.unknownext", scenes, false_pos)


class FakeTracker:
    """Stands in for a static-mode HandTracker: reports fixed (box, presence) hands per frame."""

    def __init__(self, hands, detector, static=True, threshold=None):
        self.options = SimpleNamespace(static_image_mode=static, min_detection_confidence=threshold,
                                       min_tracking_confidence=0.5)
        self.detector = detector
        self.hands = [SimpleNamespace(box=np.array(b, np.float32), score=s) for b, s in hands]

    def process(self, img):
        return SimpleNamespace(hands=self.hands)


def test_acquisition_figures_match_the_reported_hands(monkeypatch):
    """The tracker's hands are scored like detections (keypoint box, presence); the detector alone
    is reported beside them on the same scenes at the tracker's threshold."""
    import train.evaluate as ev
    gt = np.array([[10, 10, 50, 50], [100, 100, 140, 140]], np.float32)
    scenes = [(np.zeros((200, 200, 3), np.uint8), gt, np.zeros((0, 4))) for _ in range(2)]
    asked = []
    monkeypatch.setattr(ev, "_scenes", lambda *a, **k: asked.append(a) or scenes)
    det = Scripted([([10, 10, 50, 50], 0.9), ([100, 100, 125, 125], 0.7)])   # hand 1: a loose box
    det.default_threshold = 0.5
    tracker = FakeTracker([([11, 11, 50, 50], 0.9),        # hand 0
                           ([101, 99, 141, 139], 0.8),      # hand 1, its keypoint box
                           ([160, 10, 190, 40], 0.6)], det)  # a false hand
    res = ev.evaluate_acquisition(tracker, [], {}, n_scenes=2, full_rotation=True)
    assert asked[0][2:] == (2, 7, 640, 480, True, "clean", None) and res["full_rotation"] is True
    assert res["hand_frac"] == [0.05, 0.6]   # the training scenes' sizes
    assert res["condition"] == "clean"
    assert res["recall"] == 1.0 and res["fp_per_frame"] == 1.0 and res["hands_in_scenes"] == 4
    assert res["detector_threshold"] == 0.5
    alone = res["detector_alone"]
    assert alone["recall"] == 0.5 and alone["fp_per_frame"] == 1.0
    assert alone["false_positives_by_kind"] == {"duplicate": 0, "loose_box": 2, "elsewhere": 0}
    with pytest.raises(ValueError, match="static_image_mode"):
        ev.evaluate_acquisition(FakeTracker([], det, static=False), [], {})


@pytest.mark.parametrize("text, size", [("640x480", (640, 480)), ("1280X720", (1280, 720)),
                                        ("640", None), ("axb", None), ("16x16", None)])
def test_scene_size_option(text, size):
    import argparse
    from train.evaluate import _size
    if size is None:
        with pytest.raises(argparse.ArgumentTypeError, match="--scene-size"):
            _size(text)
    else:
        assert _size(text) == size


@pytest.mark.parametrize("text, frac", [("0.6,1.0", (0.6, 1.0)), ("0.05,0.6", (0.05, 0.6)), ("1,1.5", (1.0, 1.5)),
                                        ("0.6", None), ("a,b", None), ("0.6,0.6", None), ("0,0.5", None),
                                        ("0.5,2", None), ("0.1,0.2,0.3", None)])
def test_hand_frac_option(text, frac):
    import argparse
    from train.evaluate import _hand_frac
    if frac is None:
        with pytest.raises(argparse.ArgumentTypeError, match=text.replace(".", r"\.")):
            _hand_frac(text)
    else:
        assert _hand_frac(text) == frac


@pytest.mark.parametrize("argv, message", [(["detector", "--threshold", "1.5"], "--threshold must be in [0, 1]"),
                                           (["acquisition", "--presence", "-0.1"], "--presence must be in [0, 1]"),
                                           (["acquisition", "--presence", "high"], "--presence must be a number"),
                                           (["acquisition", "--low-detection-confidence", "2"],
                                            "--low-detection-confidence must be in [0, 1]"),
                                           (["acquisition", "--low-detection-keypoint-score", "none"],
                                            "--low-detection-keypoint-score must be a number"),
                                           (["acquisition", "--refine-score", "1.5"], "--refine-score must be in [0, 1]"),
                                           (["detector", "--scenes", "0"], "--scenes must be >= 1"),
                                           (["landmarks", "--limit", "-5"], "--limit must be >= 0"),
                                           (["landmarks", "--limit", "all"], "--limit must be an integer"),
                                           (["landmarks", "--edge-cut", "0.5,0.2"], "need 0 <= LOW < HIGH < 1"),
                                           (["landmarks", "--edge-cut", "half"], "expected LOW,HIGH"),
                                           (["detector", "--edge-cut", "0.1,0.4"], "--edge-cut applies to landmarks"),
                                           (["detector", "--calibrate", "--calibration-scenes", "-5"],
                                            "--calibration-scenes must be >= 1"),
                                           (["detector", "--calibration-scenes", "many"],
                                            "--calibration-scenes must be an integer"),
                                           (["detector", "--calibration-scenes", "2000"],
                                            "--calibration-scenes needs --calibrate"),
                                           (["landmarks", "--model", "m.onnx", "--out", "./m.onnx"],
                                            "--out ./m.onnx: is also --model"),
                                           (["acquisition", "--landmark-model", "lm.onnx", "--out", "lm.onnx"],
                                            "--out lm.onnx: is also --landmark-model"),
                                           (["landmarks", "--out", "x.jpg", "--worst-grid", "x.jpg"],
                                            "--worst-grid x.jpg: is also --out"),
                                           (["detector", "--fp-grid", "/nonexistent"], "--fp-grid /nonexistent: is also --data"),
                                           # options another kind reads were ignored without a word
                                           (["landmarks", "--calibrate"], "--calibrate applies to detector, not landmarks"),
                                           (["detector", "--flip-test"], "--flip-test applies to landmarks, not detector"),
                                           (["landmarks", "--scenes", "100"],
                                            "--scenes applies to detector and acquisition, not landmarks"),
                                           (["acquisition", "--fp-grid", "fp.png"], "--fp-grid applies to detector, not acquisition"),
                                           (["detector", "--worst-grid", "w.png"], "--worst-grid applies to landmarks, not detector"),
                                           (["detector", "--turn-retry"], "--turn-retry applies to acquisition, not detector"),
                                           (["detector", "--fp-grid", "fp.txt"], "--fp-grid fp.txt: not a picture file")])
def test_bad_option_values_name_the_flag(argv, message, capsys):
    from train.evaluate import main
    with pytest.raises(SystemExit) as e:
        main(argv + ["--data", "/nonexistent"])
    assert e.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.parametrize("match_iou, found, fp", [(0.5, 0, 1), (0.3, 0, 1), (0.2, 1, 0)])
def test_match_iou_decides_whether_a_loose_box_is_a_hit(match_iou, found, fp):
    from train.evaluate import _scene_stats, calibrate_threshold
    scenes = [(np.zeros((200, 200, 3), np.uint8), np.array([[10, 10, 50, 50]], np.float32), np.zeros((0, 4)))]
    det = Scripted([([10, 10, 30, 30], 0.92)])     # IoU 0.25 with the labelled box
    _, recall, fpf, _, kinds, _ = _scene_stats(det, scenes, 0.5, match_iou)
    assert (recall, fpf) == (found, fp)
    assert kinds["found"] == found and kinds["box_off"] == 1 - found
    assert calibrate_threshold(det, scenes, max_fp=0.05, match_iou=match_iou) == (0.1 if found else 0.95)


@pytest.mark.parametrize("value, message", [("0", "--match-iou must be in (0, 1]"), ("1.2", "--match-iou must be in [0, 1]"),
                                            ("loose", "--match-iou must be a number")])
def test_match_iou_option_names_the_flag(value, message, capsys):
    from train.evaluate import main
    with pytest.raises(SystemExit) as e:
        main(["detector", "--match-iou", value, "--data", "/nonexistent"])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_evaluate_detector_rejects_a_match_iou_outside_0_1():
    from train.evaluate import evaluate_detector
    with pytest.raises(ValueError, match="match_iou must be in"):
        evaluate_detector(Scripted([]), [], {}, match_iou=0.0)


class NoModelDetector:
    """A detector ``train.evaluate``'s detector command builds without a model file (its figures
    are patched in by the test)."""

    width, height, large_hands = 64, 48, True
    model_path = Path("det.onnx")

    def __init__(self, *a, **k):
        pass


def patch_detector_cli(monkeypatch, detector=NoModelDetector):
    """``train.evaluate``'s detector command with no data and no model: no records, an empty image
    cache, ``detector`` as its HandDetector."""
    import train.evaluate as ev
    monkeypatch.setattr(ev, "load_records", lambda *a, **k: [])
    monkeypatch.setattr(ev, "ImageCache", lambda recs: {})
    monkeypatch.setattr(ev, "HandDetector", detector)


@pytest.mark.parametrize("argv, cal_scenes", [(["--calibrate", "--calibration-scenes", "7"], 7),
                                               (["--calibrate"], 3), ([], None)])
def test_calibration_scene_count(monkeypatch, tmp_path, argv, cal_scenes):
    """--calibration-scenes sets how many scenes (seed 1234) the threshold is picked on; the JSON says it."""
    import json
    import train.evaluate as ev
    calls = []
    patch_detector_cli(monkeypatch)
    monkeypatch.setattr(ev, "_scenes", lambda recs, cache, n, seed, w, h: calls.append((n, seed)) or [])
    monkeypatch.setattr(ev, "calibrate_threshold", lambda det, scenes, match_iou: 0.4)
    monkeypatch.setattr(ev, "evaluate_detector", lambda det, recs, cache, n, threshold, fp_grid, match_iou,
                        scene_size, full_rotation, condition, hand_frac: {"scenes": n, "threshold": threshold})
    out = tmp_path / "e.json"
    ev.main(["detector", "--scenes", "3", "--out", str(out), *argv])
    res = json.loads(out.read_text())
    assert res["calibration_scenes"] == cal_scenes and res["scenes"] == 3
    assert calls == ([(cal_scenes, 1234)] if cal_scenes else [])
    assert res["threshold"] == (0.4 if cal_scenes else None)


@pytest.mark.parametrize("argv, size, small, rot, large, frac", [
    ([], (64, 48), False, False, True, None),
    (["--scene-size", "640x480", "--small-hands"], (640, 480), True, False, True, None),
    (["--full-rotation"], (64, 48), False, True, True, None),
    (["--no-large-hands", "--hand-frac", "0.6,1.0"], (64, 48), False, False, False, [0.6, 1.0]),
])
def test_detector_scene_size_small_hands_and_rotation(monkeypatch, tmp_path, argv, size, small, rot, large, frac):
    """Detector scenes default to the detector's input size; --scene-size sets the calibration and
    evaluation scenes' size, --small-hands the detector's second pass, --no-large-hands leaves out
    its half-size pass, --full-rotation and --hand-frac the evaluation scenes' angles and hand sizes
    (the calibration scenes stay as trained); the JSON says them."""
    import json
    import train.evaluate as ev
    seen = {}

    class FakeDetector:
        width, height = 64, 48
        model_path = Path("det.onnx")

        def __init__(self, *a, small_hands=False, large_hands=None, **k):
            seen["small_hands"] = small_hands
            self.large_hands = large_hands is not False

    patch_detector_cli(monkeypatch, FakeDetector)
    monkeypatch.setattr(ev, "_scenes", lambda recs, cache, n, seed, w, h: seen.setdefault("cal", (w, h)) and [])
    monkeypatch.setattr(ev, "calibrate_threshold", lambda det, scenes, match_iou: 0.4)
    monkeypatch.setattr(ev, "evaluate_detector", lambda det, recs, cache, n, threshold, fp_grid, match_iou,
                        scene_size, full_rotation, condition, hand_frac: {
                            "scene_size": list(scene_size), "full_rotation": full_rotation, "condition": condition,
                            "hand_frac": hand_frac})
    out = tmp_path / "e.json"
    ev.main(["detector", "--scenes", "3", "--calibrate", "--out", str(out), *argv])
    res = json.loads(out.read_text())
    assert res["scene_size"] == list(size) and seen["cal"] == size
    assert res["small_hands"] is small and seen["small_hands"] is small
    assert res["full_rotation"] is rot and res["condition"] == "clean"
    assert res["large_hands"] is large and res["hand_frac"] == frac


@pytest.mark.parametrize("condition, error", [
    ("clean", None), ("grey", None), ("jpeg", None), ("noise", None), ("dark", None),
    ("rot90", "--condition 'rot90': expected one of clean, dark"),      # moves pixels: the boxes would be wrong
    ("rot180", "for turned hands use --full-rotation"),
    ("fog", "--condition 'fog': expected one of"),
])
def test_scene_conditions_keep_pixels_in_place(condition, error):
    from train.evaluate import check_scene_condition
    if error:
        with pytest.raises(ValueError, match=re.escape(error)):
            check_scene_condition(condition)
    else:
        assert check_scene_condition(condition) == condition


def test_degrade_scenes_changes_pixels_only_and_repeats_its_noise():
    from train.evaluate import degrade_scenes
    rng = np.random.default_rng(0)
    boxes, ign = np.array([[1, 2, 30, 40]], np.float32), np.zeros((0, 4), np.float32)
    scenes = [((rng.random((48, 64, 3)) * 255).astype(np.uint8), boxes, ign) for _ in range(3)]
    assert degrade_scenes(scenes, "clean") is scenes
    grey = degrade_scenes(scenes, "grey")
    for (g, b, i), (img, _, _) in zip(grey, scenes):
        assert g.shape == img.shape and (g[..., 0] == g[..., 2]).all() and (img[..., 0] != img[..., 2]).any()
        assert b is boxes and i is ign
    noisy, again, other = (degrade_scenes(scenes, "noise", seed) for seed in (0, 0, 1))
    assert all((a[0] == b[0]).all() for a, b in zip(noisy, again))                # same seed, same noise
    assert any((a[0] != b[0]).any() for a, b in zip(noisy, other))              # another seed, other noise
    assert 8 < np.abs(noisy[0][0].astype(int) - scenes[0][0]).mean() < 20     # sigma 15, clipped at 0 / 255


@pytest.mark.parametrize("argv, message", [
    (["detector", "--condition", "rot90"], "--condition 'rot90': expected one of"),
    (["landmarks", "--condition", "grey"], "--condition applies to detector and acquisition"),
])
def test_condition_option_errors_name_the_flag(argv, message, capsys):
    from train.evaluate import main
    with pytest.raises(SystemExit) as e:
        main(argv + ["--data", "/nonexistent"])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_detector_condition_reaches_the_evaluation_scenes_not_the_calibration(monkeypatch, tmp_path):
    import json
    import train.evaluate as ev
    made = []

    class FakeDetector:
        width, height, default_threshold, meta, large_hands = 64, 48, 0.5, {}, True
        model_path = Path("det.onnx")

        def __init__(self, *a, **k):
            pass

        def __call__(self, img, score_threshold=None):
            return []

    patch_detector_cli(monkeypatch, FakeDetector)
    monkeypatch.setattr(ev, "_scenes", lambda recs, cache, n, seed, w, h, full_rotation=False, condition="clean",
                        hand_frac=None: made.append((seed, condition)) or [])
    monkeypatch.setattr(ev, "calibrate_threshold", lambda det, scenes, match_iou: 0.4)
    out = tmp_path / "e.json"
    ev.main(["detector", "--scenes", "3", "--calibrate", "--condition", "jpeg", "--out", str(out)])
    assert made == [(1234, "clean"), (7, "jpeg")]
    assert json.loads(out.read_text())["condition"] == "jpeg"


def test_eval_records_of_a_single_file_are_the_images_training_held_out(tmp_path):
    """train.evaluate --data labels.csv: 'val' is the same held-out images the training loops
    validated on (load_train_val), 'train' the others, 'all' every row; a folder keeps its splits."""
    from train.data import load_train_val
    from train.evaluate import eval_records
    a = np.arange(34, dtype=np.float32)
    rows = ["image,x0,y0"] + [f"img{i:02d}.png," + ",".join(f"{v:.1f}" for v in a) for i in range(20)]
    for i in range(20):   # load_csv checks that the images are there (their pixels are not read)
        (tmp_path / f"img{i:02d}.png").touch()
    p = tmp_path / "labels.csv"
    p.write_text("\n".join(rows) + "\n")
    train, val = load_train_val(p, val_fraction=0.1)
    assert [r.image for r in eval_records(str(p), "val")] == [r.image for r in val] and len(val) == 2
    assert [r.image for r in eval_records(str(p), "train")] == [r.image for r in train]
    assert len(eval_records(str(p), "all")) == 20
    with pytest.raises(ValueError, match="a single --data file has the splits"):
        eval_records(str(p), "test")
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "val.csv").write_text("\n".join(rows[:4]) + "\n")
    for i in range(3):
        (tmp_path / "ds" / f"img{i:02d}.png").touch()
    assert len(eval_records(str(tmp_path / "ds"), "val")) == 3


@pytest.mark.parametrize("kind", ["landmarks", "detector", "acquisition"])
def test_data_without_a_labelled_hand_is_one_clear_error(tmp_path, kind):
    """A label file with no hand in the split (every row empty) is said so, not
    'need at least one array to stack' or 'high <= 0' from the figures."""
    from train.evaluate import main
    p = tmp_path / "labels.csv"
    p.write_text("image,x0,y0\na.png" + "," * 68 + "\n")
    with pytest.raises(SystemExit, match=r"error: no labelled hands to evaluate \(the --data split has none\)"):
        main([kind, "--data", str(p), "--split", "all", "--threads", "1"]
             + (["--scenes", "2"] if kind != "landmarks" else []))


def test_landmark_figures_state_their_counts_and_units():
    """Each share says how many it counts: visible keypoints (PCK, AUC), hands with a known palm
    size (NME), labelled hands (handedness; a label score of exactly 0.9 counts as >= 0.9)."""
    from train.data import UNKNOWN
    rng = np.random.default_rng(3)
    recs, cache, truth = [], {}, {}
    labels = [(RIGHT, 0.95), (RIGHT, 0.9), (LEFT, 0.5), (UNKNOWN, 1.0), (RIGHT, 0.89)]
    for i, (side, score) in enumerate(labels):
        path = Path(f"img{i}.webp")
        cache[path] = np.full((200, 200, 3), i, np.uint8)
        kp = _hand(rng)
        truth[i] = kp
        vis = np.ones(17, np.float32)
        if i == 0:
            vis[[0, 5, 14]] = 0        # no palm triangle point: its palm size is unknown
        if i == 1:
            vis[10:] = 0
        recs.append(HandRecord(path, kp, vis, side, score, i))
    res = evaluate_landmarks(OracleModel(truth), recs, cache)   # the oracle says "right" each time
    assert res["hands"] == 5
    assert res["keypoints"] == 5 * 17 - 3 - 7
    assert res["nme_palm_hands"] == 4
    assert res["handedness_hands"] == 4 and res["handedness_acc"] == pytest.approx(3 / 4)
    assert res["handedness_hands_score>=0.9"] == 2 and res["handedness_acc_score>=0.9"] == pytest.approx(1.0)
    # no sure left label here: that side has nothing to count (null), the right side both of them
    assert res["handedness_hands_score>=0.9_by_side"] == {"left": 0, "right": 2}
    assert res["handedness_acc_score>=0.9_by_side"] == {"left": None, "right": pytest.approx(1.0)}
    assert {"pck, auc", "nme_palm"} <= set(res["units"])


@pytest.mark.parametrize("says, left_acc, right_acc", [
    ("right", 0.0, 1.0),       # a model that always says "right" reads 2/3 overall, 0 on left hands
    ("left", 1.0, 0.0),
    ("truth", 1.0, 1.0),
])
def test_handedness_is_also_reported_per_labelled_side(says, left_acc, right_acc):
    """The labels are mostly right hands, so the overall share hides a model that misses left
    ones; the per-side figures count the sure labels of each side."""
    rng = np.random.default_rng(4)
    recs, cache, truth = [], {}, {}
    for i, side in enumerate([RIGHT, RIGHT, RIGHT, RIGHT, LEFT, LEFT]):
        path = Path(f"img{i}.webp")
        cache[path] = np.full((200, 200, 3), i, np.uint8)
        truth[i] = _hand(rng)
        recs.append(HandRecord(path, truth[i], np.ones(17, np.float32), side, 0.95, i))

    class SideModel(OracleModel):
        def __call__(self, img, rois):
            pos, neg = super().__call__(img, rois)
            right = recs[int(img[0, 0, 0])].handedness == RIGHT
            pos.right_prob = {"right": 1.0, "left": 0.0, "truth": float(right)}[says]
            return [pos, neg]
    res = evaluate_landmarks(SideModel(truth), recs, cache)
    assert res["handedness_hands_score>=0.9_by_side"] == {"left": 2, "right": 4}
    assert res["handedness_acc_score>=0.9_by_side"] == {"left": pytest.approx(left_acc),
                                                        "right": pytest.approx(right_acc)}
