"""Draw the detector's boxes (and orientation cue) on frames sampled from videos, as a PNG grid.

    python examples/draw_detections.py ../shared/videos/*.mp4 -o docs/detections.png --per-video 4
    python examples/draw_detections.py ../shared/videos/*.mp4 -o small.png --small-hands   # + far hands

Boxes are coloured by the detector pass that found them (``Detection.pass_scale``): the first pass
green, the half-size pass for hands close to the camera (on by default; ``--no-large-hands``)
magenta, and with ``--small-hands`` the pass at twice the size for far hands yellow.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from tracker.cli import file_key, unit_float
from tracker.detector import HandDetector
from tracker.draw import tile_grid
from tracker.video import FrameSource, write_image_file


def sample_frames(path: str, n: int) -> list[tuple[int, np.ndarray]]:
    """``n`` frames evenly spread over a video (an image or an image folder works too), with their
    indices. Raises FileNotFoundError / ValueError (from ``FrameSource``) for a bad input."""
    source = FrameSource(path)
    total = max(len(source), 1)
    wanted = set(np.linspace(0, total - 1, n + 2)[1:-1].astype(int).tolist()) if total > n else set(range(total))
    last, out = max(wanted), []
    for i, _, frame in source:          # decoded in order; the tail after the last sample is not
        if i in wanted:
            out.append((i, frame))
        if i >= last:
            break
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="+")
    ap.add_argument("-o", "--output", default="detections.png")
    ap.add_argument("--per-video", type=int, default=4)
    ap.add_argument("--model", default=None)
    ap.add_argument("--threshold", type=unit_float("--threshold"), default=None)
    ap.add_argument("--small-hands", action="store_true", help="also the small-hand pass (its boxes yellow)")
    ap.add_argument("--no-large-hands", action="store_true", help="without the large-hand pass (its boxes magenta)")
    a = ap.parse_args(argv)
    if a.per_video < 1:
        ap.error(f"--per-video must be >= 1, got {a.per_video}")
    inputs = {file_key(v) for v in a.videos}
    inputs.update(file_key(f) for v in a.videos if Path(v).is_dir() for f in Path(v).iterdir())
    if file_key(a.output) in inputs:          # also an image of an input folder, or a hard link to an input
        ap.error(f"-o/--output {a.output}: would overwrite an input")
    if not Path(a.output).resolve().parent.is_dir():
        ap.error(f"-o/--output: folder of {a.output} does not exist")
    if not cv2.haveImageWriter(a.output):
        ap.error(f"-o/--output: OpenCV cannot write {a.output!r} (give a .png or .jpg name)")
    try:
        det = HandDetector(a.model, threads=2, small_hands=a.small_hands,
                           large_hands=False if a.no_large_hands else None)
    except (FileNotFoundError, ValueError) as e:      # missing or unreadable model file
        ap.error(f"--model: {e}")
    colours = {1.0: (0, 255, 0), 2.0: (0, 255, 255), 0.5: (255, 0, 255)}   # BGR, by pass_scale
    tiles = []
    for v in a.videos:
        try:
            frames = sample_frames(v, a.per_video)
        except (FileNotFoundError, ValueError) as e:
            ap.error(f"{v}: {e}")
        for idx, f in frames:
            dets = det(f, a.threshold)
            s = 320 / max(f.shape[:2])
            t = cv2.resize(f, None, fx=s, fy=s)
            for d in dets:
                b = (d.box * s).astype(int)
                cv2.rectangle(t, tuple(b[:2]), tuple(b[2:]), colours[d.pass_scale], 2)
                cv2.line(t, tuple((d.wrist * s).astype(int)), tuple((d.middle_mcp * s).astype(int)), (0, 0, 255), 2)
                cv2.putText(t, f"{d.score:.2f}", (int(b[0]), int(b[1]) + 14), 0, 0.45, (0, 255, 0), 1)
            cv2.putText(t, f"{Path(v).name} #{idx}: {len(dets)}", (4, 14), 0, 0.4, (255, 255, 255), 1)
            canvas = np.zeros((320, 320, 3), np.uint8)
            canvas[:t.shape[0], :t.shape[1]] = t
            tiles.append(canvas)
    cols = a.per_video
    if not write_image_file(a.output, tile_grid(tiles, cols)):
        ap.error(f"-o/--output: cannot write {a.output}")
    print(f"wrote {a.output} ({len(a.videos)} videos)")


if __name__ == "__main__":
    main()
