"""Golden outputs of the shipped models through the whole tracker, and their comparison.

``tests/tracker/golden.json`` holds what ``HandTracker`` (default options, 1 thread) reported on the
first val photos in static mode and on three shared clips in video mode: per frame the hands'
sides, track ids, presence scores and keypoints (pixels, 0.1 px). ``test_hand_tracker_golden.py``
runs the same inputs again and compares:

- photos (static mode), tightly: the same hands, keypoints within 1 px, presence within 0.02. A
  photo's result depends only on the photo: relative noise of 1e-6 on every network output (about
  onnxruntime's float differences between CPUs and versions, or more) moved none of their keypoints
  by more than 0.1 px, noise of 1e-5 one photo's by 0.9 px. A change in crop geometry, decoding or a
  model file that moves a keypoint by more than a pixel shows up here, naming the photo.
- clips (video mode), loosely: the same hands (side, track id) on at least 97% of the frames, and
  keypoints within 4% of the hand's size at the median over all hands. A tracked hand's next crop
  comes from its last keypoints, so a difference in the last bits does not die out: noise of 1e-6
  on the network outputs moved the keypoints of the portrait pinch clip by a median 1.6% of the
  hand's size (piano 1.0%, up to 20% on single frames; 2hand 0.1%; three seeds, session 52 in
  docs/model_history.md), as much as turning the smoothing off does. Only what exceeds that (tracks
  lost, sides or ids changed, keypoints off the hand) can be told from float noise in video mode.

A change that is meant to move the results writes the file again, and the commit says why:

    python -m tests.tracker.golden --write
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from tests.conftest import SHARED

GOLDEN = Path(__file__).with_name("golden.json")
#: (clip in ../shared/videos, frames from the start): two hands at 852x480, one hand pinching in a
#: portrait 480x852 clip (the crop floor), two hands at 1280x720
CLIPS = (("huytung_2hand.mp4", 137), ("huytung_volctl.mp4", 183), ("mohanad_piano30.mp4", 300))
#: the first val photos of hands21/val.json, static mode
PHOTOS = 48
#: photos: how far a keypoint may move (pixels, either axis) and a presence score
KEYPOINT_TOLERANCE_PX = 1.0
SCORE_TOLERANCE = 0.02
#: clips: the share of frames whose hands (side, track id) may differ, and the median over all
#: hands of a hand's median keypoint distance, in hand sizes (the longer side of its keypoints' box)
CLIP_FRAMES_DIFFERING = 0.03
CLIP_MEDIAN_DEVIATION = 0.04


def hands_record(result) -> list[dict]:
    """One frame's hands as stored: side, track id, presence, keypoints (17 x [x, y]) at 0.1 px."""
    return [{"side": h.side, "track_id": int(h.track_id), "score": round(float(h.score), 4),
             "keypoints": np.round(h.keypoints.astype(np.float64), 1).tolist()} for h in result.hands]


def run_clip(path: Path, frames: int) -> list[list[dict]]:
    from tracker import HandTracker
    from tracker.video import iter_frames
    out = []
    with HandTracker(threads=1) as tracker:
        for index, t_ms, frame in iter_frames(path):
            if index >= frames:
                break
            out.append(hands_record(tracker.process(frame, timestamp_ms=t_ms)))
    return out


def val_photos(hands21: Path, count: int = PHOTOS) -> list[Path]:
    data = json.loads((hands21 / "val.json").read_text(encoding="utf-8"))
    return [hands21 / im["file_name"] for im in data["images"][:count]]


def run_photos(paths: list[Path]) -> list[list[dict]]:
    from tracker import HandTracker
    from tracker.video import read_image_file
    with HandTracker(static_image_mode=True, threads=1) as tracker:
        return [hands_record(tracker.process(read_image_file(p))) for p in paths]


def _ids(frame: list[dict]) -> list[tuple[str, int]]:
    """A frame's hands as (side, track id), in the order reported."""
    return [(h["side"], h["track_id"]) for h in frame]


def compare_photos(name: str, expected: list[list[dict]], got: list[list[dict]],
                   tol_px: float = KEYPOINT_TOLERANCE_PX, tol_score: float = SCORE_TOLERANCE) -> list[str]:
    """What differs between two static-mode runs of the photos, one line each (empty: the same
    within the tolerances). Hands of a photo are matched in the order the tracker reports them."""
    problems = []
    if len(expected) != len(got):
        return [f"{name}: {len(got)} frames, golden {len(expected)}"]
    for i, (e, g) in enumerate(zip(expected, got)):
        where = f"{name} {i}"
        if _ids(e) != _ids(g):
            problems.append(f"{where}: hands (side, track id) {_ids(g)}, golden {_ids(e)}")
            continue
        for he, hg in zip(e, g):
            d = float(np.max(np.abs(np.asarray(he["keypoints"]) - np.asarray(hg["keypoints"]))))
            if not d <= tol_px:
                problems.append(f"{where}: {hg['side']} #{hg['track_id']} keypoints moved up to {d:.2f} px "
                                f"(tolerance {tol_px})")
            if not abs(he["score"] - hg["score"]) <= tol_score:
                problems.append(f"{where}: {hg['side']} #{hg['track_id']} presence {hg['score']:.4f}, "
                                f"golden {he['score']:.4f}")
    return problems


def compare_clip(name: str, expected: list[list[dict]], got: list[list[dict]],
                 frames_differing: float = CLIP_FRAMES_DIFFERING,
                 median_deviation: float = CLIP_MEDIAN_DEVIATION) -> list[str]:
    """What differs between two video-mode runs of a clip beyond a machine's float noise (see
    the module docstring), one line each; empty: nothing."""
    if len(expected) != len(got):
        return [f"{name}: {len(got)} frames, golden {len(expected)}"]
    differing, deviations = [], []
    for i, (e, g) in enumerate(zip(expected, got)):
        if _ids(e) != _ids(g):
            differing.append(i)
            continue
        for he, hg in zip(e, g):
            ke, kg = np.asarray(he["keypoints"], float), np.asarray(hg["keypoints"], float)
            size = max(float((ke.max(0) - ke.min(0)).max()), 1.0)
            deviations.append(float(np.median(np.linalg.norm(ke - kg, axis=1))) / size)
    problems = []
    if len(differing) > frames_differing * len(expected):
        problems.append(f"{name}: hands (side, track id) differ on {len(differing)} of {len(expected)} frames "
                        f"(at most {frames_differing:.0%}), first {differing[:5]}")
    med = float(np.median(deviations)) if deviations else 0.0
    if not med <= median_deviation:
        problems.append(f"{name}: keypoints {med:.3f} hand sizes from the golden ones at the median over "
                        f"{len(deviations)} hands (at most {median_deviation})")
    return problems


def run_all(shared: Path) -> dict:
    return {"clips": {name: run_clip(shared / "videos" / name, n) for name, n in CLIPS},
            "photos": run_photos(val_photos(shared / "data" / "hands21"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write tests/tracker/golden.json from the shipped models.")
    parser.add_argument("--write", action="store_true", help="rewrite the golden file")
    parser.add_argument("--shared", default=str(SHARED),
                        help="the shared folder (default: HANDTRACK_SHARED, else ../shared beside the project root)")
    args = parser.parse_args(argv)
    runs = run_all(Path(args.shared))
    if not args.write:
        golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
        problems = [p for name in runs["clips"] for p in compare_clip(name, golden["clips"][name], runs["clips"][name])]
        problems += compare_photos("photo", golden["photos"], runs["photos"])
        print("\n".join(problems) or "the same as tests/tracker/golden.json")
        return 1 if problems else 0
    GOLDEN.write_text(json.dumps(runs, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN} ({GOLDEN.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
