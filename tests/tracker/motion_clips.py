"""The benchmark's synthetic motion clips (:mod:`bench.motion`) tracked with the shipped models,
for tests that pin a clip the benchmark found a tracker fault on."""
from __future__ import annotations

from pathlib import Path


def track_motion_clip(hands21: Path, seed: int, index: int, last: int):
    """Clip ``index`` of ``python -m bench --only motion --motion-clips 12 --seed SEED`` (1 hand
    for even ``index``, 2 for odd; 300 frames, val photos) tracked by a default ``HandTracker``
    (``max_hands=2``, 1 thread) up to frame ``last``. Returns the clip and, per frame 0..last, the
    hands reported."""
    from bench.motion import make_clip
    from tracker import HandTracker
    from train.data import load_records
    clip = make_clip(load_records(hands21, "val"), seed=seed * 1000 + index, n_frames=300, n_hands=1 + index % 2)
    hands = []
    with HandTracker(max_hands=2, threads=1) as t:
        for i, frame in enumerate(clip.frames(0, last + 1)):
            hands.append(t.process(frame, timestamp_ms=i * 1000.0 / clip.fps).hands)
    return clip, hands
