"""Pre-label your own images with the shipped models, in the landmark CSV that training reads.

    python -m train.prelabel my_photos/ -o my_photos/labels.csv

One row per image (a folder's in the order ``handtrack video FOLDER`` reads it): the image path
(relative to the CSV's folder when the image is under it, else absolute), then the left hand's 17
(x, y) and the right hand's 17 (x, y) in pixels of the image, empty cells where there is no such hand: the two-hand layout :func:`train.data.load_csv` reads
(hand 0 left, hand 1 right, as seen in the image). The hands are the tracker's in static mode
(each image on its own), every hand measured again in the crop of its own keypoints
(``refine_score=1``, the more accurate setting for photos). They are the models' guesses: correct
them in any tool (or leave out the rows you do not trust), then fine-tune (a tenth of the images
held out for validation, ``--val-fraction``):

    python -m train.train_landmarks --data my_photos/labels.csv --init assets/checkpoints/landmarks_last.pt ...

An existing output file is refused, as it may hold labels corrected by hand (``--overwrite``
replaces it). Needs only the runtime (``tracker``); no torch.
"""
from __future__ import annotations

import argparse
import csv
import logging
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tracker.cli import output_clash
from tracker.keypoints import KEYPOINT_NAMES, NUM_KEYPOINTS
from tracker.video import IMAGE_EXTS, VIDEO_EXTS, FrameSource

log = logging.getLogger(__name__)


def label_header() -> list[str]:
    """``image``, then ``left_<point>_x, left_<point>_y`` for the 17 points, then the right hand's."""
    return ["image"] + [f"{side}_{name}_{c}" for side in ("left", "right") for name in KEYPOINT_NAMES
                        for c in ("x", "y")]


def label_row(image: str, xy_score: np.ndarray, min_score: float = 0.0) -> list[str]:
    """One CSV row from ``HandTrackerResult.as_array()`` ((34, 3): left rows 0-16, right 17-33,
    x, y pixels and confidence, NaN where a hand is absent). A hand whose mean keypoint confidence
    is under ``min_score`` is left empty."""
    a = np.asarray(xy_score, np.float64)
    if a.shape != (2 * NUM_KEYPOINTS, 3):
        raise ValueError(f"expected a (34, 3) array, got {a.shape}")
    cells = [image]
    for h in range(2):
        hand = a[h * NUM_KEYPOINTS:(h + 1) * NUM_KEYPOINTS]
        absent = not np.all(np.isfinite(hand[:, :2])) or float(np.nanmean(hand[:, 2])) < min_score
        cells += [""] * (2 * NUM_KEYPOINTS) if absent else [f"{v:.2f}" for v in hand[:, :2].reshape(-1)]
    return cells


def image_files(inputs: list[str]) -> list[Path]:
    """The images of ``inputs`` (image files and folders of images), each once: a folder's in the
    order ``handtrack video FOLDER`` reads them (natural order, hidden files left out).

    Raises:
        FileNotFoundError: an input that does not exist. ValueError: a video file (extract its
            frames first), another kind of file, or a folder without images, naming it.
    """
    out: list[Path] = []
    for s in inputs:
        p = Path(s)
        if not p.exists():
            raise FileNotFoundError(f"INPUT: {s} does not exist")
        if p.is_dir():
            try:
                out += FrameSource(p).images      # the images `handtrack video` reads from the folder
            except ValueError as e:               # no images in it
                raise ValueError(f"INPUT: {e}") from None
        elif p.suffix.lower() in IMAGE_EXTS:
            out.append(p)
        elif p.suffix.lower() in VIDEO_EXTS:
            raise ValueError(f"INPUT: {s} is a video; labels need image files: extract its frames first "
                             f"(e.g. ffmpeg -i {s} -vf fps=2 frames/%05d.png)")
        else:
            raise ValueError(f"INPUT: {s} is not an image ({', '.join(sorted(IMAGE_EXTS))}) or a folder")
    # an image named twice (a folder and a file in it) would get two rows, which the loader merges
    # into one photo with every hand twice
    unique: dict[Path, Path] = {}
    for p in out:
        unique.setdefault(p.resolve(), p)
    return list(unique.values())


def relative_to_csv(image: Path, out_csv: Path) -> str:
    """The image path as the CSV stores it: relative to the CSV's folder when under it
    (``load_csv`` resolves paths against that folder), else absolute; always with ``/``."""
    img, root = image.resolve(), out_csv.resolve().parent
    try:
        return img.relative_to(root).as_posix()
    except ValueError:
        return img.as_posix()


@dataclass
class PrelabelSummary:
    images: int = 0
    hands: int = 0
    empty: int = 0      # images written with no hand
    skipped: int = 0    # images that could not be read, or whose name the UTF-8 CSV cannot hold


def prelabel(images: list[Path], out_csv: str | os.PathLike, tracker, min_score: float = 0.0) -> PrelabelSummary:
    """Write the label CSV for ``images`` with ``tracker`` (a static-mode ``HandTracker`` or any
    object whose ``process(frame)`` result has ``as_array()``). Rows are flushed one by one, so an
    interrupted run keeps what it wrote. An image that cannot be read, or whose file name is not
    UTF-8 (the CSV's encoding), is skipped with a warning."""
    from .data import read_image

    out_csv = Path(out_csv)
    s = PrelabelSummary()
    with open(out_csv, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(label_header())
        for p in images:
            name = relative_to_csv(p, out_csv)
            try:
                name.encode("utf-8")   # the CSV is UTF-8: such a name would end the run half-written
            except UnicodeEncodeError:
                log.warning("skipped: %s: the file name is not UTF-8 (rename the file)", ascii(name))
                s.skipped += 1
                continue
            try:
                frame = read_image(p)
            except (FileNotFoundError, ValueError) as e:
                log.warning("skipped: %s", e)
                s.skipped += 1
                continue
            row = label_row(name, tracker.process(frame).as_array(), min_score)
            n = sum(1 for h in range(2) if row[1 + h * 2 * NUM_KEYPOINTS])
            w.writerow(row)
            f.flush()
            s.images += 1
            s.hands += n
            s.empty += n == 0
    return s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m train.prelabel", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and folders of images")
    ap.add_argument("-o", "--out", required=True, metavar="LABELS.csv",
                    help="the label CSV to write (an existing file is refused: it may hold corrected labels)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing -o file")
    ap.add_argument("--min-score", type=float, default=0.0, metavar="P",
                    help="leave out hands whose mean keypoint confidence is below P (default 0: every hand found)")
    ap.add_argument("--mirror", action="store_true", help="mirrored (selfie) images: left/right swapped")
    ap.add_argument("--detector-turns", type=int, choices=(1, 2, 4), default=1, metavar="N",
                    help="also look for hands in the image turned (2: upside down, 4: every quarter turn)")
    ap.add_argument("--threads", type=int, default=2, metavar="N", help="onnxruntime threads (default 2)")
    ap.add_argument("--landmark-model", default=None, metavar="PATH")
    ap.add_argument("--detector-model", default=None, metavar="PATH")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if not math.isfinite(a.min_score) or not 0.0 <= a.min_score <= 1.0:
            raise ValueError(f"--min-score must be in [0, 1], got {a.min_score}")
        out = Path(a.out)
        if out.suffix.lower() != ".csv":
            raise ValueError(f"-o/--out must name a .csv file, got {a.out}")
        if not out.resolve().parent.is_dir():
            raise FileNotFoundError(f"-o/--out: folder of {a.out} does not exist")
        if out.is_dir():
            raise ValueError(f"-o/--out {a.out}: is a folder; name the CSV file to write")
        # a model read under a .csv name: --overwrite replaced it with the labels
        clash = output_clash([("-o/--out", a.out)], [("--landmark-model", a.landmark_model),
                                                     ("--detector-model", a.detector_model)]
                             + [("INPUT", i) for i in a.inputs])
        if clash:
            raise ValueError(clash)
        if out.exists() and not a.overwrite:
            raise ValueError(f"-o/--out {a.out}: already exists (it may hold corrected labels); "
                             "give another name, or --overwrite to replace it")
        images = image_files(a.inputs)
        from tracker import HandTracker
        tracker = HandTracker(static_image_mode=True, max_hands=2, refine_score=1.0, mirrored=a.mirror,
                              detector_turns=a.detector_turns, threads=a.threads,
                              landmark_model_path=a.landmark_model, detector_model_path=a.detector_model)
    except (ValueError, FileNotFoundError) as e:
        print(f"python -m train.prelabel: error: {e}", file=sys.stderr)
        return 2
    try:
        with tracker:
            s = prelabel(images, out, tracker, a.min_score)
    except OSError as e:      # cannot create or write the file (permissions, a full disk)
        print(f"python -m train.prelabel: error: -o/--out {a.out}: cannot write ({e.strerror or e})",
              file=sys.stderr)
        return 1
    log.info("%d images labelled in %s: %d hands, %d images without a hand, %d skipped (see the warnings)",
             s.images, out, s.hands, s.empty, s.skipped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
