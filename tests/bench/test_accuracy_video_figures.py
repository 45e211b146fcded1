"""Audit (session 36) of the photo-accuracy and video figures on hand-made inputs: a run with no
hands, the gap a linked track may have, the MediaPipe 21 -> 17 mapping and its side convention."""
from __future__ import annotations

import math

import numpy as np
import pytest

from bench import accuracy, videos
from bench.methods import FrameOutput
from bench.temporal import PredHand

PALM = 60.0


def _hand(cx: float, cy: float, side: str | None = "right", size: float = PALM) -> PredHand:
    """A hand whose keypoints span ``size`` px around the palm centre (keypoint 1) at (cx, cy)."""
    k = np.stack([np.linspace(-0.5, 0.5, 17), np.cos(np.arange(17)) * 0.5], 1) * size
    k[1] = 0.0
    return PredHand((k + (cx, cy)).astype(np.float32), side)


def test_accuracy_summary_of_no_hands_is_nan_not_a_crash():
    """No photo chosen (or none with a hand): every share is undefined (NaN), counts are 0."""
    run = accuracy.run(lambda frame: FrameOutput({"smoothed": []}, 1.0), [], "smoothed")
    s = accuracy.summarize(run)
    assert (s["images"], s["hands"], s["false_pos_per_image"]) == (0, 0, 0.0)
    for key in ("pck@0.05", "pck@0.1", "pck@0.2", "auc@0.2", "nme_palm", "found_rate",
                "handedness_acc", "handedness_acc_conf", "ms_p50"):
        assert math.isnan(s[key]), key


def test_accuracy_handedness_with_unknown_labels():
    """Hands without a side label are left out of the side accuracy, the others counted."""
    run = accuracy.AccuracyRun(
        gt=np.zeros((3, 17, 2), np.float32), visible=np.ones((3, 17), np.float32),
        gt_side=np.array([-1, 0, 1]), side_score=np.ones(3),
        pred=np.zeros((3, 17, 2), np.float32), found=np.array([True, True, True]),
        pred_side=np.array(["left", "left", "left"], object), norm=np.ones(3))
    assert accuracy.summarize(run)["handedness_acc"] == pytest.approx(0.5)


@pytest.mark.parametrize("unseen, same", [(4, True), (5, True), (6, False)])
def test_a_track_may_go_unseen_for_max_gap_frames(unseen, same):
    """``max_gap``: frames a track may go unseen and still be continued (the report: gaps up to
    5 frames); a hand back after exactly 5 frames away is the same track."""
    frames = [[_hand(200, 200)] for _ in range(5)] + [[] for _ in range(unseen)] + [[_hand(200, 200)]]
    labels = videos.link_tracks(frames, max_gap=5)
    assert (labels[-1] == labels[0]) == same
    assert videos.side_stability(frames, 30.0, max_gap=5)["tracks"] == (1 if same else 2)


def test_max_gap_zero_links_consecutive_frames_only():
    frames = [[_hand(200, 200)], [_hand(200, 200)], [], [_hand(200, 200)]]
    assert videos.link_tracks(frames, max_gap=0) == [[0], [0], [], [1]]


def test_flip_and_flip_back_is_two_side_changes():
    frames = [[_hand(200, 200, s)] for s in ["right"] * 4 + ["left"] * 2 + ["right"] * 4]
    s = videos.side_stability(frames, 30.0)
    assert (s["tracks"], s["side_changes"]) == (1, 2)
    assert s["side_consistency"] == pytest.approx(0.8)


def test_mediapipe_hand_mapped_to_17_points_and_side_as_seen(monkeypatch):
    """MediaPipe's 21 points become the 17-point layout (palm = mean of wrist and the four MCPs)
    and its mirrored-view label the side as seen ("Left" -> "right")."""
    from bench import mediapipe_runner as mr
    from tracker.keypoints import FROM_21
    kps21 = np.stack([np.arange(21) * 10.0, np.arange(21) * 3.0 + 1], 1)

    class Fake(mr.MediaPipeHands):
        def __init__(self):
            self.proc = None

        def process_raw(self, frame_bgr, timestamp_ms=None):
            return {"hands": [{"kps": kps21.tolist(), "label": "Left", "score": 0.9},
                              {"kps": kps21.tolist(), "label": "Right", "score": 0.8}], "ms": 1.0}

    hands, ms = Fake().process(np.zeros((4, 4, 3), np.uint8))
    assert [h.side for h in hands] == ["right", "left"] and ms == 1.0
    k = hands[0].keypoints
    assert k.shape == (17, 2)
    for i17, i21 in enumerate(FROM_21):
        if i21 >= 0:
            np.testing.assert_allclose(k[i17], kps21[i21])
    np.testing.assert_allclose(k[1], kps21[[0, 5, 9, 13, 17]].mean(0))
