"""Mine hands that the annotations miss, so that detector training can ignore them.

    python -m train.mine --data ../shared/data/hands21 --split train --out runs/unlabelled_train.json

(the list the shipped detectors were trained with, made by the session-1 detector, is committed as
``assets/unlabelled_train.json``)

hands21 labels one hand per photo (plus the few more MediaPipe found), but many photos show
another hand: the person's second hand cut by the frame edge, blurred, or small behind the
first. Pasted into detector scenes, or used as background, such a hand would be taught as
background. This runs a detector (default: the shipped one) over every photo and keeps its
confident boxes that meet no labelled hand; ``train.train_detector --unlabelled FILE`` then
keeps backgrounds away from them and ignores them where their photo is pasted (neither reward
nor penalty), the usual treatment of unannotated instances.

Output JSON: {"detector": model version, "threshold": t, "photos": n,
              "boxes": {image path relative to the data folder (a photo outside it, as a label CSV
                        may name: its path as the CSV gives it): [[x0, y0, x1, y1, score], ...]}}
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from tracker.cli import check_output_path, output_clash, thread_count
from tracker.detector import HandDetector
from tracker.detector_codec import hand_box_and_cues

from .data import ImageCache, data_root
from .evaluate import data_inputs, eval_records, photo_clash
from .scenes import overlaps_any
from .train_detector import group_by_image

log = logging.getLogger("mine")


def unlabelled_boxes(detections, labelled_boxes: np.ndarray, grow: float = 0.3) -> np.ndarray:
    """Detections (box (4,), score) that meet no labelled box (each grown by ``grow`` x its
    side, so a finger-tip box of a labelled hand is not taken for another hand) -> (M, 5)."""
    keep = [[*np.asarray(box, np.float64).tolist(), float(score)] for box, score in detections
            if not overlaps_any(*np.asarray(box, np.float64).tolist(), labelled_boxes, grow)]
    return np.array(keep, np.float32).reshape(-1, 5)


def mine(det: HandDetector, records, cache, threshold: float, data_root: Path) -> dict:
    from tqdm import tqdm
    out = {}
    for recs in tqdm(group_by_image(records), desc="mining", unit="photo", mininterval=5):
        path = recs[0].image
        labelled = np.stack([hand_box_and_cues(r.keypoints, r.visible)[0] for r in recs])
        dets = det(cache[path], score_threshold=threshold, max_detections=5)
        found = unlabelled_boxes([(d.box, d.score) for d in dets], labelled)
        if len(found):
            try:
                key = Path(path).relative_to(data_root).as_posix()   # "/": read on any system
            except ValueError:   # outside the data folder: load_unlabelled's data_root / key is the path itself
                key = str(path)
            # rounded in float64: float32 tenths became 0.4000000059604645 in the JSON
            out[key] = np.round(np.asarray(found, np.float64), 1).tolist()
    return out


def load_unlabelled(path: str | Path, data_root: str | Path) -> dict[str, np.ndarray]:
    """Mined boxes keyed like ``str(HandRecord.image)``: {image path: (M, 4) photo px}."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"unlabelled-hands file {p} is a folder; name the JSON file python -m train.mine wrote")
    if not p.is_file():
        raise FileNotFoundError(f"unlabelled-hands file not found: {p}")
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        out = {str(Path(data_root) / k): np.asarray(v, np.float32).reshape(-1, 5)[:, :4]
               for k, v in d["boxes"].items()}
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"malformed unlabelled-hands file {p}: {e}") from None
    for k, b in out.items():
        # a NaN or inverted box made an ignore region that covers nothing, silently
        if not (np.isfinite(b).all() and (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()):
            raise ValueError(f"malformed unlabelled-hands file {p}: {k}: boxes must be finite x0, y0, x1, y1 "
                             f"with x1 > x0 and y1 > y0, got {b.tolist()}")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m train.mine", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/hands21")
    ap.add_argument("--split", default="train",
                    help="a dataset folder's split (default train); for a single --data file (a label CSV, a COCO "
                         "JSON): 'train' the images training trains on (its default --val-fraction 0.1), 'val' "
                         "those it holds out, 'all' every row")
    ap.add_argument("--detector", default=None, help="ONNX detector (default: the shipped one)")
    ap.add_argument("--threshold", type=float, default=0.3, help="detector score to keep a box (default 0.3)")
    ap.add_argument("--threads", type=thread_count(), default=2, help="onnxruntime threads (default 2)")
    ap.add_argument("--out", required=True, help="the JSON file to write (not --data's label files or photos)")
    a = ap.parse_args(argv)
    clash = output_clash([("--out", a.out)], [("--detector", a.detector)] + data_inputs(a.data))
    if clash:
        ap.error(clash)
    if not 0.0 <= a.threshold <= 1.0:   # NaN too: it kept nothing and wrote NaN into the JSON
        ap.error(f"--threshold {a.threshold}: expected a detector score in [0, 1]")
    try:                                # a folder, a path under a file: found only when writing, after mining
        check_output_path("--out", a.out)
    except ValueError as e:
        ap.error(str(e))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        recs = eval_records(a.data, a.split)   # a single file's --split as train.evaluate reads it
        clash = photo_clash([("--out", a.out)], recs)
        if clash:
            raise ValueError(clash)
        det = HandDetector(a.detector, threads=a.threads)
        try:                             # before the work, not after it
            Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ValueError(f"--out {a.out}: cannot create its folder ({e.strerror or e})") from None
        cache = ImageCache(recs)
        boxes = mine(det, recs, cache, a.threshold, data_root(a.data))
    except (FileNotFoundError, ValueError) as e:
        raise SystemExit(f"error: {e}")
    res = {"detector": det.meta.get("model_version"), "threshold": a.threshold,
           "photos": len({r.image for r in recs}), "boxes": boxes}
    Path(a.out).write_text(json.dumps(res), encoding="utf-8")
    log.info("%d of %d photos have unlabelled hands (%d boxes) -> %s", len(boxes), res["photos"],
             sum(len(v) for v in boxes.values()), a.out)


if __name__ == "__main__":
    main()
