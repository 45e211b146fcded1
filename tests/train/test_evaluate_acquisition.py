"""Audit (session 36) of ``python -m train.evaluate acquisition``: how the tracker's reported hands
are matched to the composed scenes' labelled hands (hands cut by the scene's edge, scenes without
hands) and which options the kind accepts."""
from types import SimpleNamespace

import numpy as np
import pytest

import train.evaluate as ev


class Scripted:
    """A fake detector: fixed (box, score) pairs for every image."""

    default_threshold = 0.5

    def __init__(self, dets):
        self.dets = [SimpleNamespace(box=np.array(b, np.float32), score=s) for b, s in dets]

    def __call__(self, img, score_threshold=0.5, max_detections=10):
        return [d for d in self.dets if d.score >= score_threshold][:max_detections]


class FakeTracker:
    """A static-mode HandTracker that reports fixed (keypoint box, presence) hands on every frame."""

    def __init__(self, hands, detector):
        self.options = SimpleNamespace(static_image_mode=True, min_detection_confidence=None,
                                       min_tracking_confidence=0.5)
        self.detector = detector
        self.hands = [SimpleNamespace(box=np.array(b, np.float32), score=s) for b, s in hands]

    def process(self, img):
        return SimpleNamespace(hands=self.hands)


def _run(monkeypatch, scenes, tracker_hands, dets=()):
    monkeypatch.setattr(ev, "_scenes", lambda *a, **k: scenes)
    return ev.evaluate_acquisition(FakeTracker(tracker_hands, Scripted(dets)), [], {}, n_scenes=len(scenes))


def test_a_hand_cut_by_the_scene_edge_is_found_not_a_false_hand(monkeypatch):
    """A scene's labelled box of a hand that runs off the canvas is the box of its points inside
    (train.scenes.visible_hands); the tracker's keypoint box also holds the points it places
    outside. Unclipped, the right hand at the right edge (IoU 50x50 / 110x50 = 0.45) was scored a
    miss plus a false hand (composed 640x480 val scenes: 4 of 459 hands, 4 of 26 false hands)."""
    gt = np.array([[150, 50, 200, 100]], np.float32)          # the points inside a 200 px wide scene
    scenes = [(np.zeros((200, 200, 3), np.uint8), gt, np.zeros((0, 4), np.float32))]
    res = _run(monkeypatch, scenes, [([150, 50, 260, 100], 0.9)])
    assert res["recall"] == 1.0 and res["fp_per_frame"] == 0.0


def test_a_hand_off_the_edge_over_an_ignored_hand_counts_neither_way(monkeypatch):
    """A hand mostly outside the canvas is an ignore region (canvas-clipped); the tracker's hand on
    it, most of its keypoint box outside the canvas, is neither a hit nor a false hand."""
    ign = np.array([[170, 40, 200, 110]], np.float32)
    scenes = [(np.zeros((200, 200, 3), np.uint8), np.zeros((0, 4), np.float32), ign)]
    res = _run(monkeypatch, scenes, [([172, 45, 300, 105], 0.9)])
    assert res["fp_per_frame"] == 0.0


def test_a_box_inside_the_scene_is_scored_as_it_is(monkeypatch):
    """Clipping to the canvas changes nothing for a hand inside it: a loose box stays a miss."""
    gt = np.array([[10, 10, 50, 50]], np.float32)
    scenes = [(np.zeros((200, 200, 3), np.uint8), gt, np.zeros((0, 4), np.float32))]
    res = _run(monkeypatch, scenes, [([10, 10, 90, 50], 0.9)])    # IoU 0.5: a hit (inclusive)
    assert res["recall"] == 1.0 and res["fp_per_frame"] == 0.0
    res = _run(monkeypatch, scenes, [([10, 10, 91, 50], 0.9)])    # IoU just under 0.5
    assert res["recall"] == 0.0 and res["fp_per_frame"] == 1.0


def test_scenes_without_hands_have_no_recall(monkeypatch):
    """Recall is a share of the scenes' hands: with none (a few small scenes; a tenth of composed
    scenes hold no photo) it is undefined (None, as ``recall_by_size`` and ``photo_recall`` say),
    not 0.0 ("every hand missed"); the false hands are still counted."""
    scenes = [(np.zeros((200, 200, 3), np.uint8), np.zeros((0, 4), np.float32), np.zeros((0, 4), np.float32))]
    res = _run(monkeypatch, scenes, [([10, 10, 50, 50], 0.9)], dets=[([10, 10, 50, 50], 0.9)])
    assert res["hands_in_scenes"] == 0
    assert res["recall"] is None and res["detector_alone"]["recall"] is None
    assert res["fp_per_frame"] == 1.0 and res["detector_alone"]["fp_per_frame"] == 1.0


def test_val_fraction_with_a_dataset_folder_is_refused(tmp_path, capsys):
    """A folder has its own splits: --val-fraction (which only splits a single --data file) was
    accepted and silently ignored."""
    with pytest.raises(SystemExit):
        ev.main(["acquisition", "--data", str(tmp_path), "--val-fraction", "0.3", "--scenes", "1"])
    assert "--val-fraction" in capsys.readouterr().err
