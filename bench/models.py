"""Each model alone, nothing else in the process: p50/p95 latency per call (ms).

    python -m bench models --threads 1,2

Rows: the detector on a 640x480 frame (letterbox + network + decode) as the tracker runs it by
default (with the large-hand pass, ``large_hands``: a second run at half the size, since session
26), its first pass alone (the network at its input size: the issue's per-frame figure before
session 26), and with the small-hand pass too (``small_hands=True``: a run at twice the input size;
nothing more for frames no larger than the detector's input); the landmark stage on one
and two crops (crop + network + decode), plain and with ``flip_test``; the landmark network alone
at batch 1 and 2 (batch 2 = one crop with the flip test); one Kalman update of a hand's 17
points (numpy, no onnxruntime threads: the smoothing every tracked hand costs per frame). Run it
on an otherwise idle machine: the bench's speed part runs beside MediaPipe's process and reads
higher at 2 threads.
"""
from __future__ import annotations

import itertools

import numpy as np

from tracker.timing import time_call


def run(frame: np.ndarray, threads=(1, 2), reps: int = 200, landmark_model=None, detector_model=None) -> list[dict]:
    """Rows {threads, stage, p50, p95} for ``frame`` (HxWx3 uint8 BGR)."""
    from tracker.detector import HandDetector
    from tracker.geometry import Roi
    from tracker.landmarks import LandmarkModel
    from tracker.smoothing import make_filter
    h, w = frame.shape[:2]
    rois = [Roi(w * 0.3, h * 0.45, h * 0.33, 0.1), Roi(w * 0.65, h * 0.5, h * 0.3, -0.2)]
    rows = []
    for th in threads:
        det = HandDetector(detector_model, threads=th)
        det_first = HandDetector(detector_model, threads=th, large_hands=False)
        det_small = HandDetector(detector_model, threads=th, small_hands=det.any_size)
        lm = LandmarkModel(landmark_model, threads=th)
        lmf = LandmarkModel(landmark_model, threads=th, flip_test=True)
        s = lm.input_size
        kf, frames = make_filter("kalman"), itertools.count(1)
        hand = np.stack([np.linspace(100, 160, 17), np.linspace(200, 120, 17)], 1)
        scores = np.full(17, 0.9)

        def kalman_update():
            n = next(frames)
            kf.update(hand + n % 7, scores, t_s=n / 30.0)

        stages = [
            (f"detector {w}x{h}", lambda: det(frame)),
            (f"detector first pass only {w}x{h}", lambda: det_first(frame)),
            (f"detector + small-hand pass {w}x{h}", lambda: det_small(frame)),
            ("landmarks, 1 crop", lambda: lm(frame, rois[:1])),
            ("landmarks, 2 crops", lambda: lm(frame, rois)),
            ("landmarks + flip test, 1 crop", lambda: lmf(frame, rois[:1])),
            ("landmarks + flip test, 2 crops", lambda: lmf(frame, rois)),
            ("landmark network, batch 1", lambda: lm.session.run(None, {"image": np.zeros((1, 3, s, s), np.float32)})),
            ("landmark network, batch 2", lambda: lm.session.run(None, {"image": np.zeros((2, 3, s, s), np.float32)})),
            ("Kalman update, 1 hand", kalman_update),
        ]
        for name, fn in stages:
            p50, p95 = time_call(fn, reps)
            rows.append({"threads": th, "stage": name, "p50": round(p50, 2), "p95": round(p95, 2)})
        for m in (det, det_first, det_small, lm, lmf):
            m.close()
    return rows
