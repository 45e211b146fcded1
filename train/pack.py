"""Re-encode a COCO keypoint set compactly to move it to a training machine.

    python -m train.pack --data ../shared/data/hands21 --out runs/pack --quality 75 --parts 2 \\
        --val-hands 800

Writes ``<out>/part<i>/images/...`` (the train images, WebP at ``--quality``, split into
``--parts`` folders of about equal size, same relative file names), ``<out>/part0/train.json``
(unchanged annotations) and ``<out>/part0/val.json`` with ``--val-hands`` val hands (the subset
``train_landmarks`` validates on with the same ``--seed`` and ``--eval-hands``; ``train_detector``
validates on the first 2,000 hands of the val set it is given, so its val figures on a packed set
are not the original's), their images in part 0. Copy every
part into one folder on the other machine and pass it as ``--data``: the loaders see the same
layout as the original set. hands21 train (158 MB of WebP q90) is about 60 MB at quality 75.
Keypoints are unchanged: re-encoding keeps the image size.
"""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import cv2
import numpy as np

from tracker.cli import check_output_path, int_at_least

from .data import read_image, val_subset_indices

log = logging.getLogger("train.pack")

#: the most --parts: each is a folder to copy; a count without a bound listed 10**30 folders until
#: memory ran out
MAX_PARTS = 1000


def read_coco(path: Path) -> dict:
    """The COCO dict of ``path``, checked for what :func:`pack` reads: an "images" list (each entry
    an "id" and a relative "file_name" inside the set) and an "annotations" list (each an
    "image_id"). ValueError naming the file otherwise (a traceback, or a half-written pack, before)."""
    try:
        d = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a JSON file ({e})") from None
    if not (isinstance(d, dict) and isinstance(d.get("images"), list) and isinstance(d.get("annotations"), list)):
        raise ValueError(f"{path}: not a COCO keypoint file (a JSON object with 'images' and 'annotations' lists)")
    for im in d["images"]:
        name = im.get("file_name") if isinstance(im, dict) else None
        if not (isinstance(name, str) and name and "id" in im):
            raise ValueError(f"{path}: an image entry without an 'id' or a 'file_name': {str(im)[:80]}")
        if Path(name).is_absolute() or ".." in Path(name).parts:   # would be written outside --out
            raise ValueError(f"{path}: image file_name {name!r} is not a path inside the set")
    for a in d["annotations"]:
        if not (isinstance(a, dict) and "image_id" in a):
            raise ValueError(f"{path}: an annotation without an 'image_id': {str(a)[:80]}")
    return d


def reencode(src: Path, dst: Path, quality: int) -> int:
    """Decode ``src`` and write it as WebP ``quality`` to ``dst``; returns the bytes written."""
    img = read_image(src)
    ok, buf = cv2.imencode(".webp", img, [cv2.IMWRITE_WEBP_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"cannot encode {src} as WebP")
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(buf.tobytes())
    return len(buf)


def val_subset(data: dict, n: int, seed: int) -> dict:
    """The COCO dict reduced to the ``n`` annotations the training loops validate on
    (:func:`train.data.val_subset_indices`; n = 0 keeps all)."""
    anns = data["annotations"]
    keep = val_subset_indices(len(anns), n, seed) if n else np.arange(len(anns))
    anns = [anns[i] for i in sorted(int(k) for k in keep)]
    ids = {a["image_id"] for a in anns}
    return {**data, "images": [im for im in data["images"] if im["id"] in ids], "annotations": anns}


def pack(data: str | Path, out: str | Path, quality: int = 75, parts: int = 2, val_hands: int = 800,
         seed: int = 0) -> list[Path]:
    """Write the packed set (see module doc); returns the part folders. Everything it reads is
    checked before the first write: the annotation files (:func:`read_coco`), that every photo
    they list is there, and that ``out`` does not hold ``data`` (its part0 would be written over it)."""
    data, out = Path(data), Path(out)
    for name in ("train.json", "val.json"):
        if not (data / name).is_file():
            raise FileNotFoundError(f"--data {data}: {name} not found")
    if not 1 <= quality <= 100:
        raise ValueError(f"--quality must be in 1..100, got {quality}")
    if not 1 <= parts <= MAX_PARTS:
        raise ValueError(f"--parts must be in 1..{MAX_PARTS}, got {parts}")
    if val_hands < 0:
        raise ValueError(f"--val-hands must be >= 0 (0: all), got {val_hands}")
    if seed < 0:
        raise ValueError(f"--seed must be >= 0, got {seed}")
    if out.resolve() == data.resolve() or out.resolve() in data.resolve().parents:
        raise ValueError(f"--out {out}: holds --data {data}; packing would write over its input (name a new folder)")
    train = read_coco(data / "train.json")
    val = val_subset(read_coco(data / "val.json"), val_hands, seed)
    missing = [im["file_name"] for im in val["images"] + train["images"] if not (data / im["file_name"]).is_file()]
    if missing:   # found after the other photos were re-encoded, a partial pack left behind
        raise FileNotFoundError(f"--data {data}: {data / missing[0]} not found ({len(missing)} of the photos "
                                "train.json and val.json list are missing)")
    dirs = [out / f"part{i}" for i in range(parts)]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    (dirs[0] / "train.json").write_text(json.dumps(train), encoding="utf-8")
    (dirs[0] / "val.json").write_text(json.dumps(val), encoding="utf-8")
    sizes = [0] * parts
    for im in val["images"]:
        sizes[0] += reencode(data / im["file_name"], dirs[0] / im["file_name"], quality)
    for im in train["images"]:
        i = int(np.argmin(sizes))  # fill the smallest part: parts end up about equal in bytes
        sizes[i] += reencode(data / im["file_name"], dirs[i] / im["file_name"], quality)
    for d, s in zip(dirs, sizes):
        log.info("%s: %.1f MB of images", d, s / 2**20)
    return dirs


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python -m train.pack", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data/hands21")
    p.add_argument("--out", required=True, help="the folder to write the parts into (not one that holds --data)")
    p.add_argument("--quality", type=int_at_least("--quality", 1, 100), default=75,
                   help="WebP quality, 1..100 (default 75)")
    p.add_argument("--parts", type=int_at_least("--parts", 1, MAX_PARTS), default=2,
                   help=f"part folders, 1..{MAX_PARTS} (default 2)")
    p.add_argument("--val-hands", type=int_at_least("--val-hands", 0), default=800,
                   help="val hands to keep (0: all): train_landmarks' --eval-hands (default 800)")
    p.add_argument("--seed", type=int_at_least("--seed", 0), default=0, help="the training loops' --seed")
    a = p.parse_args(argv)
    try:       # a file, a path under a file: said at once (a raw OSError line once the parts were made)
        check_output_path("--out", a.out, folder=True)
    except ValueError as e:
        p.error(str(e))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        pack(a.data, a.out, a.quality, a.parts, a.val_hands, a.seed)
    except (OSError, ValueError) as e:  # OSError: a missing file, and --out unwritable (a file, full disk)
        raise SystemExit(f"error: {e}")


if __name__ == "__main__":
    main()
