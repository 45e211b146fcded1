"""Detector evaluation figures against an independent reference: greedy matching, AP@0.5 (all-point
interpolated), ignore regions, and the single-photo recall (every annotated hand a positive)."""
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tracker.detector_codec import hand_box_and_cues
from tracker.metrics import average_precision, match_detections
from train.data import HandRecord


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / u if u > 0 else 0.0


def _ref_match(boxes, scores, gts, t, ign):
    """Plain-loop reference: best-scored first, each takes the unused GT it overlaps most (IoU >= t);
    one matching nothing is dropped when it matches an ignore box (IoU >= t) or lies mostly inside one."""
    out, used = [], set()
    for i in sorted(range(len(scores)), key=lambda i: -scores[i]):
        cand = [(_iou(boxes[i], g), j) for j, g in enumerate(gts) if j not in used and _iou(boxes[i], g) >= t]
        if cand:
            used.add(max(cand, key=lambda c: (c[0], -c[1]))[1])   # an IoU tie: the first GT
            out.append((True, scores[i]))
            continue
        area = (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1])
        inside = [max(0.0, min(boxes[i][2], g[2]) - max(boxes[i][0], g[0]))
                  * max(0.0, min(boxes[i][3], g[3]) - max(boxes[i][1], g[1])) / area for g in ign]
        if not any(_iou(boxes[i], g) >= t or f >= 0.5 for g, f in zip(ign, inside)):
            out.append((False, scores[i]))
    return out, len(gts)


def _ref_ap(images):
    """All-point interpolated AP: the mean over GT hands of the best precision at or past each hit."""
    allv = [v for out, _ in images for v in out]
    n = sum(k for _, k in images)
    if n == 0:
        return float("nan")
    tps = [allv[i][0] for i in sorted(range(len(allv)), key=lambda i: -allv[i][1])]
    prec = np.cumsum(tps) / np.arange(1, len(tps) + 1)
    return float(sum(prec[k:].max() for k, tp in enumerate(tps) if tp) / n)


@pytest.mark.parametrize("t", [0.5, 0.2, 0.7])
def test_matching_and_ap_agree_with_a_plain_reference(t):
    rng = np.random.default_rng(int(t * 10))
    for _ in range(400):
        code, ref = [], []
        for _ in range(rng.integers(1, 5)):
            xy = rng.uniform(0, 100, (rng.integers(0, 4), 2))
            g = np.concatenate([xy, xy + rng.uniform(5, 40, xy.shape)], 1)
            d = [b + rng.normal(0, 3, 4) for b in g for _ in range(rng.integers(0, 3))]   # hits, duplicates
            xy = rng.uniform(0, 100, (rng.integers(0, 3), 2))
            d = np.array(d + list(np.concatenate([xy, xy + rng.uniform(5, 40, xy.shape)], 1))).reshape(-1, 4)
            d[:, 2:] = np.maximum(d[:, 2:], d[:, :2] + 1)
            s = np.round(rng.uniform(0, 1, len(d)), 1)                                      # ties
            xy = rng.uniform(0, 100, (rng.integers(0, 2), 2))
            ig = np.concatenate([xy, xy + rng.uniform(5, 40, xy.shape)], 1)
            tp, sc, n = match_detections(d, s, g, t, ig)
            out, n2 = _ref_match(d.tolist(), s.tolist(), g.tolist(), t, ig.tolist())
            assert tp.tolist() == [v for v, _ in out] and sc.tolist() == [v for _, v in out] and n == n2
            code.append((tp, sc, n))
            ref.append((out, n2))
        assert average_precision(code) == pytest.approx(_ref_ap(ref), abs=1e-12, nan_ok=True)


class PhotoDetector:
    """Finds the hands whose box it is given, on every photo."""
    width, height, default_threshold, meta, large_hands = 64, 48, 0.5, {}, True

    def __init__(self, boxes):
        self.boxes = boxes

    def __call__(self, img, score_threshold=None, max_detections=4):
        return [SimpleNamespace(box=b, score=0.9) for b in self.boxes]


def _rec(x0, source):
    kp = np.stack([np.linspace(x0, x0 + 40, 17), np.linspace(20, 60, 17)], 1).astype(np.float32)
    return HandRecord(Path("two_hands.webp"), kp, np.ones(17, np.float32), source=source)


@pytest.mark.parametrize("found, recall", [((), 0.0), (("dataset",), 0.5), (("mediapipe",), 0.5),
                                           (("dataset", "mediapipe"), 1.0)])
def test_photo_recall_counts_every_annotated_hand(monkeypatch, found, recall):
    """A photo's extra ``source: "mediapipe"`` hand is a positive as its labelled hand is (hands21/val
    lists the extra hand first in each of its 50 two-hand photos): each hand found counts, each
    missed one counts against, whichever the annotation order."""
    import train.evaluate as ev
    recs = [_rec(10, "mediapipe"), _rec(120, "dataset")]
    monkeypatch.setattr(ev, "_scenes", lambda *a, **k: [])
    boxes = [hand_box_and_cues(r.keypoints, r.visible)[0] for r in recs if r.source in found]
    res = ev.evaluate_detector(PhotoDetector(boxes), recs, {Path("two_hands.webp"): np.zeros((224, 224, 3), np.uint8)})
    assert res["photos"] == 1 and res["photo_hands"] == 2
    assert res["photo_recall"] == recall


@pytest.mark.parametrize("fp_score, want", [(0.5, 0.55), (0.25, 0.3), (0.75, 0.8), (0.52, 0.55)])
def test_calibration_counts_false_positives_at_the_threshold_it_reports(fp_score, want):
    """--calibrate: the lowest threshold t with <= 0.05 false positives per frame, counted as the
    figures count them (score >= t); a false box scored exactly t (0.5: a zero logit) is one at t."""
    from train.evaluate import _scene_stats, calibrate_threshold

    class OneFalseBox:
        def __call__(self, img, score_threshold=0.5, max_detections=10):
            return [SimpleNamespace(box=np.array([100, 100, 140, 140], np.float32), score=np.float32(fp_score))]

    scenes = [(np.zeros((200, 200, 3), np.uint8), np.array([[10, 10, 50, 50]], np.float32), np.zeros((0, 4)))]
    thr = calibrate_threshold(OneFalseBox(), scenes, max_fp=0.05)
    assert thr == want and _scene_stats(OneFalseBox(), scenes, thr)[2] <= 0.05
