"""Pinch gestures on top of HandTracker: how far apart the thumb and index tips are, per hand and
frame, in units of the hand's own size, and when a pinch starts and ends.

    python examples/pinch.py ../shared/videos/huytung_volctl.mp4 --csv pinch.csv
    python examples/pinch.py 0 --max-frames 300          # camera 0, no window needed

The ratio is |thumb_tip - index_tip| / |wrist - middle_mcp|, so it does not change with the
hand's distance from the camera (about 0.1-0.3 pinched, 1 or more spread). A pinch starts when the
ratio falls under ``--on`` and ends when it rises over ``--off`` (hysteresis: a ratio hovering
at one threshold does not flicker). Each track has its own state, so two hands pinch
independently; a track missing for a frame or two keeps its state (the tracker gives a hand that
comes back within ``max_missed`` frames its old id), and one gone for more than ``--max-gap``
frames is forgotten, ending its pinch.
"""
from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass, field

import numpy as np

from tracker import HandTracker
from tracker.cli import file_key
from tracker.keypoints import HandKeypoint as K


def pinch_ratio(keypoints: np.ndarray) -> float:
    """Thumb-tip to index-tip distance over wrist to middle-MCP distance (both in pixels);
    ``keypoints``: (17, 2) pixels. NaN when the hand has no size."""
    k = np.asarray(keypoints, np.float64)
    size = float(np.hypot(*(k[K.MIDDLE_MCP] - k[K.WRIST])))
    if not size > 0:
        return float("nan")
    return float(np.hypot(*(k[K.THUMB_TIP] - k[K.INDEX_TIP]))) / size


@dataclass
class PinchDetector:
    """Pinch state per track id with hysteresis: on below ``on``, off above ``off`` (on < off);
    a track unseen for more than ``max_gap`` frames is forgotten."""

    on: float = 0.35
    off: float = 0.5
    max_gap: int = 15
    pinched: dict[int, bool] = field(default_factory=dict)
    last_seen: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.on < self.off:
            raise ValueError(f"expected 0 < on < off, got on={self.on}, off={self.off}")
        if self.max_gap < 0:
            raise ValueError(f"--max-gap must be >= 0, got {self.max_gap}")

    def update(self, track_id: int, ratio: float, frame: int = 0) -> str | None:
        """Feed one hand's ratio in ``frame``; returns "start" or "end" when the state changes,
        else None."""
        self.last_seen[track_id] = frame
        was = self.pinched.get(track_id, False)
        now = was
        if np.isfinite(ratio):
            now = ratio < self.off if was else ratio < self.on
        self.pinched[track_id] = now
        if now != was:
            return "start" if now else "end"
        return None

    def forget_stale(self, frame: int) -> list[int]:
        """Forget tracks unseen for more than ``max_gap`` frames; returns those that were pinched
        (their pinch ends)."""
        ended = []
        for t, seen in list(self.last_seen.items()):
            if frame - seen > self.max_gap:
                if self.pinched.pop(t, False):
                    ended.append(t)
                del self.last_seen[t]
        return ended


def frames(source: str, max_frames: int | None):
    """Open ``source`` and return ``(items, close)``: an iterator of (index, t_ms, frame) from a
    video/image path, or from a camera when ``source`` is a number, and the function that releases
    the camera. The input is opened here, before the caller opens its outputs, so that a missing
    or unreadable one ends the program (SystemExit naming it) with an earlier run's CSV intact."""
    reader = None
    if source.isdigit():
        import cv2
        from tracker.video import LatestFrameReader
        cap = cv2.VideoCapture(int(source))
        if not cap.isOpened():
            raise SystemExit(f"pinch.py: error: camera {source} could not be opened")
        reader = LatestFrameReader(cap, name=f"camera {source}")
        it = iter(reader)
    else:
        from tracker.video import FrameSource
        try:
            it = iter(FrameSource(source))
        except (FileNotFoundError, ValueError) as e:
            raise SystemExit(f"pinch.py: error: {e}") from None

    def items():
        for n, item in enumerate(it):
            if max_frames is not None and n >= max_frames:
                return
            yield item
    return items(), (reader.close if reader is not None else (lambda: None))


def run(source: str, csv_path: str | None = None, max_frames: int | None = None,
        on: float = 0.35, off: float = 0.5, max_gap: int = 15, tracker: HandTracker | None = None) -> list[dict]:
    """Track ``source`` and return the pinch events: [{"frame", "t_ms", "side", "track_id",
    "event": "start"|"end"}] ("end" also when a pinching hand is gone for more than ``max_gap`` frames);
    with ``csv_path`` also write one row per hand and frame."""
    detector = PinchDetector(on, off, max_gap)
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"--max-frames must be >= 1, got {max_frames}")
    if csv_path and file_key(csv_path) == file_key(source):      # the same file, a hard link too
        raise ValueError(f"--csv {csv_path}: would overwrite the input; give another file name")
    sides: dict[int, str] = {}
    events = []
    items, close_input = frames(source, max_frames)   # first: a bad input leaves an existing CSV alone
    out = None
    own = tracker is None
    try:
        try:
            out = open(csv_path, "w", newline="", encoding="utf-8") if csv_path else None
        except OSError as e:
            raise ValueError(f"--csv {csv_path}: cannot write ({e.strerror})") from None
        tracker = tracker or HandTracker()
        writer = csv.writer(out) if out else None
        if writer:
            writer.writerow(["frame", "t_ms", "side", "track_id", "ratio", "pinched"])
        for index, t_ms, frame in items:
            result = tracker.process(frame, timestamp_ms=t_ms)
            for hand in result.hands:
                ratio = pinch_ratio(hand.keypoints)
                sides[hand.track_id] = hand.side
                event = detector.update(hand.track_id, ratio, index)
                if event:
                    events.append({"frame": index, "t_ms": t_ms, "side": hand.side,
                                   "track_id": hand.track_id, "event": event})
                if writer:
                    writer.writerow([index, round(t_ms, 1), hand.side, hand.track_id, round(ratio, 3),
                                     int(detector.pinched[hand.track_id])])
            for t in detector.forget_stale(index):
                events.append({"frame": index, "t_ms": t_ms, "side": sides.get(t, "?"), "track_id": t,
                               "event": "end"})
    finally:
        close_input()
        if out:
            out.close()
        if own and tracker is not None:
            tracker.close()
    return events


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", help="video file, image folder, or a camera index (0, 1, ...)")
    ap.add_argument("--csv", help="write frame, t_ms, side, track_id, ratio, pinched per hand and frame")
    ap.add_argument("--max-frames", type=int, default=None)
    ap.add_argument("--on", type=float, default=0.35, help="ratio under which a pinch starts (default 0.35)")
    ap.add_argument("--off", type=float, default=0.5, help="ratio over which it ends (default 0.5)")
    ap.add_argument("--max-gap", type=int, default=15, help="frames a lost hand keeps its state (default 15)")
    a = ap.parse_args(argv)
    try:
        events = run(a.source, a.csv, a.max_frames, a.on, a.off, a.max_gap)
    except ValueError as e:
        ap.error(str(e))
    for ev in events:
        print(f"frame {ev['frame']:5d}  {ev['t_ms'] / 1000:7.2f} s  {ev['side']:5s} hand {ev['track_id']}: "
              f"pinch {ev['event']}")
    print(f"{sum(ev['event'] == 'start' for ev in events)} pinches", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
