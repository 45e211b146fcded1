"""Draw the detector's boxes (and orientation cue) on frames sampled from videos, as a PNG grid.

    python examples/draw_detections.py ../shared/videos/*.mp4 -o docs/detections.png --per-video 4
    python examples/draw_detections.py ../shared/videos/*.mp4 -o small.png --small-hands   # + far hands

Boxes are coloured by the detector pass that found them (``Detection.pass_scale``): the first pass
green, the half-size pass for hands close to the camera (on by default; ``--no-large-hands``)
magenta, and with ``--small-hands`` the pass at twice the size for far hands yellow.
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np

from tracker.detector import HandDetector
from tracker.draw import tile_grid


def sample_frames(path: str, n: int):
    cap = cv2.VideoCapture(path)
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 1
    out = []
    for i in np.linspace(0, total - 1, n + 2)[1:-1].astype(int):
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(i))
        ok, f = cap.read()
        if ok:
            out.append((int(i), f))
    cap.release()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="+")
    ap.add_argument("-o", "--output", default="detections.png")
    ap.add_argument("--per-video", type=int, default=4)
    ap.add_argument("--model", default=None)
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--small-hands", action="store_true", help="also the small-hand pass (its boxes yellow)")
    ap.add_argument("--no-large-hands", action="store_true", help="without the large-hand pass (its boxes magenta)")
    a = ap.parse_args(argv)
    det = HandDetector(a.model, threads=2, small_hands=a.small_hands, large_hands=False if a.no_large_hands else None)
    colours = {1.0: (0, 255, 0), 2.0: (0, 255, 255), 0.5: (255, 0, 255)}   # BGR, by pass_scale
    tiles = []
    for v in a.videos:
        for idx, f in sample_frames(v, a.per_video):
            dets = det(f, a.threshold)
            s = 320 / max(f.shape[:2])
            t = cv2.resize(f, None, fx=s, fy=s)
            for d in dets:
                b = (d.box * s).astype(int)
                cv2.rectangle(t, tuple(b[:2]), tuple(b[2:]), colours[d.pass_scale], 2)
                cv2.line(t, tuple((d.wrist * s).astype(int)), tuple((d.middle_mcp * s).astype(int)), (0, 0, 255), 2)
                cv2.putText(t, f"{d.score:.2f}", (int(b[0]), int(b[1]) + 14), 0, 0.45, (0, 255, 0), 1)
            cv2.putText(t, f"{v.split('/')[-1]} #{idx}: {len(dets)}", (4, 14), 0, 0.4, (255, 255, 255), 1)
            canvas = np.zeros((320, 320, 3), np.uint8)
            canvas[:t.shape[0], :t.shape[1]] = t
            tiles.append(canvas)
    cols = a.per_video
    cv2.imwrite(a.output, tile_grid(tiles, cols))
    print(f"wrote {a.output} ({len(a.videos)} videos)")


if __name__ == "__main__":
    main()
